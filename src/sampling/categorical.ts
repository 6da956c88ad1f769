/**
 * The reference's categorical draw (spec 5.1): an exponential race with float64 noise,
 * `argmax_v probs_v / (1e-10 - ln(u_v + 1e-10))`. Probabilities need not be normalised.
 */

/**
 * One token per row of probs [rows][V], with u [rows][V] uniform noise (the rand_like draw). argmax follows torch:
 * the first maximum wins and a NaN counts as the maximum (the first NaN wins) — this is what turns the DDPM t = 0
 * step of the reference into token 0 (spec 5.3 gotcha, golden sample_ddpm).
 */
export function sampleCategorical(probs: Float64Array, rows: number, V: number, u: Float64Array, out = new Int32Array(rows)): Int32Array {
  if (probs.length < rows * V) throw new Error(`probs has ${probs.length} entries, expected ${rows}x${V}`);
  if (u.length !== rows * V) throw new Error(`noise has ${u.length} entries, expected ${rows}x${V}`);
  for (let r = 0; r < rows; r++) {
    const o = r * V;
    let best = -Infinity;
    let arg = 0;
    for (let v = 0; v < V; v++) {
      const s = probs[o + v] / (1e-10 - Math.log(u[o + v] + 1e-10));
      if (Number.isNaN(s)) {
        arg = v;
        break;
      }
      if (s > best || (v === 0 && s === best)) {
        best = s;
        arg = v;
      }
    }
    out[r] = arg;
  }
  return out;
}
