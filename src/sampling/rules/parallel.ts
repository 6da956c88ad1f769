/**
 * The step both parallel-decoding rules share (beyond the reference): score every masked position from its filtered
 * p(x0) (higher = reveal first), reveal the best ones while the rule accepts them, at least ceil(masks / steps left)
 * so a block always finishes within its steps, and draw each revealed token from p(x0). t = the fraction of the
 * block still masked (it matters only with time conditioning).
 */
import type { StepContext, StepDraws } from './rule.js';
import type { CallSteps } from '../window-model.js';

/** Positions (indices into `scores`) to reveal: best first (ties by position) while `take`, at least `minReveal`. */
export function parallelPick(scores: number[], take: (score: number) => boolean, minReveal: number): number[] {
  const order = scores.map((_, i) => i).sort((a, b) => scores[b] - scores[a] || a - b);
  const pick: number[] = [];
  for (const i of order) {
    if (!take(scores[i]) && pick.length >= minReveal) break;
    pick.push(i);
  }
  return pick;
}

export function* parallelStep(s: StepContext, policy: (s: StepContext) => (score: number) => boolean, score: (P: Float64Array, V: number) => number): CallSteps<StepDraws> {
  const A = s.active;
  for (let b = 0; b < s.batch; b++) s.t[b] = s.nMasked[b] / A;
  const P = s.probs();
  yield* P.sample(s.masked.flatMap((m, b) => m.map((j) => b * A + j)), []); // every masked row is scored
  const u = s.noise();
  const draws = [];
  for (let b = 0; b < s.batch; b++) {
    const m = s.masked[b];
    if (m.length === 0) continue;
    const minReveal = Math.max(1, Math.ceil(m.length / (s.T - s.i)));
    const scores = m.map((j) => score(P.row(b * A + j), s.V));
    for (const k of parallelPick(scores, policy(s), minReveal)) draws.push(u(b, m[k]));
  }
  return { draws, tokens: yield* P.sample([], draws) };
}
