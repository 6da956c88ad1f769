import type { Backend, StoredMatrix } from '../tensor/backend.js';
import { Workspace } from '../tensor/workspace.js';
import { allocLayerActivations, layerActivationShapes, type ActivationTensors, type LayerActivations } from './activations.js';
import type { ModelConfig } from './config.js';
import { modulation, type Modulation } from './conditioning.js';
import { blockCausalSpans, blockDiffusionSpans, causalSpans, fullSpans } from './mask.js';
import { defaultInvFreq, rotaryTables, type RotaryTables } from './rotary.js';
import type { WeightDtype } from './storage.js';
import { bindWeights, type DiTWeights } from './weights.js';

/**
 * How the input sequence is laid out and masked (spec 3):
 * - `vectorized`: x_t (+) x_0 of length 2L per item, both halves at positions 0..L-1, block-diffusion mask;
 *   outputs are rows of the x_t half.
 * - `bidirectional`: full attention (MDLM / SEDD).
 * - `causal`: row i sees 0..i (AR, and the causal backbone variant).
 * - `block-causal`: block b sees blocks <= b (sampling without a KV cache).
 */
export type Layout = 'vectorized' | 'bidirectional' | 'causal' | 'block-causal';

/** The 'vectorized' layout's ids for clean tokens x0 and noised xt, each [B][L]: per sequence, x_t then x_0 (2L). */
export function vectorizedIds(xt: ArrayLike<number>, x0: ArrayLike<number>, B: number, L: number): Int32Array {
  const ids = new Int32Array(B * 2 * L);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < L; i++) {
      ids[b * 2 * L + i] = xt[b * L + i];
      ids[b * 2 * L + L + i] = x0[b * L + i];
    }
  }
  return ids;
}

interface ResolvedLayout {
  spans: Int32Array;
  posPeriod: number;
  outLen: number;
}

export interface ForwardRequest {
  /** token ids [batch][seqLen] (seqLen = 2L for `vectorized`) */
  ids: ArrayLike<number>;
  batch: number;
  seqLen: number;
  /** how the sequence masks itself; left out for a forward over a KV cache (the cache's spans mask) */
  layout?: Layout;
  /** block size for `vectorized` / `block-causal` (default: the config's) */
  blockSize?: number;
  /**
   * Output rows whose logits are wanted, as flat indices b * outLen + i (outLen = L for `vectorized`, else seqLen),
   * in any order; 'all' for every output row, 'none' for none. Default 'all'.
   */
  logitRows?: ArrayLike<number> | 'all' | 'none';
  /** per-item conditioning sigma (used only with time conditioning; otherwise 0 as in the reference) */
  sigma?: ArrayLike<number>;
  /** also return hidden states (embedding and after each block) of the output rows, copied */
  hiddenStates?: boolean;
  /** training mode: dropout on the two residual branches */
  dropout?: { p: number; random: () => number };
  /** false: the logits are a workspace view that the model's next call overwrites (default: a fresh array) */
  copy?: boolean;
}

/**
 * Keys and values kept across calls (a KV cache, src/model/kvcache.ts): a forward given one attends over them
 * instead of over the request's own sequence.
 */
export interface AttentionCache {
  /**
   * Layer l: keeps the new rows' keys and values (qkv [rows][3D], before rotary), rotates their q and k in place at
   * their positions and, with `queries`, writes each new row's attention over the cache and the new rows into
   * o [rows][D].
   */
  attend(l: number, qkv: Float32Array, o: Float32Array, queries: boolean): void;
}

export interface ForwardOptions {
  /** attend over a KV cache instead of the request's own sequence (then the request has no layout) */
  cache?: AttentionCache;
  /** keep every activation backward needs (`ActivationTensors`) in buffers of this workspace, reused across calls */
  saveActivations?: Workspace;
}

export interface ForwardResult {
  /** [rows.length][V] raw logits */
  logits: Float32Array;
  rows: Int32Array;
  /** [nBlocks + 1][batch * outLen][D] when requested */
  hidden?: Float32Array[];
  /** with `saveActivations` */
  activations?: ActivationTensors;
}

