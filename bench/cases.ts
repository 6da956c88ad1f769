import { readFileSync, writeFileSync } from 'node:fs';
import { createBackend } from '../src/tensor/index.js';
import type { AttentionArgs, Backend, BackendName, GemmArgs } from '../src/tensor/backend.js';
import { PRESETS, type PresetName } from '../src/model/config.js';
import { initTensors } from '../src/model/init.js';
import { DiT } from '../src/model/dit.js';
import { kvCacheBytes } from '../src/model/kvcache.js';
import { parseWeightDtype, storeWeights, type WeightDtype } from '../src/model/storage.js';
import { benchWeightLogits } from './weight-logits.js';
import { benchModelCall } from './model-call.js';
import { benchSampleRows } from './sample-rows.js';
import { Rng } from '../src/tensor/rng.js';
import { generate, type SamplerName } from '../src/sampling/generate.js';
import { loadGpt2Tokenizer } from '../src/data/gpt2.js';
import { expectedParams } from '../src/model/params.js';
import { Grads } from '../src/training/grads.js';
import { lossAndGrads } from '../src/training/objective.js';
import { AdamW, clipFactor } from '../src/training/optimizer.js';
import { Ema } from '../src/training/ema.js';

export interface BenchCase {
  id: string;
  bench: string;
  backend: BackendName;
}

const SGEMM_SHAPES: [number, number, number][] = [
  [1024, 768, 768],
  [1024, 768, 3072],
  [64, 768, 50258],
  [16, 256, 256],
];
const BACKENDS: BackendName[] = ['native', 'wasm'];

/** sample cases: preset, block size, sampler, batch (512 tokens, nucleus 0.9, KV cache, as the reference figures) */
const SAMPLE_CASES: [PresetName, number, SamplerName, number][] = [
  ...(['tiny', 'small'] as const).flatMap((p) => [4, 16].flatMap((bs) => (['first-hitting', 'ddpm', 'threshold'] as const).map((s) => [p, bs, s, 1] as [PresetName, number, SamplerName, number]))),
  ...(['tiny', 'small'] as const).flatMap((p) => [4, 16].flatMap((bs) => [4, 16].map((b) => [p, bs, 'first-hitting', b] as [PresetName, number, SamplerName, number]))),
];

