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
  /**
   * raw logits [batch][active][V] of the last `active` positions of window [batch][W]; with `rows` (ascending flat
   * indices b * active + j) only those rows, [rows.length][V]
   */
  logits(window: Int32Array, batch: number, W: number, active: number, sigma?: ArrayLike<number>, rows?: ArrayLike<number>): Float32Array;
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
  logits(window: Int32Array, batch: number, W: number, active: number, sigma?: ArrayLike<number>, rows?: ArrayLike<number>): Float32Array {
    // the block is the whole step input, so window rows b * active + j are the cache's flat rows
    return this.cache.step(lastPositions(window, batch, W, active), { sigma, logitRows: rows });
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
  logits(window: Int32Array, batch: number, W: number, active: number, sigma?: ArrayLike<number>, rows?: ArrayLike<number>): Float32Array {
    const n = rows ? rows.length : batch * active;
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const r = rows ? rows[i] : i;
      out[i] = Math.floor(r / active) * W + W - active + (r % active);
    }
    return this.model.forward({ ids: window, batch, seqLen: W, layout: this.layout, blockSize: this.blockSize, logitRows: out, sigma }).logits;
  }
  commit(): void {}
  dispose(): void {}
}

/**
 * Denoiser probabilities of the active positions, row by row on demand: SUBS log-probs (float32, as the reference
 * computes them), then exp in float64 and the filters (spec 5.3: `forward(...).to(float64).exp()`, then nucleus).
 * Every row is a function of its own logits only, so a sampler asks the model for the rows it will use (`fetch`,
 * one call) and a row first needed later (a reused p(x0)) is fetched with the same window and sigma.
 */
export class LazyProbs {
  readonly V: number;
  /** model calls made (fetches) */
  calls = 0;
  private readonly x: Int32Array;
  private readonly sigma?: ArrayLike<number>;
  private readonly probs = new Map<number, Float64Array>();
  private readonly logp = new Map<number, Float32Array>();
  constructor(
    private readonly wm: WindowModel,
    window: Int32Array,
    private readonly batch: number,
    private readonly W: number,
    private readonly active: number,
    private readonly maskId: number,
    private readonly filters: ProbFilters,
    sigma?: ArrayLike<number>,
  ) {
    this.V = wm.model.config.vocabSize;
    this.x = window.slice();
    this.sigma = sigma && Array.from(sigma);
  }

  /** one model call for the rows not fetched yet (flat indices b * active + j) */
  fetch(rows: ArrayLike<number>): void {
    const need = Array.from(rows).filter((r) => !this.logp.has(r) && !this.probs.has(r)).sort((a, b) => a - b);
    if (need.length === 0) return;
    const V = this.V;
    const logits = this.wm.logits(this.x, this.batch, this.W, this.active, this.sigma, need);
    const xt = need.map((r) => this.x[Math.floor(r / this.active) * this.W + this.W - this.active + (r % this.active)]);
    subsLogProbs(this.wm.model.backend, logits, need.length, V, xt, this.maskId);
    need.forEach((r, i) => this.logp.set(r, logits.subarray(i * V, (i + 1) * V)));
    this.calls++;
  }

  /** filtered probabilities of row r (computed once; do not modify) */
  row(r: number): Float64Array {
    if (!this.probs.has(r)) this.prepare([r]);
    return this.probs.get(r)!;
  }

  /** Filtered probabilities of these rows, computed together: the backend's nucleus filter runs rows in parallel. */
  prepare(rows: ArrayLike<number>): void {
    const todo = [...new Set(Array.from(rows))].filter((r) => !this.probs.has(r));
    if (todo.length === 0) return;
    this.fetch(todo);
    const V = this.V;
    const all = new Float64Array(todo.length * V);
    todo.forEach((r, i) => {
      const l = this.logp.get(r)!;
      for (let v = 0; v < V; v++) all[i * V + v] = Math.exp(l[v]);
    });
    applyFilters(all, todo.length, V, this.filters, this.wm.model.backend);
    todo.forEach((r, i) => {
      this.probs.set(r, all.subarray(i * V, (i + 1) * V));
      this.logp.delete(r);
    });
  }
}

/** All rows at once [batch][active][V] (one model call). */
export function subsProbs(wm: WindowModel, window: Int32Array, batch: number, W: number, active: number, maskId: number, filters: ProbFilters, sigma?: ArrayLike<number>): Float64Array {
  const V = wm.model.config.vocabSize;
  const lp = new LazyProbs(wm, window, batch, W, active, maskId, filters, sigma);
  const n = batch * active;
  lp.fetch(Array.from({ length: n }, (_, r) => r));
  const p = new Float64Array(n * V);
  for (let r = 0; r < n; r++) p.set(lp.row(r), r * V);
  return p;
}
