/**
 * Denoising of one window's active positions: the inner loop of the semi-AR sampler (spec 5.3). What a step
 * reveals is the denoising rule's (rules/: first hitting, DDPM, threshold, entropy); this loop counts the masks,
 * keeps p(x0) while nothing changed (the reference's DDPM caching, for every rule), writes the draws back and
 * stores the finished block. Works on [batch][W] windows in place. With `randoms` (one source
 * per item) every item draws only from its own source, in the order a batch-1 run would, so a batch equals
 * independent runs.
 *
 * `denoiseBlockSteps` is the loop as a generator that yields every model call it needs (see ModelCall: the driver
 * runs it, alone or batched with other runs', and may yield to the event loop); `denoiseBlock` runs it to the end.
 */
import type { ProbFilters } from '../tensor/sampling/filters.js';
import { categoricalNoise, type RandomSource, type RowNoise } from '../tensor/sampling/random.js';
import { resolveRule, type DenoiseMode } from './rules/registry.js';
import type { RuleOptions, StepContext } from './rules/rule.js';
import { sigmaFromP } from '../diffusion/schedule.js';
import { LazyProbs, ProbsPool, runCalls, type CallSteps, type RowDraw, type WindowModel } from './window-model.js';

export type { DdpmGrid } from './rules/rule.js';
export type { DenoiseMode } from './rules/registry.js';

export interface StepTrace {
  /** step index within the block loop */
  step: number;
  /** per item: the t passed to the update, rounded to float32 as the reference's `t * ones` */
  t: Float64Array;
  dt: number;
  /** whether the previous step's p(x0) was reused (nothing changed since the last model call) */
  usedCache: boolean;
  /** the window [batch][W] before and after the step (copies) */
  xIn: Int32Array;
  xOut: Int32Array;
}

/** the rule's options (threshold, entropyBound, ddpmGrid) are RuleOptions' */
export interface BlockOptions extends RuleOptions {
  wm: WindowModel;
  /** [batch][W], updated in place */
  window: Int32Array;
  batch: number;
  W: number;
  /** how many trailing positions of each window are sampled (L' for BD3-LM, the window for MDLM) */
  active: number;
  steps: number;
  /** the denoising rule (rules/registry.ts) */
  mode: DenoiseMode;
  random: RandomSource;
  /** one source per item (overrides `random`): item b's draws come from randoms[b] only */
  randoms?: RandomSource[];
  maskId: number;
  filters: ProbFilters;
  /** store the finished block (KV cache) once it has no mask left; default true */
  commit?: boolean;
  /**
   * p(x0) buffers to recycle: one pool for a whole run keeps them from block to block (fresh ones cost a page fault
   * per 4 KB when first written: about a tenth of the per-row sampling work at batch 16). Default: one per block.
   */
  pool?: ProbsPool;
  onStep?: (s: StepTrace) => void;
  /**
   * every revealed token: item b, active position j, the token and the filtered p(x0) row it was drawn from (DDPM:
   * the distribution of x0 before the posterior's choice to reveal; valid only during the call)
   */
  onReveal?: (b: number, j: number, token: number, probs: Float64Array) => void;
}

export interface BlockResult {
  /** steps that changed the window (the reference's NFE count, spec 5.4) */
  nfe: number;
  /** per item: steps that changed that item's window (= nfe for batch 1) */
  nfePerItem: Int32Array;
  /** denoiser calls actually made (excludes the KV-cache store pass) */
  modelCalls: number;
  /** loop iterations run */
  steps: number;
  /** no mask left in the windows */
  finished: boolean;
}

function countMasks(x: Int32Array, from: number, to: number, maskId: number): number {
  let n = 0;
  for (let i = from; i < to; i++) if (x[i] === maskId) n++;
  return n;
}