/** `attend(l, qkv, o, lse)`: the attention of one layer, from pre-rotary projections to its output o. */
type Attend = (l: number, qkv: Float32Array, o: Float32Array, lse?: Float32Array) => void;

/**
 * How one forward runs its blocks: the attention of every layer, and optionally a narrowed last layer that carries
 * only some rows past its attention (whose queries are the only ones its `attend` computes, in `select`'s order).
 */
interface BlockPlan {
  attend: Attend;
  last?: { rows: number; perRow: number; select: (h: Float32Array) => Float32Array; attend: Attend; qLen: number };
  /** output row (b * outLen + i) -> row of the last layer's output, and that output's rows per item */
  headRow: (row: number) => number;
  rowsPerItem: number;
}

/** The DiT backbone of the reference (spec 2), with the causal AR variant (2.6). */
export class DiT {
  readonly config: ModelConfig;
  readonly backend: Backend;
  readonly weights: DiTWeights;
  /** every fp32 checkpoint tensor by HF name (the arrays `weights` views) */
  readonly tensors: Map<string, Float32Array>;
  /** the matrices kept in a storage format (half precision or int8, src/model/storage.ts), by HF name; empty for fp32 */
  readonly stored: Map<string, StoredMatrix>;
  /** storage precision of the large matrices (arithmetic is fp32 either way) */
  readonly weightDtype: WeightDtype;
  readonly headDim: number;
  readonly rotary: RotaryTables;
  /** the forward pass's scratch buffers */
  private readonly ws: Workspace;
  /** adaLN vectors for sigma = 0, computed once (time conditioning off makes them constant) */
  private constMod: Modulation | null;

  constructor(config: ModelConfig, tensors: Map<string, Float32Array>, backend: Backend, stored = new Map<string, StoredMatrix>()) {
    this.config = config;
    this.backend = backend;
    this.tensors = tensors;
    this.stored = stored;
    const first = stored.size ? [...stored.values()][0]! : null;
    this.weightDtype = !first ? 'f32' : first.dtype === 'int8' && first.activations === 'int8' ? 'w8a8' : first.dtype;
    this.weights = bindWeights(config, tensors, stored);
    this.headDim = config.hiddenDim / config.nHeads;
    this.ws = new Workspace(backend);
    const invFreq = this.weights.invFreq ?? defaultInvFreq(this.headDim);
    this.rotary = rotaryTables(invFreq, Math.max(config.modelLength, 1), (n) => backend.alloc(n));
    this.constMod = this.adaln ? modulation(this.weights, config.condDim, config.hiddenDim, [0]) : null;
  }

  /** Recomputes the cached sigma = 0 adaLN vectors after the weights were changed in place (training steps). */
  refreshModulation(): void {
    this.constMod = this.adaln ? modulation(this.weights, this.config.condDim, this.config.hiddenDim, [0]) : null;
  }

  get adaln(): boolean {
    return !this.config.causal;
  }

  /** The adaLN vectors for these sigmas (constant when time conditioning is off). */
  modulationFor(batch: number, sigma?: ArrayLike<number>): Modulation | null {
    if (!this.adaln) return null;
    if (!this.config.timeConditioning) return this.constMod;
    const s = sigma ?? new Float32Array(batch);
    if (s.length !== batch) throw new Error(`sigma has ${s.length} entries for a batch of ${batch}`);
    return modulation(this.weights, this.config.condDim, this.config.hiddenDim, s);
  }

