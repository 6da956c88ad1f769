/**
 * One batch-1 sampling model call in isolation (best of n, so less sensitive to machine load than a whole sample
 * run): a KV-cached step of L' masked tokens after 256 cached tokens, logits for one row (first hitting) and for
 * all L' rows, with fp32, half-precision or int8 weight storage.
 */
import type { Backend } from '../src/tensor/backend.js';
import { PRESETS, type PresetName } from '../src/model/config.js';
import { initTensors } from '../src/model/init.js';
import { DiT } from '../src/model/dit.js';
import { KVCache } from '../src/model/kvcache.js';
import { storeWeights, type WeightDtype } from '../src/model/storage.js';

function best(n: number, fn: () => void): number {
  fn();
  let b = Infinity;
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    fn();
    b = Math.min(b, performance.now() - t0);
  }
  return b;
}

export function benchModelCall(be: Backend, preset: PresetName, bs: number, weights: WeightDtype) {
  const cfg = { ...PRESETS[preset], blockSize: bs };
  const t = initTensors(cfg, 1, 'random', (n) => be.alloc(n));
  const model = new DiT(cfg, t, be, storeWeights(cfg, t, weights, be));
  const V = cfg.vocabSize;
  const cache = new KVCache(model, 1, bs, 512);
  const ctx = Int32Array.from({ length: bs }, (_, i) => (i * 7919) % (V - 1));
  for (let k = 0; k < 256 / bs; k++) cache.step(ctx, { store: true, logitPositions: 'none' });
  const masked = new Int32Array(bs).fill(V - 1);
  const all = Array.from({ length: bs }, (_, i) => i);
  return {
    preset, block_size: bs, weights, cached: 256,
    ms_one_row: +best(7, () => cache.step(masked, { logitPositions: [0] })).toFixed(1),
    ms_all_rows: +best(7, () => cache.step(masked, { logitPositions: all })).toFixed(1),
  };
}
