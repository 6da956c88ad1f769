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
 * NaN counts as the maximum (the first NaN wins). Most logs are skipped, never changing the result:
 * - the denominator 1e-10 - ln(u + 1e-10) is >= 1 - u (ln x <= x - 1), so once a score `best` > 0 is known an
 *   entry with p < best (1 - u) cannot beat it (a 1e-9 margin covers rounding; u <= 0.99 keeps the denominator
 *   away from cancellation, and it is never 0 there, so such an entry is never NaN);
 * - p = 0 with u < 0.5 scores exactly ±0.
 * If no score > 0 was seen (all-zero rows, underflow, negative or NaN rows) the full race decides.
 */
export function sampleRow(p: ArrayLike<number>, u: ArrayLike<number>, V: number, o = 0): number {
  let best = -Infinity;
  let thr = -Infinity;
  let arg = -1;
  for (let v = 0; v < V; v++) {
    const pv = p[o + v];
    const uv = u[o + v];
    if (uv <= 0.99 && pv < thr * (1 - uv)) continue;
    if (pv === 0 && uv < 0.5) continue;
    const s = pv / (1e-10 - Math.log(uv + 1e-10));
    if (Number.isNaN(s)) return v;
    if (s > best) {
      best = s;
      arg = v;
      if (s > 0) thr = s * (1 - 1e-9);
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