export const CASES: BenchCase[] = [
  ...BACKENDS.flatMap((b) => SGEMM_SHAPES.map(([m, k, n]) => ({ id: `sgemm:${b}:${m}x${k}x${n}`, bench: 'sgemm', backend: b }))),
  // the project's own C sgemm inside the native addon (BD3LM_SGEMM=own), against OpenBLAS above
  ...SGEMM_SHAPES.map(([m, k, n]) => ({ id: `sgemm:native-own:${m}x${k}x${n}`, bench: 'sgemm', backend: 'native' as const })),
  ...BACKENDS.flatMap((b) => (['tiny', 'small'] as const).map((p) => ({ id: `forward:${b}:${p}:1024`, bench: 'forward', backend: b }))),
  ...([['tiny', 128, 8], ['tiny', 1024, 1], ['small', 1024, 1]] as const).map(([p, L, B]) => ({ id: `train:native:${p}:${L}:${B}`, bench: 'train', backend: 'native' as const })),
  ...SAMPLE_CASES.map(([p, bs, s, B]) => ({ id: `sample:native:${p}:${bs}:${s}:${B}`, bench: 'sample', backend: 'native' as const })),
  // half-precision and int8 weight storage (loadModel's `weights` option; w8a8: int8 activations too) at batch 1, first hitting
  ...(['tiny', 'small'] as const).flatMap((p) => [4, 16].flatMap((bs) => (['bf16', 'f16', 'int8', 'w8a8'] as const).map((w) =>
    ({ id: `sample:native:${p}:${bs}:first-hitting:1:${w}`, bench: 'sample', backend: 'native' as const })))),
  // one sampling model call in isolation (best of 7), fp32, half, int8 and w8a8 weights
  ...(['tiny', 'small'] as const).flatMap((p) => [4, 16].flatMap((bs) => (['f32', 'bf16', 'f16', 'int8', 'w8a8'] as const).map((w) =>
    ({ id: `call:native:${p}:${bs}:${w}`, bench: 'call', backend: 'native' as const })))),
  // the effect of stored weights on the logits (vs fp32): the golden checkpoint and random tiny/small models
  ...(['golden', 'default', 'tiny', 'small'] as const).flatMap((m) => (['bf16', 'f16', 'int8', 'w8a8'] as const).map((w) =>
    ({ id: `logits:native:${m}:${w}`, bench: 'logits', backend: 'native' as const }))),
  // the WebAssembly build (the browser's engine) with fp32, int8 and w8a8 weights: one call, a sample run, the logits
  ...(['f32', 'int8', 'w8a8'] as const).flatMap((w) => [
    { id: `call:wasm:small:16:${w}`, bench: 'call', backend: 'wasm' as const },
    { id: `sample:wasm:small:16:first-hitting:1:${w}`, bench: 'sample', backend: 'wasm' as const },
  ]),
  ...(['golden', 'tiny', 'small'] as const).map((m) => ({ id: `logits:wasm:${m}:int8`, bench: 'logits', backend: 'wasm' as const })),
  // time to the first block after a 441-token prompt (the prompt's blocks are stored in the first model call)
  ...(['tiny', 'small'] as const).map((p) => ({ id: `prompt:native:${p}:4`, bench: 'prompt', backend: 'native' as const })),
  // the per-row work of a DDPM step (16 rows of 50258): TypeScript vs the backend kernel, flatter and more peaked rows
  ...BACKENDS.flatMap((b) => [2, 8].map((sc) => ({ id: `rows:${b}:16:${sc}`, bench: 'rows', backend: b }))),
];

/** median wall time in seconds of n calls after one warm-up call (the median, as the reference's run_ref.py) */
function medianOf(n: number, fn: () => void): number {
  fn();
  const t: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    fn();
    t.push((performance.now() - t0) / 1000);
  }
  t.sort((a, b) => a - b);
  return n % 2 ? t[n >> 1] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

const peakRssMb = () => Math.round(process.resourceUsage().maxRSS / 1024);

/**
 * Peak RSS of a phase in MB: Linux's VmHWM (and maxRSS) after resetting it through /proc/self/clear_refs ("5"), so
 * what came before (building the model: random init temporaries, fp32 matrices converted to half or int8) does not
 * count; those are collected first where the process runs with --expose-gc (bench.ts). Elsewhere the process peak.
 */
function phasePeakRss(): () => number {
  (globalThis as { gc?: () => void }).gc?.();
  try {
    writeFileSync('/proc/self/clear_refs', '5');
  } catch {
    return peakRssMb;
  }
  return () => {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : peakRssMb();
  };
}

function fill(a: Float32Array, rng: Rng): Float32Array {
  for (let i = 0; i < a.length; i++) a[i] = rng.uniform() - 0.5;
  return a;
}

function benchSgemm(be: Backend, m: number, k: number, n: number) {
  const rng = new Rng(1);
  // x W^T with W stored [n, k]: the layout of every Linear layer
  const a = fill(be.alloc(m * k), rng);
  const b = fill(be.alloc(n * k), rng);
  const c = be.alloc(m * n);
  const reps = Math.max(1, Math.min(50, Math.round(2e10 / (2 * m * n * k))));
  const s = medianOf(reps, () => be.sgemm({ m, n, k, a, lda: k, b, ldb: k, transB: true, c, ldc: n }));
  return { shape: `${m}x${k}x${n}`, transB: true, gflops: +((2 * m * n * k) / s / 1e9).toFixed(1), seconds: +s.toFixed(5) };
}

