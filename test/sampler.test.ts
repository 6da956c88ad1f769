/**
 * Sampler invariants on small random models (the golden replay is in sampler-golden.test.ts): one reveal per
 * first-hitting step and NFE = N - 1, revealed tokens never change, cache == no cache, sliding past the model
 * length, stop rules, AR cache == uncached, MDLM / SEDD counts, determinism, and the option errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DiT } from '../src/model/dit.js';
import { PRESETS, withModelType } from '../src/model/config.js';
import { sampleSemiAR, type SemiAROptions } from '../src/sampling/semi-ar.js';
import { sampleAR } from '../src/sampling/ar.js';
import { sampleMDLM, mdlmStrides } from '../src/sampling/mdlm.js';
import { sampleSEDD } from '../src/sampling/sedd.js';
import { denoiseBlock, type StepTrace } from '../src/sampling/block.js';
import { sampleCategorical } from '../src/tensor/sampling/categorical.js';
import { applyFilters } from '../src/tensor/sampling/filters.js';
import { ReplayRandom, SeededRandom } from '../src/tensor/sampling/random.js';
import { linspaceF32 } from '../src/diffusion/schedule.js';
import { checkStop, windowEntropy } from '../src/sampling/stop.js';
import { CachedWindowModel, UncachedWindowModel, runCalls } from '../src/sampling/window-model.js';
import { KVCache } from '../src/model/kvcache.js';
import { RefBackend } from '../src/tensor/index.js';
import { maxAbs, maxAbsDiff, randomModel } from './model-helpers.js';

const be = new RefBackend();
// V = 41: mask 40, BOS = EOS = 39; L = 16, L' = 4
const bd3 = randomModel(be);
const MASK = 40;
const small = { ...PRESETS.tiny, hiddenDim: 32, condDim: 16, nBlocks: 2, nHeads: 2, vocabSize: 41, modelLength: 16 };
const arModel = (() => {
  const cfg = withModelType({ ...small }, 'ar');
  return randomModel(be, cfg, 5);
})();
const mdlmModel = (() => {
  const cfg = withModelType({ ...small }, 'mdlm');
  return randomModel(be, cfg, 6);
})();
const seddModel = (() => {
  const cfg = withModelType({ ...small, timeConditioning: true }, 'mdlm');
  return randomModel(be, cfg, 7);
})();

function noMasks(x: Int32Array, mask = MASK) {
  assert.ok(!x.includes(mask), `no mask token in ${Array.from(x)}`);
}

/** revealed tokens never change, and the per-step reveal count is within [min, max] */
function checkSteps(steps: StepTrace[], min: number, max: number, mask = MASK) {
  for (const s of steps) {
    let revealed = 0;
    for (let i = 0; i < s.xIn.length; i++) {
      if (s.xIn[i] !== mask) assert.equal(s.xOut[i], s.xIn[i], `step ${s.step}: revealed position ${i} changed`);
      else if (s.xOut[i] !== mask) revealed++;
    }
    assert.ok(revealed >= min && revealed <= max, `step ${s.step} revealed ${revealed}, expected ${min}..${max}`);
  }
}

const semi = (model: DiT, o: Partial<SemiAROptions> & { seed?: number }) =>
  sampleSemiAR(model, { length: 16, steps: 8, topP: 0.9, random: new SeededRandom(o.seed ?? 1), ...o });

test('first hitting: one position per step, NFE = N - 1 with BOS prefilled, no masks left', () => {
  for (const cache of [true, false]) {
    const steps: StepTrace[] = [];
    const r = semi(bd3, { cache, onStep: (s) => steps.push(s) });
    assert.equal(r.tokens.length, 16);
    assert.equal(r.tokens[0], 39);
    noMasks(r.tokens);
    assert.equal(r.nfe, 15);
    assert.equal(r.modelCalls, 15);
    assert.equal(steps.length, 15);
    checkSteps(steps, 1, 1);
    assert.equal(r.stopReason, 'length');
  }
});

