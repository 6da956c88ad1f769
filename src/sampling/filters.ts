/**
 * Probability processing between the model and the categorical draw. The reference applies only the nucleus filter
 * (spec 5.2); temperature and top-k are extensions, off by default, applied in the order temperature -> top-k ->
 * top-p so that the defaults reproduce the reference bit for bit (no arithmetic happens when they are off).
 * These are the definitions; the block sampler runs them inside the backend's `sampleRows` kernel.
 */
import type { RowFilters } from '../tensor/backend.js';
import { nucleusFilter, topKFilter } from './nucleus.js';

export type ProbFilters = RowFilters;

export function validateFilters(f: ProbFilters): void {
  const p = f.topP ?? 1;
  if (!(p > 0 && p <= 1)) throw new Error(`topP must be in (0, 1], got ${f.topP}`);
  const t = f.temperature ?? 1;
  if (!(t > 0) || !Number.isFinite(t)) throw new Error(`temperature must be a positive finite number, got ${f.temperature}`);
  const k = f.topK ?? 0;
  if (!Number.isInteger(k) || k < 0) throw new Error(`topK must be a non-negative integer (0 = off), got ${f.topK}`);
}

/** Applies the filters in place to probability rows [rows][V]. */
export function applyFilters(probs: Float64Array, rows: number, V: number, f: ProbFilters): Float64Array {
  const temp = f.temperature ?? 1;
  if (temp !== 1) {
    for (let r = 0; r < rows; r++) {
      const row = probs.subarray(r * V, (r + 1) * V);
      let s = 0;
      for (let v = 0; v < V; v++) s += row[v] = row[v] > 0 ? Math.pow(row[v], 1 / temp) : 0;
      for (let v = 0; v < V; v++) row[v] /= s;
    }
  }
  return rankFilters(probs, rows, V, f);
}

/** The filters that rank a row's values, top-k then top-p (what a `sampleRows` fallback row still needs). */
export function rankFilters(probs: Float64Array, rows: number, V: number, f: ProbFilters): Float64Array {
  const k = f.topK ?? 0;
  if (k > 0 && k < V) topKFilter(probs, rows, V, k);
  const p = f.topP ?? 1;
  if (p < 1) nucleusFilter(probs, rows, V, p, f.includeCrossing ?? false);
  return probs;
}