  /**
   * The backbone, embedding -> blocks -> head: the only code that runs them. Over a whole sequence laid out as
   * `req.layout`, or with `opts.cache` over new tokens against a KV cache; logits only for the requested rows. With
   * `opts.saveActivations` it also keeps what backward needs (`ActivationTensors`, src/model/activations.ts).
   */
  forward(req: ForwardRequest, opts: ForwardOptions = {}): ForwardResult {
    const { batch: B, seqLen: S } = req;
    const { cache, saveActivations: saveWs } = opts;
    const cfg = this.config;
    const D = cfg.hiddenDim;
    const R = B * S;
    if (req.ids.length !== R) throw new Error(`ids has ${req.ids.length} entries, expected batch*seqLen = ${R}`);
    if (cache && req.layout !== undefined) throw new Error('a forward over a KV cache takes no layout (the cache masks)');
    if (!cache && req.layout === undefined) throw new Error('a forward needs a layout (or a KV cache)');
    if (cache && (saveWs || req.hiddenStates)) throw new Error('hidden states and saved activations need a whole-sequence forward, not a KV cache');
    const lay = cache ? null : this.resolveLayout(req.layout!, S, req.blockSize ?? cfg.blockSize);
    this.checkIds(req.ids);
    const mod = this.modulationFor(B, req.sigma);
    const perItem = mod !== null && mod.rows > 1;
    const outLen = lay ? lay.outLen : S;
    const rows = this.resolveRows(req.logitRows ?? 'all', B * outLen);
    const plan = lay ? this.layoutPlan(req, lay, perItem) : this.cachePlan(cache!, B, S, rows, perItem);

    const h = this.ws.get('h', R * D);
    this.backend.embedding(this.weights.embed, this.ws.ints32('ids', req.ids), R, D, h);
    const hidden: Float32Array[] | undefined = req.hiddenStates ? [this.outputRows(h, B, S, outLen)] : undefined;
    const drop = req.dropout;
    const acts = saveWs && lay ? this.activationRecord(saveWs, req, lay, plan, mod) : undefined;
    let out = h;
    for (let l = 0; l < cfg.nBlocks; l++) {
      const last = l === cfg.nBlocks - 1 ? plan.last : undefined;
      const save = acts && allocLayerActivations(saveWs!, l, layerActivationShapes(cfg, B, S, last ? last.qLen : S, acts.dropoutP > 0));
      out = this.block(l, h, R, mod, perItem ? S : R, last ? last.attend : plan.attend, drop, last, save);
      if (save) acts!.layers.push(save);
      if (hidden) hidden.push(this.outputRows(h, B, S, outLen));
    }
    const src = Int32Array.from(rows, plan.headRow);
    if (acts) {
      acts.src = src;
      acts.headIn = saveWs!.get('act.headIn', src.length * D);
      for (let r = 0; r < src.length; r++) acts.headIn.set(out.subarray(src[r] * D, src[r] * D + D), r * D);
    }
    const logits = this.head(out, src, plan.rowsPerItem, mod, { copy: req.copy !== false });
    return { logits, rows, hidden, activations: acts };
  }

  /** Self-attention over the laid-out sequence; the vectorised layout's last layer runs x_t queries only. */
  private layoutPlan(req: ForwardRequest, lay: ResolvedLayout, perItem: boolean): BlockPlan {
    const { batch: B, seqLen: S } = req;
    const { spans, posPeriod, outLen } = lay;
    const sp = this.ws.ints32('spans', spans);
    const plan: BlockPlan = {
      attend: (_l, qkv, o, lse) => this.selfAttention(qkv, o, B, S, S, sp, posPeriod, lse),
      headRow: (row) => row,
      rowsPerItem: S,
    };
    if (req.layout === 'vectorized' && !req.hiddenStates) {
      // Only the x_t half's outputs are used: its last layer runs x_t queries only (the x_0 half still supplies keys
      // and values), and the rest of the block runs on the x_t rows alone.
      const L = outLen;
      const D = this.config.hiddenDim;
      const xtSpans = this.ws.ints32('xt_spans', spans.subarray(0, spans.length / 2));
      const select = (full: Float32Array) => {
        const xh = this.ws.get('h_xt', B * L * D);
        for (let b = 0; b < B; b++) xh.set(full.subarray(b * S * D, (b * S + L) * D), b * L * D);
        return xh;
      };
      const attend: Attend = (_l, qkv, o, lse) => this.selfAttention(qkv, o, B, S, L, xtSpans, posPeriod, lse);
      plan.last = { rows: B * L, perRow: perItem ? L : B * L, select, attend, qLen: L };
      plan.rowsPerItem = L;
    }
    plan.headRow = (row) => Math.floor(row / outLen) * plan.rowsPerItem + (row % outLen);
    return plan;
  }

