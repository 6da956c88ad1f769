/**
 * SEDD's analytic (Tweedie tau-leaping) sampler for the absorbing score-entropy baseline (spec 6.3): the whole
 * sequence (BOS + masks, at most the model length) is updated at every step with the score parameterisation of
 * the logits, then a final denoising step at t = eps. The model must be time-conditioned (the reference asserts it).
 */
import type { DiT } from '../model/dit.js';
import { sampleCategorical } from '../tensor/sampling/categorical.js';
import { applyFilters } from '../tensor/sampling/filters.js';
import { positiveInt, resolveIds, validateCommon, type CommonOptions, type SampleResult } from './options.js';
import { linspaceF32, sigmaFromP } from '../diffusion/schedule.js';
import { checkStop } from './stop.js';

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
function score(logS: Float64Array, rows: number, V: number, o: CommonOptions): Float64Array {
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

export function sampleSEDD(model: DiT, o: SEDDOptions): SampleResult {
  validateCommon(o);
  const T = positiveInt('steps', o.steps);
  if (!model.config.timeConditioning) throw new Error('SEDD sampling needs a time-conditioned model (timeConditioning: true)');
  if (model.config.causal) throw new Error('SEDD sampling needs a non-causal model');
  const N = o.length;
  if (N > model.config.modelLength) throw new Error(`SEDD samples at most the model length ${model.config.modelLength} tokens, got ${N}`);
  const eps = o.eps ?? 1e-5;
  if (!(eps > 0 && eps < 1)) throw new Error(`eps must be in (0, 1), got ${o.eps}`);
  const ids = resolveIds(model, o);
  const V = model.config.vocabSize;
  let x = new Int32Array(N).fill(ids.maskId);
  x[0] = ids.bos;
  const ts = linspaceF32(1, eps, T + 1);
  const dt = (1 - eps) / T;
  const probsAt = (sigma: number, ds: number) => {
    const logits = model.forward({ ids: x, batch: 1, seqLen: N, layout: 'bidirectional', sigma: [sigma] }).logits;
    return updateProbs(score(seddLogScore(logits, x, V, sigma), N, V, o), x, V, ids.maskId, ds);
  };
  for (let i = 0; i < T; i++) {
    const t = ts[i];
    const sT = sigmaFromP(t);
    const ds = Math.fround(sT - sigmaFromP(Math.fround(t - dt)));
    x = keepRevealed(x, sampleCategorical(probsAt(sT, ds), N, V, o.random.uniforms(N * V)), ids.maskId);
    o.onStep?.({ step: i, t, x: x.slice() });
  }
  // final denoising step at t = eps: the whole sigma, and the mask may not be drawn
  const sig = sigmaFromP(ts[T]);
  const p = probsAt(sig, sig);
  for (let r = 0; r < N; r++) p[r * V + ids.maskId] = 0;
  x = keepRevealed(x, sampleCategorical(p, N, V, o.random.uniforms(N * V)), ids.maskId);
  o.onStep?.({ step: T, t: ts[T], x: x.slice() });
  const stopOpts = o.stop === false ? null : (o.stop ?? {});
  if (stopOpts) {
    // the reference checks at the end regardless of length (here: only past the entropy window, as elsewhere)
    const c = checkStop(x, N, ids.eos, stopOpts);
    if (c.stop) return { tokens: x.slice(0, c.cut ?? N), nfe: T, modelCalls: T + 1, stopReason: c.reason!, rejected: !stopOpts.varLength };
  }
  return { tokens: x, nfe: T, modelCalls: T + 1, stopReason: 'length', rejected: false };
}
