/**
 * The backbone against independent truth: the authors' golden outputs (via `verify`), the mask from its
 * definition, and the three forward paths (vectorised x_t + x_0, KV cache, no cache) against each other.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { verifyGolden } from '../src/eval/conformance.js';
import { blockCausalSpans, blockDiffusionMaskDense, blockDiffusionSpans, spansToDense } from '../src/model/mask.js';
import { KVCache } from '../src/model/kvcache.js';
import { vectorizedIds, type DiT } from '../src/model/dit.js';
import { Rng } from '../src/tensor/rng.js';
import { availableBackends, FIXTURES, maxAbs, maxAbsDiff, randomModel } from './model-helpers.js';

const backends = await availableBackends();

const GOLDEN_ARRAYS = ['cond_c', 'vec_hidden_states', 'vec_logits', 'vec_logprobs', 'loss_per_token', 'nlls', 'nelbo',
  'kv_logits', 'kv_logprobs', 'nocache_logits', 'block_diff_mask', 'nucleus_out'];

for (const { name, backend, why } of backends) {
  test(`verify: golden bs4 fixture matches the authors' code on ${name}`, { skip: backend ? false : why }, async () => {
    const r = await verifyGolden(path.join(FIXTURES, 'bs4'), backend!);
    for (const a of GOLDEN_ARRAYS) {
      assert.ok(r.arrays[a], `${a} was compared`);
      // verify's own bar is 1e-4 (the CLI default); achieved here <= 5.1e-7 (vec_hidden_states on wasm)
      assert.ok(r.arrays[a].ok && r.arrays[a].max_rel <= 2e-6, `${a}: max_rel ${r.arrays[a].max_rel}`);
    }
    assert.equal(r.ok, true);
  });
}

test('mask: spans equal the definition of BD + OBC + BC for several (L, L\')', () => {
  for (const [L, bs] of [[6, 2], [8, 1], [8, 8], [12, 3], [16, 4], [10, 5]]) {
    const dense = blockDiffusionMaskDense(L, bs);
    assert.deepEqual(spansToDense(blockDiffusionSpans(L, bs), 2 * L, 2 * L), dense, `L=${L} L'=${bs}`);
    // sampling without a cache uses the BC quadrant over a block-aligned window
    for (let W = bs; W <= L; W += bs) {
      const bc = new Uint8Array(W * W);
      for (let q = 0; q < W; q++) for (let k = 0; k < W; k++) bc[q * W + k] = dense[(L + q) * 2 * L + L + k];
      assert.deepEqual(spansToDense(blockCausalSpans(W, bs), W, W), bc);
    }
  }
});

test('mask: the worked example of spec 3.4 (L = 6, L\' = 2) has 48 allowed pairs', () => {
  const rows = ['110000000000', '110000000000', '001100110000', '001100110000', '000011111100', '000011111100',
    '000000110000', '000000110000', '000000111100', '000000111100', '000000111111', '000000111111'];
  const m = blockDiffusionMaskDense(6, 2);
  assert.equal(m.reduce((a, b) => a + b, 0), 48);
  assert.equal(rows.join(''), Array.from(m).join(''));
});

test('mask: bad block sizes are rejected', () => {
  assert.throws(() => blockDiffusionSpans(10, 4), /must be a positive integer dividing the length 10/);
  assert.throws(() => blockDiffusionSpans(8, 0), /block size/);
});

function randomTokens(rng: Rng, n: number, V: number, maskId: number, maskRate: number): Int32Array {
  return Int32Array.from({ length: n }, () => (rng.uniform() < maskRate ? maskId : Math.floor(rng.uniform() * (V - 1))));
}

/** logits of each noised block three ways: vectorised 2L forward, KV cache, and no cache */
function threeWays(model: DiT, B: number, L: number, bs: number, seed: number) {
  const V = model.config.vocabSize;
  const rng = new Rng(seed);
  const x0 = randomTokens(rng, B * L, V, V - 1, 0);
  const xt = Int32Array.from(x0, (v) => (rng.uniform() < 0.5 ? V - 1 : v));
  const input = vectorizedIds(xt, x0, B, L);
  const vec = model.forward({ ids: input, batch: B, seqLen: 2 * L, layout: 'vectorized', blockSize: bs }).logits;
  const kv = new Float32Array(B * L * V);
  const noCache = new Float32Array(B * L * V);
  const cache = new KVCache(model, B, bs, L);
  for (let k = 0; k < L / bs; k++) {
    const blk = (src: Int32Array) => {
      const ids = new Int32Array(B * bs);
      for (let b = 0; b < B; b++) ids.set(src.subarray(b * L + k * bs, b * L + (k + 1) * bs), b * bs);
      return ids;
    };
    const lg = cache.step(blk(xt));
    cache.step(blk(x0), { store: true, logitPositions: 'none' });
    const W = (k + 1) * bs;
    const ids = new Int32Array(B * W);
    const rows: number[] = [];
    for (let b = 0; b < B; b++) {
      ids.set(x0.subarray(b * L, b * L + k * bs), b * W);
      ids.set(xt.subarray(b * L + k * bs, b * L + W), b * W + k * bs);
      for (let i = k * bs; i < W; i++) rows.push(b * W + i);
    }
    const nc = model.forward({ ids, batch: B, seqLen: W, layout: 'block-causal', blockSize: bs, logitRows: rows }).logits;
    for (let b = 0; b < B; b++) {
      kv.set(lg.subarray(b * bs * V, (b + 1) * bs * V), (b * L + k * bs) * V);
      noCache.set(nc.subarray(b * bs * V, (b + 1) * bs * V), (b * L + k * bs) * V);
    }
  }
  cache.dispose();
  return { vec, kv, noCache };
}

