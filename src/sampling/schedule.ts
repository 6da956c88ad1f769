/**
 * Time grids and the linear (loglinear-named) schedule as the sampler uses them (spec 4.3, 5.3, 6.3). The reference
 * keeps t in float32 tensors, so grid values and the ratios derived from them are rounded to float32 here too.
 */

const f32 = Math.fround;

/** ln(1000): sigma at t = 1 with eps = 1e-3 (spec 4.3) */
export const SIGMA_MAX = f32(-Math.log1p(-(1 - 1e-3)));

/** torch.linspace(start, end, steps) in float32 (CPU kernel: forward from start below halfway, back from end above). */
export function linspaceF32(start: number, end: number, steps: number): Float64Array {
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`linspace needs a positive integer step count, got ${steps}`);
  const out = new Float64Array(steps);
  if (steps === 1) {
    out[0] = f32(start);
    return out;
  }
  const step = f32((end - start) / (steps - 1));
  const half = Math.floor(steps / 2);
  for (let i = 0; i < steps; i++) out[i] = i < half ? f32(start + f32(step * i)) : f32(end - f32(step * (steps - i - 1)));
  return out;
}

/** sigma(p) = min(-ln(1 - p), sigma_max), float32 (only the time conditioning and SEDD use it) */
export function sigmaFromP(p: number): number {
  const s = f32(-Math.log(f32(1 - p)));
  return Math.min(s, SIGMA_MAX);
}

/**
 * The DDPM posterior over x_s for masked positions, in place on probs [rows][V] (spec 5.3):
 * P(x_s = m) = s/t, P(x_s = v) = (1 - s/t) p(v). r = s/t is formed in float32 as the reference does
 * (`move_chance_s / move_chance_t` on float32 tensors). At t = 0 (the last point of the reference grid) r = -inf,
 * so every kept p becomes +inf and every zeroed p NaN; `sampleCategorical` then reproduces torch's argmax.
 */
export function ddpmPosterior(probs: Float64Array, rows: number, V: number, t: number, dt: number, maskId: number): Float64Array {
  const tt = f32(t);
  const s = f32(tt - f32(dt));
  const r = f32(s / tt);
  const keep = f32(1 - r);
  for (let row = 0; row < rows; row++) {
    const o = row * V;
    for (let v = 0; v < V; v++) probs[o + v] *= keep;
    probs[o + maskId] = r;
  }
  return probs;
}
