import { Workspace } from '../tensor/workspace.js';
import type { ModelConfig } from './config.js';
import type { DiT } from './dit.js';

/**
 * The bytes a KVCache holds: per layer fp32 [batch][capacity][hidden] arrays of rotated keys and values, plus the
 * pre-rotary keys when it may slide (kept to re-rotate after a slide).
 */
export function kvCacheBytes(config: ModelConfig, batch: number, capacity: number, slides: boolean): number {
  return (slides ? 3 : 2) * config.nBlocks * batch * capacity * config.hiddenDim * 4;
}

/**
 * KV cache of clean blocks for block-by-block inference (spec 5.5). Per layer it keeps the pre-rotary keys (so
 * positions can be reassigned after a slide, as the reference re-applies rotary over the whole window every call),
 * their rotated copy, and the values, each [batch][capacity][D]. `length` tokens are stored; a step's new block is
 * written right after them and kept only by `store`. Past `capacity` the window slides by one block and positions
 * restart from 0. Storage is fp32 (the golden data was produced with an fp32 cache; the HF reference uses bf16).
 */
export class KVCache {
  readonly batch: number;
  readonly capacity: number;
  readonly blockSize: number;
  length = 0;
  /** tokens ever stored (the window start is `stored - length`) */
  stored = 0;
  readonly kPre: Float32Array[];
  readonly kRot: Float32Array[];
  readonly v: Float32Array[];
  readonly model: DiT;

  /** whether the window slides past `capacity` (else a full cache refuses more tokens) */
  readonly slides: boolean;
  /** the step's attention spans, where the backend reads them */
  private readonly scratch: Workspace;

  /**
   * `slide: false` is for runs that never outgrow the capacity: the pre-rotary keys, kept only to re-rotate after a
   * slide, are then neither stored nor allocated (a third less cache memory and copying).
   */
  constructor(model: DiT, batch: number, blockSize: number, capacity = model.config.modelLength, opts: { slide?: boolean } = {}) {
    if (!Number.isInteger(batch) || batch < 1) throw new Error(`batch must be a positive integer, got ${batch}`);
    if (!Number.isInteger(blockSize) || blockSize < 1) throw new Error(`block size must be a positive integer, got ${blockSize}`);
    if (capacity < blockSize || capacity % blockSize !== 0) {
      throw new Error(`KV cache capacity ${capacity} must be a multiple of the block size ${blockSize}`);
    }
    if (capacity > model.rotary.maxPos) throw new Error(`KV cache capacity ${capacity} exceeds the model length ${model.rotary.maxPos}`);
    this.model = model;
    this.batch = batch;
    this.blockSize = blockSize;
    this.capacity = capacity;
    const n = batch * capacity * model.config.hiddenDim;
    const be = model.backend;
    this.slides = opts.slide ?? true;
    this.kPre = this.slides ? Array.from({ length: model.config.nBlocks }, () => be.alloc(n)) : [];
    this.kRot = Array.from({ length: model.config.nBlocks }, () => be.alloc(n));
    this.v = Array.from({ length: model.config.nBlocks }, () => be.alloc(n));
    this.scratch = new Workspace(be);
  }

  reset(): void {
    this.length = 0;
    this.stored = 0;
  }

  /**
   * Runs the L' = ids.length / batch new tokens against the cache (no mask: a noised block sees itself and every
   * cached clean block). Returns raw logits [batch][n][V] for the new positions listed in `logitPositions`
   * (indices within the block, the same for every item; default all), or [rows.length][V] for `logitRows` (flat
   * indices b * n + i, each item its own positions). With `store`, the block's keys/values are kept for later blocks.
   * With `copy: false` the logits are a workspace view that the model's next call overwrites (no fresh array per
   * step: allocating and faulting in megabytes of logits costs more than using them).
   * With `prefix` = P (a multiple of the block size, at most n), each item's first P tokens are finished blocks that
   * are stored: each block attends to the cache, the blocks before it and itself, the other n - P tokens to the
   * cache, the prefix and themselves (the block-causal mask). One call thus does the store passes of several blocks
   * (a prompt) and the next block's step, with the same math as one call each.
   */
  step(ids: ArrayLike<number>, opts: StepOptions = {}): Float32Array {
    return KVCache.stepMany(this.model, [{ cache: this, ids, opts }])[0];
  }

