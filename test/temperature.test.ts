/**
 * Temperature at its extremes (issue 11): p^(1/T) must stay a distribution from T = 1e-6 to 100 (it used to
 * underflow to 0/0 = NaN below T ~ 0.003, and the race then drew token 0), T = 0 is greedy (argmax, ties to the
 * lowest id), and a row that is not a distribution (a broken model's NaN) is an error, never a draw. The
 * definition is checked against the same powers computed in log space; the sampler on every backend.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyFilters, validateFilters } from '../src/tensor/sampling/filters.js';
import { sampleSemiAR } from '../src/sampling/semi-ar.js';
import { SeededRandom } from '../src/tensor/sampling/random.js';
import { DiT } from '../src/model/dit.js';
import { initTensors } from '../src/model/init.js';
import { availableBackends, randomModel } from './model-helpers.js';
import { Rng } from './helpers.js';

const TEMPERATURES = [1e-6, 1e-4, 1e-3, 2e-3, 0.01, 0.1, 0.5, 1.7, 10, 100];

/** softmax(scale * randn) over V, with a few exact zeros (masked / filtered entries) */
function row(rng: Rng, V: number, scale: number): Float64Array {
  const x = rng.randn(V, scale);
  const p = Float64Array.from(x, (v) => Math.exp(v));
  p[1] = 0;
  p[V - 1] = 0;
  const s = p.reduce((a, b) => a + b, 0);
  return p.map((v) => v / s);
}

/** the tempered row computed independently, in log space: exp((ln p - ln max) / T), normalised */
function temperedInLogSpace(p: Float64Array, T: number): Float64Array {
  const lmax = Math.log(Math.max(...p));
  const w = Float64Array.from(p, (v) => (v > 0 ? Math.exp((Math.log(v) - lmax) / T) : 0));
  const s = w.reduce((a, b) => a + b, 0);
  return w.map((v) => v / s);
}

test('temperature 1e-6 to 100 on flat and peaked rows: a distribution, equal to the log-space powers', () => {
  const rng = new Rng(5);
  for (const [name, V, scale] of [['flat', 50, 0.05], ['peaked', 300, 9], ['wide', 50258, 2]] as const) {
    const p = row(rng, V, scale);
    for (const T of TEMPERATURES) {
      const got = applyFilters(p.slice(), 1, V, { temperature: T });
      const want = temperedInLogSpace(p, T);
      let sum = 0;
      for (let v = 0; v < V; v++) {
        assert.ok(Number.isFinite(got[v]) && got[v] >= 0, `${name} T=${T}: entry ${v} is ${got[v]}`);
        assert.ok(Math.abs(got[v] - want[v]) <= 1e-9, `${name} T=${T}: entry ${v} ${got[v]} vs ${want[v]}`);
        sum += got[v];
      }
      assert.ok(Math.abs(sum - 1) < 1e-12, `${name} T=${T}: sums to ${sum}`);
      assert.equal(got[1], 0, `${name} T=${T}: a zero stays zero`);
    }
  }
});

test('temperature 0 is greedy: a one-hot row at the first maximum (ties to the lowest id); negative is refused', () => {
  const p = Float64Array.from([0.1, 0.3, 0.05, 0.3, 0.25]);
  assert.deepEqual(Array.from(applyFilters(p.slice(), 1, 5, { temperature: 0 })), [0, 1, 0, 0, 0]);
  // with top-k / top-p on top it stays the same one-hot row
  assert.deepEqual(Array.from(applyFilters(p.slice(), 1, 5, { temperature: 0, topK: 3, topP: 0.5 })), [0, 1, 0, 0, 0]);
  assert.doesNotThrow(() => validateFilters({ temperature: 0 }));
  assert.throws(() => validateFilters({ temperature: -0.5 }), /temperature must be 0 \(greedy\) or a positive finite number, got -0.5/);
  assert.throws(() => validateFilters({ temperature: Infinity }), /temperature must be 0 \(greedy\)/);
});

test('a row that is not a distribution is an error, not a draw', () => {
  for (const bad of [[0.5, NaN, 0.5], [0, 0, 0], [0.5, Infinity, 0], [0.5, -0.1, 0.6]]) {
    assert.throws(() => applyFilters(Float64Array.from(bad), 1, 3, {}), /probability row 0 is not a probability distribution/, `${bad}`);
  }
});

for (const { name, backend: be, why } of await availableBackends()) {
  test(`sampler on ${name}: T = 1e-6 draws what greedy T = 0 draws, T = 1e-3 no NUL run; a NaN model is an error`, { skip: be ? false : why }, () => {
    const model = randomModel(be!);
    const sample = (o: { temperature: number; sampler?: 'first-hitting' | 'ddpm' }, seed = 3) =>
      Array.from(sampleSemiAR(model, { length: 16, steps: 8, mode: o.sampler ?? 'first-hitting', temperature: o.temperature, random: new SeededRandom(seed) }).tokens);
    for (const mode of ['first-hitting', 'ddpm'] as const) {
      const greedy = sample({ temperature: 0, sampler: mode });
      assert.deepEqual(sample({ temperature: 1e-6, sampler: mode }), greedy, `${mode}: T = 1e-6 vs greedy`);
      // the defect: every draw was token 0 (a NaN row's first entry)
      assert.ok(sample({ temperature: 1e-3, sampler: mode }).slice(1).some((t) => t !== 0), `${mode}: T = 1e-3 drew only token 0`);
    }
    // a NaN output bias: every masked row's log-softmax is NaN
    const cfg = model.config;
    const tensors = initTensors(cfg, 1, 'random', (n) => be!.alloc(n));
    tensors.get('backbone.output_layer.linear.bias')![3] = NaN;
    const broken = new DiT(cfg, tensors, be!);
    assert.throws(
      () => sampleSemiAR(broken, { length: 16, steps: 8, temperature: 0.5, random: new SeededRandom(1) }),
      /the model's prediction for batch item 0, position \d+ of the block is not a probability distribution/,
    );
    assert.throws(() => sampleSemiAR(broken, { length: 16, steps: 8, random: new SeededRandom(1) }), /not a probability distribution/);
  });
}
