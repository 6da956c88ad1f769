/**
 * Symmetric int8 weight quantization with one scale per row (an Int8Matrix): scale = max |row| / 127 (in fp32),
 * q = round(x / scale) clamped to [-127, 127] (ties away from zero), and the value a kernel reads back is
 * fround(q * scale) (native/q8.h agrees bit for bit). Error per weight: at most scale / 2 (half a step).
 */
import type { GemmArgs, Int8Matrix } from './backend.js';

/** Quantizes `rows` rows of `cols` values of `src` into q (int8) and scales (one per row). */
export function quantizeRows(src: Float32Array, rows: number, cols: number, q: Int8Array, scales: Float32Array): void {
  if (src.length !== rows * cols || q.length !== rows * cols || scales.length !== rows)
    throw new Error(`quantizeRows: ${rows}x${cols} needs ${rows * cols} values and ${rows} scales`);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let amax = 0;
    for (let c = 0; c < cols; c++) amax = Math.max(amax, Math.abs(src[o + c]));
    if (!Number.isFinite(amax)) throw new Error(`quantizeRows: row ${r} holds a non-finite value`);
    const s = Math.fround(amax / 127);
    scales[r] = s;
    if (s === 0) {
      q.fill(0, o, o + cols);
      continue;
    }
    for (let c = 0; c < cols; c++) {
      const v = src[o + c] / s;
      q[o + c] = Math.max(-127, Math.min(127, Math.sign(v) * Math.round(Math.abs(v))));
    }
  }
}

/** The fp32 values an Int8Matrix stands for (what the kernels multiply with); its rows are data.length / scales.length long. */
export function dequantizeRows(m: Int8Matrix, out: Float32Array = new Float32Array(m.data.length)): Float32Array {
  const { data, scales } = m;
  const cols = data.length / scales.length;
  if (!Number.isInteger(cols)) throw new Error(`dequantizeRows: ${data.length} values are not ${scales.length} whole rows`);
  for (let r = 0; r < scales.length; r++) {
    const s = scales[r];
    for (let c = r * cols; c < (r + 1) * cols; c++) out[c] = Math.fround(data[c] * s);
  }
  return out;
}

/**
 * The W8A8 product C = alpha * op(A) (b's values)^T + beta * C + bias of an Int8Matrix with `activations: 'int8'`
 * (native/kernels/w8a8.c), computed in float64: each row of op(A) quantized by quantizeRows (a row holding a
 * non-finite value gives a NaN row of C), exact integer dot products, then alpha * s_i * scale_j * dot.
 */
export function w8a8Reference(g: GemmArgs, b: Int8Matrix): void {
  const { m, n, k, a, lda, ldb, c, ldc } = g;
  const alpha = g.alpha ?? 1, beta = g.beta ?? 0, bias = g.bias ?? null;
  const row = new Float32Array(k), qa = new Int8Array(m * k), sa = new Float32Array(m);
  for (let i = 0; i < m; i++) {
    for (let p = 0; p < k; p++) row[p] = g.transA ? a[p * lda + i] : a[i * lda + p];
    if (row.every(Number.isFinite)) quantizeRows(row, 1, k, qa.subarray(i * k, (i + 1) * k), sa.subarray(i, i + 1));
    else sa[i] = NaN;
  }
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let dot = 0;
      for (let p = 0; p < k; p++) dot += qa[i * k + p] * b.data[j * ldb + p];
      let r = alpha * sa[i] * b.scales[j] * dot;
      if (beta !== 0) r += beta * c[i * ldc + j];
      if (bias) r += bias[j];
      c[i * ldc + j] = r;
    }
}
