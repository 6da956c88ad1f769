/**
 * How a sampler asks the backbone for the denoiser's distribution over the positions it is sampling. Two
 * implementations, as in the reference (spec 3.7, 5.5): a KV cache of finished clean blocks (the current block
 * attends to itself and the cache), or a re-run of the whole window with the block-causal (BD3-LM) or full
 * (MDLM) mask. Both return raw logits of the last `active` positions of each item's window.
 */
import type { DiT, Layout } from '../model/dit.js';
import { KVCache, type CacheStep, type StepOptions } from '../model/kvcache.js';
import { subsLogProbs } from '../diffusion/subs.js';
import { NOT_A_DISTRIBUTION, type SampleRowsArgs } from '../tensor/backend.js';
import { notADistribution, rankFilters, type ProbFilters } from '../tensor/sampling/filters.js';
import type { RowNoise } from '../tensor/sampling/random.js';

/**
 * A model call a sampler needs: samplers are generators that yield it and are resumed with its logits, so whoever
 * drives them decides when and how it runs — at once (`drain`), or batched with other runs' KV-cache steps in one
 * model call (`KVCache.stepMany`, the server's continuous batching). The logits stay valid until the next call.
 */
export class ModelCall {
  constructor(
    /** runs the call on its own */
    readonly run: () => Float32Array,
    /** the KV-cache step it is, if it is one (batchable with other caches' steps of the same model) */
    readonly step?: CacheStep,
  ) {}

  static cached(cache: KVCache, ids: Int32Array, opts: StepOptions): ModelCall {
    return new ModelCall(() => cache.step(ids, opts), { cache, ids, opts });
  }
}

/** the generator form of a model call: yields it, returns its logits */
export type CallSteps<T> = Generator<ModelCall, T, Float32Array>;

export interface WindowModel {
  readonly model: DiT;
  /**
   * raw logits [batch][active][V] of the last `active` positions of window [batch][W]; with `rows` (ascending flat
   * indices b * active + j) only those rows, [rows.length][V]. Valid until the next call (may be a scratch view).
   * Yields the model calls it needs (see ModelCall).
   */
  logits(window: Int32Array, batch: number, W: number, active: number, sigma?: ArrayLike<number>, rows?: ArrayLike<number>): CallSteps<Float32Array>;
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

/**
 * KV-cached inference: only the current block runs. Finished blocks (spec 5.5: stored once, clean) wait and are
 * stored by the next call, which runs them in front of the new block under the block-causal mask (`KVCache.step`'s
 * prefix): the same math as one store pass per block and then the step, in one pass over the weights, so a prompt
 * of many blocks costs one call. Blocks nothing follows are never stored. Blocks that would not fit before the cache
 * slides are stored first, as many per call as fit; with per-item adaLN (time conditioning: one sigma per call)
 * each block is stored on its own with its sigma. At most `maxPrefix` tokens of finished blocks go into one call (a
 * long prompt is stored in several calls, each a pause point: the same math, and the run can yield and abort between).
 */
export class CachedWindowModel implements WindowModel {
  readonly model: DiT;
  readonly cache: KVCache;
  /** finished blocks of each item, not stored yet: [batch][tokens] per entry, oldest first */
  private pending: { ids: Int32Array; n: number; sigma?: ArrayLike<number> }[] = [];
  private readonly maxPrefix: number;
  /**
   * `slide`: whether the run may outgrow `capacity` (see KVCache); `maxPrefix`: the most finished-block tokens stored
   * in one call (default: no limit; at least one block is)
   */
  constructor(model: DiT, batch: number, blockSize: number, capacity = model.config.modelLength, slide = true, maxPrefix = Infinity) {
    this.model = model;
    this.cache = new KVCache(model, batch, blockSize, capacity, { slide });
    this.maxPrefix = maxPrefix;
  }
  *logits(window: Int32Array, batch: number, W: number, active: number, sigma?: ArrayLike<number>, rows?: ArrayLike<number>): CallSteps<Float32Array> {
    const ids = lastPositions(window, batch, W, active);
    yield* this.flush(active);
    const blocks = this.pending;
    this.pending = [];
    const P = blocks.reduce((a, p) => a + p.n, 0);
    // the block is the whole step input, so window rows b * active + j are the cache's flat rows
    if (P === 0) return yield ModelCall.cached(this.cache, ids, { sigma, logitRows: rows, copy: false });
    const n = P + active;
    const all = joinBlocks([...blocks, { ids, n: active }], batch);
    const asked = rows ?? Array.from({ length: batch * active }, (_, r) => r);
    const logitRows = Int32Array.from(asked, (r) => Math.floor(r / active) * n + P + (r % active));
    return yield ModelCall.cached(this.cache, all, { prefix: P, sigma, logitRows, copy: false });
  }
  commit(window: Int32Array, batch: number, W: number, active: number, sigma?: ArrayLike<number>): void {
    this.pending.push({ ids: lastPositions(window, batch, W, active), n: active, sigma: sigma && Array.from(sigma) });
  }
  /**
   * Stores pending blocks on their own until the rest and `room` more tokens fit in the cache without a slide (all
   * of them with time conditioning) and in one call's `maxPrefix`: as many blocks per call as fit before the cache
   * is full, at most `maxPrefix` tokens.
   */
  private *flush(room: number): CallSteps<void> {
    const cache = this.cache;
    const perBlock = this.model.config.timeConditioning;
    const total = () => this.pending.reduce((a, p) => a + p.n, 0);
    while (this.pending.length && (perBlock || cache.length + total() + room > cache.capacity || total() > this.maxPrefix)) {
      let k = 1;
      let n = this.pending[0].n;
      while (!perBlock && k < this.pending.length && cache.length + n + this.pending[k].n <= cache.capacity && n + this.pending[k].n <= this.maxPrefix) n += this.pending[k++].n;
      const blocks = this.pending.splice(0, k);
      yield ModelCall.cached(cache, joinBlocks(blocks, cache.batch), { prefix: n, logitPositions: 'none', sigma: blocks[0].sigma });
    }
  }
  dispose(): void {
    this.cache.dispose();
  }
}

/** Each item's blocks ([batch][n] each) side by side, in order: [batch][sum of n]. */
function joinBlocks(blocks: { ids: Int32Array; n: number }[], batch: number): Int32Array {
  const n = blocks.reduce((a, p) => a + p.n, 0);
  const all = new Int32Array(batch * n);
  for (let b = 0; b < batch; b++) {
    let at = b * n;
    for (const p of blocks) {
      all.set(p.ids.subarray(b * p.n, (b + 1) * p.n), at);
      at += p.n;
    }
  }
  return all;
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
  *logits(window: Int32Array, batch: number, W: number, active: number, sigma?: ArrayLike<number>, rows?: ArrayLike<number>): CallSteps<Float32Array> {
    const n = rows ? rows.length : batch * active;
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const r = rows ? rows[i] : i;
      out[i] = Math.floor(r / active) * W + W - active + (r % active);
    }
    return yield new ModelCall(() => this.model.forward({ ids: window, batch, seqLen: W, layout: this.layout, blockSize: this.blockSize, logitRows: out, sigma }).logits);
  }
  commit(): void {}
  dispose(): void {}
}