function benchForward(be: Backend, preset: PresetName, L: number) {
  const cfg = { ...PRESETS[preset], modelLength: L, blockSize: 16 };
  const model = new DiT(cfg, initTensors(cfg, 1, 'random', (n) => be.alloc(n)), be);
  const rng = new Rng(2);
  const ids = Int32Array.from({ length: 2 * L }, () => Math.floor(rng.uniform() * (cfg.vocabSize - 1)));
  // x_t: about half the tokens masked, as in a NELBO evaluation; logits only where masked (what the loss needs)
  const masked: number[] = [];
  for (let i = 1; i < L; i++) if (rng.uniform() < 0.5) {
    ids[i] = cfg.vocabSize - 1;
    masked.push(i);
  }
  const s = medianOf(3, () => model.forward({ ids, batch: 1, seqLen: 2 * L, layout: 'vectorized', logitRows: masked }));
  return {
    preset, L, B: 1, block_size: cfg.blockSize, layout: 'vectorized', logit_rows: masked.length,
    tokens_per_s: +(L / s).toFixed(1), seconds: +s.toFixed(3), peak_rss_mb: peakRssMb(),
  };
}

/** One optimizer step as the reference's figure: vectorised BD3-LM loss, forward + backward + clip + AdamW (+ EMA). */
function benchTrain(be: Backend, preset: PresetName, L: number, B: number) {
  const cfg = { ...PRESETS[preset], modelLength: L, blockSize: 16 };
  const tensors = initTensors(cfg, 1, 'random', (n) => be.alloc(n));
  const model = new DiT(cfg, tensors, be);
  const params = expectedParams(cfg).filter((q) => q.kind === 'param').map((q) => ({ name: q.name, data: tensors.get(q.name)! }));
  const grads = new Grads(model);
  const opt = new AdamW(be, params);
  const ema = new Ema(be, params);
  const rng = new Rng(3);
  const x0 = Int32Array.from({ length: B * L }, () => Math.floor(rng.uniform() * (cfg.vocabSize - 1)));
  const step = () => {
    grads.zero();
    lossAndGrads(model, grads, { x0, B, L }, { algo: 'bd3lm', blockSize: 16, dropout: 0.1, random: () => rng.uniform() });
    const { scale } = clipFactor(be, grads.tensors.values(), 1);
    opt.update(grads.tensors, 3e-4, scale);
    ema.update();
  };
  const s = medianOf(3, step);
  return { preset, L, B, block_size: 16, algo: 'bd3lm', tokens_per_s: +((B * L) / s).toFixed(1), step_s: +s.toFixed(3), peak_rss_mb: peakRssMb() };
}

async function benchSample(be: Backend, preset: PresetName, bs: number, sampler: SamplerName, batch: number, weights: WeightDtype, len = 512) {
  const cfg = { ...PRESETS[preset], blockSize: bs };
  const tensors = initTensors(cfg, 1, 'random', (n) => be.alloc(n));
  const model = new DiT(cfg, tensors, be, storeWeights(cfg, tensors, weights, be));
  const tok = await loadGpt2Tokenizer();
  // `len` tokens with BOS (512 as the reference figures): len - 1 generated; T = L' steps per block (first hitting: one
  // reveal per model call)
  const rss = phasePeakRss();
  const flops = countFlops(be);
  const calls = timeModelCalls(be);
  const t0 = performance.now();
  const r = await generate(model, tok, { maxNewTokens: len - 1, blockSize: bs, sampler, steps: bs, topP: 0.9, stopOnEos: false, stop: false, seed: 1, batch }).result();
  const s = (performance.now() - t0) / 1000;
  const msPerCall = calls.stop(s * 1000, r.modelCalls); // unwrapped before the flop counter it wraps
  const gflop = flops.stop() / 1e9;
  const tokens = r.sequences.reduce((a, q) => a + q.allTokens.length, 0);
  const mb = (bytes: number) => +(bytes / 2 ** 20).toFixed(1);
  const weightBytes = [...model.tensors.values()].reduce((a, t) => a + t.byteLength, 0) +
    [...model.stored.values()].reduce((a, h) => a + h.data.byteLength + (h.dtype === 'int8' ? h.scales.byteLength : 0), 0);
  // generate's KV cache: C = the model length in whole blocks; it slides when the run outgrows C
  const C = Math.floor(cfg.modelLength / bs) * bs;
  const cacheBytes = kvCacheBytes(cfg, batch, C, len > C);
  const rssMb = rss();
  return {
    preset, L: cfg.modelLength, block_size: bs, sampler, weights, T: bs, top_p: 0.9, kv_cache: true, B: batch, seq_len: len,
    // backbone calls as the reference counts them: denoiser calls plus one KV store pass per block
    nfe: r.sequences[0].nfe, backbone_calls: r.modelCalls + Math.ceil(len / bs), tokens_per_s: +(tokens / s).toFixed(2),
    ms_per_backbone_call: +((s * 1000) / (r.modelCalls + Math.ceil(len / bs))).toFixed(1), seconds: +s.toFixed(2),
    // the arithmetic the run did (sgemm + attention), and its rate over the whole run: against the sgemm figures it
    // shows how far a batch is from the machine's arithmetic ceiling
    gflop: +gflop.toFixed(1), gflops: +(gflop / s).toFixed(1),
    // where a model call's time goes (ms; model calls as this port makes them, store passes folded in)
    model_calls: r.modelCalls, ms_per_model_call: msPerCall,
    // memory while sampling (peak RSS of the run) against what it must hold: the weights and the KV cache
    rss_mb: rssMb, weights_mb: mb(weightBytes), cache_mb: mb(cacheBytes), rss_ratio: +(rssMb / ((weightBytes + cacheBytes) / 2 ** 20)).toFixed(2),
  };
}

