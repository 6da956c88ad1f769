/**
 * SEDD's tau-leaping step and MDLM's DDPM step computed by hand on a V = 5 stub model with fixed logits (mask 4).
 *
 * How a step is checked: the categorical draw is the race argmax_v q_v / E_v with E_v = -ln(u_v) (spec 5.1), so
 * feeding u_v = exp(-E_v) with E_v = q_v^hand (1 + m) for v != w and E_w = q_w^hand makes token w win exactly when
 * (q_w / q_w^hand) > (q_v / q_v^hand) / (1 + m) for every v. Rows whose designated winners cover all five tokens
 * therefore assert that the sampler's (unnormalised) distribution equals the hand-computed one to within a factor
 * 1 + m in every ratio; m = 1e-4 sits far above float32 rounding (~1e-6) and far below a 1 % bug.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DiT, ForwardRequest } from '../src/model/dit.js';
import { sampleMDLM } from '../src/sampling/mdlm.js';
import { ReplayRandom } from '../src/tensor/sampling/random.js';
import { sampleSEDD } from '../src/sampling/sedd.js';
import type { Backend } from '../src/tensor/backend.js';
import { RefBackend } from '../src/tensor/index.js';
import { availableBackends } from './model-helpers.js';

const V = 5;
const MASK = 4;
const BOS = 3;
const N = 11;
const M = 1e-4;

/** u for one row so that `winner` wins the race iff the sampler's q matches `q` (see above); q_w = 0 rows cannot win */
function raceRow(q: number[], winner: number): number[] {
  return q.map((qv, v) => (qv === 0 ? 0.5 : Math.exp(-(v === winner ? qv : qv * (1 + M)))));
}

/** one categorical draw [N][V]: row j -> (q, winner) from `rows`, other rows 0.5 */
function draw(rows: Map<number, { q: number[]; winner: number }>): number[] {
  const u: number[] = [];
  for (let j = 0; j < N; j++) {
    const r = rows.get(j);
    u.push(...(r ? raceRow(r.q, r.winner) : Array(V).fill(0.5)));
  }
  return u;
}

/** a stub backbone: raw logits ln(a) for the four tokens at every position, 0 at the mask; records each sigma */
function stubModel(a: number[], timeConditioning: boolean, backend: Backend, sigmas: number[][] = []): DiT {
  const forward = (r: ForwardRequest) => {
    if (r.sigma) sigmas.push(Array.from(r.sigma));
    const n = r.logitRows === undefined || r.logitRows === 'all' ? r.batch * r.seqLen : r.logitRows === 'none' ? 0 : r.logitRows.length;
    const logits = new Float32Array(n * V);
    for (let i = 0; i < n; i++) a.forEach((av, v) => (logits[i * V + v] = Math.log(av)));
    return { logits };
  };
  return { config: { vocabSize: V, modelLength: N, causal: false, timeConditioning, blockSize: N }, backend, forward } as unknown as DiT;
}

