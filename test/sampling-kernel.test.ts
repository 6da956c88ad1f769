/**
 * The backends' `sampleRows` kernel (native/kernels/sampling.c) against its definition, RefBackend.sampleRows (the
 * TypeScript exp, filters, DDPM posterior, seeded noise and categorical race of src/sampling), bit for bit: the
 * same probabilities and the same tokens for odd shapes, flat / peaked / tied / one-hot / extreme rows, every
 * filter (temperatures 1e-6 to 100 and greedy 0 included), explicit and seeded noise, with and without the posterior
 * (t = 0 included), draw-only calls, and NaN rows marked not a distribution. Then the sampler's use of it (LazyProbs:
 * one call per step, draws from earlier calls, a NaN row an error) on every backend against the reference backend.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { NOT_A_DISTRIBUTION, type Backend, type RowFilters, type SampleRowsArgs } from '../src/tensor/backend.js';
import { RefBackend } from '../src/tensor/ref.js';
import { ReplayRandom, SeededRandom, type RowNoise } from '../src/tensor/sampling/random.js';
import { ddpmFactors } from '../src/diffusion/schedule.js';
import { LazyProbs, runCalls, type RowDraw, type WindowModel } from '../src/sampling/window-model.js';
import type { DiT } from '../src/model/dit.js';
import { Rng } from './helpers.js';
import { availableBackends } from './model-helpers.js';

const ref = new RefBackend();
const bits = (a: Float64Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length * 2));

/** log-softmax in float32 of scale * randn (large scale: peaked rows) */
function logSoftmaxRow(rng: Rng, V: number, scale: number): Float32Array {
  const x = rng.randn(V, scale);
  let mx = -Infinity;
  for (const v of x) mx = Math.max(mx, v);
  let s = 0;
  for (const v of x) s += Math.exp(v - mx);
  const lse = mx + Math.log(s);
  return x.map((v) => v - lse);
}

/** SUBS-like rows: flat, peaked, ties, a one-hot (0 / -1e6) row, values near 0 and extremes (exp's other paths) */
function logpRows(rng: Rng, V: number): Float32Array[] {
  const rows = [0.3, 2, 9].map((sc) => logSoftmaxRow(rng, V, sc));
  rows.push(logSoftmaxRow(rng, V, 2).map((v) => Math.round(v * 4) / 4));
  const hot = new Float32Array(V).fill(-1e6);
  hot[Math.floor(rng.uniform() * V)] = 0;
  rows.push(hot);
  rows.push(Float32Array.from({ length: V }, (_, i) => [-1e-8, -0.3, -1.04, 0, -0, -745.5, -708.2, 3.5, -50][i % 9] * (1 + rng.uniform() * 1e-3)));
  return rows;
}

const FILTERS: RowFilters[] = [
  {}, { topP: 0.9 }, { topP: 0.5, includeCrossing: true }, { topP: 1e-3 }, { temperature: 0.7, topP: 0.9 },
  { temperature: 1e-6 }, { temperature: 0 }, { temperature: 1e-3, topP: 0.9 },
  { temperature: 1.3 }, { topK: 5 }, { topK: 17, topP: 0.95 }, { temperature: 0.1, topK: 3, topP: 0.8, includeCrossing: true },
  { temperature: 100 }, { temperature: 0, topK: 4, topP: 0.5 }, { temperature: 2e-3, topK: 9 },
];

/** Runs sampleRows on `be` with fresh outputs; returns probs, fallback and tokens. */
function run(be: Backend, a: Omit<SampleRowsArgs, 'probs' | 'fallback' | 'out'> & { probs?: Float64Array }) {
  const probs = a.probs ? a.probs.slice() : new Float64Array(a.rows * a.V);
  const fallback = new Int32Array(a.rows);
  const out = new Int32Array(a.drawRow?.length ?? 0);
  be.sampleRows({ ...a, probs, fallback, out });
  return { probs, fallback, out };
}

function noiseFor(rng: Rng, draws: number, V: number): Float64Array {
  // mostly uniform, some rows near 1 and exact 0 (the race's special cases)
  return Float64Array.from({ length: draws * V }, (_, i) => {
    const k = Math.floor(i / V) % 3;
    return k === 0 ? rng.uniform() : k === 1 ? 1 - rng.uniform() * 1e-3 : i % 7 === 0 ? 0 : rng.uniform();
  });
}

