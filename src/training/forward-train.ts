/**
 * Training forward: the DiT forward (embedding, `DiT.block` per layer, `DiT.head`) driven layer by layer so that
 * what the backward pass needs is saved. The adaLN vectors are recomputed from the current weights on every call
 * (the model's cached sigma = 0 vectors go stale once the optimizer moves the weights).
 *
 * Saved per layer (float32 unless noted), R = rows into the block, Rn = rows after its attention (R, or the x_t rows
 * of the last layer of the vectorised layout, which runs x_t queries only as in `DiT.forward`):
 *   hIn [R][D], LN1/LN2 stats [R|Rn][2], post-rotary qkv [R][3D], attention out [Rn][D] + lse [B][H][qLen],
 *   branch outputs y1, y2 [Rn][D] (after dropout, before the gate), MLP pre-activation [Rn][4D],
 *   dropout keep masks as bytes.
 * Recomputed in backward instead (cheap): u = LN1(hIn), the mid residual hIn + g1*y1, u2 = LN2(mid), GELU(f).
 * Small preset, L = 1024, B = 1 (2L = 2048 rows): ~70 MB per layer, ~0.85 GB for 12 layers.
 */
import type { BlockTap, DiT, Layout } from '../model/dit.js';
import { modulation, type Modulation } from '../model/conditioning.js';
import { fp32Weights } from '../model/weights.js';
import type { Backend } from '../tensor/backend.js';
import { Workspace } from '../tensor/workspace.js';

/** Named float/int buffers from the backend plus byte masks, reused across steps. */
export class TrainScratch extends Workspace {
  private readonly byteBufs = new Map<string, Uint8Array>();
  bytes(name: string, n: number): Uint8Array {
    let b = this.byteBufs.get(name);
    if (!b || b.length < n) {
      b = new Uint8Array(Math.max(n, 1));
      this.byteBufs.set(name, b);
    }
    return b.subarray(0, n);
  }
  private onesBuf: Float32Array | null = null;
  /** n ones (the left operand that turns column sums into an sgemm) */
  ones(n: number): Float32Array {
    if (!this.onesBuf || this.onesBuf.length < n) {
      this.onesBuf = this.get('ones', Math.max(n, 1)).fill(1);
    }
    return this.onesBuf.subarray(0, n);
  }
  override dispose(): void {
    super.dispose();
    this.byteBufs.clear();
    this.onesBuf = null;
  }
}

const scratches = new WeakMap<DiT, TrainScratch>();

/** The training scratch of a model (activations and backward temporaries), created on first use. */
export function trainScratch(model: DiT): TrainScratch {
  let s = scratches.get(model);
  if (!s) {
    s = new TrainScratch(model.backend);
    scratches.set(model, s);
  }
  return s;
}

export function releaseTrainScratch(model: DiT): void {
  scratches.get(model)?.dispose();
  scratches.delete(model);
}

export interface TrainForwardRequest {
  /** token ids [batch][seqLen] */
  ids: ArrayLike<number>;
  batch: number;
  seqLen: number;
  layout: Layout;
  blockSize: number;
  /** output rows (b * outLen + i) whose logits are computed */
  rows: Int32Array;
  /** per-item conditioning sigma (only with time conditioning) */
  sigma?: ArrayLike<number> | null;
  dropout?: { p: number; random: () => number };
  /** keep activations for `backward` (false: evaluation, nothing copied) */
  save: boolean;
}

export interface LayerActs {
  hIn: Float32Array;
  stats1: Float32Array;
  qkv: Float32Array;
  o: Float32Array;
  lse: Float32Array;
  y1: Float32Array;
  stats2: Float32Array;
  f: Float32Array;
  y2: Float32Array;
  keep1?: Uint8Array;
  keep2?: Uint8Array;
}

export interface TrainActivations {
  B: number;
  S: number;
  outLen: number;
  posPeriod: number;
  ids: Int32Array;
  spans: Int32Array;
  /** the x_t query spans of the narrowed last layer (vectorised layout), else null */
  xtSpans: Int32Array | null;
  mod: Modulation | null;
  sigmas: number[];
  layers: LayerActs[];
  /** rows of the last layer's output that feed the head, gathered [n][D], and their row indices */
  headIn: Float32Array;
  src: Int32Array;
  rowsPerItem: number;
  dropoutP: number;
}

/** Adaptive-LN vectors from the current weights (sigma per item with time conditioning, else one row at 0). */
export function freshModulation(model: DiT, B: number, sigma?: ArrayLike<number> | null): { mod: Modulation | null; sigmas: number[] } {
  if (!model.adaln) return { mod: null, sigmas: [] };
  const sigmas = model.config.timeConditioning ? Array.from(sigma ?? new Float32Array(B)) : [0];
  if (sigmas.length !== (model.config.timeConditioning ? B : 1)) throw new Error(`sigma has ${sigmas.length} entries for a batch of ${B}`);
  return { mod: modulation(model.weights, model.config.condDim, model.config.hiddenDim, sigmas), sigmas };
}