test('DDPM: revealed tokens never change; reuse of p(x0) when nothing changed; both grids', () => {
  for (const ddpmGrid of ['reference', 'exact'] as const) {
    for (const T of [1, 2, 3, 7]) {
      const steps: StepTrace[] = [];
      const r = semi(bd3, { mode: 'ddpm', steps: T, ddpmGrid, onStep: (s) => steps.push(s), seed: T });
      noMasks(r.tokens);
      checkSteps(steps, 0, 4);
      const changed = steps.filter((s) => s.xIn.some((v, i) => v !== s.xOut[i])).length;
      assert.equal(r.nfe, changed, 'NFE counts the steps that changed the block');
      for (let i = 1; i < steps.length; i++) {
        if (steps[i].step === 0) continue;
        const prevChanged = steps[i - 1].xIn.some((v, j) => v !== steps[i - 1].xOut[j]);
        assert.equal(steps[i].usedCache, !prevChanged, `step ${i}: p(x0) reused iff the previous step changed nothing`);
      }
      assert.equal(r.modelCalls, steps.filter((s) => !s.usedCache).length);
    }
  }
  // the reference grid is linspace(1, 0, T) in float32, ending at t = 0
  assert.deepEqual(Array.from(linspaceF32(1, 0, 4)), [1, 0.6666666269302368, 0.3333333432674408, 0]);
});

test('cache and no cache give the same sequence under the same draws (first model_length tokens)', () => {
  for (const mode of ['first-hitting', 'ddpm'] as const) {
    for (const seed of [1, 2, 3]) {
      const a = semi(bd3, { mode, cache: true, seed, steps: mode === 'ddpm' ? 5 : 4 });
      const b = semi(bd3, { mode, cache: false, seed, steps: mode === 'ddpm' ? 5 : 4 });
      assert.deepEqual(Array.from(a.tokens), Array.from(b.tokens), `${mode} seed ${seed}`);
      assert.equal(a.nfe, b.nfe);
    }
  }
});

test('the cached window model stores finished blocks with the next step: same logits as a store pass each, then the step', () => {
  const rng = new SeededRandom(3);
  const tokens = (n: number, masks = 0) => Int32Array.from({ length: n }, (_, i) => (i >= n - masks ? MASK : 1 + Math.floor(rng.uniform() * 38)));
  // without time conditioning the waiting blocks run in front of the step (all of them when they fit, else as many
  // per store call as fit before the cache slides); with it (one sigma per call) each block is stored on its own
  const cases = [
    { model: bd3, blocks: 1, capacity: 16, calls: 1 },
    { model: bd3, blocks: 3, capacity: 16, calls: 1 },
    { model: bd3, blocks: 3, capacity: 8, calls: 3 },
    { model: randomModel(be, { timeConditioning: true }, 9), blocks: 2, capacity: 16, calls: 3 },
  ];
  for (const { model, blocks, capacity, calls } of cases) {
    const clean = Array.from({ length: blocks }, () => tokens(4));
    const noisy = tokens(4, 3);
    const wm = new CachedWindowModel(model, 1, 4, capacity);
    const cache = new KVCache(model, 1, 4, capacity);
    clean.forEach((blk, i) => {
      wm.commit(blk, 1, 4, 4, [0.25 * (i + 1)]);
      cache.step(blk, { store: true, logitPositions: 'none', sigma: [0.25 * (i + 1)] });
    });
    let made = 0;
    const step = wm.cache.step.bind(wm.cache);
    wm.cache.step = (ids, opts) => (made++, step(ids, opts));
    const merged = runCalls(wm.logits(noisy, 1, 4, 4, [1.5], [1, 3])).slice();
    const direct = cache.step(noisy, { sigma: [1.5], logitRows: [1, 3] });
    const what = `${blocks} blocks, capacity ${capacity}, timeConditioning ${model.config.timeConditioning}`;
    assert.ok(maxAbsDiff(merged, direct) <= 1e-5 * maxAbs(direct), what);
    assert.equal(wm.cache.length, cache.length, what);
    assert.equal(made, calls, what);
    wm.dispose();
    cache.dispose();
  }
});

