/**
 * Effect of weight storage on the logits: the same model (the golden bs4 checkpoint, the embedded default model, or a
 * random preset model) with
 * fp32 and with bf16/f16/int8 weights, on one vectorised forward; differences against fp32.
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Backend } from '../src/tensor/backend.js';
import { PRESETS, type PresetName } from '../src/model/config.js';
import { initTensors } from '../src/model/init.js';
import { DiT } from '../src/model/dit.js';
import { defaultModelDir, loadModel } from '../src/model/load.js';
import { storeWeights, type WeightDtype } from '../src/model/storage.js';
import { Rng } from '../src/tensor/rng.js';

const GOLDEN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../test/fixtures/bs4');

async function pair(be: Backend, model: string, dtype: WeightDtype): Promise<[DiT, DiT]> {
  if (model === 'golden' || model === 'default') {
    const dir = model === 'golden' ? GOLDEN : await defaultModelDir();
    return [await loadModel(dir, { backend: be, weights: 'f32' }), await loadModel(dir, { backend: be, weights: dtype })];
  }
  const cfg = { ...PRESETS[model as PresetName], modelLength: 256, blockSize: 16 };
  const t = () => initTensors(cfg, 1, 'random', (n) => be.alloc(n));
  const stored = t();
  return [new DiT(cfg, t(), be), new DiT(cfg, stored, be, storeWeights(cfg, stored, dtype, be))];
}

/** log-softmax of one row in float64 */
function logSoftmax(x: Float32Array): Float64Array {
  let mx = -Infinity;
  for (const v of x) mx = Math.max(mx, v);
  let s = 0;
  for (const v of x) s += Math.exp(v - mx);
  const lse = mx + Math.log(s);
  return Float64Array.from(x, (v) => v - lse);
}

export async function benchWeightLogits(be: Backend, model: string, dtype: WeightDtype) {
  const [full, stored] = await pair(be, model, dtype);
  const { modelLength: L, vocabSize: V } = full.config;
  const rng = new Rng(4);
  const ids = Int32Array.from({ length: 2 * L }, () => Math.floor(rng.uniform() * (V - 1)));
  for (let i = 1; i < L; i++) if (rng.uniform() < 0.5) ids[i] = V - 1; // x_t half: about half masked
  const run = (m: DiT) => Float32Array.from(m.forward({ ids, batch: 1, seqLen: 2 * L, layout: 'vectorized' }).logits);
  const a = run(full);
  const b = run(stored);
  let maxDiff = 0, maxLogit = 0, sumDiff = 0, maxLogp = 0, maxTv = 0, agree = 0;
  const rows = a.length / V;
  for (let r = 0; r < rows; r++) {
    const x = a.subarray(r * V, r * V + V), y = b.subarray(r * V, r * V + V);
    const lx = logSoftmax(x), ly = logSoftmax(y);
    let ax = 0, ay = 0, tv = 0;
    for (let j = 0; j < V; j++) {
      const d = Math.abs(x[j] - y[j]);
      maxDiff = Math.max(maxDiff, d);
      sumDiff += d;
      maxLogit = Math.max(maxLogit, Math.abs(x[j]));
      maxLogp = Math.max(maxLogp, Math.abs(lx[j] - ly[j]));
      tv += Math.abs(Math.exp(lx[j]) - Math.exp(ly[j]));
      if (x[j] > x[ax]) ax = j;
      if (y[j] > y[ay]) ay = j;
    }
    maxTv = Math.max(maxTv, tv / 2);
    if (ax === ay) agree++;
  }
  return {
    model, weights: dtype, rows, vocab: V,
    max_abs_diff: +maxDiff.toPrecision(3), max_abs_logit: +maxLogit.toPrecision(4), max_rel_diff: +(maxDiff / maxLogit).toPrecision(3),
    mean_abs_diff: +(sumDiff / a.length).toPrecision(3), max_logprob_diff: +maxLogp.toPrecision(3),
    max_prob_tv: +maxTv.toPrecision(3), argmax_agree: +(agree / rows).toFixed(4),
  };
}
