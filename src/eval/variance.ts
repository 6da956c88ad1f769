/**
 * The gradient-variance estimator of the paper (eq. 10): over M batches,
 * Var[grad l] ~ 1/(M-1) sum_m ||g_m - mean g||^2, computed in one pass as (sum ||g_m||^2 - M ||mean g||^2) / (M-1)
 * with a running sum of the gradients (one extra copy of the parameters, not M). Gradients are of the evaluation
 * loss (no dropout) under the given clip interval, so intervals can be compared (spec 4.10, 4.11).
 */
import type { DiT } from '../model/dit.js';
import { Rng } from '../tensor/rng.js';
import { Grads } from '../training/grads.js';
import { lossAndGrads } from '../training/objective.js';
import { algoOf } from './ppl.js';

export interface VarianceReport {
  batches: number;
  eps_min: number;
  eps_max: number;
  grad_variance: number;
  mean_grad_norm: number;
  mean_loss: number;
}

export function gradientVariance(model: DiT, batches: Iterable<{ ids: Int32Array; rows: number }>, o: { epsMin?: number; epsMax?: number; seed?: number } = {}): VarianceReport {
  const be = model.backend;
  const L = model.config.modelLength;
  const grads = new Grads(model);
  const sum = new Map([...grads.tensors].map(([k, g]) => [k, new Float64Array(g.length)]));
  const rng = new Rng(o.seed ?? 1);
  const epsMin = o.epsMin ?? 1e-3;
  const epsMax = o.epsMax ?? 1;
  let M = 0;
  let sumSq = 0;
  let loss = 0;
  for (const b of batches) {
    grads.zero();
    const r = lossAndGrads(model, grads, { x0: b.ids, B: b.rows, L }, {
      algo: algoOf(model), blockSize: model.config.blockSize, epsMin, epsMax, antithetic: true, dropout: 0, random: () => rng.uniform(),
    });
    loss += r.loss;
    for (const [k, g] of grads.tensors) {
      sumSq += be.sumSquares(g, g.length);
      const s = sum.get(k)!;
      for (let i = 0; i < g.length; i++) s[i] += g[i];
    }
    M++;
  }
  grads.dispose();
  if (M < 2) throw new Error(`the variance needs at least 2 batches, got ${M}`);
  let meanSq = 0;
  for (const s of sum.values()) for (let i = 0; i < s.length; i++) meanSq += (s[i] / M) ** 2;
  return {
    batches: M, eps_min: epsMin, eps_max: epsMax, grad_variance: (sumSq - M * meanSq) / (M - 1),
    mean_grad_norm: Math.sqrt(sumSq / M), mean_loss: loss / M,
  };
}