for (const { name, backend, why } of backends) {
  test(`forward: vectorised, KV-cached and uncached logits agree, L' in {1, 4, L} on ${name}`, { skip: backend ? false : why }, () => {
    for (const bs of [1, 4, 16]) {
      const model = randomModel(backend!, { blockSize: bs });
      const { vec, kv, noCache } = threeWays(model, 2, 16, bs, 7 + bs);
      const tol = 1e-5 * Math.max(1, maxAbs(vec));
      assert.ok(maxAbsDiff(vec, kv) <= tol, `L'=${bs}: vec vs kv ${maxAbsDiff(vec, kv)}`);
      assert.ok(maxAbsDiff(vec, noCache) <= tol, `L'=${bs}: vec vs no-cache ${maxAbsDiff(vec, noCache)}`);
      model.dispose();
    }
  });
}

test('forward: L\' = L makes the vectorised forward an MDLM (x_t never sees x_0)', () => {
  const { backend } = backends[0];
  const model = randomModel(backend!, { blockSize: 16 });
  const V = model.config.vocabSize;
  const rng = new Rng(3);
  const xt = randomTokens(rng, 16, V, V - 1, 0.5);
  const x0 = randomTokens(rng, 16, V, V - 1, 0);
  const vec = model.forward({ ids: [...xt, ...x0], batch: 1, seqLen: 32, layout: 'vectorized', blockSize: 16 }).logits;
  const mdlm = model.forward({ ids: xt, batch: 1, seqLen: 16, layout: 'bidirectional' }).logits;
  assert.ok(maxAbsDiff(vec, mdlm) <= 1e-5 * maxAbs(mdlm));
});

