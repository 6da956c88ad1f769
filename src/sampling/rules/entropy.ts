/** Entropy bound (parallel decoding): reveal the lowest-entropy masked positions while their summed entropy (nats)
 * stays <= gamma, at least one (see parallel.ts). */
import type { DenoiseRule } from './rule.js';
import { parallelStep } from './parallel.js';

/** minus the entropy (nats) of a row: higher = more certain */
function negEntropy(P: Float64Array, V: number): number {
  let h = 0;
  for (let v = 0; v < V; v++) {
    const p = P[v];
    if (p > 0) h -= p * Math.log(p);
  }
  return -h;
}

export const entropy: DenoiseRule = {
  name: 'entropy',
  help: 'reveal the lowest-entropy positions while their summed entropy stays under --entropy-bound',
  validateOptions(o) {
    const g = o.entropyBound;
    if (!(typeof g === 'number' && g >= 0)) throw new Error(`entropyBound must be a number >= 0 (nats), got ${g}`);
  },
  minSteps: () => 1,
  step: (s) =>
    parallelStep(
      s,
      (c) => {
        let budget = 0; // summed entropy of the positions taken so far (per item)
        return (score) => {
          const take = budget - score <= c.options.entropyBound;
          if (take) budget -= score;
          return take;
        };
      },
      negEntropy,
    ),
};