/** Time to the first finished block (and to the end) of 64 tokens after a 441-token prompt, best of 2, batch 1. */
async function benchPrompt(be: Backend, preset: PresetName, bs: number) {
  const cfg = { ...PRESETS[preset], blockSize: bs };
  const model = new DiT(cfg, initTensors(cfg, 1, 'random', (n) => be.alloc(n)), be);
  const tok = await loadGpt2Tokenizer();
  const prompt = 'In the beginning God created the heaven and the earth. '.repeat(40);
  let first = Infinity;
  let total = Infinity;
  for (let rep = 0; rep < 2; rep++) {
    const t0 = performance.now();
    let t1 = 0;
    for await (const ev of generate(model, tok, { prompt, maxNewTokens: 64, blockSize: bs, sampler: 'first-hitting', topP: 0.9, seed: 1, stopOnEos: false, stop: false })) {
      if (ev.type === 'block' && !t1) t1 = performance.now() - t0;
    }
    first = Math.min(first, t1);
    total = Math.min(total, performance.now() - t0);
  }
  return { preset, block_size: bs, prompt_tokens: tok.encode(prompt).length, new_tokens: 64, ms_first_block: Math.round(first), ms_total: Math.round(total) };
}

/**
 * Routes every call of the backend's kernels (methods other than alloc* / free; or only `names`) through
 * `around(name, args, call)` until the returned `restore()`.
 */
function wrapKernels(be: Backend, around: (name: string, args: unknown[], call: () => unknown) => unknown, names?: string[]): () => void {
  const target = be as unknown as Record<string, unknown>;
  const saved = new Map<string, unknown>();
  for (const name of names ?? Object.keys(be)) {
    const f = target[name];
    if (typeof f !== 'function' || /^(alloc|free)/.test(name)) continue;
    saved.set(name, f);
    target[name] = (...args: unknown[]) => around(name, args, () => (f as (...a: unknown[]) => unknown).apply(be, args));
  }
  return () => {
    for (const [name, f] of saved) target[name] = f;
  };
}

/**
 * Counts the floating-point operations of the backend's sgemm (2mnk per item) and attention (4 x head dim per allowed
 * query-key pair: scores and the weighted sum) calls until `stop()`, which restores the methods and returns the count.
 */
