/**
 * `bd3lm verify`: runs the port on a golden folder written from the authors' code (format of
 * test/fixtures/bs4/README.txt) — same weights, same x_0 / x_t / t — and compares every array it can reproduce.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Backend } from '../tensor/backend.js';
import { loadCheckpoint } from '../model/checkpoint.js';
import { DiT, vectorizedIds } from '../model/dit.js';
import { KVCache } from '../model/kvcache.js';
import { blockDiffusionSpans, spansToDense } from '../model/mask.js';
import { readNpy, npyToFloat64, npyToInt32, type NpyArray } from '../model/npy.js';
import { subsLogProbs } from '../diffusion/subs.js';
import { nelboEval } from '../training/objective.js';
import { nucleusFilter } from '../tensor/sampling/nucleus.js';
import { compareArrays, type Comparison } from './compare.js';
import { hasTrace, replayTrace, type ReplayReport, type TraceMode } from './sampler-replay.js';

export interface VerifyReport {
  dir: string;
  backend: string;
  tolerance: number;
  config: { block_size: number; L: number; B: number; hidden: number; layers: number; heads: number; vocab: number };
  arrays: Record<string, Comparison>;
  /** the authors' sampler runs replayed draw for draw (KV cache, as logged) */
  samplers: Record<string, ReplayReport>;
  skipped: Record<string, string>;
  ok: boolean;
}

/**
 * The diffusion time of every token from t.npy: shape (B, L), or (B, 1) with one t per sequence, which is what the
 * reference's Diffusion._sample_t returns for L' = L (it skips repeat_interleave there).
 */
function perToken(npy: NpyArray, B: number, L: number, file: string): Float64Array {
  const t = npyToFloat64(npy);
  const [rows, cols] = npy.shape;
  if (npy.shape.length === 2 && rows === B && cols === L) return t;
  if (npy.shape.length === 2 && rows === B && cols === 1) return Float64Array.from({ length: B * L }, (_, i) => t[Math.floor(i / L)]);
  throw new Error(`${file}: expected shape (${B}, ${L}), or (${B}, 1) with one t per sequence (L' = L), got (${npy.shape.join(', ')})`);
}

