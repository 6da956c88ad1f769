/**
 * The activations `DiT.forward` saves for backward (`saveActivations`, src/model/activations.ts): every listed
 * tensor has its listed shape, and holds what an independent computation gives: the hidden states of a separate
 * forward, LayerNorm statistics recomputed from the saved input, and attention (log-sum-exp and output) recomputed
 * by brute force from the saved post-rotary projections. Gradients through them are checked in backward.test.ts
 * (finite differences) and backward-autograd.test.ts (PyTorch autograd).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { layerActivationShapes, type LayerActivations } from '../src/model/activations.js';
import type { DiT, ForwardRequest } from '../src/model/dit.js';
import { KVCache } from '../src/model/kvcache.js';
import { RefBackend } from '../src/tensor/index.js';
import { Workspace } from '../src/tensor/workspace.js';
import { mulberry32 } from './helpers.js';
import { maxAbs, maxAbsDiff, randomModel } from './model-helpers.js';

const ref = new RefBackend();

function ids(n: number, V: number, seed: number): Int32Array {
  const r = mulberry32(seed);
  return Int32Array.from({ length: n }, () => Math.floor(r() * (V - 1)));
}

function saved(model: DiT, req: ForwardRequest) {
  const res = model.forward(req, { saveActivations: new Workspace(model.backend) });
  assert.ok(res.activations, 'saveActivations returns the activations');
  return { res, acts: res.activations };
}

const cases: { name: string; over: object; req: (V: number) => ForwardRequest; narrowed: boolean }[] = [
  {
    name: 'vectorized (narrowed last layer), dropout', over: {}, narrowed: true,
    req: (V) => ({ ids: ids(2 * 32, V, 1), batch: 2, seqLen: 32, layout: 'vectorized', logitRows: [1, 20, 7], dropout: { p: 0.2, random: mulberry32(3) } }),
  },
  {
    name: 'bidirectional, time conditioning', over: { timeConditioning: true }, narrowed: false,
    req: (V) => ({ ids: ids(2 * 16, V, 2), batch: 2, seqLen: 16, layout: 'bidirectional', sigma: [0.4, 2] }),
  },
  { name: 'causal', over: { causal: true }, narrowed: false, req: (V) => ({ ids: ids(3 * 16, V, 4), batch: 3, seqLen: 16, layout: 'causal', logitRows: [0, 47] }) },
];

for (const c of cases) {
  test(`saved activations (${c.name}): every tensor has its listed shape`, () => {
    const model = randomModel(ref, { nBlocks: 3, ...c.over });
    const req = c.req(model.config.vocabSize);
    const { res, acts } = saved(model, req);
    const { B, S } = acts;
    const cfg = model.config;
    assert.equal(acts.layers.length, cfg.nBlocks);
    acts.layers.forEach((a, l) => {
      const qLen = c.narrowed && l === cfg.nBlocks - 1 ? S / 2 : S;
      const shapes = layerActivationShapes(cfg, B, S, qLen, acts.dropoutP > 0);
      for (const [name, shape] of Object.entries(shapes)) {
        const arr = a[name as keyof LayerActivations];
        if (!shape) assert.equal(arr, undefined, `layer ${l} ${name} is not kept`);
        else assert.equal(arr?.length, shape.reduce((x, y) => x * y, 1), `layer ${l} ${name} has shape [${shape}]`);
      }
    });
    assert.equal(acts.ids.length, B * S);
    assert.equal(acts.src.length, res.rows.length);
    assert.equal(acts.headIn.length, res.rows.length * cfg.hiddenDim);
    assert.equal(acts.xtSpans !== null, c.narrowed);
    // saving changes nothing in the result
    const plain = model.forward({ ...c.req(model.config.vocabSize) });
    assert.deepEqual(res.logits, plain.logits);
  });
}

test('saved activations hold the block inputs, LayerNorm stats and attention the forward computed', () => {
  const model = randomModel(ref, { nBlocks: 3 });
  const { hiddenDim: D, nHeads: H, nBlocks } = model.config;
  const hd = D / H;
  const req: ForwardRequest = { ids: ids(2 * 32, model.config.vocabSize, 5), batch: 2, seqLen: 32, layout: 'vectorized' };
  const { acts } = saved(model, req);
  const { B, S, outLen: L } = acts;
  // block inputs and the head input vs the hidden states of a run that keeps every layer whole (x_t rows)
  const { hidden } = model.forward({ ...req, hiddenStates: true, logitRows: 'none' });
  for (let l = 0; l < nBlocks; l++) {
    const xt = new Float32Array(B * L * D);
    for (let b = 0; b < B; b++) xt.set(acts.layers[l].hIn.subarray(b * S * D, (b * S + L) * D), b * L * D);
    assert.deepEqual(xt, hidden![l], `layer ${l} input`);
  }
  assert.ok(maxAbsDiff(acts.headIn, hidden![nBlocks]) <= 1e-5 * maxAbs(hidden![nBlocks]), 'head input = last hidden state');
  // LayerNorm 1 stats of layer 1: mean and 1/sqrt(var + eps) of its input rows
  const a = acts.layers[1];
  for (const r of [0, 17, B * S - 1]) {
    const x = a.hIn.subarray(r * D, r * D + D);
    const mean = x.reduce((s, v) => s + v, 0) / D;
    const vr = x.reduce((s, v) => s + (v - mean) ** 2, 0) / D;
    assert.ok(Math.abs(a.stats1[2 * r] - mean) <= 1e-5, `row ${r} mean`);
    assert.ok(Math.abs(a.stats1[2 * r + 1] - 1 / Math.sqrt(vr + 1e-5)) <= 1e-4 * a.stats1[2 * r + 1], `row ${r} rstd`);
  }
  // layer 0: x_t query 5 of item 1 in block 1 sees x_t block 1 and x_0 blocks 0 (spec 3.3: M_BD | M_OBC)
  const b = 1;
  const q = 5;
  const keys = [4, 5, 6, 7, L + 0, L + 1, L + 2, L + 3];
  const row = (i: number) => acts.layers[0].qkv.subarray((b * S + i) * 3 * D, (b * S + i + 1) * 3 * D);
  for (let h = 0; h < H; h++) {
    const scores = keys.map((k) => {
      let s = 0;
      for (let d = 0; d < hd; d++) s += row(q)[h * hd + d] * row(k)[D + h * hd + d];
      return s / Math.sqrt(hd);
    });
    const mx = Math.max(...scores);
    const z = scores.reduce((s, v) => s + Math.exp(v - mx), 0);
    const lse = acts.layers[0].lse[(b * H + h) * S + q];
    assert.ok(Math.abs(lse - (mx + Math.log(z))) <= 1e-5, `head ${h} lse ${lse} vs ${mx + Math.log(z)}`);
    for (let d = 0; d < hd; d++) {
      const want = keys.reduce((s, k, j) => s + (Math.exp(scores[j] - mx) / z) * row(k)[2 * D + h * hd + d], 0);
      const got = acts.layers[0].o[(b * S + q) * D + h * hd + d];
      assert.ok(Math.abs(got - want) <= 1e-5, `head ${h} output ${d}: ${got} vs ${want}`);
    }
  }
});

test('a forward over a KV cache takes no layout and keeps no activations', () => {
  const model = randomModel(ref);
  const cache = new KVCache(model, 1, 4);
  const attention = { attend: () => assert.fail('nothing runs') };
  const req = { ids: new Int32Array(4), batch: 1, seqLen: 4 };
  assert.throws(() => model.forward({ ...req, layout: 'bidirectional' }, { cache: attention }), /takes no layout/);
  assert.throws(() => model.forward(req, { cache: attention, saveActivations: new Workspace(ref) }), /saved activations need a whole-sequence forward/);
  assert.throws(() => model.forward(req), /needs a layout/);
  cache.dispose();
});