function countFlops(be: Backend): { stop: () => number } {
  let n = 0;
  const restore = wrapKernels(be, (name, args, call) => {
    if (name === 'sgemm') {
      const a = args[0] as GemmArgs;
      n += 2 * a.m * a.n * a.k * (a.batch ?? 1);
    } else {
      const a = args[0] as AttentionArgs;
      let pairs = 0;
      for (let i = 0; i + 5 < a.spans.length; i += 6) {
        const q = Math.min(a.spans[i + 1], a.qLen) - a.spans[i];
        const k = Math.min(a.spans[i + 3], a.kLen) - a.spans[i + 2] + Math.min(a.spans[i + 5], a.kLen) - a.spans[i + 4];
        pairs += Math.max(0, q) * Math.max(0, k);
      }
      n += 4 * a.headDim * a.heads * a.batch * pairs;
    }
    return call();
  }, ['sgemm', 'attention']);
  return {
    stop: () => {
      restore();
      return n;
    },
  };
}

/** where a model call's time goes, in ms per call: the three largest kernels, the others together, and the TypeScript between them */
export interface MsPerModelCall {
  sgemm: number;
  attention: number;
  sample_rows: number;
  other_kernels: number;
  typescript: number;
}

/**
 * Times every kernel call of the backend until `stop(wallMs, modelCalls)`, which restores the methods and splits the
 * wall time of a sampling run over its model calls (the time outside kernels is TypeScript).
 */
export function timeModelCalls(be: Backend): { stop: (wallMs: number, modelCalls: number) => MsPerModelCall } {
  const ms: Record<string, number> = {};
  const restore = wrapKernels(be, (name, _args, call) => {
    const t0 = performance.now();
    try {
      return call();
    } finally {
      ms[name] = (ms[name] ?? 0) + performance.now() - t0;
    }
  });
  return {
    stop: (wallMs, modelCalls) => {
      restore();
      const perCall = (x: number) => +(x / modelCalls).toFixed(2);
      const { sgemm = 0, attention = 0, sampleRows = 0 } = ms;
      const kernels = Object.values(ms).reduce((a, x) => a + x, 0);
      return {
        sgemm: perCall(sgemm), attention: perCall(attention), sample_rows: perCall(sampleRows),
        other_kernels: perCall(kernels - sgemm - attention - sampleRows), typescript: perCall(wallMs - kernels),
      };
    },
  };
}

export async function runCase(id: string): Promise<Record<string, unknown>> {
  const [bench, backendName, ...rest] = id.split(':');
  if (backendName === 'native-own') process.env.BD3LM_SGEMM = 'own';
  const be = await createBackend((backendName === 'native-own' ? 'native' : backendName) as BackendName);
  const head = { bench, backend: be.name, threads: be.threads, info: be.info };
  if (bench === 'sgemm') {
    const [m, k, n] = rest[0].split('x').map(Number);
    return { ...head, ...benchSgemm(be, m, k, n) };
  }
  if (bench === 'forward') return { ...head, ...benchForward(be, rest[0] as PresetName, Number(rest[1])) };
  if (bench === 'train') return { ...head, ...benchTrain(be, rest[0] as PresetName, Number(rest[1]), Number(rest[2])) };
  if (bench === 'call') return { ...head, ...benchModelCall(be, rest[0] as PresetName, Number(rest[1]), parseWeightDtype(rest[2] ?? 'f32')) };
  if (bench === 'rows') return { ...head, ...benchSampleRows(be, Number(rest[0]), Number(rest[1])) };
  if (bench === 'logits') return { ...head, ...(await benchWeightLogits(be, rest[0], parseWeightDtype(rest[1]))) };
  if (bench === 'prompt') return { ...head, ...(await benchPrompt(be, rest[0] as PresetName, Number(rest[1]))) };
  // sample:BACKEND:PRESET:L':SAMPLER:BATCH[:WEIGHTS[:TOKENS]] (a case id outside CASES may set a shorter length)
  if (bench === 'sample') return { ...head, ...(await benchSample(be, rest[0] as PresetName, Number(rest[1]), rest[2] as SamplerName, Number(rest[3]), parseWeightDtype(rest[4] ?? 'f32'), Number(rest[5] ?? 512))) };
  throw new Error(`unknown bench case ${id}`);
}
