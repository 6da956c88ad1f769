/**
 * Gradients of the whole model and loss against central finite differences (fp32 forward, step 1e-3) for the cases
 * the autograd fixture (backward-autograd.test.ts: BD3-LM, L' = 4, dropout 0, every entry at 1e-5) does not cover:
 * the golden tiny model with dropout and with full masking at L' = 1, MDLM, AR (causal model) and SEDD
 * (time-conditioned); and native / wasm gradients against ref.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { loadCheckpoint } from '../src/model/checkpoint.js';
import { DiT } from '../src/model/dit.js';
import { readNpy, npyToInt32, npyToFloat32 } from '../src/model/npy.js';
import type { Backend } from '../src/tensor/backend.js';
import { RefBackend } from '../src/tensor/index.js';
import { Grads } from '../src/training/grads.js';
import { lossAndGrads, trainingLoss, type Batch, type LossOptions } from '../src/training/objective.js';
import { mulberry32 } from './helpers.js';
import { availableBackends, FIXTURES, randomModel } from './model-helpers.js';

const BS4 = path.join(FIXTURES, 'bs4');

function golden(backend: Backend): { model: DiT; batch: Batch } {
  const ck = loadCheckpoint(BS4, { alloc: (n) => backend.alloc(n) });
  const model = new DiT(ck.config, ck.tensors, backend);
  const x0 = npyToInt32(readNpy(path.join(BS4, 'x0.npy')));
  const xt = npyToInt32(readNpy(path.join(BS4, 'xt.npy')));
  const t = npyToFloat32(readNpy(path.join(BS4, 't.npy')));
  return { model, batch: { x0, B: 2, L: 32, t, xt } };
}

/** Every trainable tensor: one entry among those with |grad| >= 10% of the tensor's max, chosen at random. */
function picks(grads: Grads, seed: number): { name: string; idx: number }[] {
  const rnd = mulberry32(seed);
  const out: { name: string; idx: number }[] = [];
  for (const [name, g] of grads.tensors) {
    let mx = 0;
    for (let i = 0; i < g.length; i++) mx = Math.max(mx, Math.abs(g[i]));
    if (mx === 0) continue;
    const big: number[] = [];
    for (let i = 0; i < g.length; i++) if (Math.abs(g[i]) >= 0.1 * mx) big.push(i);
    out.push({ name, idx: big[Math.floor(rnd() * big.length)] });
  }
  return out;
}

/**
 * Analytic vs central differences. The fp32 forward limits the numeric side to ~1e-4 absolute, so the bound is
 * 2e-2 relative plus that floor.
 */
function checkFD(model: DiT, batch: Batch, opts: () => LossOptions, label: string, minTensors: number): void {
  const grads = new Grads(model);
  lossAndGrads(model, grads, batch, opts());
  const ps = picks(grads, 7);
  assert.ok(ps.length >= minTensors, `${label}: only ${ps.length} tensors have a gradient`);
  const h = 1e-3;
  const bad: string[] = [];
  for (const { name, idx } of ps) {
    const p = model.tensors.get(name)!;
    const orig = p[idx];
    p[idx] = orig + h;
    const up = p[idx];
    const lp = trainingLoss(model, batch, opts()).loss;
    p[idx] = orig - h;
    const dn = p[idx];
    const lm = trainingLoss(model, batch, opts()).loss;
    p[idx] = orig;
    const num = (lp - lm) / (up - dn);
    const ana = grads.tensors.get(name)![idx];
    const err = Math.abs(num - ana);
    if (!(err <= 2e-2 * Math.abs(ana) + 1e-4)) bad.push(`${name}[${idx}]: analytic ${ana}, numeric ${num}`);
  }
  assert.deepEqual(bad, [], `${label}: ${bad.length} of ${ps.length} entries off`);
}

const noRandom = () => {
  throw new Error('no randomness expected');
};

test('backward: BD3-LM with dropout (replayed masks) matches finite differences', () => {
  const { model, batch } = golden(new RefBackend());
  // a fresh generator per evaluation: every forward draws the same dropout masks
  checkFD(model, batch, () => ({ algo: 'bd3lm', blockSize: 4, dropout: 0.1, random: mulberry32(11) }), 'bd3lm+dropout', 30);
});

test('backward: BD3-LM full masking with L\' = 1 (weight -1) matches finite differences', () => {
  const { model, batch } = golden(new RefBackend());
  const b: Batch = { x0: batch.x0, B: batch.B, L: batch.L };
  checkFD(model, b, () => ({ algo: 'bd3lm', blockSize: 1, epsMin: 1, epsMax: 1, random: mulberry32(3) }), 'bd3lm L\'=1', 30);
});

test('backward: MDLM (one t per sequence, no x_0 half) matches finite differences', () => {
  const { model, batch } = golden(new RefBackend());
  const b: Batch = { x0: batch.x0, B: batch.B, L: batch.L };
  checkFD(model, b, () => ({ algo: 'mdlm', random: mulberry32(5) }), 'mdlm', 30);
});

test('backward: AR (causal model, shifted targets) matches finite differences', () => {
  const be = new RefBackend();
  const model = randomModel(be, { modelType: 'ar', causal: true, adaln: false, blockSize: 1, crossAttn: false, condDim: 0 }, 4);
  const rnd = mulberry32(9);
  const x0 = Int32Array.from({ length: 2 * 16 }, () => Math.floor(rnd() * 40));
  checkFD(model, { x0, B: 2, L: 16 }, () => ({ algo: 'ar', random: noRandom }), 'ar', 20);
});

test('backward: SEDD (time-conditioned, sigma per sequence) matches finite differences', () => {
  const be = new RefBackend();
  const model = randomModel(be, { modelType: 'mdlm', blockSize: 16, crossAttn: false, timeConditioning: true }, 5);
  const rnd = mulberry32(13);
  const x0 = Int32Array.from({ length: 2 * 16 }, () => Math.floor(rnd() * 40));
  checkFD(model, { x0, B: 2, L: 16 }, () => ({ algo: 'sedd', epsMin: 0.2, epsMax: 0.8, random: mulberry32(21) }), 'sedd', 25);
});

const backends = await availableBackends();
for (const { name, backend, why } of backends) {
  if (name === 'ref') continue;
  test(`backward: ${name} gradients equal ref within 1e-4 relative (golden model, dropout on)`, { skip: backend ? false : why }, () => {
    const ref = golden(new RefBackend());
    const other = golden(backend!);
    const opts = (): LossOptions => ({ algo: 'bd3lm', blockSize: 4, dropout: 0.1, random: mulberry32(17) });
    const gr = new Grads(ref.model);
    const go = new Grads(other.model);
    const lr = lossAndGrads(ref.model, gr, ref.batch, opts()).loss;
    const lo = lossAndGrads(other.model, go, other.batch, opts()).loss;
    assert.ok(Math.abs(lr - lo) <= 1e-5 * Math.abs(lr), `loss ${lo} vs ${lr}`);
    for (const [k, a] of gr.tensors) {
      const b = go.tensors.get(k)!;
      let scale = 0;
      let diff = 0;
      for (let i = 0; i < a.length; i++) {
        scale = Math.max(scale, Math.abs(a[i]));
        diff = Math.max(diff, Math.abs(a[i] - b[i]));
      }
      assert.ok(diff <= 1e-4 * scale + 1e-9, `${k}: max |diff| ${diff} vs max |grad| ${scale}`);
    }
    go.dispose();
    other.model.dispose();
  });
}
