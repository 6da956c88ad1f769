/**
 * The nucleus filter of one DDPM step at L' = 16: 16 float64 rows of V = 50258 probabilities (softmax of scaled
 * Gaussian logits, about as peaked as a trained model's), p = 0.9; the TypeScript filter row by row against the
 * backend kernel on all rows at once (best of 7 each).
 */
import type { Backend } from '../src/tensor/backend.js';
import { nucleusFilter } from '../src/sampling/nucleus.js';
import { Rng } from '../src/tensor/rng.js';

export function benchNucleus(be: Backend, rows: number, scale: number) {
  const V = 50258;
  const rng = new Rng(9);
  const src = new Float64Array(rows * V);
  for (let r = 0; r < rows; r++) {
    const row = src.subarray(r * V, (r + 1) * V);
    let s = 0;
    for (let v = 0; v < V; v++) s += row[v] = Math.exp(scale * (rng.uniform() + rng.uniform() + rng.uniform() - 1.5));
    for (let v = 0; v < V; v++) row[v] /= s;
  }
  const best = (fn: (x: Float64Array) => void) => {
    let b = Infinity;
    for (let i = 0; i < 8; i++) {
      const x = src.slice();
      const t0 = performance.now();
      fn(x);
      if (i > 0) b = Math.min(b, performance.now() - t0);
    }
    return +b.toFixed(2);
  };
  const fallback = new Int32Array(rows);
  return {
    rows, V, p: 0.9, logit_scale: scale,
    ms_typescript: best((x) => { for (let r = 0; r < rows; r++) nucleusFilter(x.subarray(r * V, (r + 1) * V), 1, V, 0.9); }),
    ms_kernel: be.nucleus ? best((x) => be.nucleus!(x, rows, V, 0.9, false, fallback)) : null,
  };
}