test('sliding past model_length (3x) with and without the cache', () => {
  for (const cache of [true, false]) {
    const steps: StepTrace[] = [];
    const starts: number[] = [];
    const r = semi(bd3, { length: 48, cache, onStep: (s) => { steps.push(s); starts.push(s.windowStart); } });
    assert.equal(r.tokens.length, 48);
    noMasks(r.tokens);
    assert.equal(r.nfe, 47);
    checkSteps(steps, 1, 1);
    assert.equal(Math.max(...steps.map((s) => s.xIn.length)), 16, 'the window never exceeds the model length');
    assert.equal(Math.max(...starts), 32);
  }
  const a = semi(bd3, { length: 48, cache: true, seed: 5 });
  const b = semi(bd3, { length: 48, cache: false, seed: 5 });
  assert.deepEqual(Array.from(a.tokens.subarray(0, 16)), Array.from(b.tokens.subarray(0, 16)));
  // a shorter context window works too
  const c = semi(bd3, { length: 24, context: 8, cache: true, seed: 5 });
  const d = semi(bd3, { length: 24, context: 8, cache: false, seed: 5 });
  assert.deepEqual(Array.from(c.tokens.subarray(0, 8)), Array.from(d.tokens.subarray(0, 8)));
  noMasks(c.tokens);
});

test('determinism under a seed; different seeds differ', () => {
  const a = semi(bd3, { length: 32, seed: 11 });
  const b = semi(bd3, { length: 32, seed: 11 });
  const c = semi(bd3, { length: 32, seed: 12 });
  assert.deepEqual(a, b);
  assert.notDeepEqual(Array.from(a.tokens), Array.from(c.tokens));
});

test('length not a multiple of L\': rounded up to whole blocks, then trimmed', () => {
  const r = semi(bd3, { length: 10 });
  assert.equal(r.tokens.length, 10);
  noMasks(r.tokens);
  assert.equal(r.nfe, 11, 'the 12 generated tokens of three blocks (BOS prefilled) cost 11');
  const one = semi(bd3, { length: 1 });
  assert.deepEqual(Array.from(one.tokens), [39]);
});

test('block size 1: the BOS block is stored in the cache, so cache == no cache', () => {
  const a = semi(bd3, { blockSize: 1, steps: 1, cache: true, seed: 4 });
  const b = semi(bd3, { blockSize: 1, steps: 1, cache: false, seed: 4 });
  assert.deepEqual(Array.from(a.tokens), Array.from(b.tokens));
  assert.equal(a.nfe, 15);
});

test('stop rules: entropy, var-length cuts', () => {
  const seq = new Int32Array(300).fill(7);
  seq[0] = 39;
  assert.deepEqual(checkStop(seq, 256, 39, {}), { stop: false }, 'nothing checked up to 256 tokens');
  assert.deepEqual(checkStop(seq, 257, 39, {}), { stop: true, reason: 'low-entropy' });
  assert.deepEqual(checkStop(seq, 300, 39, { varLength: true }), { stop: true, reason: 'low-entropy', cut: 44 });
  const varied = Int32Array.from({ length: 300 }, (_, i) => (i === 0 ? 39 : 41 + ((i * 7919) % 200)));
  assert.ok(windowEntropy(varied, 44, 300) > 4);
  assert.deepEqual(checkStop(varied, 300, 39, {}), { stop: false });
  assert.deepEqual(checkStop(varied, 300, 39, { varLength: true }), { stop: false });
  varied[120] = 39;
  varied[200] = 39;
  assert.deepEqual(checkStop(varied, 300, 39, { varLength: true }), { stop: true, reason: 'eos', cut: 121 }, 'cut after the first generated EOS');
  assert.deepEqual(checkStop(varied, 300, 39, {}), { stop: false }, 'EOS only matters for var-length');
  assert.ok(Math.abs(windowEntropy([1, 2, 3, 4], 0, 4) - Math.log(4)) < 1e-12);
});

/** a copy of the random model whose output bias favours one token strongly */
function biased(token: number, amount: number, over = {}): DiT {
  const m = randomModel(be, over, 3);
  m.tensors.get('backbone.output_layer.linear.bias')![token] += amount;
  return m;
}