export async function verifyGolden(dir: string, backend: Backend, tolerance = 1e-4): Promise<VerifyReport> {
  const file = (name: string) => path.join(dir, name);
  const has = (name: string) => fs.existsSync(file(name));
  const ints = (name: string) => npyToInt32(readNpy(file(name)));
  const floats = (name: string) => npyToFloat64(readNpy(file(name)));
  const meta: Record<string, unknown> = has('meta.json') ? JSON.parse(fs.readFileSync(file('meta.json'), 'utf8')) : {};

  const ckpt = loadCheckpoint(dir, { alloc: (n) => backend.alloc(n) });
  const cfg = ckpt.config;
  const model = new DiT(cfg, ckpt.tensors, backend);
  const x0npy = readNpy(file('x0.npy'));
  if (x0npy.shape.length !== 2) throw new Error(`${file('x0.npy')}: expected shape (B, L), got (${x0npy.shape})`);
  const [B, L] = x0npy.shape;
  const x0 = npyToInt32(x0npy);
  const xt = ints('xt.npy');
  const t = perToken(readNpy(file('t.npy')), B, L, file('t.npy'));
  const V = cfg.vocabSize;
  const D = cfg.hiddenDim;
  const bs = typeof meta.block_size === 'number' ? meta.block_size : cfg.blockSize;
  const maskId = typeof meta.mask_index === 'number' ? meta.mask_index : V - 1;
  if (xt.length !== B * L) throw new Error(`${file('xt.npy')}: expected shape (${B}, ${L}) like x0.npy`);

  const arrays: Record<string, Comparison> = {};
  const skipped: Record<string, string> = {};
  const check = (name: string, actual: () => ArrayLike<number>) => {
    if (!has(`${name}.npy`)) {
      skipped[name] = 'no expected file';
      return;
    }
    arrays[name] = compareArrays(actual(), floats(`${name}.npy`), tolerance);
  };

  // conditioning vector (constant when time conditioning is off)
  const mod = model.modulationFor(B);
  if (mod) {
    check('cond_c', () => {
      const c = new Float32Array(B * cfg.condDim);
      for (let b = 0; b < B; b++) c.set(mod.c.subarray((mod.rows > 1 ? b : 0) * cfg.condDim, ((mod.rows > 1 ? b : 0) + 1) * cfg.condDim), b * cfg.condDim);
      return c;
    });
  } else skipped.cond_c = 'model has no adaLN';

  // vectorised x_t (+) x_0 forward
  const input = vectorizedIds(xt, x0, B, L);
  if (has('x_input.npy')) {
    const given = ints('x_input.npy');
    if (given.length !== input.length || given.some((v, i) => v !== input[i])) throw new Error(`${file('x_input.npy')} is not concat(xt, x0)`);
  }
  // the hidden states come from a run that keeps every layer whole; the logits from the production path, whose last
  // layer computes x_t queries only
  check('vec_hidden_states', () => {
    const { hidden } = model.forward({ ids: input, batch: B, seqLen: 2 * L, layout: 'vectorized', blockSize: bs, hiddenStates: true, logitRows: 'none' });
    const out = new Float32Array(hidden!.length * B * L * D);
    hidden!.forEach((hs, i) => out.set(hs, i * B * L * D));
    return out;
  });
  const vec = model.forward({ ids: input, batch: B, seqLen: 2 * L, layout: 'vectorized', blockSize: bs });
  check('vec_logits', () => vec.logits);
  const logp = subsLogProbs(backend, Float32Array.from(vec.logits), B * L, V, xt, maskId);
  check('vec_logprobs', () => logp);
  // the loss through the training objective's own evaluation path, fed the golden t and x_t (never re-drawn)
  const terms = nelboEval(model, { x0, B, L, t: Float32Array.from(t), xt }, {
    algo: 'bd3lm', blockSize: bs, maskId, ignoreBos: true, random: () => {
      throw new Error('verify feeds t and x_t: nothing may be drawn');
    },
  });
  // x_t never masks position 0 (ignore_bos), so the per-token loss and the masked nll coincide
  check('loss_per_token', () => terms.nll);
  check('nlls', () => terms.nll);
  if (typeof meta.nelbo === 'number') arrays.nelbo = compareArrays([terms.loss], [meta.nelbo], tolerance);
  else skipped.nelbo = 'meta.json has no nelbo';

  // block-by-block with the KV cache: noised block k, then store clean block k
  const kv = new Float32Array(B * L * V);
  const cache = new KVCache(model, B, bs, Math.max(bs, Math.min(cfg.modelLength, L)));
  const blockIds = (src: Int32Array, k: number) => {
    const ids = new Int32Array(B * bs);
    for (let b = 0; b < B; b++) ids.set(src.subarray(b * L + k * bs, b * L + (k + 1) * bs), b * bs);
    return ids;
  };
  for (let k = 0; k < L / bs; k++) {
    const lg = cache.step(blockIds(xt, k));
    for (let b = 0; b < B; b++) kv.set(lg.subarray(b * bs * V, (b + 1) * bs * V), (b * L + k * bs) * V);
    cache.step(blockIds(x0, k), { store: true, logitPositions: 'none' });
  }
  cache.dispose();
  check('kv_logits', () => kv);
  check('kv_logprobs', () => subsLogProbs(backend, Float32Array.from(kv), B * L, V, xt, maskId));

  // without a cache: clean prefix + noised block under the block-causal mask
  check('nocache_logits', () => {
    const out = new Float32Array(B * L * V);
    for (let k = 0; k < L / bs; k++) {
      const W = (k + 1) * bs;
      const ids = new Int32Array(B * W);
      for (let b = 0; b < B; b++) {
        ids.set(x0.subarray(b * L, b * L + k * bs), b * W);
        ids.set(xt.subarray(b * L + k * bs, b * L + W), b * W + k * bs);
      }
      const rows = [];
      for (let b = 0; b < B; b++) for (let i = k * bs; i < W; i++) rows.push(b * W + i);
      const r = model.forward({ ids, batch: B, seqLen: W, layout: 'block-causal', blockSize: bs, logitRows: rows });
      for (let b = 0; b < B; b++) out.set(r.logits.subarray(b * bs * V, (b + 1) * bs * V), (b * L + k * bs) * V);
    }
    return out;
  });

  check('block_diff_mask', () => spansToDense(blockDiffusionSpans(L, bs), 2 * L, 2 * L));

  if (has('nucleus_in.npy')) {
    const p = nucleusP(dir);
    const nin = readNpy(file('nucleus_in.npy'));
    const V2 = nin.shape[nin.shape.length - 1];
    const probs = npyToFloat64(nin);
    check('nucleus_out', () => nucleusFilter(Float64Array.from(probs), probs.length / V2, V2, p));
  } else skipped.nucleus_out = 'no nucleus_in.npy';

  const bos = typeof meta.bos === 'number' ? meta.bos : V - 2;
  const samplers: Record<string, ReplayReport> = {};
  for (const mode of ['first_hitting', 'ddpm'] as TraceMode[]) {
    if (hasTrace(dir, mode)) samplers[`sample_${mode}`] = replayTrace(model, dir, mode, { maskId, bos });
    else skipped[`sample_${mode}`] = 'no trace';
  }

  model.dispose();
  const ok = Object.values(arrays).every((c) => c.ok) && Object.values(samplers).every((r) => r.ok);
  return {
    dir,
    backend: backend.name,
    tolerance,
    config: { block_size: bs, L, B, hidden: D, layers: cfg.nBlocks, heads: cfg.nHeads, vocab: V },
    arrays,
    samplers,
    skipped,
    ok,
  };
}

/** The nucleus p the golden sampler traces used (0.9 in the reference scripts). */
function nucleusP(dir: string): number {
  for (const f of ['sample_first_hitting.json', 'sample_ddpm.json']) {
    const p = path.join(dir, f);
    if (fs.existsSync(p)) {
      const j = JSON.parse(fs.readFileSync(p, 'utf8')) as { nucleus_p?: number };
      if (typeof j.nucleus_p === 'number') return j.nucleus_p;
    }
  }
  return 0.9;
}