  /**
   * Attention over a KV cache. The last layer's output only feeds the logits: past its attention it runs on the
   * wanted rows alone (none for a store pass, which needs only every layer's keys and values). Not with per-item
   * adaLN (rows of one item share a modulation row, which a row selection would break).
   */
  private cachePlan(cache: AttentionCache, B: number, S: number, rows: Int32Array, perItem: boolean): BlockPlan {
    const D = this.config.hiddenDim;
    const attend: Attend = (l, qkv, o) => cache.attend(l, qkv, o, true);
    const want = Int32Array.from(new Set(rows)).sort();
    if (perItem || want.length === B * S) return { attend, headRow: (row) => row, rowsPerItem: S };
    return {
      attend,
      last: {
        rows: want.length, perRow: want.length, qLen: S, select: (full) => gatherRows(full, want, D),
        attend: (l, qkv, o) => {
          cache.attend(l, qkv, o, want.length > 0);
          if (want.length) gatherRows(o, want, D); // the block continues on the wanted rows
        },
      },
      headRow: (row) => bisect(want, row),
      rowsPerItem: 1,
    };
  }

  /** The activation record of a whole-sequence forward; its layers are filled block by block. */
  private activationRecord(ws: Workspace, req: ForwardRequest, lay: ResolvedLayout, plan: BlockPlan, mod: Modulation | null): ActivationTensors {
    const B = req.batch;
    const sigmas = !this.adaln ? [] : this.config.timeConditioning ? Array.from(req.sigma ?? new Float32Array(B)) : [0];
    return {
      B, S: req.seqLen, outLen: lay.outLen, posPeriod: lay.posPeriod,
      ids: ws.ints32('act.ids', req.ids), spans: ws.ints32('act.spans', lay.spans),
      xtSpans: plan.last ? ws.ints32('act.xt_spans', lay.spans.subarray(0, lay.spans.length / 2)) : null,
      mod, sigmas, dropoutP: req.dropout && req.dropout.p > 0 ? req.dropout.p : 0, layers: [],
      headIn: new Float32Array(0), src: new Int32Array(0), rowsPerItem: plan.rowsPerItem,
    };
  }

  /** Mask spans, rotary period and output rows per item of a layout (spec 3.3, 3.4, 3.6). */
  private resolveLayout(layout: Layout, S: number, blockSize: number): ResolvedLayout {
    let spans: Int32Array;
    let posPeriod = S;
    let outLen = S;
    if (layout === 'vectorized') {
      if (S % 2 !== 0) throw new Error(`vectorized layout needs an even length (x_t + x_0), got ${S}`);
      const L = S / 2;
      spans = blockDiffusionSpans(L, blockSize);
      posPeriod = L;
      outLen = L;
    } else if (layout === 'block-causal') spans = blockCausalSpans(S, blockSize);
    else if (layout === 'causal') spans = causalSpans(S);
    else spans = fullSpans(S);
    if (posPeriod > this.rotary.maxPos) {
      throw new Error(`sequence of ${posPeriod} positions exceeds the model length ${this.rotary.maxPos}`);
    }
    return { spans, posPeriod, outLen };
  }