test('forward: L\' = 1 — a noised token sees only itself and the clean prefix (causal over x_0)', () => {
  const { backend } = backends[0];
  const model = randomModel(backend!, { blockSize: 1 });
  const V = model.config.vocabSize;
  const rng = new Rng(4);
  const x0 = randomTokens(rng, 16, V, V - 1, 0);
  const xt = new Int32Array(16).fill(V - 1);
  const base = model.forward({ ids: [...xt, ...x0], batch: 1, seqLen: 32, layout: 'vectorized', blockSize: 1 }).logits;
  // changing clean token j changes the logits of noised positions > j only
  const x0b = Int32Array.from(x0);
  x0b[9] = (x0b[9] + 1) % (V - 1);
  const moved = model.forward({ ids: [...xt, ...x0b], batch: 1, seqLen: 32, layout: 'vectorized', blockSize: 1 }).logits;
  for (let i = 0; i < 16; i++) {
    const d = maxAbsDiff(base.subarray(i * V, (i + 1) * V), moved.subarray(i * V, (i + 1) * V));
    if (i <= 9) assert.equal(d, 0, `position ${i} must not see clean token 9`);
    else assert.ok(d > 0, `position ${i} must see clean token 9`);
  }
});

test('KV cache: past its capacity the window slides by a block and positions restart at 0', () => {
  // With one layer, cached keys depend only on their own token, so after a slide the cached step must equal an
  // uncached forward over the last `capacity` tokens (the reference re-applies rotary over the window).
  const { backend } = backends[0];
  const model = randomModel(backend!, { nBlocks: 1, blockSize: 4, modelLength: 16 });
  const V = model.config.vocabSize;
  const rng = new Rng(5);
  const seq = randomTokens(rng, 40, V, V - 1, 0);
  const cache = new KVCache(model, 1, 4, 16);
  for (let k = 0; k < 10; k++) {
    const blk = seq.subarray(k * 4, k * 4 + 4);
    const noisy = Int32Array.from(blk, (v, i) => (i % 2 ? V - 1 : v));
    const lg = cache.step(noisy);
    const start = Math.max(0, (k + 1) * 4 - 16);
    const win = Int32Array.from([...seq.subarray(start, k * 4), ...noisy]);
    const W = win.length;
    const ref = model.forward({ ids: win, batch: 1, seqLen: W, layout: 'block-causal', blockSize: 4, logitRows: [W - 4, W - 3, W - 2, W - 1] }).logits;
    assert.ok(maxAbsDiff(lg, ref) <= 1e-5 * maxAbs(ref), `block ${k}: ${maxAbsDiff(lg, ref)}`);
    cache.step(blk, { store: true, logitPositions: 'none' });
    // a full cache drops its oldest block as soon as the store fills it
    assert.equal(cache.length, (k + 1) * 4 >= 16 ? 12 : (k + 1) * 4);
  }
  cache.dispose();
});

test('causal AR variant: causal forward equals token-by-token KV-cached inference', () => {
  const { backend } = backends[0];
  const model = randomModel(backend!, { modelType: 'ar', causal: true, adaln: false, crossAttn: false, blockSize: 1 });
  const V = model.config.vocabSize;
  const ids = randomTokens(new Rng(6), 12, V, V - 1, 0);
  const full = model.forward({ ids, batch: 1, seqLen: 12, layout: 'causal' }).logits;
  const cache = new KVCache(model, 1, 1, 16);
  for (let i = 0; i < 12; i++) {
    const lg = cache.step([ids[i]], { store: true });
    assert.ok(maxAbsDiff(lg, full.subarray(i * V, (i + 1) * V)) <= 1e-5 * maxAbs(full), `token ${i}`);
  }
});

test('time conditioning: per-item sigma in a batch equals each item alone', () => {
  const { backend } = backends[0];
  const model = randomModel(backend!, { timeConditioning: true });
  const V = model.config.vocabSize;
  const ids = randomTokens(new Rng(8), 32, V, V - 1, 0.3);
  const sig = [0.5, 2.0];
  const both = model.forward({ ids, batch: 2, seqLen: 16, layout: 'bidirectional', sigma: sig }).logits;
  for (let b = 0; b < 2; b++) {
    const one = model.forward({ ids: ids.subarray(b * 16, (b + 1) * 16), batch: 1, seqLen: 16, layout: 'bidirectional', sigma: [sig[b]] }).logits;
    assert.ok(maxAbsDiff(one, both.subarray(b * 16 * V, (b + 1) * 16 * V)) <= 1e-5 * maxAbs(one));
  }
  const other = model.forward({ ids: ids.subarray(0, 16), batch: 1, seqLen: 16, layout: 'bidirectional', sigma: [3.0] }).logits;
  assert.ok(maxAbsDiff(other, both.subarray(0, 16 * V)) > 1e-3, 'sigma must change the output');
});