/** One categorical draw of a sampler: flat row b * active + j of the p(x0), and row `r` of a draw's noise. */
export interface RowDraw {
  row: number;
  noise: RowNoise;
  r: number;
}

/** The noise of some draws as `sampleRows` takes it: the seeded draws' words (never materialised), else the rows. */
function noiseArgs(draws: RowDraw[], V: number): { noise?: Float64Array; seeds?: Int32Array } {
  if (draws.every((d) => d.noise.seed)) return { seeds: Int32Array.from(draws.flatMap((d) => [d.noise.seed![0], d.noise.seed![1], d.r])) };
  const noise = new Float64Array(draws.length * V);
  draws.forEach((d, k) => noise.set(d.noise.row(d.r), k * V));
  return { noise };
}

/**
 * Float64 buffers for p(x0) rows, recycled when a p(x0) is dropped: a sampling step would otherwise allocate (and
 * zero-fill) rows x V doubles for the garbage collector to reclaim.
 */
export class ProbsPool {
  private readonly free: Float64Array[] = [];
  take(n: number): Float64Array {
    const i = this.free.findIndex((b) => b.length >= n);
    return i < 0 ? new Float64Array(n) : this.free.splice(i, 1)[0].subarray(0, n);
  }
  give(b: Float64Array): void {
    this.free.push(new Float64Array(b.buffer));
  }
}

/**
 * Denoiser probabilities of the active positions, row by row on demand, and draws from them. A row is the SUBS
 * log-probs (float32, as the reference computes them), then exp in float64 and the filters (spec 5.3:
 * `forward(...).to(float64).exp()`, then nucleus) — the backend's `sampleRows`, rows in parallel, which also makes
 * the draws of the rows it has just computed. Every row is a function of its own logits only, so a sampler asks
 * the model for the rows it will use (one call) and a row first needed later (a reused p(x0)) is fetched with the
 * same window and sigma.
 */
