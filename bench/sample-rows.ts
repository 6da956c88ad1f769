/**
 * The per-row work of one DDPM step at L' = 16: 16 SUBS log-prob rows of V = 50258 (log-softmax of scaled Gaussian
 * logits; scale 2 is about a random model's flatness, 8 a trained model's peak) to nucleus-filtered p = 0.9
 * probabilities and one posterior draw per row with seeded noise. The TypeScript definition (RefBackend.sampleRows,
 * row after row) against the backend kernel (rows in parallel); best of 7 each, and the draw alone (a reused p(x0)).
 */
import type { Backend, SampleRowsArgs } from '../src/tensor/backend.js';
import { RefBackend } from '../src/tensor/ref.js';
import { ddpmFactors } from '../src/diffusion/schedule.js';
import { Rng } from '../src/tensor/rng.js';

export function benchSampleRows(be: Backend, rows: number, scale: number) {
  const V = 50258;
  const rng = new Rng(9);
  const logp = new Float32Array(rows * V);
  for (let r = 0; r < rows; r++) {
    const row = logp.subarray(r * V, (r + 1) * V);
    let s = 0;
    for (let v = 0; v < V; v++) s += Math.exp((row[v] = scale * (rng.uniform() + rng.uniform() + rng.uniform() - 1.5)));
    const lse = Math.log(s);
    for (let v = 0; v < V; v++) row[v] -= lse;
  }
  const args = (withLogp: boolean): SampleRowsArgs => ({
    rows, V, probs: new Float64Array(rows * V), logp: withLogp ? logp : null, filters: { topP: 0.9 },
    fallback: new Int32Array(rows), drawRow: Int32Array.from({ length: rows }, (_, i) => i),
    seeds: Int32Array.from({ length: 3 * rows }, (_, i) => (i % 3 === 2 ? i / 3 : i + 1)),
    posterior: { ...ddpmFactors(0.75, 1 / 16), maskId: V - 1 }, out: new Int32Array(rows),
  });
  const best = (b: Backend, withLogp: boolean) => {
    const a = args(withLogp);
    b.sampleRows({ ...a, logp });
    let ms = Infinity;
    for (let i = 0; i < 7; i++) {
      const t0 = performance.now();
      b.sampleRows(a);
      ms = Math.min(ms, performance.now() - t0);
    }
    return +ms.toFixed(2);
  };
  return {
    rows, V, p: 0.9, logit_scale: scale, ms_typescript: best(new RefBackend(), true), ms_kernel: best(be, true),
    ms_typescript_draws: best(new RefBackend(), false), ms_kernel_draws: best(be, false),
  };
}