test('dropout: off in eval, p = 0 is the identity, p > 0 is seeded and changes the output', () => {
  const { backend } = backends[0];
  const model = randomModel(backend!);
  const V = model.config.vocabSize;
  const ids = randomTokens(new Rng(9), 16, V, V - 1, 0.3);
  const req = { ids, batch: 1, seqLen: 16, layout: 'bidirectional' as const };
  const evalOut = model.forward(req).logits;
  const p0 = model.forward({ ...req, dropout: { p: 0, random: () => 0.5 } }).logits;
  assert.equal(maxAbsDiff(evalOut, p0), 0);
  const r1 = new Rng(1);
  const r2 = new Rng(1);
  const d1 = model.forward({ ...req, dropout: { p: 0.1, random: () => r1.uniform() } }).logits;
  const d2 = model.forward({ ...req, dropout: { p: 0.1, random: () => r2.uniform() } }).logits;
  assert.equal(maxAbsDiff(d1, d2), 0);
  assert.ok(maxAbsDiff(d1, evalOut) > 1e-4);
});

test('forward: clear errors for bad input', () => {
  const { backend } = backends[0];
  const model = randomModel(backend!);
  assert.throws(() => model.forward({ ids: [1, 2, 3], batch: 1, seqLen: 4, layout: 'bidirectional' }), /expected batch\*seqLen = 4/);
  assert.throws(() => model.forward({ ids: [1, 2, 3, 99], batch: 1, seqLen: 4, layout: 'bidirectional' }), /outside the vocabulary/);
  assert.throws(() => model.forward({ ids: new Int32Array(64), batch: 1, seqLen: 64, layout: 'bidirectional' }), /exceeds the model length/);
  assert.throws(() => model.forward({ ids: new Int32Array(8), batch: 1, seqLen: 8, layout: 'block-causal', blockSize: 3 }), /dividing/);
  assert.throws(() => new KVCache(model, 1, 4, 10), /multiple of the block size/);
  const cache = new KVCache(model, 1, 4, 8);
  cache.step([1, 2, 3, 4], { store: true });
  assert.throws(() => cache.step([1, 2, 3, 4, 5, 6, 7, 8]), /overflow/);
});

test('KV cache: per-item logit rows equal the same rows of the full block output', () => {
  const { backend } = backends[0];
  const model = randomModel(backend!, { blockSize: 4 });
  const V = model.config.vocabSize;
  const ids = randomTokens(new Rng(12), 12, V, V - 1, 0.5);
  const run = (opts: Parameters<KVCache['step']>[1]) => {
    const c = new KVCache(model, 3, 4, 16);
    c.step([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], { store: true, logitPositions: 'none' });
    const out = c.step(ids, opts);
    c.dispose();
    return out;
  };
  const all = run({});
  // the last layer runs past its attention on the asked rows only: any order, repeats, per-item positions
  for (const rows of [[1, 4, 6, 7, 11], [7, 1, 11, 4, 6, 4], [5]]) {
    const some = run({ logitRows: rows });
    assert.equal(some.length, rows.length * V);
    rows.forEach((r, i) => assert.ok(maxAbsDiff(some.subarray(i * V, (i + 1) * V), all.subarray(r * V, (r + 1) * V)) <= 1e-5 * maxAbs(all), `rows ${rows}: row ${r}`));
  }
  const pos = run({ logitPositions: [3, 0] });
  [3, 0, 7, 4, 11, 8].forEach((r, i) => assert.ok(maxAbsDiff(pos.subarray(i * V, (i + 1) * V), all.subarray(r * V, (r + 1) * V)) <= 1e-5 * maxAbs(all)));
  assert.throws(() => run({ logitRows: [12] }), /outside 0\.\.11/);
});