test('SEDD: the tau-leaping steps and the final denoising step equal the analytic update computed by hand', () => {
  // e^z = a; T = 2, eps = 1e-5: t = 1, 0.500005, then the denoising step at 1e-5
  const a = [0.05, 0.1, 0.15, 0.1];
  const sumA = 0.4;
  // step 0: sigma_t = sigma_max = ln 1000 (t = 1 clamps), sigma_s = -ln(1 - 0.500005), so e^{dsigma} = 1000 * 0.499995
  // and expm1(sigma_t) = 999. Log-score of a masked row: z - ln 999 - ln 4, and 0 at the mask (the input token), so
  // s_v = a_v / 3996, s_m = 1. Staggered: s'_v = e^ds s_v, s'_m = e^ds + (1 - e^ds)(1 + sum s_v). Transition of a
  // masked row: 1 - e^-ds off the mask, 1 at it. So q_v = (e^ds - 1) a_v / 3996, q_m = 1 - (e^ds - 1) sum(a) / 3996.
  const e0 = 1000 * 0.499995;
  const q0 = [...a.map((av) => ((e0 - 1) * av) / 3996), 1 - ((e0 - 1) * sumA) / 3996];
  // step 1: t = 0.500005, s = 1e-5: e^{sigma_t} = 1 / 0.499995, e^{sigma_s} = 1 / 0.99999, e^ds = 0.99999 / 0.499995 = 2;
  // expm1(sigma_t) = 0.500005 / 0.499995. q_v = (e^ds - 1) a_v / (4 expm1(sigma_t)), q_m = 1 - (e^ds - 1) sum(a) / (4 expm1).
  const em1 = 0.500005 / 0.499995;
  const e1 = 0.99999 / 0.499995;
  const q1 = [...a.map((av) => ((e1 - 1) * av) / (4 * em1)), 1 - ((e1 - 1) * sumA) / (4 * em1)];
  // denoising step at t = 1e-5 with dsigma = sigma: q_v = (e^sigma - 1) a_v / (4 expm1(sigma)) = a_v / 4, mask zeroed
  const q2 = [...a.map((av) => av / 4), 0];
  // step 0: positions 1..4 draw tokens 0..3, position 5 and 6..10 keep the mask (position 5's race covers the mask)
  const d0 = draw(new Map([[1, 0], [2, 1], [3, 2], [4, 3], [5, MASK], [6, MASK], [7, MASK], [8, MASK], [9, MASK], [10, MASK]].map(([j, w]) => [j, { q: q0, winner: w }])));
  const d1 = draw(new Map([[5, 3], [6, 2], [7, 1], [8, 0], [9, MASK], [10, MASK]].map(([j, w]) => [j, { q: q1, winner: w }])));
  const d2 = draw(new Map([[9, 2], [10, 1]].map(([j, w]) => [j, { q: q2, winner: w }])));
  const sigmas: number[][] = [];
  const xs: number[][] = [];
  const r = sampleSEDD(stubModel(a, true, new RefBackend(), sigmas), {
    length: N, steps: 2, bos: BOS, maskId: MASK, stop: false,
    random: new ReplayRandom({ uniforms: Float64Array.from([...d0, ...d1, ...d2]), chunk: N * V }),
    onStep: (s) => xs.push(Array.from(s.x)),
  });
  assert.deepEqual(xs[0], [BOS, 0, 1, 2, 3, 4, 4, 4, 4, 4, 4]);
  assert.deepEqual(xs[1], [BOS, 0, 1, 2, 3, 3, 2, 1, 0, 4, 4]);
  assert.deepEqual(Array.from(r.tokens), [BOS, 0, 1, 2, 3, 3, 2, 1, 0, 2, 1]);
  // the time conditioning sees sigma_t of each step and the denoising sigma
  // (float32 like the reference's tensors: 1 - fround(1e-5) rounds to 0.99998999, so the last sigma is 1.00136e-5)
  const f = Math.fround;
  const want = [Math.log(1000), -Math.log(0.499995), f(-Math.log(f(1 - f(1e-5))))];
  assert.equal(sigmas.length, 3);
  sigmas.forEach((s, i) => assert.ok(Math.abs(s[0] - want[i]) <= 1e-6 * want[i], `call ${i}: sigma ${s[0]}, expected ${want[i]}`));
});

for (const { name, backend, why } of await availableBackends()) {
  test(`MDLM DDPM (${name}): two steps of the caching update equal the posterior computed by hand`, { skip: backend ? false : why }, () => {
    // p(x0) = softmax of the token logits = a; reference grid T = 4: t = linspace(1, 0, 4) = 1, 2/3, ..., s = t - 1/4.
    // Posterior of a masked position: q_v = (1 - s/t) p_v, q_m = s/t.
    const a = [0.4, 0.3, 0.2, 0.1];
    const post = (t: number) => {
      const stay = (t - 0.25) / t;
      return [...a.map((p) => (1 - stay) * p), stay];
    };
    const q0 = post(1); // keep 0.25, stay 0.75
    // torch.linspace in float32: t_1 = 1 + fround(-1/3) = 0.66666663
    const t1 = Math.fround(1 + Math.fround(-1 / 3));
    const q1 = post(t1); // keep 0.375, stay 0.625
    const d0 = draw(new Map([[1, 2], [2, 0], [3, 3], [4, 1], [5, MASK], [6, MASK], [7, MASK], [8, MASK], [9, MASK], [10, MASK]].map(([j, w]) => [j, { q: q0, winner: w }])));
    const d1 = draw(new Map([[5, 1], [6, 3], [7, 0], [8, 2], [9, MASK], [10, MASK]].map(([j, w]) => [j, { q: q1, winner: w }])));
    // steps 2 and 3 are not checked: any noise
    const rest = Array(2 * N * V).fill(0.5);
    const xs: number[][] = [];
    const ts: number[] = [];
    sampleMDLM(stubModel(a, false, backend!), {
      length: N, steps: 4, mode: 'ddpm', bos: BOS, maskId: MASK, stop: false,
      random: new ReplayRandom({ uniforms: Float64Array.from([...d0, ...d1, ...rest]), chunk: N * V }),
      onStep: (s) => {
        xs.push(Array.from(s.xOut));
        ts.push(s.t[0]);
      },
    });
    assert.deepEqual(ts.slice(0, 2), [1, t1]);
    assert.deepEqual(xs[0], [BOS, 2, 0, 3, 1, 4, 4, 4, 4, 4, 4]);
    assert.deepEqual(xs[1], [BOS, 2, 0, 3, 1, 1, 3, 0, 2, 4, 4]);
  });
}
