/**
 * Losses and the forward process: the golden NELBO of the authors' code, per-row loss gradients w.r.t. the logits,
 * antithetic t strata (spec 12.7), the resample rule (4.6), ignore_bos, the clip grid (4.10, 12.3) and its variance
 * statistic, the noise schedules.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadCheckpoint } from '../src/model/checkpoint.js';
import { DiT } from '../src/model/dit.js';
import { readNpy, npyToInt32, npyToFloat32 } from '../src/model/npy.js';
import { seddRowLoss, subsRowLoss } from '../src/diffusion/losses.js';
import { RefBackend } from '../src/tensor/ref.js';
import { sampleBlockTimes, timesPerToken } from '../src/diffusion/tsample.js';
import { resampleBounds, sampleXt } from '../src/diffusion/qxt.js';
import { clipCandidates, ClipSearch, unbiasedVariance } from '../src/diffusion/clip-search.js';
import { noiseSchedule } from '../src/diffusion/noise.js';
import { nelboEval, trainingLoss } from '../src/training/objective.js';
import { assertClose, mulberry32, Rng } from './helpers.js';
import { availableBackends, FIXTURES } from './model-helpers.js';

const BS4 = path.join(FIXTURES, 'bs4');
const f32 = Math.fround;

for (const { name, backend, why } of await availableBackends()) {
  test(`losses: eval NELBO on the golden model equals the reference (meta.json nelbo, nlls.npy) on ${name}`, { skip: backend ? false : why }, () => {
    const ck = loadCheckpoint(BS4, { alloc: (n) => backend!.alloc(n) });
    const model = new DiT(ck.config, ck.tensors, backend!);
    const meta = JSON.parse(fs.readFileSync(path.join(BS4, 'meta.json'), 'utf8'));
    const x0 = npyToInt32(readNpy(path.join(BS4, 'x0.npy')));
    const xt = npyToInt32(readNpy(path.join(BS4, 'xt.npy')));
    const t = npyToFloat32(readNpy(path.join(BS4, 't.npy')));
    const nlls = npyToFloat32(readNpy(path.join(BS4, 'nlls.npy')));
    const r = nelboEval(model, { x0, B: 2, L: 32, t, xt }, { algo: 'bd3lm', blockSize: 4, ignoreBos: true, random: () => 0 });
    assert.equal(r.tokens, meta.token_mask_sum);
    // achieved (ref / native / wasm): nelbo 3.2e-8 / 3.9e-8 / 2.2e-8 relative, nlls 5.7e-8 / 5.7e-8 / 1.1e-7 of their scale
    assert.ok(Math.abs(r.loss - meta.nelbo) <= 2e-7 * meta.nelbo, `nelbo ${r.loss} vs ${meta.nelbo}`);
    assertClose(r.nll, nlls, { rel: 5e-7, label: 'nlls' });
    // per-block means (clip search statistic) are block sums / L'
    const bl = r.blockLosses!;
    assert.equal(bl.length, 16);
    for (let k = 0; k < 16; k++) {
      let s = 0;
      for (let i = 0; i < 4; i++) s += nlls[k * 4 + i];
      assert.ok(Math.abs(bl[k] - s / 4) <= 1.5e-7 * Math.max(1, Math.abs(s)), `block ${k}: ${bl[k]} vs ${s / 4}`); // achieved <= 2.9e-8
    }
    // training mode keeps position 0 in the denominator: same sum over 64 tokens
    const tr = trainingLoss(model, { x0, B: 2, L: 32, t, xt }, { algo: 'bd3lm', blockSize: 4, random: () => 0 });
    assert.equal(tr.tokens, 64);
    assert.ok(Math.abs(tr.loss * 64 - r.loss * 62) <= 1e-12 * r.loss * 62, `${tr.loss * 64} vs ${r.loss * 62}`);
    model.dispose();
  });
}

/** float64 reference of the SUBS row loss */
function subsRef(z: Float32Array, mask: number, tgt: number, w: number): number {
  const zz = Array.from(z, (x, v) => (v === mask ? x - 1e6 : x));
  const mx = Math.max(...zz);
  const lse = mx + Math.log(zz.reduce((s, x) => s + Math.exp(x - mx), 0));
  return w * (zz[tgt] - lse);
}

