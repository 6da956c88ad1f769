/**
 * Continuous batching's model call: `KVCache.stepMany` runs several caches' steps (different lengths, batch sizes,
 * block sizes, prefixes, asked rows, a cache that slides) as one call, and each gets the logits and the cache
 * contents its own `step` gives: bit for bit on the reference backend; on native and wasm to the last bits (their
 * sgemm blocking depends on the row count, as between `n` batch rows and batch-1 runs). The CallBatcher turns
 * concurrent generations' calls into such batched calls, and each generation's tokens are those it makes alone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KVCache, type StepOptions } from '../src/model/kvcache.js';
import { CallBatcher } from '../src/sampling/batcher.js';
import { generate } from '../src/sampling/generate.js';
import { ByteTokenizer } from '../src/data/tokenizer.js';
import { Rng } from '../src/tensor/rng.js';
import { availableBackends, maxAbs, maxAbsDiff, randomModel } from './model-helpers.js';

const backends = await availableBackends();

for (const { name, backend, why } of backends) {
  test(`${name}: stepMany gives each cache exactly what its own step gives`, { skip: why }, () => {
    const model = randomModel(backend!, { vocabSize: 41, modelLength: 16, blockSize: 4, hiddenDim: 32, nHeads: 2, nBlocks: 2 }, 7);
    const rng = new Rng(4);
    const ids = (n: number) => Int32Array.from({ length: n }, () => Math.floor(rng.uniform() * 40));
    // each: batch, block size, capacity, tokens stored before, and the step
    const specs: { B: number; bs: number; cap: number; before: number; n: number; opts: StepOptions }[] = [
      { B: 1, bs: 4, cap: 16, before: 8, n: 4, opts: { logitRows: [1, 3] } },
      { B: 2, bs: 4, cap: 16, before: 0, n: 12, opts: { prefix: 8, logitRows: [9, 11, 20, 23] } },
      { B: 1, bs: 2, cap: 16, before: 4, n: 2, opts: {} },
      { B: 3, bs: 4, cap: 8, before: 4, n: 4, opts: { store: true, logitPositions: [0, 2] } }, // fills the cache: it slides
      { B: 1, bs: 4, cap: 16, before: 12, n: 4, opts: { logitPositions: 'none', prefix: 4 } },
    ];
    const make = () =>
      specs.map((s) => {
        const c = new KVCache(model, s.B, s.bs, s.cap);
        const r = new Rng(s.before + s.B);
        if (s.before) c.step(Int32Array.from({ length: s.B * s.before }, () => Math.floor(r.uniform() * 40)), { store: true, logitPositions: 'none' });
        return c;
      });
    const steps = specs.map((s) => ids(s.B * s.n));
    const alone = make();
    const expected = alone.map((c, i) => c.step(steps[i], specs[i].opts).slice());
    const together = make();
    const got = KVCache.stepMany(model, together.map((cache, i) => ({ cache, ids: steps[i], opts: specs[i].opts })));
    // ref: the same arithmetic, so the same bits; native / wasm: rounding of a different sgemm blocking only
    const same = (a: Float32Array, b: Float32Array, what: string) => {
      if (name === 'ref') return assert.deepEqual(a, b, what);
      assert.equal(a.length, b.length);
      assert.ok(maxAbsDiff(a, b) <= 1e-5 * Math.max(1, maxAbs(b)), `${what}: ${maxAbsDiff(a, b)}`);
    };
    got.forEach((g, i) => {
      same(g, expected[i], `step ${i} logits`);
      assert.equal(together[i].length, alone[i].length);
      for (let l = 0; l < 2; l++) {
        same(together[i].kRot[l], alone[i].kRot[l], `step ${i} keys`);
        same(together[i].v[l], alone[i].v[l], `step ${i} values`);
      }
    });
    assert.throws(() => KVCache.stepMany(model, [{ cache: together[0], ids: ids(4) }, { cache: together[0], ids: ids(4) }]), /two steps of one cache/);
    const tc = randomModel(backend!, { timeConditioning: true });
    assert.throws(() => KVCache.stepMany(tc, [0, 1].map(() => ({ cache: new KVCache(tc, 1, 4, 16), ids: ids(4) }))), /without time conditioning/);
  });
}

for (const { name, backend, why } of backends) test(`${name}: CallBatcher: concurrent generations share model calls and each makes exactly its solo tokens`, { skip: why }, async () => {
  const model = randomModel(backend!, { vocabSize: 257, modelLength: 32, blockSize: 4 }, 2);
  const tok = new ByteTokenizer();
  const runs = [
    { prompt: 'one', maxNewTokens: 30, seed: 1 },
    { prompt: 'a longer prompt of several blocks', maxNewTokens: 20, seed: 2, sampler: 'ddpm' as const },
    { prompt: '', maxNewTokens: 25, seed: 3, batch: 2, topP: 0.8 },
    { prompt: 'x', maxNewTokens: 12, seed: 4, blockSize: 2, sampler: 'threshold' as const, threshold: 0.05 },
  ];
  const solo = [];
  for (const o of runs) solo.push((await generate(model, tok, { ...o, stopOnEos: false }).result()).sequences.map((s) => s.tokens));
  const batcher = new CallBatcher();
  const together = await Promise.all(runs.map(async (o) => (await generate(model, tok, { ...o, stopOnEos: false, runCall: batcher.run }).result()).sequences.map((s) => s.tokens)));
  assert.deepEqual(together, solo);
  assert.ok(batcher.stats.served > 2 * batcher.stats.calls, `${batcher.stats.served} generation calls in ${batcher.stats.calls} model calls`);
});