  /**
   * One transformer block on h [R][D] in place. `attend` turns the projections [R][3D] (pre-rotary) into the
   * attention output o [R][D]. `perRow` rows share one adaLN modulation row. With `narrow`, only some rows are
   * carried past the attention: the block then continues on `narrow.select(h)` and returns it (at once when no row
   * is carried); otherwise it returns h. `save` receives this layer's activations for backward.
   */
  private block(
    l: number,
    h: Float32Array,
    R: number,
    mod: Modulation | null,
    perRow: number,
    attend: Attend,
    dropout?: ForwardRequest['dropout'],
    narrow?: { rows: number; perRow: number; select: (h: Float32Array) => Float32Array },
    save?: LayerActivations,
  ): Float32Array {
    const D = this.config.hiddenDim;
    const w = this.weights.blocks[l];
    const be = this.backend;
    const u = this.ws.get('u', R * D);
    const qkv = this.ws.get('qkv', R * 3 * D);
    const o = this.ws.get('o', R * D);
    const y = this.ws.get('y', R * D);
    const m = mod ? mod.blocks[l] : null;
    const modSlice = (i: number) => (m ? m.subarray(i * D) : null);

    save?.hIn.set(h);
    be.layerNorm({ x: h, out: u, rows: R, dim: D, weight: w.norm1, shift: modSlice(0), scale: modSlice(1), modStride: 6 * D, rowsPerGroup: perRow, stats: save?.stats1 });
    be.sgemm({ m: R, n: 3 * D, k: D, a: u, lda: D, b: w.qkv, ldb: D, transB: true, c: qkv, ldc: 3 * D });
    attend(l, qkv, o, save?.lse);
    save?.qkv.set(qkv);
    if (narrow) {
      h = narrow.select(h);
      R = narrow.rows;
      perRow = narrow.perRow;
      if (R === 0) return h;
    }
    save?.o.set(o.subarray(0, R * D));
    be.sgemm({ m: R, n: D, k: D, a: o, lda: D, b: w.out, ldb: D, transB: true, c: y, ldc: D });
    if (dropout) applyDropout(y, dropout, save?.keep1);
    save?.y1.set(y.subarray(0, R * D));
    be.gatedResidual({ h, y, gate: modSlice(2), rows: R, dim: D, gateStride: 6 * D, rowsPerGroup: perRow });

    be.layerNorm({ x: h, out: u, rows: R, dim: D, weight: w.norm2, shift: modSlice(3), scale: modSlice(4), modStride: 6 * D, rowsPerGroup: perRow, stats: save?.stats2 });
    const f = this.ws.get('mlp', R * 4 * D);
    be.sgemm({ m: R, n: 4 * D, k: D, a: u, lda: D, b: w.w1, ldb: D, transB: true, c: f, ldc: 4 * D, bias: w.b1 });
    save?.f.set(f);
    be.geluTanh(f, f, R * 4 * D);
    be.sgemm({ m: R, n: D, k: 4 * D, a: f, lda: 4 * D, b: w.w2, ldb: 4 * D, transB: true, c: y, ldc: D, bias: w.b2 });
    if (dropout) applyDropout(y, dropout, save?.keep2);
    save?.y2.set(y.subarray(0, R * D));
    be.gatedResidual({ h, y, gate: modSlice(5), rows: R, dim: D, gateStride: 6 * D, rowsPerGroup: perRow });
    return h;
  }

  /**
   * Rotary on q and k, then masked attention of the sequence over itself, for the first `qLen` query rows of each
   * item (o has qLen rows per item).
   */
  private selfAttention(qkv: Float32Array, o: Float32Array, B: number, S: number, qLen: number, spans: Int32Array, posPeriod: number, lse?: Float32Array): void {
    const { hiddenDim: D, nHeads: H } = this.config;
    // q and k are adjacent in each row: rotate them together as 2H heads
    this.backend.rotary({ x: qkv, rows: B * S, rowStride: 3 * D, heads: 2 * H, headDim: this.headDim, cos: this.rotary.cos, sin: this.rotary.sin, pos0: 0, seqLen: posPeriod });
    this.backend.attention({
      batch: B, heads: H, headDim: this.headDim, qLen, kLen: S,
      q: qkv, k: qkv.subarray(D), v: qkv.subarray(2 * D), out: o,
      qRowStride: 3 * D, kRowStride: 3 * D, vRowStride: 3 * D, outRowStride: D,
      qBatchStride: S * 3 * D, kBatchStride: S * 3 * D, vBatchStride: S * 3 * D, outBatchStride: qLen * D,
      scale: 1 / Math.sqrt(this.headDim), spans, lse,
    });
  }

