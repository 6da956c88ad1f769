/**
 * The parallel-decoding rules (confidence threshold, entropy bound) on a stub model whose p(x0) is fixed per
 * position, against reveal sets worked out by hand: strict threshold, ties broken by position, the entropy budget,
 * the ceil(masks / steps left) minimum, at least one per step, scores taken after the filters, items independent.
 *
 * Positions 0..5 of one block, all masked, V = 5 (mask 4). p(x0) over the four tokens, with its top probability and
 * entropy (nats):
 *   A = [0.97, 0.01, 0.01, 0.01]  top 0.97  H = 0.1677
 *   B = [0.85, 0.05, 0.05, 0.05]  top 0.85  H = 0.5875
 *   C = [0.60, 0.20, 0.10, 0.10]  top 0.60  H = 1.0889
 *   D = [0.25, 0.25, 0.25, 0.25]  top 0.25  H = 1.3863
 * position: 0 1 2 3 4 5
 * row:      C A B A D B      (1 and 3 tie, 2 and 5 tie: identical logits give bit-identical scores)
 * Best first: 1, 3, 2, 5, 0, 4. Entropy running sums in that order: 0.1677, 0.3354, 0.9229, 1.5104, 2.5993, 3.9856.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DiT } from '../src/model/dit.js';
import { denoiseBlock, type DenoiseMode, type StepTrace } from '../src/sampling/block.js';
import type { ProbFilters } from '../src/tensor/sampling/filters.js';
import { SeededRandom } from '../src/tensor/sampling/random.js';
import type { WindowModel } from '../src/sampling/window-model.js';
import type { Backend } from '../src/tensor/backend.js';
import { availableBackends } from './model-helpers.js';

const V = 5;
const MASK = 4;
const W = 6;
const DIST = {
  A: [0.97, 0.01, 0.01, 0.01],
  B: [0.85, 0.05, 0.05, 0.05],
  C: [0.6, 0.2, 0.1, 0.1],
  D: [0.25, 0.25, 0.25, 0.25],
};
const ROWS = [DIST.C, DIST.A, DIST.B, DIST.A, DIST.D, DIST.B];

/** logits ln p for the tokens (the mask logit is irrelevant: SUBS removes it); the same for every item */
function stub(backend: Backend): WindowModel {
  return {
    model: { config: { vocabSize: V, timeConditioning: false }, backend } as unknown as DiT,
    // a generator that never yields a model call: the logits are fixed
    // eslint-disable-next-line require-yield
    logits: function* (_x, batch, _W, active, _sigma, rows) {
      const want = rows ? Array.from(rows) : Array.from({ length: batch * active }, (_, r) => r);
      const out = new Float32Array(want.length * V);
      want.forEach((r, i) => ROWS[r % active].forEach((p, v) => (out[i * V + v] = Math.log(p))));
      return out;
    },
    commit: () => {},
    dispose: () => {},
  };
}

interface Run {
  mode: Extract<DenoiseMode, 'threshold' | 'entropy'>;
  steps: number;
  threshold?: number;
  entropyBound?: number;
  filters?: ProbFilters;
  /** per item, positions already revealed (token 0) */
  given?: number[][];
}

/** the positions each step revealed, per item: [item][step][positions] */
function reveals(backend: Backend, r: Run): number[][][] {
  const batch = r.given?.length ?? 1;
  const window = new Int32Array(batch * W).fill(MASK);
  r.given?.forEach((g, b) => g.forEach((j) => (window[b * W + j] = 0)));
  const trace: StepTrace[] = [];
  const res = denoiseBlock({
    wm: stub(backend), window, batch, W, active: W, steps: r.steps, mode: r.mode, threshold: r.threshold,
    entropyBound: r.entropyBound, random: new SeededRandom(3), maskId: MASK, filters: r.filters ?? {}, commit: false,
    onStep: (s) => trace.push(s),
  });
  assert.ok(res.finished, 'the block finishes within its steps');
  assert.ok(!window.includes(MASK));
  return Array.from({ length: batch }, (_, b) =>
    trace
      .map((s) => [...Array(W).keys()].filter((j) => s.xIn[b * W + j] === MASK && s.xOut[b * W + j] !== MASK))
      .filter((step) => step.length > 0 || batch > 1),
  );
}

