import { FREQ_EMBED_SIZE as FREQ_DIM } from './params.js';
import type { DiTWeights } from './weights.js';

const silu = (x: number) => x / (1 + Math.exp(-x));

/** y = W x + b for a row-major [out, in] weight, float32 result (small: run in TS). */
function linear(w: Float32Array, b: Float32Array, x: Float32Array, out: number): Float32Array {
  const n = x.length;
  const y = new Float32Array(out);
  for (let o = 0; o < out; o++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += w[o * n + i] * x[i];
    y[o] = s + b[o];
  }
  return y;
}

/** emb(t) = [cos(t f_j), sin(t f_j)], f_j = exp(-ln(10000) j / 128) (cos block first). */
export function timestepEmbedding(t: number): Float32Array {
  const half = FREQ_DIM / 2;
  const e = new Float32Array(FREQ_DIM);
  for (let j = 0; j < half; j++) {
    const f = Math.fround(Math.exp(Math.fround((-Math.log(10000) * j) / half)));
    const a = Math.fround(t * f);
    e[j] = Math.cos(a);
    e[j + half] = Math.sin(a);
  }
  return e;
}

/** c = SiLU(MLP(emb(sigma))) with the MLP Linear -> SiLU -> Linear (spec 2.4). */
export function conditioningVector(w: NonNullable<DiTWeights['sigma']>, condDim: number, sigma: number): Float32Array {
  const h = linear(w.w0, w.b0, timestepEmbedding(sigma), condDim).map(silu);
  return linear(w.w2, w.b2, h, condDim).map(silu);
}

/**
 * adaLN vectors for a batch: per block [B][6D] (shift1, scale1, gate1, shift2, scale2, gate2) and final [B][2D]
 * (shift, scale). With time conditioning off every row is the same, computed from c(0).
 */
export interface Modulation {
  blocks: Float32Array[];
  final: Float32Array;
  /** conditioning vectors [B][cond] */
  c: Float32Array;
  rows: number;
}

export function modulation(w: DiTWeights, condDim: number, hidden: number, sigmas: ArrayLike<number>): Modulation {
  const B = sigmas.length;
  const c = new Float32Array(B * condDim);
  const blocks = w.blocks.map(() => new Float32Array(B * 6 * hidden));
  const final = new Float32Array(B * 2 * hidden);
  for (let b = 0; b < B; b++) {
    const cb = conditioningVector(w.sigma!, condDim, sigmas[b]);
    c.set(cb, b * condDim);
    w.blocks.forEach((blk, l) => blocks[l].set(linear(blk.ada!, blk.adaBias!, cb, 6 * hidden), b * 6 * hidden));
    final.set(linear(w.finalAda!, w.finalAdaBias!, cb, 2 * hidden), b * 2 * hidden);
  }
  return { blocks, final, c, rows: B };
}