  /**
   * Final adaLN + LayerNorm + linear for the rows `src` of h (row indices into h); `stride` rows of h per batch
   * item select each row's modulation. Returns [src.length][V]: a copy, or with `copy: false` a workspace view that
   * the next head() call overwrites.
   */
  private head(h: Float32Array, src: Int32Array, stride: number, mod: Modulation | null, opts: { copy?: boolean } = {}): Float32Array {
    const { hiddenDim: D, vocabSize: V } = this.config;
    const n = src.length;
    if (n === 0) return new Float32Array(0);
    const g = this.ws.get('head_in', n * D);
    for (let r = 0; r < n; r++) g.set(h.subarray(src[r] * D, src[r] * D + D), r * D);
    const u = this.ws.get('head_u', n * D);
    if (mod && mod.rows > 1) {
      // per-item modulation: one LayerNorm call per row keeps the kernel contract simple (rows are few here)
      for (let r = 0; r < n; r++) {
        const b = Math.floor(src[r] / stride);
        const fm = mod.final.subarray(b * 2 * D);
        this.backend.layerNorm({ x: g.subarray(r * D, r * D + D), out: u.subarray(r * D, r * D + D), rows: 1, dim: D, weight: this.weights.normFinal, shift: fm, scale: fm.subarray(D) });
      }
    } else {
      const fm = mod ? mod.final : null;
      this.backend.layerNorm({ x: g, out: u, rows: n, dim: D, weight: this.weights.normFinal, shift: fm, scale: fm ? fm.subarray(D) : null });
    }
    // callers keep logits across model calls unless they say otherwise (then a workspace view, valid until the next
    // head()); a fresh array is written in place by the native backend (the wasm backend copies it out)
    const out = opts.copy === false ? this.ws.get('logits', n * V) : new Float32Array(n * V);
    this.backend.sgemm({ m: n, n: V, k: D, a: u, lda: D, b: this.weights.outW, ldb: D, transB: true, c: out, ldc: V, bias: this.weights.outB });
    return out;
  }

  private outputRows(h: Float32Array, B: number, S: number, outLen: number): Float32Array {
    const D = this.config.hiddenDim;
    const r = new Float32Array(B * outLen * D);
    for (let b = 0; b < B; b++) r.set(h.subarray(b * S * D, (b * S + outLen) * D), b * outLen * D);
    return r;
  }

  private resolveRows(rows: ArrayLike<number> | 'all' | 'none', total: number): Int32Array {
    if (rows === 'none') return new Int32Array(0);
    if (rows === 'all') return Int32Array.from({ length: total }, (_, i) => i);
    const r = Int32Array.from(rows);
    for (const x of r) if (x < 0 || x >= total) throw new Error(`logit row ${x} outside 0..${total - 1}`);
    return r;
  }

  checkIds(ids: ArrayLike<number>): void {
    const V = this.config.vocabSize;
    for (let i = 0; i < ids.length; i++) {
      const t = ids[i];
      if (!Number.isInteger(t) || t < 0 || t >= V) throw new Error(`token id ${t} at index ${i} is outside the vocabulary 0..${V - 1}`);
    }
  }

  /** Frees backend memory held by the workspace (weights are owned by the caller). */
  dispose(): void {
    this.ws.dispose();
  }
}

/** Inverted dropout in place: zero with probability p, scale survivors by 1/(1-p); `kept` records 1 per survivor. */
function applyDropout(y: Float32Array, d: NonNullable<ForwardRequest['dropout']>, kept?: Uint8Array): void {
  if (d.p <= 0) return;
  const keep = 1 - d.p;
  const s = 1 / keep;
  for (let i = 0; i < y.length; i++) {
    const k = d.random() < keep;
    y[i] = k ? y[i] * s : 0;
    if (kept) kept[i] = k ? 1 : 0;
  }
}

/** Moves rows `rows` (ascending) of x [R][D] to its front, in order (in place: row rows[i] >= i). */
function gatherRows(x: Float32Array, rows: Int32Array, D: number): Float32Array {
  rows.forEach((r, i) => r !== i && x.copyWithin(i * D, r * D, r * D + D));
  return x;
}

/** Index of r in the ascending array a (r is in it). */
function bisect(a: Int32Array, r: number): number {
  let lo = 0;
  let hi = a.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid] < r) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
