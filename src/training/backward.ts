/**
 * Backward pass of the DiT from dLoss/dlogits of the head rows, accumulating into `Grads` (every trainable tensor):
 * head (final adaLN + LN + linear) -> blocks in reverse (MLP, LN2, attention with rotary, qkv, LN1, gated
 * residuals, dropout) -> embedding; then the adaLN modulation vectors -> c -> sigma_map MLP. The modulation path
 * gets gradients even with time conditioning off: c = SiLU(MLP(emb(0))) is constant in the input but not in the
 * weights. Weight products run through backend.sgemm with transposes; small per-feature sums stay in TypeScript.
 */
import type { ActivationTensors, LayerActivations } from '../model/activations.js';
import type { DiT } from '../model/dit.js';
import { timestepEmbedding } from '../model/conditioning.js';
import { fp32Weights, type DiTWeights } from '../model/weights.js';
import type { Backend } from '../tensor/backend.js';
import { trainScratch, type TrainScratch } from './scratch.js';
import type { Workspace } from '../tensor/workspace.js';
import type { Grads } from './grads.js';

const negSinTables = new WeakMap<DiT, Float32Array>();

/** Rotary backward = rotary with sin negated (the inverse rotation). */
function negSin(model: DiT): Float32Array {
  let t = negSinTables.get(model);
  if (!t) {
    const s = model.rotary.sin;
    t = model.backend.alloc(s.length);
    for (let i = 0; i < s.length; i++) t[i] = -s[i];
    negSinTables.set(model, t);
  }
  return t;
}

/** out[j] += sum over rows of x[r][j] (bias gradients), as ones[1][rows] x X through sgemm (one pass, in C) */
function addColSums(be: Backend, ones: Float32Array, x: Float32Array, rows: number, cols: number, out: Float32Array): void {
  be.sgemm({ m: 1, n: cols, k: rows, a: ones, lda: rows, b: x, ldb: cols, beta: 1, c: out, ldc: cols });
}

function applyKeep(dy: Float32Array, keep: Uint8Array | undefined, p: number): void {
  if (!keep) return;
  const s = 1 / (1 - p);
  for (let i = 0; i < dy.length; i++) dy[i] = keep[i] ? dy[i] * s : 0;
}

/**
 * Accumulates gradients for the loss whose gradient w.r.t. the logits of `acts.src` rows is `dlogits` [n][V]
 * (dlogits is used as scratch and left unchanged). `acts`: what `DiT.forward` saved with `saveActivations`, read
 * from the head back to the embedding.
 */
export function backward(model: DiT, acts: ActivationTensors, dlogits: Float32Array, grads: Grads): void {
  const cfg = model.config;
  const D = cfg.hiddenDim;
  const ws = trainScratch(model);
  const g = grads.views;
  const mod = acts.mod;
  const rows = mod ? mod.rows : 0;
  const dmod = mod ? mod.blocks.map((_, l) => ws.get(`dmod${l}`, rows * 6 * D).fill(0)) : [];
  const dfinal = mod ? ws.get('dmodf', rows * 2 * D).fill(0) : null;

  // head: dh over the rows of the last layer's output
  const { B, S, outLen } = acts;
  const outRows = B * acts.rowsPerItem;
  let dh = headBackward(model, ws, acts, dlogits, g, dfinal, outRows);
  for (let l = cfg.nBlocks - 1; l >= 0; l--) {
    const narrow = acts.xtSpans !== null && l === cfg.nBlocks - 1;
    dh = blockBackward(model, ws, acts, l, acts.layers[l], dh, narrow ? outLen : S, g, dmod[l] ?? null);
  }
  model.backend.embeddingBackward(dh, acts.ids, B * S, D, g.embed);
  if (mod) modulationBackward(model.weights, g, mod.c, acts.sigmas, cfg.condDim, D, dmod, dfinal!);
}

