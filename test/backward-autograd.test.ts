/**
 * Whole-model gradients against PyTorch autograd of the authors' Diffusion._loss (train mode, dropout 0) on the golden
 * tiny model with the golden t and x_t: every entry of every trainable tensor, on every backend. The fixture
 * (test/fixtures/bs4-grad) was made once by scripts/ref/grad-fixture.py; its meta.json holds the reference loss.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadCheckpoint } from '../src/model/checkpoint.js';
import { DiT } from '../src/model/dit.js';
import { readNpy, npyToInt32, npyToFloat32 } from '../src/model/npy.js';
import { loadSafetensors } from '../src/model/safetensors.js';
import { Grads } from '../src/training/grads.js';
import { lossAndGrads } from '../src/training/objective.js';
import { availableBackends, FIXTURES } from './model-helpers.js';

const BS4 = path.join(FIXTURES, 'bs4');
const GRAD = path.join(FIXTURES, 'bs4-grad');
const REL = 1e-5;

const reference = loadSafetensors(path.join(GRAD, 'grads.safetensors')).tensors;
const refLoss = (JSON.parse(fs.readFileSync(path.join(GRAD, 'meta.json'), 'utf8')) as { loss: number }).loss;

/**
 * Worst entry of one tensor: |ours - autograd| over the tensor's largest |autograd| entry (a per-entry ratio is
 * meaningless for entries that are sums cancelling to ~0; the tensor's scale is what fp32 accumulation error is
 * relative to).
 */
function worst(ours: Float32Array, ref: Float32Array): { rel: number; idx: number } {
  let scale = 0;
  for (let i = 0; i < ref.length; i++) scale = Math.max(scale, Math.abs(ref[i]));
  let rel = 0;
  let idx = -1;
  for (let i = 0; i < ref.length; i++) {
    const r = Math.abs(ours[i] - ref[i]) / scale;
    if (!(r <= rel)) {
      rel = r;
      idx = i;
    }
  }
  return { rel, idx };
}

test('autograd fixture: covers every trainable tensor with a non-zero gradient', () => {
  assert.equal(reference.size, 30);
  for (const [name, g] of reference) assert.ok(g.some((v) => v !== 0), `${name} is all zero in the fixture`);
});

for (const { name, backend, why } of await availableBackends()) {
  test(`backward (${name}): every gradient entry equals PyTorch autograd of Diffusion._loss within ${REL} relative`, { skip: backend ? false : why }, (t) => {
    const ck = loadCheckpoint(BS4, { alloc: (n) => backend!.alloc(n) });
    const model = new DiT(ck.config, ck.tensors, backend!);
    const batch = {
      x0: npyToInt32(readNpy(path.join(BS4, 'x0.npy'))), B: 2, L: 32,
      t: npyToFloat32(readNpy(path.join(BS4, 't.npy'))), xt: npyToInt32(readNpy(path.join(BS4, 'xt.npy'))),
    };
    const grads = new Grads(model);
    const { loss } = lossAndGrads(model, grads, batch, { algo: 'bd3lm', blockSize: 4, dropout: 0, random: () => { throw new Error('no randomness expected'); } });
    assert.ok(Math.abs(loss - refLoss) <= REL * refLoss, `loss ${loss} vs autograd's ${refLoss}`);
    assert.deepEqual([...grads.tensors.keys()].sort(), [...reference.keys()].sort());
    const bad: string[] = [];
    let overall = 0;
    for (const [k, ref] of reference) {
      const { rel, idx } = worst(grads.tensors.get(k)!, ref);
      overall = Math.max(overall, rel);
      if (!(rel <= REL)) bad.push(`${k}[${idx}]: ours ${grads.tensors.get(k)![idx]}, autograd ${ref[idx]} (${rel.toExponential(2)} of the tensor's max)`);
    }
    assert.deepEqual(bad, [], `${bad.length} tensors off`);
    t.diagnostic(`${name}: worst entry ${overall.toExponential(2)} of its tensor's max |grad|`);
    grads.dispose();
    model.dispose();
  });
}
