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
 * The DDPM posterior of a masked position (spec 5.3) as the two factors the draw applies: P(x_s = m) = stay = s/t,
 * P(x_s = v) = keep * p(v) with keep = 1 - s/t. Both in float32 as the reference forms them (`move_chance_s /
 * move_chance_t` on float32 tensors). At t = 0 (the last point of the reference grid) stay = -inf, so every kept p
 * becomes +inf and every zeroed p NaN; the categorical race then reproduces torch's argmax.
 */
export function ddpmFactors(t: number, dt: number): { keep: number; stay: number } {
  const tt = f32(t);
  const s = f32(tt - f32(dt));
  const stay = f32(s / tt);
  return { keep: f32(1 - stay), stay };
}
