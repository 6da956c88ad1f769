/**
 * W8A8 products (loadModel's `weights: 'w8a8'`: int8 weights and activations quantized per row at run time,
 * native/kernels/w8a8.c): every backend's kernel against a float64 product of the same quantized arithmetic written
 * out here (activation quantization included), the rounding rule read back through an identity weight, non-finite
 * rows, the golden model against a reference run and against fp32, and the bad inputs.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { loadModel } from '../src/model/load.js';
import { saveCheckpoint, loadCheckpoint } from '../src/model/checkpoint.js';
import { parseWeightDtype } from '../src/model/storage.js';
import { W8A8_MAX_K, withActivations } from '../src/model/quantize.js';
import { DiT, vectorizedIds } from '../src/model/dit.js';
import { readNpy, npyToInt32 } from '../src/model/npy.js';
import type { Backend, Int8Matrix } from '../src/tensor/backend.js';
import { dequantizeRows, quantizeRows } from '../src/tensor/int8.js';
import { perplexity } from '../src/eval/ppl.js';
import { RefBackend } from '../src/tensor/index.js';
import { assertClose, Rng } from './helpers.js';
import { availableBackends, FIXTURES, maxAbs, maxAbsDiff } from './model-helpers.js';

const ref = new RefBackend();
const backends = await availableBackends();
const GOLDEN = path.join(FIXTURES, 'bs4');
const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/cli/main.js');
/** max |logit difference| / max |fp32 logit| of w8a8 on the golden model; measured 1.3e-2 by the bench case
 * logits:native:golden:w8a8 (results/weights-logits.jsonl) */
const W8A8_LOGIT_REL_TOL = 3e-2;

/** a random W8A8 matrix of n rows of k (every int8 value occurs) with positive scales, on `be` */
function randomW8A8(be: Backend, rng: Rng, n: number, k: number): Int8Matrix {
  const data = be.allocInt8!(n * k);
  for (let i = 0; i < data.length; i++) data[i] = Math.floor(rng.uniform() * 256) - 128;
  const scales = be.alloc(n);
  for (let j = 0; j < n; j++) scales[j] = Math.fround(0.001 + rng.uniform() * 0.05);
  return { data, scales, dtype: 'int8', activations: 'int8' };
}

/** row i of op(A) as the kernel quantizes it: int8 values and the row's scale (quantizeRows, the weights' rule) */
function quantizedRow(a: Float32Array, transA: boolean, lda: number, i: number, k: number): { q: Int8Array; s: number } {
  const row = Float32Array.from({ length: k }, (_, p) => (transA ? a[p * lda + i] : a[i * lda + p]));
  const q = new Int8Array(k), s = new Float32Array(1);
  quantizeRows(row, 1, k, q, s);
  return { q, s: s[0] };
}