function headBackward(model: DiT, ws: TrainScratch, acts: ActivationTensors, dlogits: Float32Array, g: DiTWeights<Float32Array>, dfinal: Float32Array | null, outRows: number): Float32Array {
  const { hiddenDim: D, vocabSize: V } = model.config;
  const be = model.backend;
  const w = fp32Weights(model.weights);
  const n = acts.src.length;
  const dh = ws.get('dh_out', outRows * D).fill(0);
  if (n === 0) return dh;
  const x = acts.headIn;
  const u = ws.get('hb_u', n * D);
  const st = ws.get('hb_st', n * 2);
  const du = ws.get('hb_du', n * D);
  const mod = acts.mod;
  const perItem = mod !== null && mod.rows > 1;
  const lnRows = (fn: (r0: number, r1: number, fm: Float32Array | null, dfm: Float32Array | null) => void) => {
    if (!perItem) return fn(0, n, mod ? mod.final : null, dfinal);
    for (let r = 0; r < n; r++) {
      const b = Math.floor(acts.src[r] / acts.rowsPerItem);
      fn(r, r + 1, mod!.final.subarray(b * 2 * D), dfinal!.subarray(b * 2 * D));
    }
  };
  lnRows((r0, r1, fm) =>
    be.layerNorm({ x: x.subarray(r0 * D, r1 * D), out: u.subarray(r0 * D, r1 * D), rows: r1 - r0, dim: D, weight: w.normFinal, shift: fm, scale: fm ? fm.subarray(D) : null, stats: st.subarray(2 * r0, 2 * r1) }),
  );
  be.sgemm({ transA: true, m: V, n: D, k: n, a: dlogits, lda: V, b: u, ldb: D, beta: 1, c: g.outW, ldc: D });
  addColSums(be, ws.ones(n), dlogits, n, V, g.outB);
  be.sgemm({ m: n, n: D, k: V, a: dlogits, lda: V, b: w.outW, ldb: D, c: du, ldc: D });
  lnRows((r0, r1, fm, dfm) =>
    be.layerNormBackward({
      dout: du.subarray(r0 * D, r1 * D), x: x.subarray(r0 * D, r1 * D), stats: st.subarray(2 * r0, 2 * r1), rows: r1 - r0, dim: D,
      weight: w.normFinal, shift: fm, scale: fm ? fm.subarray(D) : null, dx: du.subarray(r0 * D, r1 * D),
      dweight: g.normFinal, dshift: dfm, dscale: dfm ? dfm.subarray(D) : null,
    }),
  );
  for (let r = 0; r < n; r++) {
    const o = acts.src[r] * D;
    for (let j = 0; j < D; j++) dh[o + j] += du[r * D + j];
  }
  return dh;
}

/**
 * One block backward. dh: gradient of the block output [Rn][D] (Rn = B*qLen); returns the gradient of its input
 * [B*S][D] (a scratch buffer distinct from dh).
 */