test('stop rules in the sampler: degenerate model -> low entropy after 256 tokens', () => {
  const deg = biased(7, 60);
  const r = semi(deg, { length: 400 });
  assert.equal(r.stopReason, 'low-entropy');
  assert.equal(r.rejected, true, 'fixed length: the reference would redraw this sample');
  assert.equal(r.tokens.length, 260, 'checked after the first block that passes 256 tokens');
  const v = semi(deg, { length: 400, stop: { varLength: true } });
  assert.equal(v.stopReason, 'low-entropy');
  assert.equal(v.rejected, false);
  assert.equal(v.tokens.length, 4, 'var-length drops the last 256 tokens');
  const off = semi(deg, { length: 300, stop: false });
  assert.equal(off.tokens.length, 300);
  assert.equal(off.stopReason, 'length');
});

test('stop rules in the sampler: var-length cut after the first generated EOS', () => {
  // V = 301 so that 256 tokens can have entropy > 4; EOS = 299 a little more likely
  const m = biased(299, 1, { vocabSize: 301 });
  const r = semi(m, { length: 600, stop: { varLength: true }, topP: 1, seed: 2 });
  assert.equal(r.stopReason, 'eos');
  assert.ok(r.tokens.length > 1 && r.tokens.length <= 260, `cut at ${r.tokens.length}`);
  assert.equal(r.tokens[r.tokens.length - 1], 299);
  assert.equal(r.tokens.subarray(1, r.tokens.length - 1).indexOf(299), -1, 'no earlier generated EOS');
  assert.ok(windowEntropy(r.tokens, 0, r.tokens.length) > 0);
});

test('option errors are clear', () => {
  const bad = (o: Partial<SemiAROptions>, re: RegExp) => assert.throws(() => semi(bd3, o), re);
  bad({ mode: 'euler' as never }, /unknown sampling mode 'euler'/);
  bad({ topP: 0 }, /topP must be in \(0, 1\]/);
  bad({ topP: 1.5 }, /topP must be in \(0, 1\]/);
  bad({ topP: NaN }, /topP must be in \(0, 1\]/);
  bad({ temperature: -1 }, /temperature must be 0 \(greedy\) or a positive/);
  bad({ topK: -1 }, /topK must be a non-negative integer/);
  bad({ steps: 0 }, /steps must be a positive integer/);
  bad({ steps: 3 }, /first-hitting needs steps >= blockSize \(4\)/);
  bad({ length: 0 }, /length must be a positive integer/);
  bad({ blockSize: 32 }, /blockSize 32 exceeds the model length 16/);
  bad({ context: 6 }, /context must be a multiple of the block size 4/);
  bad({ context: 20 }, /context must be a multiple/);
  bad({ maskId: 41 }, /maskId 41 is outside the vocabulary/);
  bad({ random: undefined }, /a random source is required/);
  bad({ ddpmGrid: 'x' as never, mode: 'ddpm' }, /unknown ddpmGrid/);
});

test('replay random source: exhausted streams and wrong draw sizes fail loudly', () => {
  const r = new ReplayRandom({ uniform: [0.5], randint: [2], uniforms: new Float64Array(6), chunk: 3 });
  assert.equal(r.uniform(), 0.5);
  assert.throws(() => r.uniform(), /uniform\(\) stream exhausted after 1 draws/);
  assert.throws(() => r.uniforms(4), /categorical draw of 4 values requested, the log has draws of 3/);
  r.uniforms(3);
  r.uniforms(3);
  assert.throws(() => r.uniforms(3), /categorical stream exhausted after 2 draws/);
  assert.throws(() => r.randint(2), /logged randint 2 is outside \[0, 2\)/);
  assert.throws(() => r.randint(5), /randint stream exhausted/);
  assert.throws(() => new ReplayRandom({ uniforms: new Float64Array(5), chunk: 3 }), /not a multiple of the chunk/);
  const s = new SeededRandom(1);
  for (let i = 0; i < 100; i++) {
    const k = s.randint(3);
    assert.ok(k >= 0 && k < 3);
  }
});

