/**
 * How a sampler asks the backbone for the denoiser's distribution over the positions it is sampling. Two
 * implementations, as in the reference (spec 3.7, 5.5): a KV cache of finished clean blocks (the current block
 * attends to itself and the cache), or a re-run of the whole window with the block-causal (BD3-LM) or full
 * (MDLM) mask. Both return raw logits of the last `active` positions of each item's window.
 */
import type { DiT, Layout } from '../model/dit.js';
import { KVCache } from '../model/kvcache.js';
import { subsLogProbs } from '../diffusion/subs.js';
import { applyFilters, type ProbFilters } from './filters.js';

export interface WindowModel {
  readonly model: DiT;
  /** raw logits [batch][active][V] of the last `active` positions of window [batch][W] */
  logits(window: Int32Array, batch: number, W: number, active: number, sigma?: ArrayLike<number>): Float32Array;
  /** called once per finished (mask-free) last block of the window, e.g. to store it in the KV cache */
  commit(window: Int32Array, batch: number, W: number, active: number, sigma?: ArrayLike<number>): void;
  dispose(): void;
}

/** Copies the last `n` positions of each item of x [batch][W]. */
export function lastPositions(x: Int32Array, batch: number, W: number, n: number): Int32Array {
  const out = new Int32Array(batch * n);
  for (let b = 0; b < batch; b++) out.set(x.subarray(b * W + W - n, (b + 1) * W), b * n);
  return out;
}

/** KV-cached inference: only the current block runs; `commit` stores it (spec 5.5). The cache slides past capacity. */
export class CachedWindowModel implements WindowModel {
  readonly model: DiT;
  readonly cache: KVCache;
  constructor(model: DiT, batch: number, blockSize: number, capacity = model.config.modelLength) {
    this.model = model;
    this.cache = new KVCache(model, batch, blockSize, capacity);
  }
  logits(window: Int32Array, batch: number, W: number, active: number, sigma?: ArrayLike<number>): Float32Array {
    return this.cache.step(lastPositions(window, batch, W, active), { sigma });
  }
  commit(window: Int32Array, batch: number, W: number, active: number, sigma?: ArrayLike<number>): void {
    this.cache.step(lastPositions(window, batch, W, active), { store: true, logitPositions: 'none', sigma });
  }
  dispose(): void {
    this.cache.dispose();
  }
}

/** No cache: the window is re-run every call with positions 0..W-1 (spec 3.7, 5.6). */
export class UncachedWindowModel implements WindowModel {
  readonly model: DiT;
  readonly layout: Layout;
  readonly blockSize: number;
  constructor(model: DiT, layout: Layout, blockSize: number) {
    this.model = model;
    this.layout = layout;
    this.blockSize = blockSize;
  }
  logits(window: Int32Array, batch: number, W: number, active: number, sigma?: ArrayLike<number>): Float32Array {
    const rows = new Int32Array(batch * active);
    for (let b = 0; b < batch; b++) for (let i = 0; i < active; i++) rows[b * active + i] = b * W + W - active + i;
    return this.model.forward({ ids: window, batch, seqLen: W, layout: this.layout, blockSize: this.blockSize, logitRows: rows, sigma }).logits;
  }
  commit(): void {}
  dispose(): void {}
}

/**
 * Denoiser probabilities of the active positions: SUBS log-probs (float32, as the reference computes them), then
 * exp in float64 and the filters (spec 5.3: `forward(...).to(float64).exp()`, then nucleus).
 */
export function subsProbs(wm: WindowModel, window: Int32Array, batch: number, W: number, active: number, maskId: number, filters: ProbFilters, sigma?: ArrayLike<number>): Float64Array {
  const V = wm.model.config.vocabSize;
  const logits = wm.logits(window, batch, W, active, sigma);
  const xt = lastPositions(window, batch, W, active);
  subsLogProbs(wm.model.backend, logits, batch * active, V, xt, maskId);
  const p = new Float64Array(logits.length);
  for (let i = 0; i < p.length; i++) p[i] = Math.exp(logits[i]);
  return applyFilters(p, batch * active, V, filters);
}