function blockBackward(
  model: DiT, ws: TrainScratch, acts: ActivationTensors, l: number, a: LayerActivations, dh: Float32Array, qLen: number,
  g: DiTWeights<Float32Array>, dm: Float32Array | null,
): Float32Array {
  const cfg = model.config;
  const D = cfg.hiddenDim;
  const H = cfg.nHeads;
  const hd = D / H;
  const be: Backend = model.backend;
  const w = fp32Weights(model.weights).blocks[l];
  const gw = g.blocks[l];
  const { B, S } = acts;
  const R = B * S;
  const Rn = B * qLen;
  const narrow = qLen !== S;
  const m = acts.mod ? acts.mod.blocks[l] : null;
  const ms = (i: number) => (m ? m.subarray(i * D) : null);
  const dms = (i: number) => (dm ? dm.subarray(i * D) : null);
  const perItem = acts.mod !== null && acts.mod.rows > 1;
  const perRowN = perItem ? qLen : Rn;
  const perRow = perItem ? S : R;
  const p = acts.dropoutP;

  // recompute the mid residual and u2 = LN2(mid) (modulated)
  const mid = ws.get('bb_mid', Rn * D);
  if (narrow) mid.set(gatherXt(ws, a.hIn, B, S, qLen, D));
  else mid.set(a.hIn);
  be.gatedResidual({ h: mid, y: a.y1, gate: ms(2), rows: Rn, dim: D, gateStride: 6 * D, rowsPerGroup: perRowN });
  const u = ws.get('bb_u', R * D);
  be.layerNorm({ x: mid, out: u, rows: Rn, dim: D, weight: w.norm2, shift: ms(3), scale: ms(4), modStride: 6 * D, rowsPerGroup: perRowN });

  // MLP branch: h_out = mid + g2 * drop(W2 GELU(W1 u2 + b1) + b2)
  const dy = ws.get('bb_dy', Rn * D);
  be.gatedResidualBackward({ dh, y: a.y2, gate: ms(5), rows: Rn, dim: D, gateStride: 6 * D, rowsPerGroup: perRowN, dy, dgate: dms(5) });
  applyKeep(dy, a.keep2, p);
  const act = ws.get('bb_act', Rn * 4 * D);
  be.geluTanh(a.f, act, Rn * 4 * D);
  be.sgemm({ transA: true, m: D, n: 4 * D, k: Rn, a: dy, lda: D, b: act, ldb: 4 * D, beta: 1, c: gw.w2, ldc: 4 * D });
  addColSums(be, ws.ones(Rn), dy, Rn, D, gw.b2);
  be.sgemm({ m: Rn, n: 4 * D, k: D, a: dy, lda: D, b: w.w2, ldb: 4 * D, c: act, ldc: 4 * D });
  be.geluTanhBackward(a.f, act, act, Rn * 4 * D);
  be.sgemm({ transA: true, m: 4 * D, n: D, k: Rn, a: act, lda: 4 * D, b: u, ldb: D, beta: 1, c: gw.w1, ldc: D });
  addColSums(be, ws.ones(Rn), act, Rn, 4 * D, gw.b1);
  const du = ws.get('bb_du', R * D);
  be.sgemm({ m: Rn, n: D, k: 4 * D, a: act, lda: 4 * D, b: w.w1, ldb: D, c: du, ldc: D });
  be.layerNormBackward({
    dout: du.subarray(0, Rn * D), x: mid, stats: a.stats2, rows: Rn, dim: D, weight: w.norm2, shift: ms(3), scale: ms(4),
    modStride: 6 * D, rowsPerGroup: perRowN, dx: du.subarray(0, Rn * D), dweight: gw.norm2, dshift: dms(3), dscale: dms(4),
  });
  for (let i = 0; i < Rn * D; i++) dh[i] += du[i]; // dh is now d(mid)

  // attention branch: mid = h_in + g1 * drop(o W_out^T)
  be.gatedResidualBackward({ dh, y: a.y1, gate: ms(2), rows: Rn, dim: D, gateStride: 6 * D, rowsPerGroup: perRowN, dy, dgate: dms(2) });
  applyKeep(dy, a.keep1, p);
  be.sgemm({ transA: true, m: D, n: D, k: Rn, a: dy, lda: D, b: a.o, ldb: D, beta: 1, c: gw.out, ldc: D });
  const dO = ws.get('bb_do', Rn * D);
  be.sgemm({ m: Rn, n: D, k: D, a: dy, lda: D, b: w.out, ldb: D, c: dO, ldc: D });
  const dqkv = ws.get('bb_dqkv', R * 3 * D);
  if (narrow) dqkv.fill(0); // the x_0 rows issued no queries in this layer
  const q = a.qkv;
  be.attentionBackward({
    batch: B, heads: H, headDim: hd, qLen, kLen: S,
    q, k: q.subarray(D), v: q.subarray(2 * D), out: a.o,
    qRowStride: 3 * D, kRowStride: 3 * D, vRowStride: 3 * D, outRowStride: D,
    qBatchStride: S * 3 * D, kBatchStride: S * 3 * D, vBatchStride: S * 3 * D, outBatchStride: qLen * D,
    scale: 1 / Math.sqrt(hd), spans: narrow ? acts.xtSpans! : acts.spans, lse: a.lse,
    dout: dO, dq: dqkv, dk: dqkv.subarray(D), dv: dqkv.subarray(2 * D),
  });
  be.rotary({ x: dqkv, rows: R, rowStride: 3 * D, heads: 2 * H, headDim: hd, cos: model.rotary.cos, sin: negSin(model), pos0: 0, seqLen: acts.posPeriod });

  // qkv projection of u1 = LN1(h_in)
  be.layerNorm({ x: a.hIn, out: u, rows: R, dim: D, weight: w.norm1, shift: ms(0), scale: ms(1), modStride: 6 * D, rowsPerGroup: perRow });
  be.sgemm({ transA: true, m: 3 * D, n: D, k: R, a: dqkv, lda: 3 * D, b: u, ldb: D, beta: 1, c: gw.qkv, ldc: D });
  be.sgemm({ m: R, n: D, k: 3 * D, a: dqkv, lda: 3 * D, b: w.qkv, ldb: D, c: du, ldc: D });
  be.layerNormBackward({
    dout: du, x: a.hIn, stats: a.stats1, rows: R, dim: D, weight: w.norm1, shift: ms(0), scale: ms(1),
    modStride: 6 * D, rowsPerGroup: perRow, dx: du, dweight: gw.norm1, dshift: dms(0), dscale: dms(1),
  });
  // d(h_in) = LN1 path + residual path (x_t rows only when narrowed)
  // alternate two buffers by layer parity: dh came from layer l + 1 (or the head's own buffer)
  const dIn = ws.get(`bb_dh${l % 2}`, R * D);
  dIn.set(du);
  if (narrow) {
    for (let b = 0; b < B; b++) {
      for (let i = 0; i < qLen * D; i++) dIn[b * S * D + i] += dh[b * qLen * D + i];
    }
  } else {
    for (let i = 0; i < R * D; i++) dIn[i] += dh[i];
  }
  return dIn;
}

