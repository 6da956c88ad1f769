/**
 * First hitting (the reference's default, spec 5.3): each step draws the time at which the next mask is revealed
 * (eq. 25 of the paper: t <- t * u^(1/n)) and reveals one masked position chosen uniformly, drawn from p(x0).
 * Without time conditioning t has no effect on the output. The reference asserts batch 1; here each item keeps its
 * own t and draws its own position (batch 1 is the reference exactly).
 */
import type { DenoiseRule } from './rule.js';

export const firstHitting: DenoiseRule = {
  name: 'first-hitting',
  help: 'one masked position per step, at the first-hitting time (the reference default)',
  validateOptions() {},
  minSteps: (masks) => masks,
  *step(s) {
    for (let b = 0; b < s.batch; b++) if (s.nMasked[b] > 0) s.t[b] *= s.rnd(b).uniform() ** (1 / s.nMasked[b]);
    // the position is drawn before the token (randint is its own draw, before the categorical noise)
    const pick = s.masked.map((m, b) => (m.length ? m[s.rnd(b).randint(m.length)] : -1));
    const P = s.probs();
    const u = s.noise();
    const draws = [];
    for (let b = 0; b < s.batch; b++) if (pick[b] >= 0) draws.push(u(b, pick[b]));
    return { draws, tokens: yield* P.sample([], draws) };
  },
};