test('losses: SUBS / AR row loss and its logit gradient match float64 finite differences', () => {
  const rng = new Rng(1);
  const V = 11;
  const n = 3;
  const z = rng.randn(n * V, 2);
  const targets = [2, 0, 9];
  const w = [-1 / 0.3, -1, -1 / 0.9];
  const coef = [0.5, 0.25, 1];
  const loss = subsRowLoss(new RefBackend(), Float32Array.from(z), n, V, V - 1, targets, w);
  const g = Float32Array.from(z);
  subsRowLoss(new RefBackend(), g, n, V, V - 1, targets, w, coef);
  for (let r = 0; r < n; r++) {
    const row = z.subarray(r * V, (r + 1) * V);
    // achieved: 6.2e-7 (float32 logits and log-softmax)
    assert.ok(Math.abs(loss[r] - subsRef(row, V - 1, targets[r], w[r])) < 2.5e-6);
    for (let v = 0; v < V; v++) {
      const h = 1e-4;
      const p = Float32Array.from(row);
      const m = Float32Array.from(row);
      p[v] += h;
      m[v] -= h;
      const num = (coef[r] * (subsRef(p, V - 1, targets[r], w[r]) - subsRef(m, V - 1, targets[r], w[r]))) / (p[v] - m[v]);
      // achieved: 2.3e-8
      assert.ok(Math.abs(num - g[r * V + v]) < 1e-7 * Math.max(1, Math.abs(num)), `row ${r} v ${v}: ${g[r * V + v]} vs ${num}`);
    }
    assert.ok(Math.abs(g[r * V + V - 1]) < 1e-12, 'mask logit gets no gradient');
  }
});

test('losses: SEDD score entropy equals the formula of spec 6.3 and its gradient matches finite differences', () => {
  const rng = new Rng(2);
  const V = 9;
  const mask = V - 1;
  const z = rng.randn(V, 1);
  const t = 0.37;
  const sigma = f32(-Math.log(f32(1 - t)));
  const ref = (zz: ArrayLike<number>) => {
    const em1 = Math.expm1(sigma);
    const ls = Array.from(zz, (x) => x - Math.log(em1) - Math.log(V - 1));
    ls[mask] = 0;
    const ratio = 1 / em1;
    let s = 0;
    for (let v = 0; v < V; v++) if (v !== mask) s += Math.exp(ls[v]);
    return (em1 / t) * (s - ratio * ls[4] + ratio * (Math.log(ratio) - 1));
  };
  const loss = seddRowLoss(Float32Array.from(z), 1, V, mask, [4], [sigma], [t]);
  assert.ok(Math.abs(loss[0] - ref(z)) < 2.5e-8 * Math.abs(ref(z)), `${loss[0]} vs ${ref(z)}`); // achieved 5.7e-9
  // a perfect score (s_v = p(v)/ ... ) is not needed: the loss is >= 0 for any logits (entropy of a Bregman form)
  assert.ok(loss[0] >= 0);
  const g = Float32Array.from(z);
  seddRowLoss(g, 1, V, mask, [4], [sigma], [t], [1]);
  for (let v = 0; v < V; v++) {
    const p = Float64Array.from(z);
    const m = Float64Array.from(z);
    p[v] += 1e-5;
    m[v] -= 1e-5;
    const num = (ref(p) - ref(m)) / 2e-5;
    assert.ok(Math.abs(num - g[v]) < 1.5e-7 * Math.max(1, Math.abs(num)), `v ${v}: ${g[v]} vs ${num}`); // achieved 3.5e-8
  }
});

test('tsample: antithetic t puts exactly one draw in each of the B*nb strata (spec 12.7), then maps to [beta, omega]', () => {
  for (const [B, nb] of [[1, 1], [2, 8], [3, 5], [4, 256]]) {
    const u = sampleBlockTimes(B, nb, { epsMin: 0, epsMax: 1, antithetic: true, random: mulberry32(B * 100 + nb) });
    const n = B * nb;
    const hits = new Int32Array(n);
    for (let j = 0; j < n; j++) {
      const s = Math.min(n - 1, Math.floor(u[j] * n));
      hits[s]++;
      // draw j lies in stratum j (float32 rounding may touch the upper edge)
      assert.ok(u[j] >= f32(j / n) - 1e-7 && u[j] <= f32((j + 1) / n) + 1e-7, `draw ${j} = ${u[j]}`);
    }
    assert.ok(hits.every((h) => h === 1), `B=${B} nb=${nb}: ${Array.from(hits).join(',')}`);
    const t = sampleBlockTimes(B, nb, { epsMin: 0.3, epsMax: 0.8, antithetic: true, random: mulberry32(B * 100 + nb) });
    for (let j = 0; j < n; j++) assert.ok(Math.abs(t[j] - (0.3 + 0.5 * u[j])) < 1e-6);
  }
  const full = sampleBlockTimes(2, 4, { epsMin: 1, epsMax: 1, antithetic: true, random: mulberry32(1) });
  assert.ok(full.every((x) => x === 1));
  assert.deepEqual(Array.from(timesPerToken(Float32Array.from([0.1, 0.2, 0.3, 0.4]), 2, 4, 2)).map((x) => f32(x)), [0.1, 0.1, 0.2, 0.2, 0.3, 0.3, 0.4, 0.4].map(f32));
});