test('KV cache: a step with stored prefix blocks equals one store pass per block and then the step', () => {
  const { backend } = backends[0];
  const model = randomModel(backend!, { blockSize: 4 });
  const V = model.config.vocabSize;
  const rng = new Rng(21);
  const [first, c1, c2, noisy, next] = [0, 0, 0, 0.5, 0.5].map((m) => randomTokens(rng, 8, V, V - 1, m));
  const item = (x: Int32Array, b: number) => Array.from(x.subarray(b * 4, (b + 1) * 4));
  const join = (...xs: Int32Array[]) => Int32Array.from([0, 1].flatMap((b) => xs.flatMap((x) => item(x, b))));
  const rows = [2, 5, 7];
  const fresh = () => {
    const c = new KVCache(model, 2, 4, 16);
    c.step(first, { store: true, logitPositions: 'none' });
    return c;
  };
  // one call per block: store c1, store c2, then step `noisy`
  const a = fresh();
  a.step(c1, { store: true, logitPositions: 'none' });
  a.step(c2, { store: true, logitPositions: 'none' });
  const separate = a.step(noisy, { logitRows: rows });
  const laterA = a.step(next);
  // [c1 | c2 | noisy] per item with the clean blocks stored: block-causal over c1, c2
  const c = fresh();
  const merged = c.step(join(c1, c2, noisy), { prefix: 8, logitRows: rows.map((r) => Math.floor(r / 4) * 12 + 8 + (r % 4)) });
  assert.equal(c.length, 12);
  assert.ok(maxAbsDiff(merged, separate) <= 1e-5 * maxAbs(separate), `${maxAbsDiff(merged, separate)}`);
  // the caches hold the same blocks: a later step sees the same context
  assert.ok(maxAbsDiff(c.step(next), laterA) <= 1e-5 * maxAbs(laterA));
  // a prefix of the whole step only stores
  const d = fresh();
  assert.equal(d.step(join(c1, c2), { prefix: 8, logitPositions: 'none' }).length, 0);
  d.step(noisy, { logitRows: rows });
  assert.ok(maxAbsDiff(d.step(next), laterA) <= 1e-5 * maxAbs(laterA));
  const e = fresh();
  assert.throws(() => e.step(join(c1, c2), { prefix: 3 }), /prefix must be a multiple of the block size 4 in 0\.\.8/);
  assert.throws(() => e.step(join(c1, c2), { prefix: 12 }), /prefix/);
  assert.throws(() => e.step(join(c1, c2), { prefix: 4, store: true }), /prefix/);
  for (const x of [a, c, d, e]) x.dispose();
});

test('KV cache without sliding: no pre-rotary keys, the same logits, and a full cache refuses more', () => {
  const { backend } = backends[0];
  const model = randomModel(backend!, { blockSize: 4 });
  const V = model.config.vocabSize;
  const rng = new Rng(5);
  const blocks = [0, 0, 0.5, 0.5].map((m) => randomTokens(rng, 8, V, V - 1, m));
  const a = new KVCache(model, 2, 4, 12);
  const b = new KVCache(model, 2, 4, 12, { slide: false });
  assert.equal(b.kPre.length, 0);
  for (const x of [a, b]) {
    x.step(blocks[0], { store: true, logitPositions: 'none' });
    x.step(blocks[1], { store: true, logitPositions: 'none' });
  }
  const la = a.step(blocks[2]);
  assert.deepEqual(Array.from(b.step(blocks[2])), Array.from(la));
  b.step(blocks[3], { store: true, logitPositions: 'none' });
  assert.equal(b.length, 12);
  assert.throws(() => b.step(blocks[2]), /overflow: 12 stored \+ 4 new > 12 \(a cache made with slide: false does not slide\)/);
  a.dispose();
  b.dispose();
});
