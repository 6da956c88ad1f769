/**
 * SEDD's analytic (Tweedie tau-leaping) sampler for the absorbing score-entropy baseline (spec 6.3): the whole
 * sequence (BOS + masks, at most the model length) is updated at every step with the score parameterisation of
 * the logits, then a final denoising step at t = eps. The model must be time-conditioned (the reference asserts it).
 */
import type { DiT } from '../model/dit.js';
import { sampleCategorical } from '../tensor/sampling/categorical.js';
import { applyFilters, type ProbFilters } from '../tensor/sampling/filters.js';
import { positiveInt, resolveIds, validateCommon, type CommonOptions, type ResolvedIds, type SampleResult } from './options.js';
import type { RandomSource } from '../tensor/sampling/random.js';
import { linspaceF32, sigmaFromP } from '../diffusion/schedule.js';
import { checkStop, type StopOptions } from './stop.js';
import type { SequenceResult, StrideDone, StrideRunResult } from './strides.js';
import { ModelCall, runCalls } from './window-model.js';

export interface SEDDOptions extends CommonOptions {
  /** number of tau-leaping steps T (1000 in the reference scripts); NFE = T */
  steps: number;
  /** final time (default 1e-5) */
  eps?: number;
  /** after each step (the final denoising step has step = steps) */
  onStep?: (s: { step: number; t: number; x: Int32Array }) => void;
}

/**
 * Log-score [N][V] from raw logits (spec 6.3): z - ln(expm1 sigma) - ln(V - 1) (expm1 below 0.5, exp - 1 above),
 * and 0 at each position's input token. Computed in float32 like the reference, returned as float64.
 */
export function seddLogScore(logits: Float32Array, x: ArrayLike<number>, V: number, sigma: number): Float64Array {
  const esm1 = Math.fround(Math.log(Math.fround(sigma < 0.5 ? Math.expm1(sigma) : Math.exp(sigma) - 1)));
  const c = Math.fround(Math.log(V - 1));
  const out = new Float64Array(logits.length);
  for (let i = 0; i < logits.length; i++) out[i] = Math.fround(Math.fround(logits[i] - esm1) - c);
  for (let r = 0; r < x.length; r++) out[r * V + x[r]] = 0;
  return out;
}

/** score = exp(log s); with nucleus < 1 the log-scores are normalised first and filtered as probabilities. */
function score(logS: Float64Array, rows: number, V: number, o: ProbFilters): Float64Array {
  const filtering = (o.topP ?? 1) < 1 || (o.topK ?? 0) > 0 || (o.temperature ?? 1) !== 1;
  for (let r = 0; r < rows; r++) {
    const row = logS.subarray(r * V, (r + 1) * V);
    let lse = 0;
    if (filtering) {
      let m = -Infinity;
      for (let v = 0; v < V; v++) m = Math.max(m, row[v]);
      let s = 0;
      for (let v = 0; v < V; v++) s += Math.exp(row[v] - m);
      lse = m + Math.log(s);
    }
    for (let v = 0; v < V; v++) row[v] = Math.exp(row[v] - lse);
  }
  return filtering ? applyFilters(logS, rows, V, o) : logS;
}

/**
 * probs = staggered score (e^{ds} s, plus (1 - e^{ds}) sum(s) at the mask) times the reverse transition
 * (e^{-ds} at the current token, plus 1 - e^{-ds} everywhere for masked positions). In place on s.
 */
function updateProbs(s: Float64Array, x: ArrayLike<number>, V: number, maskId: number, ds: number): Float64Array {
  const e = Math.exp(ds);
  const em = Math.exp(-ds);
  for (let r = 0; r < x.length; r++) {
    const row = s.subarray(r * V, (r + 1) * V);
    let sum = 0;
    for (let v = 0; v < V; v++) sum += row[v];
    for (let v = 0; v < V; v++) row[v] *= e;
    row[maskId] += (1 - e) * sum;
    const masked = x[r] === maskId;
    for (let v = 0; v < V; v++) row[v] *= (v === x[r] ? em : 0) + (masked ? 1 - em : 0);
  }
  return s;
}

/**
 * Unmasked positions keep their token. The absorbing transition already gives them probability 1 — except when the
 * nucleus filter removed the current token from its own row, where the reference's all-zero row yields token 0.
 */
function keepRevealed(prev: Int32Array, next: Int32Array, maskId: number): Int32Array<ArrayBuffer> {
  const out = new Int32Array(prev.length);
  for (let i = 0; i < prev.length; i++) out[i] = prev[i] === maskId ? next[i] : prev[i];
  return out;
}

/** A SEDD run over rows [batch][N] (pre-filled with BOS and the prompt, masks after): what `seddSteps` needs. */
export interface SEDDRun {
  model: DiT;
  x: Int32Array;
  batch: number;
  steps: number;
  eps: number;
  filters: ProbFilters;
  /** one source (batch 1: the reference's draw order) or one per row */
  random: RandomSource | RandomSource[];
  ids: ResolvedIds;
  stop: StopOptions | null;
  /** EOS before this position is prompt, not a stop (default 1: the BOS) */
  generatedFrom?: number;
  onStep?: (s: { step: number; t: number; x: Int32Array }) => void;
  /** per row: set to 1 by the caller to end the row (SEDD writes every token at once: it keeps only its prompt) */
  halt?: Uint8Array;
}