for (const { name, backend: be, why } of backends) {
  describe(`W8A8 products on ${name}`, { skip: be ? false : why }, () => {
    const put = (x: ArrayLike<number>) => {
      const a = be!.alloc(x.length);
      a.set(x);
      return a;
    };

    test('against a float64 product of the quantized activations and weights (1e-5), every path and tail', () => {
      const rng = new Rng(9);
      // k: below, at and past one 64-byte step with tails; n: partial groups of 4 and work items of 16; m: partial groups of 4
      const ms = name === 'ref' ? [1, 5, 16] : [1, 2, 3, 4, 5, 7, 8, 13, 16, 17, 33, 64];
      for (const m of ms)
        for (const [n, k] of [[37, 29], [301, 64], [19, 300], [5, 768], [64, 1]]) {
          const transA = m % 3 === 0;
          const v = m % 2 === 0 ? { alpha: 1, beta: 0, bias: false, pad: 0 } : { alpha: -0.75, beta: 0.5, bias: true, pad: 3 };
          const lda = (transA ? m : k) + v.pad, ldb = k + v.pad, ldc = n + v.pad;
          const a = put(rng.randn((transA ? k : m) * lda));
          const b = randomW8A8(be!, rng, n, ldb);
          const c0 = rng.randn(m * ldc);
          if (v.beta === 0) c0.fill(NaN);
          const bias = v.bias ? put(rng.randn(n)) : null;
          const got = put(c0);
          be!.sgemm({ transA, transB: true, m, n, k, alpha: v.alpha, a, lda, b, ldb, beta: v.beta, c: got, ldc, bias });
          const label = `m${m} n${n} k${k} tA${+transA}`;
          for (let i = 0; i < m; i++) {
            const { q, s } = quantizedRow(a, transA, lda, i, k);
            const want = new Float64Array(n);
            for (let j = 0; j < n; j++) {
              let dot = 0;
              for (let p = 0; p < k; p++) dot += q[p] * b.data[j * ldb + p];
              want[j] = v.alpha * s * b.scales[j] * dot + (v.beta ? v.beta * c0[i * ldc + j] : 0) + (bias ? bias[j] : 0);
            }
            assertClose(got.subarray(i * ldc, i * ldc + n), want, { rel: 1e-5, label: `${label} row ${i}` });
          }
        }
    });

    test('activations round half away from zero on the row scale max |row| / 127 (read back through an identity weight)', () => {
      const k = 70, m = 2;
      const x = new Float32Array(m * k);
      // row 0: scale 1 (max 127), ties and near-ties; row 1: all zero (scale 0, zeros out)
      x.set([127, 0.5, -0.5, 1.5, -2.5, 2.4999998, -126.5, 0.49999997, 3, -127]);
      const data = be!.allocInt8!(k * k);
      for (let j = 0; j < k; j++) data[j * k + j] = 1;
      const b: Int8Matrix = { data, scales: put(new Float32Array(k).fill(1)), dtype: 'int8', activations: 'int8' };
      const c = be!.alloc(m * k);
      be!.sgemm({ transB: true, m, n: k, k, a: put(x), lda: k, b, ldb: k, c, ldc: k });
      assert.deepEqual([...c.subarray(0, 10)], [127, 1, -1, 2, -3, 2, -127, 0, 3, -127]);
      assert.ok(c.subarray(10).every((v) => v === 0));
    });

    test('a row holding NaN or Infinity gives a NaN row; the other rows are unaffected', () => {
      const rng = new Rng(4);
      const m = 5, n = 20, k = 100;
      const a = put(rng.randn(m * k));
      a[1 * k + 7] = NaN;
      a[3 * k + 99] = -Infinity;
      const b = randomW8A8(be!, rng, n, k);
      const c = be!.alloc(m * n);
      be!.sgemm({ transB: true, m, n, k, a, lda: k, b, ldb: k, c, ldc: n });
      for (let i = 0; i < m; i++)
        for (let j = 0; j < n; j++) assert.equal(Number.isNaN(c[i * n + j]), i === 1 || i === 3, `(${i}, ${j})`);
    });

    test('a W8A8 b needs transB and batch 1', () => {
      const b = randomW8A8(be!, new Rng(1), 2, 2);
      const c = be!.alloc(4), a = be!.alloc(4);
      assert.throws(() => be!.sgemm({ m: 2, n: 2, k: 2, a, lda: 2, b, ldb: 2, c, ldc: 2 }), /int8 b needs transB/);
      assert.throws(() => be!.sgemm({ transB: true, m: 1, n: 2, k: 2, a, lda: 2, b, ldb: 2, c, ldc: 2, batch: 2 }), /batch 1/);
      if (name === 'native') {
        const k = W8A8_MAX_K + 1, long = randomW8A8(be!, new Rng(2), 1, k);
        assert.throws(() => be!.sgemm({ transB: true, m: 1, n: 1, k, a: be!.alloc(k), lda: k, b: long, ldb: k, c, ldc: 1 }), /k 131073 is above 131072/);
      }
    });

    test('golden model with w8a8: the reference backend run of the same model, and fp32 within the documented error', async () => {
      const xt = npyToInt32(readNpy(path.join(GOLDEN, 'xt.npy')));
      const x0 = npyToInt32(readNpy(path.join(GOLDEN, 'x0.npy')));
      const B = 2, L = 32;
      const input = vectorizedIds(xt, x0, B, L);
      const run = (m: DiT) => Float32Array.from(m.forward({ ids: input, batch: B, seqLen: 2 * L, layout: 'vectorized', blockSize: 4 }).logits);
      const model = await loadModel(GOLDEN, { backend: be!, weights: 'w8a8' });
      assert.equal(model.weightDtype, 'w8a8');
      const got = run(model);
      const want = run(await loadModel(GOLDEN, { backend: ref, weights: 'w8a8' }));
      // (measured 1.9e-7; an activation whose fp32 value differed from the float64 run's by an ulp across a rounding
      // boundary would move one product by one int8 step, ~1e-4 of the logits)
      assertClose(got, want, { rel: 1e-5, label: 'w8a8 logits vs the reference backend' });
      const int8 = run(await loadModel(GOLDEN, { backend: be!, weights: 'int8' }));
      const f32 = run(await loadModel(GOLDEN, { backend: be! }));
      const rel = maxAbsDiff(got, f32) / maxAbs(f32);
      assert.ok(rel > 0 && rel < W8A8_LOGIT_REL_TOL, `w8a8 vs fp32: max |diff| / max |logit| = ${rel}`);
      assert.ok(maxAbsDiff(got, int8) > 0, 'w8a8 differs from weight-only int8');
    });
  });
}

