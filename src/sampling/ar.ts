/**
 * The AR baseline's sampler (spec 5.9, 6.1): BOS, then one token per causal forward of the last position, with
 * the stop rules after every token once past 256. The reference's AR KV cache is broken (spec 11 #2); ours is a
 * KVCache of block size 1 and agrees with the uncached causal forward within the first model-length tokens (past
 * it the cache slides: deeper-layer keys keep context that has left the window, as for BD3-LM, spec 5.5).
 * Deviation: the reference draws float32 Gumbel noise, argmax(log P + G); here the float64 race of spec 5.1 (the
 * same distribution), so every sampler shares one random source.
 */
import type { DiT } from '../model/dit.js';
import { KVCache } from '../model/kvcache.js';
import { NEG_INF } from '../diffusion/subs.js';
import { sampleCategorical } from '../tensor/sampling/categorical.js';
import { applyFilters } from '../tensor/sampling/filters.js';
import { positiveInt, resolveIds, validateCommon, type CommonOptions, type SampleResult } from './options.js';
import { checkStop } from './stop.js';

export interface AROptions extends CommonOptions {
  /** KV cache (default true) */
  cache?: boolean;
  /** sliding window (default: the model length) */
  context?: number;
  /** called after each token with its position and value */
  onToken?: (pos: number, token: number) => void;
}

/** Next-token probabilities (float64, filtered) from raw logits of one row: mask logit -1e6, then softmax. */
export function arProbs(logits: Float32Array, V: number, maskId: number, o: CommonOptions): Float64Array {
  const p = new Float64Array(V);
  let m = -Infinity;
  for (let v = 0; v < V; v++) {
    p[v] = v === maskId ? NEG_INF : logits[v];
    if (p[v] > m) m = p[v];
  }
  let s = 0;
  for (let v = 0; v < V; v++) s += p[v] = Math.exp(p[v] - m);
  for (let v = 0; v < V; v++) p[v] /= s;
  return applyFilters(p, 1, V, o);
}

export function sampleAR(model: DiT, o: AROptions): SampleResult {
  validateCommon(o);
  if (!model.config.causal) throw new Error('the AR sampler needs a causal model (model type ar)');
  const ids = resolveIds(model, o);
  const V = model.config.vocabSize;
  const C = positiveInt('context', o.context ?? model.config.modelLength);
  if (C > model.config.modelLength) throw new Error(`context ${C} exceeds the model length ${model.config.modelLength}`);
  const N = o.length;
  const x = new Int32Array(N);
  x[0] = ids.bos;
  const stopOpts = o.stop === false ? null : (o.stop ?? {});
  const cache = (o.cache ?? true) ? new KVCache(model, 1, 1, C, { slide: N > C }) : null;
  let calls = 0;
  try {
    for (let i = 0; i < N - 1; i++) {
      let logits: Float32Array;
      if (cache) logits = cache.step([x[i]], { store: true });
      else {
        const start = Math.max(i + 1 - C, 0);
        const W = i + 1 - start;
        logits = model.forward({ ids: x.subarray(start, i + 1), batch: 1, seqLen: W, layout: 'causal', logitRows: [W - 1] }).logits;
      }
      calls++;
      const p = arProbs(logits, V, ids.maskId, o);
      const y = sampleCategorical(p, 1, V, o.random.uniforms(V))[0];
      // the reference checks x[:i+1] before writing token i+1
      if (stopOpts) {
        const c = checkStop(x, i + 1, ids.eos, stopOpts);
        if (c.stop) return { tokens: x.slice(0, c.cut ?? i + 1), nfe: N, modelCalls: calls, stopReason: c.reason!, rejected: !stopOpts.varLength };
      }
      x[i + 1] = y;
      o.onToken?.(i + 1, y);
    }
  } finally {
    cache?.dispose();
  }
  // spec 5.4: the reference records NFE = N for AR
  return { tokens: x, nfe: N, modelCalls: calls, stopReason: 'length', rejected: false };
}