export class LazyProbs {
  readonly V: number;
  private readonly x: Int32Array;
  private readonly sigma?: ArrayLike<number>;
  /** each computed row: the block of rows it was computed with, and its index there */
  private readonly at = new Map<number, { probs: Float64Array; i: number }>();
  constructor(
    private readonly wm: WindowModel,
    window: Int32Array,
    private readonly batch: number,
    private readonly W: number,
    private readonly active: number,
    private readonly maskId: number,
    private readonly filters: ProbFilters,
    sigma?: ArrayLike<number>,
    private readonly pool = new ProbsPool(),
  ) {
    this.V = wm.model.config.vocabSize;
    this.x = window.slice();
    this.sigma = sigma && Array.from(sigma);
  }

  /** filtered probabilities of row r, computed by an earlier `sample` (do not modify) */
  row(r: number): Float64Array {
    const at = this.at.get(r);
    if (!at) throw new Error(`p(x0) row ${r} was not computed`);
    return at.probs.subarray(at.i * this.V, (at.i + 1) * this.V);
  }

  /**
   * Computes the rows not computed yet among `rows` and the draws' rows (one model call), then makes the draws
   * (through the DDPM posterior when given) and returns their tokens.
   */
  *sample(rows: ArrayLike<number>, draws: RowDraw[], posterior: SampleRowsArgs['posterior'] = null): CallSteps<Int32Array> {
    const V = this.V;
    const be = this.wm.model.backend;
    const out = new Int32Array(draws.length).fill(-1);
    const todo = [...new Set([...Array.from(rows), ...draws.map((d) => d.row)])].filter((r) => !this.at.has(r)).sort((a, b) => a - b);
    if (todo.length) {
      const logp = yield* this.wm.logits(this.x, this.batch, this.W, this.active, this.sigma, todo);
      const xt = todo.map((r) => this.x[Math.floor(r / this.active) * this.W + this.W - this.active + (r % this.active)]);
      subsLogProbs(be, logp, todo.length, V, xt, this.maskId);
      const probs = this.pool.take(todo.length * V);
      todo.forEach((r, i) => this.at.set(r, { probs, i }));
      const mine = draws.map((_, k) => k).filter((k) => this.at.get(draws[k].row)!.probs === probs);
      const fallback = new Int32Array(todo.length);
      const tok = new Int32Array(mine.length);
      be.sampleRows({
        rows: todo.length, V, probs, logp, filters: this.filters, fallback, posterior, out: tok,
        drawRow: Int32Array.from(mine, (k) => this.at.get(draws[k].row)!.i), ...noiseArgs(mine.map((k) => draws[k]), V),
      });
      const broken = fallback.indexOf(NOT_A_DISTRIBUTION);
      if (broken >= 0) {
        const r = todo[broken];
        throw notADistribution(`the model's prediction for batch item ${Math.floor(r / this.active)}, position ${r % this.active} of the block`);
      }
      mine.forEach((k, i) => (out[k] = tok[i]));
      // the backend left these rows to the definition (no scratch memory): their draws are made below
      fallback.forEach((f, i) => f && rankFilters(probs.subarray(i * V, (i + 1) * V), 1, V, this.filters));
    }
    // draws from rows computed by an earlier call (or left to the definition): one call per block of rows
    const left = draws.map((_, k) => k).filter((k) => out[k] < 0);
    for (const probs of new Set(left.map((k) => this.at.get(draws[k].row)!.probs))) {
      const group = left.filter((k) => this.at.get(draws[k].row)!.probs === probs);
      const tok = new Int32Array(group.length);
      be.sampleRows({
        rows: probs.length / V, V, probs, posterior, out: tok,
        drawRow: Int32Array.from(group, (k) => this.at.get(draws[k].row)!.i), ...noiseArgs(group.map((k) => draws[k]), V),
      });
      group.forEach((k, i) => (out[k] = tok[i]));
    }
    return out;
  }

  /** Returns the rows' buffers to the pool; the rows must not be used afterwards. */
  release(): void {
    for (const probs of new Set([...this.at.values()].map((w) => w.probs))) this.pool.give(probs);
    this.at.clear();
  }
}

/** All rows at once [batch][active][V] (one model call). */
export function subsProbs(wm: WindowModel, window: Int32Array, batch: number, W: number, active: number, maskId: number, filters: ProbFilters, sigma?: ArrayLike<number>): Float64Array {
  const V = wm.model.config.vocabSize;
  const lp = new LazyProbs(wm, window, batch, W, active, maskId, filters, sigma);
  const n = batch * active;
  runCalls(lp.sample(Array.from({ length: n }, (_, r) => r), []));
  const p = new Float64Array(n * V);
  for (let r = 0; r < n; r++) p.set(lp.row(r), r * V);
  return p;
}

/** Runs a sampler generator to its end, making each model call it yields at once (the synchronous driver). */
export function runCalls<T>(g: Generator<unknown, T, Float32Array | undefined>): T {
  for (let r = g.next(); ; ) {
    if (r.done) return r.value;
    r = g.next(r.value instanceof ModelCall ? r.value.run() : undefined);
  }
}