describe('w8a8 loading', () => {
  test('an int8 folder loads as w8a8 too; unknown storage and a backend without the kernel are named', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bd3lm-w8a8-'));
    try {
      const src = loadCheckpoint(GOLDEN);
      saveCheckpoint(dir, src.config, src.tensors, { quantization: 'int8' });
      const fromFolder = await loadModel(dir, { backend: ref, weights: 'w8a8' });
      const atLoad = await loadModel(GOLDEN, { backend: ref, weights: 'w8a8' });
      assert.equal(fromFolder.weightDtype, 'w8a8');
      assert.ok([...fromFolder.stored.values()].every((m) => m.dtype === 'int8' && m.activations === 'int8'));
      const ids = Int32Array.from({ length: 16 }, (_, i) => (i * 37) % 257);
      const logits = (m: DiT) => Float32Array.from(m.forward({ ids, batch: 1, seqLen: 16, layout: 'bidirectional', blockSize: 4 }).logits);
      assert.deepEqual(logits(fromFolder), logits(atLoad));
      assert.equal((await loadModel(dir, { backend: ref })).weightDtype, 'int8');
      const noKernel: Backend = Object.assign(new RefBackend(), { w8a8: false });
      await assert.rejects(loadModel(dir, { backend: noKernel, weights: 'w8a8' }), /weights 'w8a8': the ref backend has no W8A8 kernel/);
      await assert.rejects(loadModel(GOLDEN, { backend: noKernel, weights: 'w8a8' }), /weights 'w8a8': the ref backend has no W8A8 kernel/);
      assert.throws(() => parseWeightDtype('w8a4'), /weights must be f32, bf16, f16, int8 or w8a8, got 'w8a4'/);
      const long = new Map([['wide', { data: new Int8Array(W8A8_MAX_K + 1), scales: new Float32Array(1), dtype: 'int8' as const }]]);
      assert.throws(() => withActivations(long, 'w8a8', ref), /weights 'w8a8': wide has rows of 131073 values, above the 131072/);
      assert.equal(withActivations(long, 'int8', ref), long);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

test('held-out NELBO runs on stored weights (eval ppl --weights): int8 equals the fp32 model of its values, w8a8 is near it', async () => {
  const int8 = await loadModel(GOLDEN, { backend: ref, weights: 'int8' });
  const deq = new Map<string, Float32Array>([...int8.tensors].map(([n, t]) => [n, Float32Array.from(t)]));
  for (const [n, m] of int8.stored) deq.set(n, dequantizeRows(m as Int8Matrix));
  const L = int8.config.modelLength;
  const rows = 3;
  const ids = Int32Array.from({ length: rows * L }, (_, i) => (i * 31 + 7) % (int8.config.vocabSize - 1));
  const nll = (m: DiT) => perplexity(m, [{ ids, rows }], { seed: 3 }).nll;
  const a = nll(int8), b = nll(new DiT(int8.config, deq, ref));
  assert.ok(Math.abs(a - b) <= 1e-6 * Math.abs(b), `int8 ${a} vs its fp32 values ${b}`);
  const w = nll(await loadModel(GOLDEN, { backend: ref, weights: 'w8a8' }));
  assert.ok(w !== a && Math.abs(w - a) < 2e-2 * Math.abs(a), `w8a8 ${w} vs int8 ${a}`);
});

test('bd3lm sample --weights w8a8 and eval ppl --weights int8|w8a8 (the CLI passes the option on)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bd3lm-w8a8-'));
  const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  try {
    const s = cli('sample', '--model', GOLDEN, '--weights', 'w8a8', '--length', '8', '--seed', '1', '--no-eos-stop', '--json');
    assert.equal(s.status, 0, s.stderr);
    assert.equal(JSON.parse(s.stdout).tokens.length, 8);
    const text = path.join(dir, 'a.txt');
    fs.writeFileSync(text, 'In the beginning God created the heaven and the earth. '.repeat(4));
    const ppl = (w: string) => {
      const r = cli('eval', 'ppl', '--model', GOLDEN, '--text', text, '--weights', w);
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout).nll as number;
    };
    const [f32, int8, w8a8] = ['f32', 'int8', 'w8a8'].map(ppl);
    assert.ok(f32 !== int8 && int8 !== w8a8, `${f32} ${int8} ${w8a8}`);
    assert.ok(Math.abs(w8a8 - f32) < 2e-2 * f32);
    const bad = cli('eval', 'ppl', '--model', GOLDEN, '--text', text, '--weights', 'w4');
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--weights/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the portable loop (BD3LM_W8A8=portable, as on CPUs without AVX-512 VNNI) gives the AVX-512 path\'s bits', { skip: !backends.find((b) => b.name === 'native')?.backend }, () => {
  // one product per shape in a child process per setting: m rows of 1, 5 and 16 (groups of 4 and a single row), k with tails
  const script = `
    const { createBackend } = await import(${JSON.stringify(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/tensor/index.js'))});
    const be = await createBackend('native');
    let seed = 5;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    const out = [be.info];
    for (const [m, n, k] of [[1, 37, 29], [5, 301, 300], [16, 64, 768]]) {
      const a = Float32Array.from({ length: m * k }, () => rnd() * 2 - 1);
      const data = Int8Array.from({ length: n * k }, () => Math.floor(rnd() * 255) - 127);
      const scales = Float32Array.from({ length: n }, () => 0.001 + rnd() * 0.05);
      const c = new Float32Array(m * n);
      be.sgemm({ transB: true, m, n, k, a, lda: k, b: { data, scales, dtype: 'int8', activations: 'int8' }, ldb: k, c, ldc: n });
      out.push(Array.from(c));
    }
    process.stdout.write(JSON.stringify(out));`;
  const run = (env: Record<string, string>) => {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, ...env } });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as [string, ...number[][]];
  };
  const [infoP, ...portable] = run({ BD3LM_W8A8: 'portable' });
  const [info, ...fast] = run({});
  assert.match(infoP, /w8a8: portable/);
  if (!/w8a8: avx512-vnni/.test(info)) return; // this CPU runs the portable loop anyway
  portable.forEach((p, t) => p.forEach((v, i) => assert.ok(Object.is(v, fast[t][i]), `product ${t} [${i}]: ${v} vs ${fast[t][i]}`)));
});