  /**
   * Several caches' steps as one model call (continuous batching across independent runs): the new tokens of every
   * step go through the dense layers together, one pass over the weights, while rotary positions and attention stay
   * per cache (each its own length, block size and prefix). Every row's arithmetic is the same as in the cache's own
   * `step`. Returns each step's logits (with `copy: false`, views of one workspace buffer). Several steps need a
   * model without time conditioning (per-item adaLN rows would not line up across caches).
   */
  static stepMany(model: DiT, steps: CacheStep[]): Float32Array[] {
    if (steps.length === 0) return [];
    for (const s of steps) if (s.cache.model !== model) throw new Error('a batched step mixes caches of different models');
    if (new Set(steps.map((s) => s.cache)).size < steps.length) throw new Error('a batched step has two steps of one cache');
    const parts = steps.map((s) => s.cache.prepare(s.ids, s.opts ?? {}));
    const R = parts.reduce((a, p) => a + p.R, 0);
    let r0 = 0;
    for (const p of parts) {
      p.r0 = r0;
      r0 += p.R;
    }
    const one = parts.length === 1;
    if (!one && model.config.timeConditioning && model.adaln) throw new Error('batched steps of several caches need a model without time conditioning');
    // the rows whose logits are asked for (flat, across the steps), in the callers' order
    const asked = Int32Array.from(parts.flatMap((p) => Array.from(p.asked, (r) => r + p.r0)));
    const { logits } = model.forward(
      {
        ids: one ? steps[0].ids : concatIds(parts.map((p) => p.ids)),
        batch: one ? parts[0].B : 1, seqLen: one ? parts[0].n : R, logitRows: asked,
        sigma: one ? steps[0].opts?.sigma : undefined, copy: steps.every((s) => s.opts?.copy !== false),
      },
      { cache: { attend: (l, qkv, o, queries) => parts.forEach((p) => p.cache.attend(l, p, qkv, o, queries, one)) } },
    );
    const V = model.config.vocabSize;
    let at = 0;
    return parts.map((p, i) => {
      const o = steps[i].opts ?? {};
      if (o.store || p.P) p.cache.commit(o.store ? p.n : p.P);
      const rows = p.asked.length;
      at += rows;
      return one ? logits : logits.subarray((at - rows) * V, at * V);
    });
  }

  /**
   * Layer l of a step (rows p.r0 .. of the model call's qkv [rows][3D], pre-rotary): keeps the new keys and values
   * right after the stored ones, rotates q and k at positions length .. length + n - 1 and, with `queries`, attends
   * the new queries over the cache and the new tokens (the step's spans) into o.
   */
  private attend(l: number, p: StepPart, qkv: Float32Array, o: Float32Array, queries: boolean, one: boolean): void {
    const model = this.model;
    const { hiddenDim: D, nHeads: H } = model.config;
    const be = model.backend;
    const hd = model.headDim;
    const { B, n } = p;
    const start = this.length;
    const cap = this.capacity;
    const q = one ? qkv : qkv.subarray(p.r0 * 3 * D);
    if (this.slides) copyNewRows(q, D, this.kPre[l], B, n, D, cap, start);
    copyNewRows(q, 2 * D, this.v[l], B, n, D, cap, start);
    be.rotary({ x: q, rows: p.R, rowStride: 3 * D, heads: 2 * H, headDim: hd, cos: model.rotary.cos, sin: model.rotary.sin, pos0: start, seqLen: n });
    copyNewRows(q, D, this.kRot[l], B, n, D, cap, start);
    if (!queries) return;
    be.attention({
      batch: B, heads: H, headDim: hd, qLen: n, kLen: start + n,
      q, k: this.kRot[l], v: this.v[l], out: one ? o : o.subarray(p.r0 * D),
      qRowStride: 3 * D, kRowStride: D, vRowStride: D, outRowStride: D,
      qBatchStride: n * 3 * D, kBatchStride: cap * D, vBatchStride: cap * D, outBatchStride: n * D,
      scale: 1 / Math.sqrt(hd), spans: p.spans,
    });
  }

  /** Checks one step's arguments against this cache and lays out what `stepMany` needs. */
  private prepare(ids: ArrayLike<number>, opts: StepOptions): StepPart {
    const B = this.batch;
    if (ids.length % B !== 0) throw new Error(`ids has ${ids.length} entries, not a multiple of the batch ${B}`);
    const n = ids.length / B;
    if (n < 1 || n > this.capacity) throw new Error(`a cached step takes 1..${this.capacity} tokens per item, got ${n}`);
    if (this.length + n > this.capacity) {
      throw new Error(`KV cache overflow: ${this.length} stored + ${n} new > ${this.capacity}${this.slides ? '' : ' (a cache made with slide: false does not slide)'}`);
    }
    const P = opts.prefix ?? 0;
    const bs = this.blockSize;
    if (!Number.isInteger(P) || P < 0 || P > n || P % bs !== 0 || (P > 0 && opts.store)) {
      throw new Error(`prefix must be a multiple of the block size ${bs} in 0..${n} (and not with store), got ${P}`);
    }
    return { cache: this, ids, B, n, R: B * n, P, r0: 0, spans: this.scratch.ints32('spans', prefixSpans(this.length, P, n, bs)), asked: requestedRows(opts, B, n) };
  }