/**
 * The SEDD sampler as a generator in the shape of the block samplers (strides.ts): it yields each model call (the
 * whole rows, bidirectional) and one `StrideDone` for the whole rows at the end, and returns every row's result.
 * Unmasked positions (BOS, a prompt) are kept; each row draws from its own source.
 */
export function* seddSteps(r: SEDDRun): Generator<StrideDone | ModelCall, StrideRunResult, Float32Array | undefined> {
  const { model, batch: B, ids, steps: T, eps } = r;
  const V = model.config.vocabSize;
  const N = r.x.length / B;
  const rnd = (b: number) => (Array.isArray(r.random) ? r.random[b] : r.random);
  const ts = linspaceF32(1, eps, T + 1);
  const dt = (1 - eps) / T;
  const from = r.generatedFrom ?? 1;
  const halted = (b: number) => r.halt?.[b] === 1;
  let calls = 0;
  // probabilities [N][V] of every row at sigma (one batched call), each row then drawn from its own source
  function* step(sigma: number, ds: number, last: boolean): Generator<ModelCall, void, Float32Array | undefined> {
    const x = r.x;
    const logits = (yield new ModelCall(() => model.forward({ ids: x, batch: B, seqLen: N, layout: 'bidirectional', sigma: new Array(B).fill(sigma) }).logits))!;
    calls++;
    for (let b = 0; b < B; b++) {
      if (halted(b)) continue;
      const xb = x.subarray(b * N, (b + 1) * N);
      const p = updateProbs(score(seddLogScore(logits.subarray(b * N * V, (b + 1) * N * V), xb, V, sigma), N, V, r.filters), xb, V, ids.maskId, ds);
      // the final denoising step may not draw the mask
      if (last) for (let q = 0; q < N; q++) p[q * V + ids.maskId] = 0;
      xb.set(keepRevealed(xb, sampleCategorical(p, N, V, rnd(b).uniforms(N * V)), ids.maskId));
    }
  }
  for (let i = 0; i < T && !r.halt?.every((h) => h); i++) {
    const t = ts[i];
    const sT = sigmaFromP(t);
    yield* step(sT, Math.fround(sT - sigmaFromP(Math.fround(t - dt))), false);
    r.onStep?.({ step: i, t, x: r.x.slice() });
  }
  // final denoising step at t = eps: the whole sigma
  if (!r.halt?.every((h) => h)) {
    const sig = sigmaFromP(ts[T]);
    yield* step(sig, sig, true);
    r.onStep?.({ step: T, t: ts[T], x: r.x.slice() });
  }
  const results: SequenceResult[] = [];
  const validEnd = new Int32Array(B);
  for (let b = 0; b < B; b++) {
    const row = r.x.subarray(b * N, (b + 1) * N);
    // the reference checks at the end regardless of length (here: only past the entropy window, as elsewhere)
    const c = r.stop && !halted(b) ? checkStop(row, N, ids.eos, r.stop, from) : { stop: false };
    validEnd[b] = halted(b) ? from : c.stop ? (c.cut ?? N) : N;
    results.push({ tokens: row.slice(0, validEnd[b]), nfe: T, stopReason: halted(b) ? 'halted' : c.stop ? c.reason! : 'length', rejected: c.stop ? !r.stop!.varLength : false });
  }
  yield { stride: 0, start: 0, end: N, active: N, validEnd, finished: new Uint8Array(B).fill(1) };
  return { sequences: results, modelCalls: calls };
}

export function sampleSEDD(model: DiT, o: SEDDOptions): SampleResult {
  validateCommon(o);
  const T = positiveInt('steps', o.steps);
  checkSEDDModel(model, o.length);
  const eps = o.eps ?? 1e-5;
  if (!(eps > 0 && eps < 1)) throw new Error(`eps must be in (0, 1), got ${o.eps}`);
  const ids = resolveIds(model, o);
  const x = new Int32Array(o.length).fill(ids.maskId);
  x[0] = ids.bos;
  const r = runCalls(seddSteps({ model, x, batch: 1, steps: T, eps, filters: o, random: o.random, ids, stop: o.stop === false ? null : (o.stop ?? {}), onStep: o.onStep }));
  const q = r.sequences[0];
  return { tokens: q.tokens, nfe: T, modelCalls: r.modelCalls, stopReason: q.stopReason, rejected: q.rejected };
}

/** Checks that the model is a SEDD one and `length` tokens fit its window. */
export function checkSEDDModel(model: DiT, length: number): void {
  if (!model.config.timeConditioning) throw new Error('SEDD sampling needs a time-conditioned model (timeConditioning: true)');
  if (model.config.causal) throw new Error('SEDD sampling needs a non-causal model');
  if (length > model.config.modelLength) throw new Error(`SEDD samples at most the model length ${model.config.modelLength} tokens, got ${length}`);
}