test('categorical: exponential race, torch argmax semantics for NaN and ties', () => {
  const probs = Float64Array.from([0.1, 0.6, 0.3]);
  const counts = [0, 0, 0];
  const rnd = new SeededRandom(9);
  for (let i = 0; i < 20000; i++) counts[sampleCategorical(probs, 1, 3, rnd.uniforms(3))[0]]++;
  for (let v = 0; v < 3; v++) assert.ok(Math.abs(counts[v] / 20000 - probs[v]) < 0.015, `frequency of ${v}`);
  // unnormalised works the same
  assert.equal(sampleCategorical(Float64Array.from([0, 5, 0]), 1, 3, Float64Array.from([0.2, 0.9, 0.1]))[0], 1);
  // NaN wins (first one), as torch.argmax: the DDPM t = 0 quirk
  assert.equal(sampleCategorical(Float64Array.from([NaN, Infinity, NaN]), 1, 3, Float64Array.from([0.5, 0.5, 0.5]))[0], 0);
  assert.equal(sampleCategorical(Float64Array.from([Infinity, NaN, -Infinity]), 1, 3, Float64Array.from([0.5, 0.5, 0.5]))[0], 1);
  assert.equal(sampleCategorical(Float64Array.from([-Infinity, -Infinity]), 1, 2, Float64Array.from([0.5, 0.5]))[0], 0);
});

test('filters: temperature, top-k, top-p (off by default = unchanged)', () => {
  const p = Float64Array.from([0.5, 0.3, 0.15, 0.05]);
  assert.deepEqual(applyFilters(p.slice(), 1, 4, {}), p);
  const k2 = applyFilters(p.slice(), 1, 4, { topK: 2 });
  [0.625, 0.375, 0, 0].forEach((v, i) => assert.ok(Math.abs(k2[i] - v) < 1e-12));
  const cold = applyFilters(p.slice(), 1, 4, { temperature: 0.5 });
  const z = 0.25 + 0.09 + 0.0225 + 0.0025;
  cold.forEach((v, i) => assert.ok(Math.abs(v - p[i] ** 2 / z) < 1e-12));
  // reference nucleus excludes the crossing token; includeCrossing keeps it
  assert.deepEqual(Array.from(applyFilters(p.slice(), 1, 4, { topP: 0.7 })), [1, 0, 0, 0]);
  const inc = applyFilters(p.slice(), 1, 4, { topP: 0.7, includeCrossing: true });
  assert.ok(Math.abs(inc[0] - 0.625) < 1e-12 && Math.abs(inc[1] - 0.375) < 1e-12 && inc[2] === 0);
  // with top-k = 1 every draw is the argmax: the AR sampler becomes seed-independent
  const ar = (seed: number) => Array.from(sampleAR(arModel, { length: 16, topK: 1, random: new SeededRandom(seed) }).tokens);
  assert.deepEqual(ar(1), ar(99));
});

test('block denoiser on a batch of 2: each item reveals one position per first-hitting step', () => {
  const wm = new UncachedWindowModel(bd3, 'block-causal', 4);
  const W = 8;
  const x = new Int32Array(2 * W).fill(MASK);
  for (let b = 0; b < 2; b++) x.set([39, 3, 5, 7], b * W);
  x[W + 1] = 9;
  const steps: StepTrace[] = [];
  const r = denoiseBlock({ wm, window: x, batch: 2, W, active: 4, steps: 4, mode: 'first-hitting', random: new SeededRandom(2), maskId: MASK, filters: { topP: 0.9 }, onStep: (s) => steps.push(s) });
  assert.equal(r.finished, true);
  assert.equal(r.nfe, 4);
  assert.equal(r.modelCalls, 4);
  noMasks(x);
  assert.deepEqual(Array.from(x.subarray(0, 4)), [39, 3, 5, 7]);
  assert.deepEqual(Array.from(x.subarray(8, 12)), [39, 9, 5, 7]);
  checkSteps(steps, 2, 2);
  for (const s of steps) assert.equal(s.t.length, 2);
});

// ---- AR ----


