/**
 * Probability processing between the model and the categorical draw. The reference applies only the nucleus filter
 * (spec 5.2); temperature and top-k are extensions, off by default, applied in the order temperature -> top-k ->
 * top-p so that the defaults reproduce the reference bit for bit (no arithmetic happens when they are off). A row
 * that is not a distribution (a NaN from a broken model) is an error, never a draw.
 * These are the definitions; the block sampler runs them inside the backend's `sampleRows` kernel.
 */
import type { RowFilters } from '../backend.js';
import { nucleusFilter, topKFilter } from './nucleus.js';

export type ProbFilters = RowFilters;

export function validateFilters(f: ProbFilters): void {
  const p = f.topP ?? 1;
  if (!(p > 0 && p <= 1)) throw new Error(`topP must be in (0, 1], got ${f.topP}`);
  const t = f.temperature ?? 1;
  if (!(t >= 0) || !Number.isFinite(t)) throw new Error(`temperature must be 0 (greedy) or a positive finite number, got ${f.temperature}`);
  const k = f.topK ?? 0;
  if (!Number.isInteger(k) || k < 0) throw new Error(`topK must be a non-negative integer (0 = off), got ${f.topK}`);
}

/** Whether row o..o+V of probs can be drawn from: every entry finite and >= 0, at least one > 0. */
export function isDistribution(p: ArrayLike<number>, o: number, V: number): boolean {
  let mx = 0;
  for (let v = 0; v < V; v++) {
    const x = p[o + v];
    if (!(x >= 0 && x < Infinity)) return false;
    if (x > mx) mx = x;
  }
  return mx > 0;
}

/** The error for drawing from a row that is not a distribution (`what` names the row). */
export function notADistribution(what: string): Error {
  return new Error(
    `${what} is not a probability distribution (a NaN or infinite value, or no positive entry): the model's output is broken, no token is drawn from it`,
  );
}

/**
 * p^(1/T) renormalised, in place, computed as (p / max p)^(1/T): the largest entry stays exactly 1, so no
 * temperature underflows the whole row to 0 (0/0 = NaN, the defect of p^(1/T) at T = 0.001). T = 0 is greedy: a
 * one-hot row at the first maximum (ties go to the lowest token id).
 */
function temper(row: Float64Array, temp: number): void {
  let mx = 0;
  let arg = 0;
  for (let v = 0; v < row.length; v++) {
    if (row[v] > mx) {
      mx = row[v];
      arg = v;
    }
  }
  if (temp === 0) {
    row.fill(0);
    row[arg] = 1;
    return;
  }
  let s = 0;
  for (let v = 0; v < row.length; v++) s += row[v] = row[v] >= mx ? 1 : row[v] > 0 ? Math.pow(row[v] / mx, 1 / temp) : 0;
  for (let v = 0; v < row.length; v++) row[v] /= s;
}

/** Applies the filters in place to probability rows [rows][V]; a row that is not a distribution is an error. */
export function applyFilters(probs: Float64Array, rows: number, V: number, f: ProbFilters): Float64Array {
  for (let r = 0; r < rows; r++) if (!isDistribution(probs, r * V, V)) throw notADistribution(`probability row ${r}`);
  const temp = f.temperature ?? 1;
  if (temp !== 1) for (let r = 0; r < rows; r++) temper(probs.subarray(r * V, (r + 1) * V), temp);
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
