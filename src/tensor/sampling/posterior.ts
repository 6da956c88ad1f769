/**
 * The DDPM posterior applied to probability rows (spec 5.3): the step of the sampling kernel that turns p into
 * q = posterior(p) before the categorical race. Its factors (keep, stay) come from `ddpmFactors` in
 * src/diffusion/schedule.ts; this file only applies them, so the tensor layer needs nothing from diffusion/.
 */

/** The posterior in place on probability rows [rows][V]: every p times keep, then the mask entry set to stay. */
export function applyPosterior(probs: Float64Array, rows: number, V: number, q: { keep: number; stay: number; maskId: number }): Float64Array {
  for (let row = 0; row < rows; row++) {
    const o = row * V;
    for (let v = 0; v < V; v++) probs[o + v] *= q.keep;
    probs[o + q.maskId] = q.stay;
  }
  return probs;
}
