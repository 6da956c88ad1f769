/**
 * The stride loop shared by every block sampler (BD3-LM semi-AR, MDLM, the batch/prompt/streaming API): each stride
 * denoises the last `active` positions of the window x[start:end] (spec 5.3, 5.6), then the stop rules run per
 * sequence (spec 5.8). Works on a batch [B][N] of equal-length rows; each row stops on its own: a stopped row's
 * remaining positions are filled with EOS, so it costs no draws (it still rides along in the batched model calls).
 *
 * A generator that yields every model call it needs (`ModelCall`, resumed with its logits) and reports each
 * finished stride (`StrideDone`); `drain` (block.ts) runs it synchronously. A row the caller `halt`s (a stop string
 * in its text) is settled before the next stride as it stands, stop reason 'halted'.
 */
import { denoiseBlockSteps, type DdpmGrid, type DenoiseMode, type StepTrace } from './block.js';
import type { ProbFilters } from '../tensor/sampling/filters.js';
import type { ResolvedIds } from './options.js';
import type { RandomSource } from '../tensor/sampling/random.js';
import { checkStop, type StopOptions, type StopReason } from './stop.js';
import { ModelCall, ProbsPool, type WindowModel } from './window-model.js';

/** One stride of a sampler: window x[start:end], of which the last `active` positions are denoised. */
export interface Stride {
  start: number;
  end: number;
  active: number;
}

export interface SequenceResult {
  /** the row up to its stop point, prompt included; at most `length` tokens */
  tokens: Int32Array;
  /** the reference's NFE count for this row (spec 5.4) */
  nfe: number;
  stopReason: StopReason;
  /** a low-entropy stop without var-length: the reference discards such a sample and redraws (spec 5.7) */
  rejected: boolean;
}

export interface StrideDone {
  stride: number;
  start: number;
  end: number;
  active: number;
  /** per row: tokens of this stride that belong to the result end before this index (the stop cut and `length`
   * applied); -1 for a row that had stopped before this stride */
  validEnd: Int32Array;
  /** per row: 1 if the row's result was settled at this stride (stopped, or the last stride) */
  finished: Uint8Array;
}

export interface StrideRun {
  wm: WindowModel;
  /** [batch][N], pre-filled (BOS / prompt, masks elsewhere); updated in place */
  x: Int32Array;
  batch: number;
  strides: Stride[];
  /** tokens kept per row (<= N; whole strides are sampled and trimmed) */
  length: number;
  steps: number;
  mode?: DenoiseMode;
  ddpmGrid?: DdpmGrid;
  threshold?: number;
  entropyBound?: number;
  filters: ProbFilters;
  /** one source for the whole batch (the reference's draw order), or one per row */
  random: RandomSource | RandomSource[];
  ids: ResolvedIds;
  stop: StopOptions | null;
  /** EOS before this position is prompt, not a stop (default 1: the BOS) */
  generatedFrom?: number;
  onStep?: (s: StepTrace & { stride: number; windowStart: number }) => void;
  /** every revealed token: row, sequence position, token, the filtered p(x0) row it was drawn from (see BlockOptions) */
  onReveal?: (b: number, position: number, token: number, probs: Float64Array) => void;
  /** per row: set to 1 by the caller to end the row after the strides so far */
  halt?: Uint8Array;
}

export interface StrideRunResult {
  sequences: SequenceResult[];
  /** denoiser calls made for the whole batch (KV-cache store passes excluded) */
  modelCalls: number;
}

export function* runStrideSteps(r: StrideRun): Generator<StrideDone | ModelCall, StrideRunResult, Float32Array | undefined> {
  const { x, batch: B, strides, ids } = r;
  const N = x.length / B;
  if (!Number.isInteger(N) || N < 1) throw new Error(`x has ${x.length} tokens, not a multiple of the batch ${B}`);
  const randoms = Array.isArray(r.random) ? r.random : undefined;
  const single = Array.isArray(r.random) ? r.random[0] : r.random;
  const nfe = new Int32Array(B);
  const results: (SequenceResult | null)[] = new Array(B).fill(null);
  let calls = 0;
  const pool = new ProbsPool();
  for (let s = 0; s < strides.length; s++) {
    const { start, end, active } = strides[s];
    if (r.halt) {
      for (let b = 0; b < B; b++) {
        if (!r.halt[b] || results[b]) continue;
        const row = x.subarray(b * N, (b + 1) * N);
        const done = s > 0 ? strides[s - 1].end : 0;
        results[b] = { tokens: row.slice(0, Math.min(Math.max(done, r.generatedFrom ?? 1), r.length)), nfe: nfe[b], stopReason: 'halted', rejected: false };
        row.fill(ids.eos, done); // no draws for it any more
      }
      if (results.every((v) => v !== null)) break;
    }
    const W = end - start;
    // a contiguous [B][W] window (a view for batch 1, so the reference path is unchanged)
    const win = B === 1 ? x.subarray(start, end) : new Int32Array(B * W);
    if (B > 1) for (let b = 0; b < B; b++) win.set(x.subarray(b * N + start, b * N + end), b * W);
    const g = denoiseBlockSteps({
      wm: r.wm, window: win, batch: B, W, active, steps: r.steps, mode: r.mode ?? 'first-hitting', ddpmGrid: r.ddpmGrid,
      threshold: r.threshold, entropyBound: r.entropyBound, random: single, randoms, maskId: ids.maskId, filters: r.filters, pool,
      onStep: r.onStep && ((t) => r.onStep!({ ...t, stride: s, windowStart: start })),
      onReveal: r.onReveal && ((b, j, token, probs) => r.onReveal!(b, end - active + j, token, probs)),
    });
    let step = g.next();
    while (!step.done) step = g.next((yield step.value) as Float32Array);
    const br = step.value;
    if (!br.finished) throw new Error(`stride ${s} still has masks after ${r.steps} steps`);
    calls += br.modelCalls;
    if (B > 1) for (let b = 0; b < B; b++) x.set(win.subarray(b * W, (b + 1) * W), b * N + start);
    const validEnd = new Int32Array(B).fill(-1);
    const finished = new Uint8Array(B);
    for (let b = 0; b < B; b++) {
      if (results[b]) continue;
      nfe[b] += br.nfePerItem[b];
      const row = x.subarray(b * N, (b + 1) * N);
      let cut = Math.min(end, r.length);
      if (r.stop) {
        const c = checkStop(row, end, ids.eos, r.stop, r.generatedFrom ?? 1);
        if (c.stop) {
          cut = Math.min(c.cut ?? end, r.length);
          results[b] = { tokens: row.slice(0, cut), nfe: nfe[b], stopReason: c.reason!, rejected: !r.stop.varLength };
          row.fill(ids.eos, end);
        }
      }
      if (!results[b] && s === strides.length - 1) results[b] = { tokens: row.slice(0, r.length), nfe: nfe[b], stopReason: 'length', rejected: false };
      validEnd[b] = cut;
      finished[b] = results[b] ? 1 : 0;
    }
    yield { stride: s, start, end, active, validEnd, finished };
    if (results.every((v) => v !== null)) break;
  }
  return { sequences: results.map((v) => v!), modelCalls: calls };
}
