/** Confidence threshold (parallel decoding): reveal every masked position whose top probability (after the filters)
 * exceeds tau, at least the most confident one (see parallel.ts). */
import type { DenoiseRule } from './rule.js';
import { parallelStep } from './parallel.js';

function topProbability(P: Float64Array, V: number): number {
  let m = 0;
  for (let v = 0; v < V; v++) if (P[v] > m) m = P[v];
  return m;
}

export const threshold: DenoiseRule = {
  name: 'threshold',
  help: 'reveal every position whose top probability exceeds --threshold',
  validateOptions(o) {
    const tau = o.threshold;
    if (!(typeof tau === 'number' && tau >= 0 && tau <= 1)) throw new Error(`threshold must be a number in [0, 1], got ${tau}`);
  },
  minSteps: () => 1,
  step: (s) => parallelStep(s, (c) => (score) => score > c.options.threshold, topProbability),
};
