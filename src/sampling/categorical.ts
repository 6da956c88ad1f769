/**
 * The reference's categorical draw (spec 5.1): an exponential race with float64 noise,
 * `argmax_v probs_v / (1e-10 - ln(u_v + 1e-10))`. Probabilities need not be normalised.
 */

/** The race over all of one row (the definition; `sampleRow` falls back to it). */
function raceFull(p: ArrayLike<number>, u: ArrayLike<number>, o: number, V: number): number {
  let best = -Infinity;
  let arg = 0;
  for (let v = 0; v < V; v++) {
    const s = p[o + v] / (1e-10 - Math.log(u[o + v] + 1e-10));
    if (Number.isNaN(s)) return v;
    if (s > best || (v === 0 && s === best)) {
      best = s;
      arg = v;
    }
  }
  return arg;
}

/**
 * One token from row `o / V` of probs with noise u (same offset). argmax follows torch: the first maximum wins and a
 * NaN counts as the maximum (the first NaN wins). Entries with p = 0 and u < 0.5 score exactly ±0 (the
 * denominator is > 0.69), so their log is skipped; when the best score found is > 0 they can neither win nor be
 * NaN, and the result is the full race's. Otherwise (all-zero rows, underflow, NaN) the full race runs.
 */
export function sampleRow(p: ArrayLike<number>, u: ArrayLike<number>, V: number, o = 0): number {
  let best = -Infinity;
  let arg = -1;
  for (let v = 0; v < V; v++) {
    const pv = p[o + v];
    if (pv === 0 && u[o + v] < 0.5) continue;
    const s = pv / (1e-10 - Math.log(u[o + v] + 1e-10));
    if (Number.isNaN(s)) return v;
    if (s > best) {
      best = s;
      arg = v;
    }
  }
  return best > 0 ? arg : raceFull(p, u, o, V);
}

/** One token per row of probs [rows][V], with u [rows][V] uniform noise (the rand_like draw). */
export function sampleCategorical(probs: Float64Array, rows: number, V: number, u: Float64Array, out = new Int32Array(rows)): Int32Array {
  if (probs.length < rows * V) throw new Error(`probs has ${probs.length} entries, expected ${rows}x${V}`);
  if (u.length !== rows * V) throw new Error(`noise has ${u.length} entries, expected ${rows}x${V}`);
  for (let r = 0; r < rows; r++) out[r] = sampleRow(probs, u, V, r * V);
  return out;
}