for (const { name, backend: be, why } of await availableBackends()) {
  if (name === 'ref') continue;
  describe(`sampleRows kernel on ${name}`, { skip: be ? false : why }, () => {
    test('probabilities and draws bit for bit the definition: V from 1 to 50258, every filter, both noises, posterior', () => {
      const rng = new Rng(31);
      for (const V of [1, 2, 7, 33, 1000, 50258]) {
        const rows = logpRows(rng, V);
        const R = rows.length;
        const logp = new Float32Array(R * V);
        rows.forEach((r, i) => logp.set(r, i * V));
        // every row drawn once, the first twice; rows out of order
        const drawRow = Int32Array.from([...Array.from({ length: R }, (_, i) => R - 1 - i), 0]);
        const noise = noiseFor(rng, drawRow.length, V);
        const seeds = Int32Array.from({ length: drawRow.length * 3 }, (_, i) => (i % 3 === 2 ? i : (rng.uniform() * 2 ** 32) | 0));
        const maskId = V - 1;
        const posts = [null, { ...ddpmFactors(0.75, 0.25), maskId }, { ...ddpmFactors(0.5, 1 / 3), maskId }, { ...ddpmFactors(0, 0.25), maskId }];
        for (const filters of V > 1000 ? FILTERS.slice(0, 8) : FILTERS) {
          for (const [k, posterior] of posts.entries()) {
            const a = { rows: R, V, logp, filters, drawRow, posterior, ...(k % 2 ? { seeds } : { noise }) };
            const want = run(ref, a);
            const got = run(be!, a);
            const what = `V ${V} ${JSON.stringify(filters)} posterior ${k}`;
            assert.deepEqual(bits(got.probs), bits(want.probs), `${what}: probabilities`);
            assert.deepEqual(Array.from(got.fallback), new Array(R).fill(0), `${what}: no fallback`);
            assert.deepEqual(Array.from(got.out), Array.from(want.out), `${what}: tokens`);
            // the same draws from the kept probabilities (a reused p(x0))
            const again = run(be!, { ...a, logp: null, probs: want.probs });
            assert.deepEqual(Array.from(again.out), Array.from(want.out), `${what}: draw-only tokens`);
          }
        }
      }
    });

    test('a row with a NaN or infinity: marked not a distribution, unfiltered, not drawn from; the others as the definition', () => {
      const rng = new Rng(32);
      const V = 301;
      const logp = new Float32Array(4 * V);
      for (let r = 0; r < 4; r++) logp.set(logSoftmaxRow(rng, V, 2), r * V);
      logp[V + 10] = NaN;
      logp[3 * V + 7] = Infinity;
      for (const filters of [{}, { topP: 0.9 }, { topK: 4 }, { topK: 9, topP: 0.7 }, { temperature: 0.5, topP: 0.7 }, { temperature: 0 }]) {
        const a = { rows: 4, V, logp, filters, drawRow: Int32Array.from([0, 1, 2, 3, 1]), noise: noiseFor(rng, 5, V) };
        const want = run(ref, a);
        const got = run(be!, a);
        const what = JSON.stringify(filters);
        assert.deepEqual(Array.from(want.fallback), [0, NOT_A_DISTRIBUTION, 0, NOT_A_DISTRIBUTION], what);
        assert.deepEqual(Array.from(got.fallback), Array.from(want.fallback), what);
        assert.deepEqual(Array.from(got.out), [want.out[0], -1, want.out[2], -1, -1], what);
        assert.deepEqual(Array.from(want.out), Array.from(got.out), what);
        for (const r of [0, 2]) assert.deepEqual(bits(got.probs.subarray(r * V, (r + 1) * V)), bits(want.probs.subarray(r * V, (r + 1) * V)), `${what} row ${r}`);
      }
    });

    test('bad arguments throw instead of reading past an array', () => {
      const probs = new Float64Array(8);
      assert.throws(() => be!.sampleRows({ rows: 2, V: 5, probs, logp: new Float32Array(10), fallback: new Int32Array(2) }), /'probs' has 8 elements|probs \/ logp \/ fallback shorter/);
      assert.throws(() => be!.sampleRows({ rows: 2, V: 4, probs, drawRow: Int32Array.from([2]), noise: new Float64Array(4), out: new Int32Array(1) }), /outside (the rows )?0\.\.1/);
      assert.throws(() => be!.sampleRows({ rows: 2, V: 4, probs, drawRow: Int32Array.from([1]), seeds: new Int32Array(2), out: new Int32Array(1) }), /'seeds' has 2 elements|seeds shorter/);
    });

    test('the sampler on the kernel: LazyProbs draws equal the reference backend (reused rows, mixed noise); a NaN row throws', () => {
      const V = 97;
      const rng = new Rng(33);
      const logits = Float32Array.from({ length: 8 * V }, () => rng.normal() * 3);
      /** a window model whose logits are fixed per row (flat index), whatever the backend */
      const stub = (backend: Backend): WindowModel => ({
        model: { config: { vocabSize: V }, backend } as unknown as DiT,
        logits: function* (_w, _b, _W, _a, _s, rows) {
          const out = new Float32Array(rows!.length * V);
          Array.from(rows!).forEach((r, i) => out.set(logits.subarray(r * V, (r + 1) * V), i * V));
          return out;
        },
        commit: () => {},
        dispose: () => {},
      });
      const drawsOf = (rows: number[], noise: RowNoise): RowDraw[] => rows.map((row) => ({ row, noise, r: row }));
      const uniforms = Float64Array.from({ length: 8 * V }, () => rng.uniform());
      const sample = (backend: Backend) => {
        const window = new Int32Array(2 * 4).fill(V - 1);
        const P = new LazyProbs(stub(backend), window, 2, 4, 4, V - 1, { topP: 0.8 });
        const seeded = new SeededRandom(5).categorical(8, V);
        const replay = new ReplayRandom({ uniforms }).categorical(8, V);
        const t1 = runCalls(P.sample([0, 1, 2], drawsOf([1, 5, 6], seeded), { ...ddpmFactors(0.5, 0.25), maskId: V - 1 }));
        const t2 = runCalls(P.sample([], [...drawsOf([0, 5], replay), ...drawsOf([7, 2], seeded)]));
        return [...t1, ...t2, ...P.row(5), ...P.row(7), ...P.row(0)];
      };
      // the reference's draws on this backend's log-softmax (the kernels under test take the same inputs)
      const hybrid: Backend = Object.create(be!);
      hybrid.sampleRows = (a) => ref.sampleRows(a);
      assert.deepEqual(sample(be!), sample(hybrid));
      // a NaN logit makes its row's log-softmax NaN: the step fails, naming the row, on both
      logits[5 * V + 3] = NaN;
      for (const b of [be!, hybrid]) assert.throws(() => sample(b), /batch item 1, position 1 of the block is not a probability distribution/);
    });
  });
}