  /** Keeps the last step's n tokens; slides the window by one block when full (reference semantics), if it slides. */
  private commit(n: number): void {
    this.length += n;
    this.stored += n;
    if (this.length >= this.capacity && this.slides) this.slide(this.blockSize);
  }

  /** Drops the oldest `drop` tokens and re-rotates the kept keys at their new positions 0.. */
  private slide(drop: number): void {
    const model = this.model;
    const D = model.config.hiddenDim;
    const keep = this.length - drop;
    for (let l = 0; l < this.kPre.length; l++) {
      for (let b = 0; b < this.batch; b++) {
        const base = b * this.capacity * D;
        this.kPre[l].copyWithin(base, base + drop * D, base + this.length * D);
        this.v[l].copyWithin(base, base + drop * D, base + this.length * D);
      }
      for (let b = 0; b < this.batch; b++) {
        const base = b * this.capacity * D;
        this.kRot[l].set(this.kPre[l].subarray(base, base + keep * D), base);
      }
      model.backend.rotary({
        x: this.kRot[l], rows: this.batch * this.capacity, rowStride: D, heads: model.config.nHeads,
        headDim: model.headDim, cos: model.rotary.cos, sin: model.rotary.sin, pos0: 0, seqLen: this.capacity,
      });
    }
    this.length = keep;
  }

  dispose(): void {
    const be = this.model.backend;
    for (const a of [...this.kPre, ...this.kRot, ...this.v]) be.free(a);
    this.scratch.dispose();
  }
}

/**
 * Copies the D-wide slice at `offset` of each of the B * n new qkv rows ([B][n][3D]) into rows start.. of each
 * item's cache ([B][cap][D]). A plain loop: per-row subarray + set allocated two views per row and cost more than
 * the copy itself at batch 16.
 */
function copyNewRows(qkv: Float32Array, offset: number, dst: Float32Array, B: number, n: number, D: number, cap: number, start: number): void {
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < n; i++) {
      const src = (b * n + i) * 3 * D + offset;
      const to = (b * cap + start + i) * D;
      for (let d = 0; d < D; d++) dst[to + d] = qkv[src + d];
    }
  }
}

/** One cache's step in a batched call (`KVCache.stepMany`). */
export interface CacheStep {
  cache: KVCache;
  ids: ArrayLike<number>;
  opts?: StepOptions;
}

interface StepPart {
  cache: KVCache;
  ids: ArrayLike<number>;
  B: number;
  n: number;
  /** rows B * n, and the first of them in the batched call */
  R: number;
  r0: number;
  /** prefix tokens per item stored by the step */
  P: number;
  /** attention spans of the step's queries (backend memory) */
  spans: Int32Array;
  /** rows (b * n + i) whose logits are asked for */
  asked: Int32Array;
}

function concatIds(all: ArrayLike<number>[]): Int32Array {
  const out = new Int32Array(all.reduce((a, x) => a + x.length, 0));
  let at = 0;
  for (const x of all) {
    out.set(x, at);
    at += x.length;
  }
  return out;
}

export interface StepOptions {
  /** keep every new token's keys and values */
  store?: boolean;
  /** keep the first `prefix` tokens of each item, finished blocks the others see (see `step`) */
  prefix?: number;
  logitPositions?: ArrayLike<number> | 'none';
  logitRows?: ArrayLike<number>;
  sigma?: ArrayLike<number>;
  copy?: boolean;
}

/** Mask spans of a step of n tokens after `length` cached ones: block-causal over the first P, then full. */
function prefixSpans(length: number, P: number, n: number, bs: number): number[] {
  const spans: number[] = [];
  for (let q = 0; q < P; q += bs) spans.push(q, q + bs, 0, length + q + bs, 0, 0);
  if (P < n) spans.push(P, n, 0, length + n, 0, 0);
  return spans;
}

/** The flat rows (b * n + i) whose logits a step asks for, in the caller's order (checked), or none. */
function requestedRows(opts: StepOptions, B: number, n: number): Int32Array {
  const R = B * n;
  if (opts.logitRows) {
    const src = Int32Array.from(opts.logitRows);
    for (const r of src) if (!Number.isInteger(r) || r < 0 || r >= R) throw new Error(`logit row ${r} outside 0..${R - 1}`);
    return src;
  }
  if (opts.logitPositions === 'none') return new Int32Array(0);
  const pos = opts.logitPositions ?? Int32Array.from({ length: n }, (_, i) => i);
  const src = new Int32Array(B * pos.length);
  for (let b = 0; b < B; b++) {
    for (let j = 0; j < pos.length; j++) {
      if (!Number.isInteger(pos[j]) || pos[j] < 0 || pos[j] >= n) throw new Error(`logit position ${pos[j]} outside the block 0..${n - 1}`);
      src[b * pos.length + j] = b * n + pos[j];
    }
  }
  return src;
}
