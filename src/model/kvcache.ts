import type { DiT } from './dit.js';

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
  private readonly model: DiT;

  constructor(model: DiT, batch: number, blockSize: number, capacity = model.config.modelLength) {
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
    this.kPre = Array.from({ length: model.config.nBlocks }, () => be.alloc(n));
    this.kRot = Array.from({ length: model.config.nBlocks }, () => be.alloc(n));
    this.v = Array.from({ length: model.config.nBlocks }, () => be.alloc(n));
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
   */
  step(ids: ArrayLike<number>, opts: { store?: boolean; logitPositions?: ArrayLike<number> | 'none'; logitRows?: ArrayLike<number>; sigma?: ArrayLike<number>; copy?: boolean } = {}): Float32Array {
    const model = this.model;
    const { hiddenDim: D, nHeads: H, nBlocks } = model.config;
    const B = this.batch;
    if (ids.length % B !== 0) throw new Error(`ids has ${ids.length} entries, not a multiple of the batch ${B}`);
    const n = ids.length / B;
    if (n < 1 || n > this.capacity) throw new Error(`a cached step takes 1..${this.capacity} tokens per item, got ${n}`);
    if (this.length + n > this.capacity) throw new Error(`KV cache overflow: ${this.length} stored + ${n} new > ${this.capacity}`);
    model.checkIds(ids);
    const be = model.backend;
    const ws = model.ws;
    const hd = model.headDim;
    const R = B * n;
    const h = ws.get('h', R * D);
    be.embedding(model.weights.embed, ws.ints32('ids', ids), R, D, h);
    const mod = model.modulationFor(B, opts.sigma);
    const perRow = mod && mod.rows > 1 ? n : R;
    const kLen = this.length + n;
    const spans = ws.ints32('kv_spans', [0, n, 0, kLen, 0, 0]);
    const start = this.length;
    const cap = this.capacity;
    const attend = (l: number, qkv: Float32Array, o: Float32Array) => {
      // new keys/values go right after the stored ones; q and k rotate at positions start .. start+n-1
      copyNewRows(qkv, D, this.kPre[l], B, n, D, cap, start);
      copyNewRows(qkv, 2 * D, this.v[l], B, n, D, cap, start);
      be.rotary({ x: qkv, rows: R, rowStride: 3 * D, heads: 2 * H, headDim: hd, cos: model.rotary.cos, sin: model.rotary.sin, pos0: start, seqLen: n });
      copyNewRows(qkv, D, this.kRot[l], B, n, D, cap, start);
      be.attention({
        batch: B, heads: H, headDim: hd, qLen: n, kLen,
        q: qkv, k: this.kRot[l], v: this.v[l], out: o,
        qRowStride: 3 * D, kRowStride: D, vRowStride: D, outRowStride: D,
        qBatchStride: n * 3 * D, kBatchStride: cap * D, vBatchStride: cap * D, outBatchStride: n * D,
        scale: 1 / Math.sqrt(hd), spans,
      });
    };
    for (let l = 0; l < nBlocks; l++) model.block(l, h, R, mod, perRow, attend);
    let logits: Float32Array = new Float32Array(0);
    if (opts.logitRows) {
      const src = Int32Array.from(opts.logitRows);
      for (const r of src) if (r < 0 || r >= R) throw new Error(`logit row ${r} outside 0..${R - 1}`);
      logits = model.head(h, src, n, mod, { copy: opts.copy });
    } else if (opts.logitPositions !== 'none') {
      const pos = opts.logitPositions ?? Int32Array.from({ length: n }, (_, i) => i);
      const src = new Int32Array(B * pos.length);
      for (let b = 0; b < B; b++) {
        for (let j = 0; j < pos.length; j++) {
          if (pos[j] < 0 || pos[j] >= n) throw new Error(`logit position ${pos[j]} outside the block 0..${n - 1}`);
          src[b * pos.length + j] = b * n + pos[j];
        }
      }
      logits = model.head(h, src, n, mod, { copy: opts.copy });
    }
    if (opts.store) this.commit(n);
    return logits;
  }

  /** Keeps the last step's n tokens; slides the window by one block when full (reference semantics). */
  private commit(n: number): void {
    this.length += n;
    this.stored += n;
    if (this.length >= this.capacity) this.slide(this.blockSize);
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