/** The x_t rows (first `L` of each item's S rows) of h [B][S][D], into a scratch buffer. */
function gatherXt(ws: Workspace, full: Float32Array, B: number, S: number, L: number, D: number): Float32Array {
  const xh = ws.get('h_xt', B * L * D);
  for (let b = 0; b < B; b++) xh.set(full.subarray(b * S * D, (b * S + L) * D), b * L * D);
  return xh;
}

const sigm = (x: number) => 1 / (1 + Math.exp(-x));
/** d SiLU(z)/dz */
const dsilu = (z: number) => {
  const s = sigm(z);
  return s * (1 + z * (1 - s));
};

/**
 * adaLN vectors -> their linear layers and c -> the sigma_map MLP (Linear -> SiLU -> Linear, outer SiLU). Tiny
 * (cond_dim wide), so plain TypeScript in float64; the MLP activations are recomputed from sigma.
 */
function modulationBackward(w: DiTWeights, g: DiTWeights<Float32Array>, c: Float32Array, sigmas: number[], C: number, D: number, dmod: Float32Array[], dfinal: Float32Array): void {
  const sw = w.sigma!;
  const sg = g.sigma!;
  const F = sw.w0.length / C;
  for (let b = 0; b < sigmas.length; b++) {
    const cb = c.subarray(b * C, b * C + C);
    const dc = new Float64Array(C);
    const lin = (W: Float32Array, gW: Float32Array, gBias: Float32Array, dy: Float32Array) => {
      const n = dy.length;
      for (let o = 0; o < n; o++) {
        const d = dy[o];
        if (d === 0) continue;
        gBias[o] += d;
        const off = o * C;
        for (let i = 0; i < C; i++) {
          gW[off + i] += d * cb[i];
          dc[i] += d * W[off + i];
        }
      }
    };
    w.blocks.forEach((blk, l) => lin(blk.ada!, g.blocks[l].ada!, g.blocks[l].adaBias!, dmod[l].subarray(b * 6 * D, (b + 1) * 6 * D)));
    lin(w.finalAda!, g.finalAda!, g.finalAdaBias!, dfinal.subarray(b * 2 * D, (b + 1) * 2 * D));

    // recompute the MLP: e -> z1 = W0 e + b0 -> h1 = SiLU(z1) -> z2 = W2 h1 + b2 -> c = SiLU(z2)
    const e = timestepEmbedding(sigmas[b]);
    const z1 = new Float64Array(C);
    const h1 = new Float64Array(C);
    for (let o = 0; o < C; o++) {
      let s = sw.b0[o];
      for (let i = 0; i < F; i++) s += sw.w0[o * F + i] * e[i];
      z1[o] = s;
      h1[o] = Math.fround(s * sigm(s));
    }
    const dz2 = new Float64Array(C);
    for (let o = 0; o < C; o++) {
      let s = sw.b2[o];
      for (let i = 0; i < C; i++) s += sw.w2[o * C + i] * h1[i];
      dz2[o] = dc[o] * dsilu(s);
    }
    const dh1 = new Float64Array(C);
    for (let o = 0; o < C; o++) {
      sg.b2[o] += dz2[o];
      for (let i = 0; i < C; i++) {
        sg.w2[o * C + i] += dz2[o] * h1[i];
        dh1[i] += dz2[o] * sw.w2[o * C + i];
      }
    }
    for (let o = 0; o < C; o++) {
      const dz1 = dh1[o] * dsilu(z1[o]);
      sg.b0[o] += dz1;
      for (let i = 0; i < F; i++) sg.w0[o * F + i] += dz1 * e[i];
    }
  }
}