export function trainForward(model: DiT, req: TrainForwardRequest): { logits: Float32Array; acts: TrainActivations | null } {
  const { batch: B, seqLen: S, layout } = req;
  const cfg = model.config;
  const D = cfg.hiddenDim;
  const be: Backend = model.backend;
  // training (save: activations for the backward pass) refuses stored weights; evaluation runs on them as sampling does
  const w = req.save ? fp32Weights(model.weights) : model.weights;
  const ws = trainScratch(model);
  if (req.ids.length !== B * S) throw new Error(`ids has ${req.ids.length} entries, expected batch*seqLen = ${B * S}`);
  model.checkIds(req.ids);
  const { spans: sp0, posPeriod, outLen } = model.resolveLayout(layout, S, req.blockSize);
  const spans = ws.ints32('spans', sp0);
  const vec = layout === 'vectorized';
  const xtSpans = vec ? ws.ints32('xt_spans', sp0.subarray(0, sp0.length / 2)) : null;
  const ids = ws.ints32('ids', req.ids);
  const { mod, sigmas } = freshModulation(model, B, req.sigma);
  const perRow = mod && mod.rows > 1 ? S : B * S;
  const drop = req.dropout && req.dropout.p > 0 ? req.dropout : undefined;

  const h = ws.get('h', B * S * D);
  be.embedding(w.embed, ids, B * S, D, h);
  const layers: LayerActs[] = [];
  let out = h;
  let rowsPerItem = S;
  for (let l = 0; l < cfg.nBlocks; l++) {
    const narrow = vec && l === cfg.nBlocks - 1;
    const qLen = narrow ? outLen : S;
    const Rn = B * qLen;
    let la: LayerActs | null = null;
    if (req.save) {
      const k = `a${l}.`;
      la = {
        hIn: ws.get(k + 'hIn', B * S * D),
        stats1: ws.get(k + 'st1', B * S * 2),
        qkv: ws.get(k + 'qkv', B * S * 3 * D),
        o: ws.get(k + 'o', Rn * D),
        lse: ws.get(k + 'lse', B * cfg.nHeads * qLen),
        y1: ws.get(k + 'y1', Rn * D),
        stats2: ws.get(k + 'st2', Rn * 2),
        f: ws.get(k + 'f', Rn * 4 * D),
        y2: ws.get(k + 'y2', Rn * D),
        keep1: drop ? ws.bytes(k + 'k1', Rn * D) : undefined,
        keep2: drop ? ws.bytes(k + 'k2', Rn * D) : undefined,
      };
      la.hIn.set(h);
      layers.push(la);
    }
    const a = la;
    const attend = (_l: number, qkv: Float32Array, o: Float32Array) => {
      model.selfAttention(qkv, o, B, S, qLen, narrow ? xtSpans! : spans, posPeriod, a ? a.lse : undefined);
      if (a) {
        a.qkv.set(qkv.subarray(0, B * S * 3 * D));
        a.o.set(o.subarray(0, Rn * D));
      }
    };
    const tap: BlockTap | undefined = a
      ? {
          stats1: a.stats1,
          stats2: a.stats2,
          branch: (i, y) => (i === 0 ? a.y1 : a.y2).set(y.subarray(0, Rn * D)),
          mlpPre: (f) => a.f.set(f.subarray(0, Rn * 4 * D)),
          keep1: a.keep1,
          keep2: a.keep2,
        }
      : undefined;
    if (narrow) {
      const select = (full: Float32Array) => gatherXt(ws, full, B, S, outLen, D);
      out = model.block(l, h, B * S, mod, perRow, attend, drop, { rows: Rn, perRow: mod && mod.rows > 1 ? outLen : Rn, select }, tap);
      rowsPerItem = outLen;
    } else {
      model.block(l, h, B * S, mod, perRow, attend, drop, undefined, tap);
    }
  }
  // output row (b, i) -> row of `out`
  const src = new Int32Array(req.rows.length);
  for (let r = 0; r < src.length; r++) {
    const row = req.rows[r];
    if (row < 0 || row >= B * outLen) throw new Error(`logit row ${row} outside 0..${B * outLen - 1}`);
    src[r] = Math.floor(row / outLen) * rowsPerItem + (row % outLen);
  }
  let headIn: Float32Array = new Float32Array(0);
  if (req.save) {
    headIn = ws.get('headIn', src.length * D);
    for (let r = 0; r < src.length; r++) headIn.set(out.subarray(src[r] * D, src[r] * D + D), r * D);
  }
  const logits = model.head(out, src, rowsPerItem, mod, { copy: false });
  const acts: TrainActivations | null = req.save
    ? { B, S, outLen, posPeriod, ids, spans, xtSpans, mod, sigmas, layers, headIn, src, rowsPerItem, dropoutP: drop ? drop.p : 0 }
    : null;
  return { logits, acts };
}

/** The x_t rows (first `L` of each item's S rows) of h [B][S][D], into a scratch buffer. */
export function gatherXt(ws: Workspace, full: Float32Array, B: number, S: number, L: number, D: number): Float32Array {
  const xh = ws.get('h_xt', B * L * D);
  for (let b = 0; b < B; b++) xh.set(full.subarray(b * S * D, (b * S + L) * D), b * L * D);
  return xh;
}