test('qxt: masking rate p, ignore_bos restores position 0, full masking masks everything else', () => {
  const B = 4;
  const L = 256;
  const x0 = Int32Array.from({ length: B * L }, (_, i) => i % 50);
  const t = new Float32Array(B * L).fill(0.3);
  const xt = sampleXt(x0, t, B, L, { maskId: 99, blockSize: 4, epsMin: 1e-3, epsMax: 1, resample: true, ignoreBos: true, random: mulberry32(2) });
  let m = 0;
  for (let i = 0; i < B * L; i++) {
    if (xt[i] === 99) m++;
    else assert.equal(xt[i], x0[i]);
  }
  assert.ok(Math.abs(m / (B * L) - 0.3) < 0.05, `mask rate ${m / (B * L)}`);
  for (let b = 0; b < B; b++) assert.equal(xt[b * L], x0[b * L]);
  const all = sampleXt(x0, new Float32Array(B * L).fill(1), B, L, { maskId: 99, blockSize: 1, epsMin: 1, epsMax: 1, resample: true, ignoreBos: true, random: mulberry32(3) });
  for (let i = 0; i < B * L; i++) assert.equal(all[i], i % L === 0 ? x0[i] : 99);
});

test('qxt: the resample rule of spec 4.6 (which bounds are active, and redrawn blocks respect them)', () => {
  assert.equal(resampleBounds(1e-3, 1), null);
  assert.equal(resampleBounds(f32(1e-3), 1), null, 'the skip compares in float32');
  assert.deepEqual(resampleBounds(1e-3, 0.5), { low: false, high: true });
  assert.deepEqual(resampleBounds(0.3, 1), { low: true, high: false });
  assert.deepEqual(resampleBounds(0.3, 0.8), { low: true, high: true });
  // clip-search bounds are float32 values: 0.0010000000474974513 != 1e-3, so zero-mask blocks get redrawn
  assert.deepEqual(resampleBounds(f32(1e-3), 0.5), { low: true, high: true });

  const B = 8;
  const L = 64;
  const bs = 8;
  const x0 = new Int32Array(B * L).fill(5);
  for (const [lo, hi] of [[0.3, 0.8], [0.45, 0.95], [1e-3, 0.5], [0.5, 1]]) {
    const tb = sampleBlockTimes(B, L / bs, { epsMin: lo, epsMax: hi, antithetic: true, random: mulberry32(4) });
    const t = timesPerToken(tb, B, L, bs);
    const xt = sampleXt(x0, t, B, L, { maskId: 9, blockSize: bs, epsMin: lo, epsMax: hi, resample: true, ignoreBos: false, random: mulberry32(5) });
    const rule = resampleBounds(lo, hi)!;
    for (let s = 0; s < B * L; s += bs) {
      let n = 0;
      for (let i = s; i < s + bs; i++) if (xt[i] === 9) n++;
      const f = n / bs;
      if (rule.low) assert.ok(f >= lo, `[${lo}, ${hi}] block ${s / bs}: fraction ${f}`);
      if (rule.high) assert.ok(f <= hi, `[${lo}, ${hi}] block ${s / bs}: fraction ${f}`);
    }
  }
  // without resampling a low t leaves some blocks unmasked
  const t = new Float32Array(B * L).fill(0.05);
  const xt = sampleXt(x0, t, B, L, { maskId: 9, blockSize: bs, epsMin: 0.3, epsMax: 0.8, resample: false, ignoreBos: false, random: mulberry32(6) });
  assert.ok(xt.some((_x, i) => i % bs === 0 && xt.subarray(i, i + bs).every((y) => y !== 9)));
  // an impossible interval fails loudly instead of spinning
  assert.throws(() => sampleXt(x0, new Float32Array(B * L).fill(0.5), B, L, { maskId: 9, blockSize: 1, epsMin: 0.3, epsMax: 0.6, resample: true, ignoreBos: false, random: mulberry32(7), maxRedraws: 50 }), /no masked fraction/);
});