export function* denoiseBlockSteps(o: BlockOptions): CallSteps<BlockResult> {
  const { wm, window: x, batch: B, W, active: A, steps: T, maskId } = o;
  const V = wm.model.config.vocabSize;
  const timeCond = wm.model.config.timeConditioning;
  if (!Number.isInteger(T) || T < 1) throw new Error(`steps must be a positive integer, got ${T}`);
  if (!(A >= 1 && A <= W)) throw new Error(`active positions ${A} must be in 1..${W}`);
  if (x.length !== B * W) throw new Error(`window has ${x.length} tokens, expected ${B}x${W}`);
  if (o.randoms && o.randoms.length !== B) throw new Error(`randoms has ${o.randoms.length} sources for a batch of ${B}`);
  const { rule, options } = resolveRule(o.mode, o, 'sampling mode');
  const rnd = (b: number): RandomSource => (o.randoms ? o.randoms[b] : o.random);
  const dt = 1 / T;
  const t = new Float64Array(B).fill(1);
  const nMasked = new Int32Array(B);
  const nfePerItem = new Int32Array(B);
  // p(x0) of the last model call, row by row; kept while nothing changes (the reference's DDPM caching)
  let P: LazyProbs | null = null;
  const pool = o.pool ?? new ProbsPool();
  let sigma: Float32Array | undefined;
  let nfe = 0;
  let calls = 0;
  let i = 0;
  // Only the rows whose draw is used get probabilities and noise (the rule asks for them). The categorical noise
  // [B][A][V] is one draw for the batch (shared source), or one per item that still has masks, served per row. All
  // draws of a step go to the backend together (rows in parallel).
  const noise = (): ((b: number, j: number) => RowDraw) => {
    if (!o.randoms) {
      const u = categoricalNoise(o.random, B * A, V);
      return (b, j) => ({ row: b * A + j, noise: u, r: b * A + j });
    }
    const us: (RowNoise | null)[] = [];
    for (let b = 0; b < B; b++) us.push(nMasked[b] > 0 ? categoricalNoise(o.randoms[b], A, V) : null);
    return (b, j) => ({ row: b * A + j, noise: us[b]!, r: j });
  };
  const maskedOf = (b: number): number[] => {
    const base = b * W + W - A;
    const m: number[] = [];
    for (let j = 0; j < A; j++) if (x[base + j] === maskId) m.push(j);
    return m;
  };
  // a new p(x0) is one model call at the t the rule has set; a reused one may still compute a row first needed now
  // (same window and sigma), which is not counted
  const probs = (): LazyProbs => {
    if (!P) {
      sigma = timeCond ? Float32Array.from(t, (v) => sigmaFromP(Math.fround(v))) : undefined;
      P = new LazyProbs(wm, x, B, W, A, maskId, o.filters, sigma, pool);
      calls++;
    }
    return P;
  };
  for (; i < T; i++) {
    let total = 0;
    for (let b = 0; b < B; b++) total += nMasked[b] = countMasks(x, b * W, (b + 1) * W, maskId);
    if (total === 0) break;
    const xIn = o.onStep ? x.slice() : undefined;
    const masked = Array.from({ length: B }, (_, b) => maskedOf(b));
    const usedCache = P !== null;
    const ctx: StepContext = { i, T, dt, batch: B, active: A, V, maskId, options, t, nMasked, masked, rnd, noise, probs };
    const { draws, tokens } = yield* rule.step(ctx);
    const used = probs();
    // every drawn position is masked: DDPM's carry-over keeps it masked when the draw is the mask itself
    const changedItem = new Uint8Array(B);
    draws.forEach((d, k) => {
      const b = Math.floor(d.row / A);
      x[b * W + W - A + (d.row % A)] = tokens[k];
      if (tokens[k] !== maskId) {
        changedItem[b] = 1;
        o.onReveal?.(b, d.row % A, tokens[k], used.row(d.row));
      }
    });
    let changed = false;
    for (let b = 0; b < B; b++) {
      if (changedItem[b]) {
        nfePerItem[b]++;
        changed = true;
      }
    }
    if (changed) {
      nfe++;
      used.release();
      P = null;
    }
    o.onStep?.({ step: i, t: t.map(Math.fround), dt, usedCache, xIn: xIn!, xOut: x.slice() });
  }
  let left = 0;
  for (let b = 0; b < B; b++) left += countMasks(x, b * W, (b + 1) * W, maskId);
  const finished = left === 0;
  if (finished && (o.commit ?? true)) wm.commit(x, B, W, A, sigma);
  return { nfe, nfePerItem, modelCalls: calls, steps: i, finished };
}

/** Runs a sampler generator to its end, making each model call it asks for at once; returns its value. */
export const drain = runCalls;

export function denoiseBlock(o: BlockOptions): BlockResult {
  return drain(denoiseBlockSteps(o));
}