const CASES: { name: string; run: Run; want: number[][] }[] = [
  // threshold: reveal every top > tau (strictly), at least ceil(masks / steps left), best first
  { name: 'tau 0.9: the two above it, then one per step in score order (2 before 5: tie by position)', run: { mode: 'threshold', threshold: 0.9, steps: 6 }, want: [[1, 3], [2], [5], [0], [4]] },
  { name: 'tau 0.8: all four above it in one step', run: { mode: 'threshold', threshold: 0.8, steps: 6 }, want: [[1, 2, 3, 5], [0], [4]] },
  { name: 'tau just below B\'s 0.85: B rows qualify', run: { mode: 'threshold', threshold: 0.85 - 1e-6, steps: 6 }, want: [[1, 2, 3, 5], [0], [4]] },
  { name: 'tau just above B\'s 0.85: B rows wait', run: { mode: 'threshold', threshold: 0.85 + 1e-6, steps: 6 }, want: [[1, 3], [2], [5], [0], [4]] },
  { name: 'tau 0.9, 2 steps: the minimum ceil(6/2) = 3 adds position 2 (tie with 5 by position), then the rest', run: { mode: 'threshold', threshold: 0.9, steps: 2 }, want: [[1, 2, 3], [0, 4, 5]] },
  { name: 'tau 0.9, 3 steps: minimum 2 each step', run: { mode: 'threshold', threshold: 0.9, steps: 3 }, want: [[1, 3], [2, 5], [0, 4]] },
  { name: 'tau 1: nothing qualifies, one per step in score order', run: { mode: 'threshold', threshold: 1, steps: 6 }, want: [[1], [3], [2], [5], [0], [4]] },
  { name: 'tau 0: the whole block in one step', run: { mode: 'threshold', threshold: 0, steps: 6 }, want: [[0, 1, 2, 3, 4, 5]] },
  { name: 'tau 0.9 after top-k 1: every filtered top probability is 1', run: { mode: 'threshold', threshold: 0.9, steps: 6, filters: { topK: 1 } }, want: [[0, 1, 2, 3, 4, 5]] },
  // entropy: lowest entropy first while the running sum stays <= gamma, at least the minimum
  { name: 'gamma 1: 0.9229 fits, 1.5104 does not; then 5 alone (0.5875 + 1.0889 > 1); 0 forced alone', run: { mode: 'entropy', entropyBound: 1, steps: 6 }, want: [[1, 2, 3], [5], [0], [4]] },
  { name: 'gamma 0.9230: the sum 0.92290 just fits', run: { mode: 'entropy', entropyBound: 0.923, steps: 6 }, want: [[1, 2, 3], [5], [0], [4]] },
  { name: 'gamma 0.9228: the sum 0.92290 just misses; then 2 (0.5875 fits), 5, 0 forced, 4', run: { mode: 'entropy', entropyBound: 0.9228, steps: 6 }, want: [[1, 3], [2], [5], [0], [4]] },
  { name: 'gamma 1.6: 1.5104 fits; then 0 (1.0889), 4 alone', run: { mode: 'entropy', entropyBound: 1.6, steps: 6 }, want: [[1, 2, 3, 5], [0], [4]] },
  { name: 'gamma 0.4: the two A rows; then one forced per step', run: { mode: 'entropy', entropyBound: 0.4, steps: 6 }, want: [[1, 3], [2], [5], [0], [4]] },
  { name: 'gamma 0: one per step in entropy order', run: { mode: 'entropy', entropyBound: 0, steps: 6 }, want: [[1], [3], [2], [5], [0], [4]] },
  { name: 'gamma 0.4, 2 steps: the minimum 3 adds position 2 beyond the budget', run: { mode: 'entropy', entropyBound: 0.4, steps: 2 }, want: [[1, 2, 3], [0, 4, 5]] },
  { name: 'gamma infinite: the whole block in one step', run: { mode: 'entropy', entropyBound: Infinity, steps: 6 }, want: [[0, 1, 2, 3, 4, 5]] },
];

for (const { name, backend, why } of await availableBackends()) {
  test(`parallel rules (${name}): reveal sets worked out by hand`, { skip: backend ? false : why }, () => {
    for (const c of CASES) assert.deepEqual(reveals(backend!, c.run)[0], c.want, c.name);
  });

  test(`parallel rules (${name}): each item picks from its own masks (batch 2, item 1 has 1 and 3 revealed)`, { skip: backend ? false : why }, () => {
    // item 1's masks {0, 2, 4, 5}: nothing above 0.9, minimum ceil(4/6) = 1 -> one per step, 2 first (tie by position)
    const got = reveals(backend!, { mode: 'threshold', threshold: 0.9, steps: 6, given: [[], [1, 3]] });
    assert.deepEqual(got[0], [[1, 3], [2], [5], [0], [4]]);
    assert.deepEqual(got[1], [[2], [5], [0], [4], []]);
  });
}