test('AR: cached == uncached (greedy and top-p), NFE = N, no masks, determinism', () => {
  for (const o of [{ topK: 1 }, { topP: 0.9 }, {}]) {
    for (const seed of [1, 2]) {
      const a = sampleAR(arModel, { length: 16, random: new SeededRandom(seed), cache: true, ...o });
      const b = sampleAR(arModel, { length: 16, random: new SeededRandom(seed), cache: false, ...o });
      assert.deepEqual(Array.from(a.tokens), Array.from(b.tokens), JSON.stringify(o));
      assert.equal(a.nfe, 16);
      assert.equal(a.modelCalls, 15);
      assert.equal(a.tokens[0], 39);
      noMasks(a.tokens);
      assert.deepEqual(a, sampleAR(arModel, { length: 16, random: new SeededRandom(seed), ...o }));
    }
  }
  // past the model length the window slides
  const long = sampleAR(arModel, { length: 40, random: new SeededRandom(3) });
  const longU = sampleAR(arModel, { length: 40, random: new SeededRandom(3), cache: false });
  assert.equal(long.tokens.length, 40);
  noMasks(long.tokens);
  assert.deepEqual(Array.from(long.tokens.subarray(0, 16)), Array.from(longU.tokens.subarray(0, 16)));
  assert.throws(() => sampleAR(bd3, { length: 8, random: new SeededRandom(1) }), /needs a causal model/);
});

// ---- MDLM ----


test('MDLM: one window up to L (NFE = N - 1), strided windows beyond, revealed tokens never change', () => {
  const steps: StepTrace[] = [];
  const r = sampleMDLM(mdlmModel, { length: 16, steps: 20, topP: 0.9, random: new SeededRandom(1), onStep: (s) => steps.push(s) });
  assert.equal(r.nfe, 15);
  noMasks(r.tokens);
  checkSteps(steps, 1, 1);
  const short = sampleMDLM(mdlmModel, { length: 9, steps: 8, random: new SeededRandom(1) });
  assert.equal(short.tokens.length, 9);
  assert.equal(short.nfe, 8);
  // strided: L = 16, stride 8: windows [0,16) [8,24) [16,32) [24,40)
  assert.deepEqual(mdlmStrides(40, 16).strides.map((s) => [s.start, s.end]), [[0, 16], [8, 24], [16, 32], [24, 40]]);
  const st: (StepTrace & { windowStart: number })[] = [];
  const long = sampleMDLM(mdlmModel, { length: 37, steps: 16, random: new SeededRandom(2), onStep: (s) => st.push(s) });
  assert.equal(long.tokens.length, 37);
  assert.equal(long.nfe, 39);
  noMasks(long.tokens);
  checkSteps(st, 1, 1);
  const ddpm = sampleMDLM(mdlmModel, { length: 16, steps: 6, mode: 'ddpm', random: new SeededRandom(3) });
  noMasks(ddpm.tokens);
  assert.throws(() => sampleMDLM(mdlmModel, { length: 16, steps: 5, random: new SeededRandom(1) }), /first-hitting needs steps >= 15/);
});

// ---- SEDD ----


test('SEDD analytic sampler: NFE = T, BOS kept, no masks, revealed tokens never change, determinism', () => {
  for (const topP of [1, 0.99]) {
    const xs: Int32Array[] = [];
    const r = sampleSEDD(seddModel, { length: 16, steps: 12, topP, random: new SeededRandom(4), onStep: (s) => xs.push(s.x) });
    assert.equal(r.nfe, 12);
    assert.equal(r.modelCalls, 13);
    assert.equal(r.tokens[0], 39);
    noMasks(r.tokens);
    assert.equal(xs.length, 13);
    for (let i = 1; i < xs.length; i++) {
      for (let j = 0; j < 16; j++) if (xs[i - 1][j] !== MASK) assert.equal(xs[i][j], xs[i - 1][j], `step ${i} position ${j}`);
    }
    assert.deepEqual(r, sampleSEDD(seddModel, { length: 16, steps: 12, topP, random: new SeededRandom(4) }));
  }
  assert.throws(() => sampleSEDD(mdlmModel, { length: 8, steps: 4, random: new SeededRandom(1) }), /time-conditioned/);
  assert.throws(() => sampleSEDD(seddModel, { length: 17, steps: 4, random: new SeededRandom(1) }), /at most the model length 16/);
});