test('clip search: the spec 4.10 grid has 36 intervals with float32 bounds; block size 1 has two', () => {
  const g = clipCandidates(4, [0.5, 0.6, 0.7, 0.8, 0.9], 0.05);
  assert.equal(g.length, 36);
  const fmt = (x: number) => Number(x.toPrecision(6));
  const pairs = g.map((c) => [fmt(c.epsMin), fmt(c.epsMax)]);
  assert.deepEqual(pairs[0], [0.001, 1]);
  assert.deepEqual(pairs.slice(1, 12), [[0.001, 0.5], [0.05, 0.55], [0.1, 0.6], [0.15, 0.65], [0.2, 0.7], [0.25, 0.75], [0.3, 0.8], [0.35, 0.85], [0.4, 0.9], [0.45, 0.95], [0.5, 1]]);
  const byWidth = [11, 9, 7, 5, 3];
  let k = 1;
  for (const [wi, w] of [0.5, 0.6, 0.7, 0.8, 0.9].entries()) {
    const seg = pairs.slice(k, k + byWidth[wi]);
    assert.deepEqual(seg[0], [0.001, w]);
    assert.deepEqual(seg[seg.length - 1], [fmt(1 - w), 1]);
    k += byWidth[wi];
  }
  assert.deepEqual(pairs.slice(33), [[0.001, 0.9], [0.05, 0.95], [0.1, 1]]);
  // bounds are float32 values (the quirk that disables the beta == 1e-3 resample shortcut)
  assert.equal(g[1].epsMin, 0.0010000000474974513);
  // (the leading (1e-3, 1) is the literal default, as in the reference)
  assert.ok(g.slice(1).every((c) => c.epsMin === f32(c.epsMin) && c.epsMax === f32(c.epsMax)));
  assert.deepEqual(clipCandidates(4), [{ epsMin: 1e-3, epsMax: 1 }]);
  assert.deepEqual(clipCandidates(1, [0.5]), [{ epsMin: 1e-3, epsMax: 1 }, { epsMin: 1, epsMax: 1 }]);
});

test('clip search: summed unbiased variance of block losses picks the smallest', () => {
  assert.equal(unbiasedVariance([1, 2, 3, 4]), 5 / 3);
  const cs = new ClipSearch(clipCandidates(4, [0.5], 0.05));
  for (let b = 0; b < 3; b++) {
    cs.candidates.forEach((_, i) => cs.record(i, [1, 1 + 0.1 * (i + 1), 1 - 0.1 * (i + 1), 1]));
  }
  cs.record(5, [2, 2]); // candidate 5: zero extra variance
  const best = cs.best();
  assert.equal(best.index, 0);
  assert.ok(Math.abs(cs.report()[0].variance - unbiasedVariance([1, 1.1, 0.9, 1]) * 3 / 3) < 1e-12);
});

test('noise: loglinear is p = t, w = -1/t; the other schedules have w = -p\'(t)/p(t) (cosine: with +eps)', () => {
  const ll = noiseSchedule('loglinear');
  assert.equal(ll.maskProb(0.25), 0.25);
  assert.equal(ll.lossWeight(0.25), -4);
  for (const name of ['square', 'sqrt', 'log'] as const) {
    const s = noiseSchedule(name);
    for (const t of [0.2, 0.5, 0.9]) {
      const dp = (s.maskProb(t + 1e-3) - s.maskProb(t - 1e-3)) / 2e-3;
      assert.ok(Math.abs(s.lossWeight(t) - -dp / s.maskProb(t)) < 1e-2 * Math.abs(s.lossWeight(t)), `${name} t=${t}`);
    }
  }
  const c = noiseSchedule('cosine');
  const dp = (c.maskProb(0.5 + 1e-3) - c.maskProb(0.5 - 1e-3)) / 2e-3;
  assert.ok(Math.abs(c.lossWeight(0.5) - -dp / (c.maskProb(0.5) + 1e-3)) < 1e-2);
  assert.throws(() => noiseSchedule('bogus' as never), /unknown noise schedule/);
});
