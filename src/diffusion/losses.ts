/**
 * Per-row losses on raw logits and their gradients w.r.t. those logits. Only rows that can contribute are ever
 * passed in: masked x_t positions (BD3-LM, MDLM, SEDD — SUBS gives unmasked rows log p = 0, i.e. zero loss and zero
 * gradient) or every shifted target (AR). Row sums are float64; per-row values are rounded to float32 like the
 * reference's tensors.
 */
import type { Backend } from '../tensor/backend.js';
import { NEG_INF } from './subs.js';

const f32 = Math.fround;

/**
 * SUBS / AR cross-entropy (spec 4.4, 4.5, 2.6): loss_r = w_r * log softmax(z_r with z[mask] += -1e6)[target_r].
 * With `gradCoef`, the logits are overwritten by d(sum_r gradCoef_r * loss_r)/dz = gradCoef_r w_r (onehot - softmax).
 * The row reductions (logsumexp, softmax) run in the backend's kernels: this is 50k-wide work per row.
 */
export function subsRowLoss(
  backend: Backend, logits: Float32Array, n: number, V: number, maskId: number, targets: ArrayLike<number>, weights: ArrayLike<number>,
  gradCoef?: ArrayLike<number>,
): Float32Array {
  check(logits, n, V, targets);
  const loss = new Float32Array(n);
  if (n === 0) return loss;
  for (let r = 0; r < n; r++) logits[r * V + maskId] = f32(logits[r * V + maskId] + NEG_INF);
  const lse = new Float32Array(n);
  backend.logsumexp(logits, lse, n, V);
  for (let r = 0; r < n; r++) loss[r] = f32(weights[r] * f32(logits[r * V + targets[r]] - lse[r]));
  if (gradCoef) {
    backend.softmax(logits, logits, n, V);
    for (let r = 0; r < n; r++) {
      const c = gradCoef[r] * weights[r];
      const z = logits.subarray(r * V, (r + 1) * V);
      for (let v = 0; v < V; v++) z[v] *= -c;
      z[targets[r]] += c;
    }
  }
  return loss;
}

/**
 * SEDD absorbing score entropy (spec 6.3) for masked rows (x_t = mask): log s = z - ln(expm1 sigma) - ln(V - 1),
 * log s[mask] := 0; entropy = sum_{v != mask} exp(log s_v) - ratio log s_{x0} + ratio (ln ratio - 1), ratio =
 * 1/expm1(sigma); loss = dsigma * entropy with dsigma = expm1(sigma) / t. sigma and t are per row.
 */
export function seddRowLoss(
  logits: Float32Array, n: number, V: number, maskId: number, targets: ArrayLike<number>, sigma: ArrayLike<number>,
  t: ArrayLike<number>, gradCoef?: ArrayLike<number>,
): Float32Array {
  check(logits, n, V, targets);
  const lnV1 = f32(Math.log(V - 1));
  const loss = new Float32Array(n);
  for (let r = 0; r < n; r++) {
    const sg = sigma[r];
    const em1 = f32(sg < 0.5 ? Math.expm1(sg) : Math.exp(sg) - 1);
    const shift = f32(Math.log(em1)) + lnV1;
    const ratio = 1 / em1;
    const dsigma = em1 / t[r];
    const z = logits.subarray(r * V, (r + 1) * V);
    const tgt = targets[r];
    let sum = 0;
    for (let v = 0; v < V; v++) if (v !== maskId) sum += Math.exp(z[v] - shift);
    const ent = sum - ratio * (z[tgt] - shift) + ratio * (Math.log(ratio) - 1);
    loss[r] = f32(dsigma * ent);
    if (gradCoef) {
      const c = gradCoef[r] * dsigma;
      for (let v = 0; v < V; v++) z[v] = v === maskId ? 0 : c * Math.exp(z[v] - shift);
      z[tgt] -= c * ratio;
    }
  }
  return loss;
}

function check(logits: Float32Array, n: number, V: number, targets: ArrayLike<number>): void {
  if (logits.length !== n * V) throw new Error(`logits has ${logits.length} entries, expected ${n}x${V}`);
  if (targets.length !== n) throw new Error(`targets has ${targets.length} entries for ${n} rows`);
}
