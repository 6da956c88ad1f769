/**
 * int8 weight storage (loadModel's `weights: 'int8'`, `bd3lm export --dtype int8`): the quantizer against its
 * definition, the int8 kernels of every backend bit for bit against the values they stand for and against a float64
 * product, the golden model's int8 logits against a reference run of the quantized model (1e-5) and against fp32
 * (the documented error), the checkpoint format and every bad input it names.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { loadModel } from '../src/model/load.js';
import { loadModelFromBytes } from '../src/model/load-bytes.js';
import { loadCheckpoint, saveCheckpoint } from '../src/model/checkpoint.js';
import { readSafetensorsHeader, loadSafetensors, saveSafetensors } from '../src/model/safetensors.js';
import { quantizeWeights } from '../src/model/quantize.js';
import { isStoredWeight } from '../src/model/weights.js';
import { readNpy, npyToInt32 } from '../src/model/npy.js';
import { DiT, vectorizedIds } from '../src/model/dit.js';
import { trainingLoss } from '../src/training/objective.js';
import type { Backend, Int8Matrix } from '../src/tensor/backend.js';
import { dequantizeRows, quantizeRows } from '../src/tensor/int8.js';
import { RefBackend } from '../src/tensor/index.js';
import { assertClose, Rng } from './helpers.js';
import { availableBackends, FIXTURES, maxAbs, maxAbsDiff, randomModel } from './model-helpers.js';

const ref = new RefBackend();
const backends = await availableBackends();
const GOLDEN = path.join(FIXTURES, 'bs4');
const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/cli/main.js');
/** max |logit difference| / max |fp32 logit| of int8 weights on the golden model; measured 1.1e-2 by the bench case
 * logits:native:golden:int8 (results/weights-logits.jsonl) */
const INT8_LOGIT_REL_TOL = 2e-2;

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'bd3lm-int8-'));
}

/** a random int8 matrix of n rows of k (every value, -128 included, occurs) with positive scales, on `be` */
function randomInt8(be: Backend, rng: Rng, n: number, k: number): Int8Matrix {
  const data = be.allocInt8!(n * k);
  for (let i = 0; i < data.length; i++) data[i] = Math.floor(rng.uniform() * 256) - 128;
  const scales = be.alloc(n);
  for (let j = 0; j < n; j++) scales[j] = Math.fround(0.001 + rng.uniform() * 0.05);
  return { data, scales, dtype: 'int8' };
}

test('quantizeRows: max |q| = 127 per nonzero row, every value within half a step, zero rows scale 0', () => {
  const rng = new Rng(3);
  const rows = 9, cols = 70;
  const x = rng.randn(rows * cols);
  x.fill(0, 2 * cols, 3 * cols); // a zero row
  x[4 * cols + 5] = -40; // an outlier sets its row's step
  const q = new Int8Array(rows * cols), s = new Float32Array(rows);
  quantizeRows(x, rows, cols, q, s);
  for (let r = 0; r < rows; r++) {
    const row = x.subarray(r * cols, (r + 1) * cols);
    const amax = Math.max(...Array.from(row, Math.abs));
    assert.equal(s[r], Math.fround(amax / 127), `row ${r} scale`);
    if (amax === 0) {
      assert.ok(q.subarray(r * cols, (r + 1) * cols).every((v) => v === 0));
      continue;
    }
    assert.equal(Math.max(...Array.from(q.subarray(r * cols, (r + 1) * cols), Math.abs)), 127, `row ${r}`);
    for (let c = 0; c < cols; c++) {
      const err = Math.abs(row[c] - q[r * cols + c] * s[r]);
      assert.ok(err <= s[r] / 2 * (1 + 1e-6), `row ${r} col ${c}: error ${err} above half a step ${s[r] / 2}`);
    }
  }
  // ties go away from zero; dequantizing gives fround(q * s)
  const t = Float32Array.from([127, 0.5, -0.5, 1.5, -2.5]);
  const tq = new Int8Array(5), ts = new Float32Array(1);
  quantizeRows(t, 1, 5, tq, ts);
  assert.deepEqual([...tq], [127, 1, -1, 2, -3]);
  assert.deepEqual([...dequantizeRows({ data: tq, scales: ts, dtype: 'int8' })], [127, 1, -1, 2, -3]);
  assert.throws(() => quantizeRows(Float32Array.from([1, NaN]), 1, 2, new Int8Array(2), new Float32Array(1)), /non-finite/);
});

for (const { name, backend: be, why } of backends) {
  describe(`int8 weights on ${name}`, { skip: be ? false : why }, () => {
    const put = (x: ArrayLike<number>) => {
      const a = be!.alloc(x.length);
      a.set(x);
      return a;
    };

    test('embedding from an int8 table: every row is fround(q * scale) exactly', () => {
      const rng = new Rng(11);
      const dim = 263, rows = 40; // a tail after the vector loop
      const t = randomInt8(be!, rng, rows, dim);
      const ids = be!.allocInt(rows);
      for (let i = 0; i < rows; i++) ids[i] = (i * 7) % rows;
      const out = be!.alloc(rows * dim);
      be!.embedding(t, ids, rows, dim, out);
      for (let i = 0; i < rows; i++)
        for (let c = 0; c < dim; c++) {
          const r = ids[i];
          assert.ok(Object.is(out[i * dim + c], Math.fround(t.data[r * dim + c] * t.scales[r])), `row ${i} col ${c}`);
        }
    });

    test('sgemm with an int8 b: exact widening in every path (identity op(A))', () => {
      const rng = new Rng(5);
      // m = k: 3 and 7 take the skinny paths, 40 the packed one, 300 two depth blocks
      for (const [k, n] of [[3, 19], [7, 37], [40, 37], [300, 9]]) {
        const m = k;
        const b = randomInt8(be!, rng, n, k);
        const a = be!.alloc(m * k);
        for (let i = 0; i < m; i++) a[i * k + i] = 1;
        const c = be!.alloc(m * n);
        be!.sgemm({ transB: true, m, n, k, a, lda: k, b, ldb: k, c, ldc: n });
        for (let i = 0; i < m; i++)
          for (let j = 0; j < n; j++)
            assert.ok(Object.is(c[i * n + j], Math.fround(b.data[j * k + i] * b.scales[j]) + 0), `k${k} n${n} (${i}, ${j})`);
      }
    });

    test('sgemm with an int8 b against a float64 product of the quantized matrix (1e-5), and bit for bit against the fp32 kernel on its values', () => {
      const rng = new Rng(7);
      const ms = [...Array.from({ length: 16 }, (_, i) => i + 1), 33, 64, 100, 200];
      for (const m of ms) {
        for (const [n, k] of [[37, 29], [301, 64], [19, 300], ...(m === 200 ? [[301, 300]] : [])]) {
          const transA = m % 3 === 0;
          const v = m % 2 === 0 ? { alpha: 1, beta: 0, bias: false, pad: 0 } : { alpha: -0.75, beta: 0.5, bias: true, pad: 3 };
          const lda = (transA ? m : k) + v.pad, ldb = k + v.pad, ldc = n + v.pad;
          const a = put(rng.randn((transA ? k : m) * lda));
          const b = randomInt8(be!, rng, n, ldb);
          const c0 = rng.randn(m * ldc);
          if (v.beta === 0) c0.fill(NaN);
          const bias = v.bias ? put(rng.randn(n)) : null;
          const args = { transA, transB: true, m, n, k, alpha: v.alpha, lda, ldb, beta: v.beta, ldc, bias };
          const got = put(c0);
          be!.sgemm({ ...args, a, b, c: got });
          const label = `m${m} n${n} k${k} tA${+transA}`;
          for (let i = 0; i < m; i++) {
            const want = new Float64Array(n);
            for (let j = 0; j < n; j++) {
              let acc = 0;
              for (let p = 0; p < k; p++) acc += (transA ? a[p * lda + i] : a[i * lda + p]) * (b.data[j * ldb + p] * b.scales[j]);
              want[j] = v.alpha * acc + (v.beta ? v.beta * c0[i * ldc + j] : 0) + (bias ? bias[j] : 0);
            }
            assertClose(got.subarray(i * ldc, i * ldc + n), want, { rel: 1e-5, label: `${label} row ${i}` });
          }
          // the same kernel paths as an fp32 b holding the widened values (natively, fp32 products from 32 rows may
          // go to OpenBLAS instead: bd_sgemm's use_own)
          if (m < 32 || be!.name !== 'native') {
            const wide = put(dequantizeRows(b));
            const f32 = put(c0);
            be!.sgemm({ ...args, a, b: wide, c: f32 });
            for (let i = 0; i < m * ldc; i++) assert.ok(Object.is(got[i], f32[i]), `${label} [${i}]: ${got[i]} vs fp32 ${f32[i]}`);
          }
        }
      }
    });

    test('an int8 b needs transB and batch 1', () => {
      const b = randomInt8(be!, new Rng(1), 2, 2);
      const c = be!.alloc(4), a = be!.alloc(4);
      assert.throws(() => be!.sgemm({ m: 2, n: 2, k: 2, a, lda: 2, b, ldb: 2, c, ldc: 2 }), /int8 b needs transB/);
      assert.throws(() => be!.sgemm({ transB: true, m: 1, n: 2, k: 2, a, lda: 2, b, ldb: 2, c, ldc: 2, batch: 2 }), /batch 1/);
    });

    test('golden model with int8 weights: a reference run of the quantized model within 1e-5, fp32 within the documented error', async () => {
      const xt = npyToInt32(readNpy(path.join(GOLDEN, 'xt.npy')));
      const x0 = npyToInt32(readNpy(path.join(GOLDEN, 'x0.npy')));
      const B = 2, L = 32;
      const input = vectorizedIds(xt, x0, B, L);
      const run = (m: DiT) => Float32Array.from(m.forward({ ids: input, batch: B, seqLen: 2 * L, layout: 'vectorized', blockSize: 4 }).logits);
      const model = await loadModel(GOLDEN, { backend: be!, weights: 'int8' });
      assert.equal(model.weightDtype, 'int8');
      assert.equal(model.stored.size, 4 * 2 + 2);
      assert.ok([...model.tensors.keys()].every((n) => !isStoredWeight(n)));
      const got = run(model);
      // the quantized model's reference: the fp32 values its int8 weights stand for, on the float64-accumulating backend
      const deq = new Map<string, Float32Array>([...model.tensors].map(([n, t]) => [n, Float32Array.from(t)]));
      for (const [n, m] of model.stored) deq.set(n, dequantizeRows(m as Int8Matrix));
      const want = run(new DiT(model.config, deq, ref));
      assertClose(got, want, { rel: 1e-5, label: 'int8 logits vs reference of the quantized model' });
      const f32 = run(await loadModel(GOLDEN, { backend: be! }));
      const rel = maxAbsDiff(got, f32) / maxAbs(f32);
      assert.ok(rel > 0 && rel < INT8_LOGIT_REL_TOL, `int8 vs fp32: max |diff| / max |logit| = ${rel}`);
    });

    test('an int8 folder (export) loads as int8, from files and from bytes (browsers), with the logits of quantizing at load', async () => {
      const dir = tmpDir();
      try {
        const src = loadCheckpoint(GOLDEN);
        saveCheckpoint(dir, src.config, src.tensors, { quantization: 'int8' });
        const a = await loadModel(dir, { backend: be! });
        const b = await loadModel(GOLDEN, { backend: be!, weights: 'int8' });
        const c = loadModelFromBytes(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'), fs.readFileSync(path.join(dir, 'model.safetensors')), { backend: be! });
        const ids = Int32Array.from({ length: 32 }, (_, i) => (i * 37) % 257);
        const logits = (m: DiT) => Float32Array.from(m.forward({ ids, batch: 1, seqLen: 32, layout: 'bidirectional', blockSize: 4 }).logits);
        for (const m of [a, b, c]) assert.equal(m.weightDtype, 'int8');
        assert.deepEqual(logits(a), logits(b));
        assert.deepEqual(logits(c), logits(b));
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}

describe('int8 checkpoint folders', () => {
  const golden = loadCheckpoint(GOLDEN);
  /** an int8 folder of the golden model whose safetensors tensors and config.json `edit` may change */
  function folder(edit: (t: { name: string; shape: number[]; data: Float32Array | Int8Array }[], cfg: Record<string, unknown>) => void): string {
    const dir = tmpDir();
    saveCheckpoint(dir, golden.config, golden.tensors, { quantization: 'int8' });
    const st = path.join(dir, 'model.safetensors');
    const header = readSafetensorsHeader(st);
    const floats = loadSafetensors(st).tensors;
    const file = fs.readFileSync(st);
    const tensors = header.entries.map((e) => ({
      name: e.name, shape: e.shape,
      data: e.dtype === 'I8' ? new Int8Array(file.buffer.slice(file.byteOffset + header.dataStart + e.begin, file.byteOffset + header.dataStart + e.end)) : floats.get(e.name)!,
    }));
    const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    edit(tensors, cfg);
    saveSafetensors(st, tensors);
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg));
    return dir;
  }
  const rejects = async (dir: string, re: RegExp) => {
    try {
      await assert.rejects(loadModel(dir, { backend: ref }), re);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  };
  const QKV = 'backbone.blocks.0.attn_qkv.weight';

  test('the file holds I8 matrices, F32 row scales under NAME_scale, and the scheme in config.json', () => {
    const dir = tmpDir();
    try {
      saveCheckpoint(dir, golden.config, golden.tensors, { quantization: 'int8' });
      const h = readSafetensorsHeader(path.join(dir, 'model.safetensors'));
      for (const name of golden.tensors.keys()) {
        const e = h.byName.get(name)!;
        assert.equal(e.dtype, isStoredWeight(name) ? 'I8' : 'F32', name);
        if (isStoredWeight(name)) assert.deepEqual(h.byName.get(`${name}_scale`)?.shape, [e.shape[0]]);
      }
      const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
      assert.equal(cfg.quantization_config.quant_method, 'bd3lm_int8');
      // a quarter of the matrices' fp32 bytes (plus the scales); the small rest stays F32
      const ck = loadCheckpoint(dir);
      assert.equal(ck.quantization, 'int8');
      for (const [name, m] of ck.stored) {
        const want = new Int8Array(m.data.length), ws = new Float32Array(m.scales.length);
        quantizeRows(golden.tensors.get(name)!, ws.length, m.data.length / ws.length, want, ws);
        assert.deepEqual(m.data, want, name);
        assert.deepEqual(m.scales, ws, name);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a missing scale tensor is named', () =>
    rejects(folder((t) => t.splice(t.findIndex((x) => x.name === `${QKV}_scale`), 1)), /missing tensor "backbone\.blocks\.0\.attn_qkv\.weight_scale" \[192\]/));

  test('a mis-shaped scale tensor is named', () =>
    rejects(folder((t) => {
      const s = t.find((x) => x.name === `${QKV}_scale`)!;
      s.shape = [191];
      s.data = s.data.subarray(0, 191);
    }), /tensor "backbone\.blocks\.0\.attn_qkv\.weight_scale" has shape \[191\], expected \[192\]/));

  test('a negative scale is named', () =>
    rejects(folder((t) => {
      (t.find((x) => x.name === `${QKV}_scale`)!.data as Float32Array)[3] = -1;
    }), /scale tensor "backbone\.blocks\.0\.attn_qkv\.weight_scale": value -1 at index 3/));

  test('a matrix stored as floats in an int8 folder is named', () =>
    rejects(folder((t) => {
      const e = t.find((x) => x.name === QKV)!;
      e.data = Float32Array.from(e.data);
    }), /tensor "backbone\.blocks\.0\.attn_qkv\.weight" has dtype F32, expected I8/));

  test('an unknown quantization_config is named', async () => {
    await rejects(folder((_, c) => { c.quantization_config = { quant_method: 'gptq', bits: 4 }; }), /quantization_config\.quant_method "gptq" is not supported/);
    await rejects(folder((_, c) => { (c.quantization_config as Record<string, unknown>).group_size = 32; }), /quantization_config\.group_size is 32, an unknown key/);
    await rejects(folder((_, c) => { (c.quantization_config as Record<string, unknown>).bits = 4; }), /quantization_config\.bits is 4, expected 8/);
    await rejects(folder((_, c) => { c.quantization_config = 'int8'; }), /config\.json: quantization_config must be an object/);
  });

  test('scales without quantization_config are unexpected tensors', () =>
    rejects(folder((_, c) => { delete c.quantization_config; }), /unexpected tensor "backbone\.blocks\.0\.attn_qkv\.weight_scale"/));

  test('an int8 folder refuses other weight storage, training, and a backend without int8 kernels', async () => {
    const dir = folder(() => {});
    try {
      await assert.rejects(loadModel(dir, { backend: ref, weights: 'bf16' }), /weights 'bf16': this checkpoint holds int8 weights/);
      const noKernels: Backend = Object.assign(new RefBackend(), { allocInt8: undefined });
      await assert.rejects(loadModel(dir, { backend: noKernels }), /weights 'int8': the ref backend has no int8 kernels/);
      await assert.rejects(loadModel(GOLDEN, { backend: noKernels, weights: 'int8' }), /the ref backend has no int8 kernels/);
      const model = await loadModel(dir, { backend: ref });
      assert.throws(() => trainingLoss(model, { x0: new Int32Array(16), B: 1, L: 16 }, { algo: 'mdlm', random: Math.random }),
        /int8 weights are for inference only/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

test('quantizing at load frees each fp32 matrix and keeps the rest', () => {
  const model = randomModel(ref);
  const tensors = new Map(model.tensors);
  const freed: unknown[] = [];
  const be = Object.assign(new RefBackend(), { free: (a: unknown) => void freed.push(a) });
  const q = quantizeWeights(model.config, tensors, be);
  assert.equal(q.size, 2 * 4 + 2);
  assert.equal(freed.length, q.size);
  for (const name of q.keys()) {
    assert.ok(!tensors.has(name));
    assert.ok(freed.includes(model.tensors.get(name)));
  }
  assert.equal(tensors.size, model.tensors.size - q.size);
});

test('bd3lm export --dtype int8, info shows the scheme, sample --weights int8 and from the int8 folder', () => {
  const dir = tmpDir();
  const out = path.join(dir, 'int8');
  const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  try {
    const e = cli('export', GOLDEN, '--out', out, '--dtype', 'int8');
    assert.equal(e.status, 0, e.stderr);
    assert.equal(JSON.parse(e.stdout).dtype, 'int8');
    assert.ok(fs.statSync(path.join(out, 'model.safetensors')).size < fs.statSync(path.join(GOLDEN, 'model.safetensors')).size / 1.9);
    const info = cli('info', out);
    assert.equal(info.status, 0, info.stderr);
    assert.match(info.stdout, /weights: int8 weight-only, symmetric, one fp32 scale per output row/);
    assert.match(info.stdout, /backbone\.blocks\.0\.attn_qkv\.weight\t\[192, 64\]\tI8/);
    const j = JSON.parse(cli('info', out, '--json').stdout);
    assert.equal(j.quantization.method, 'int8');
    assert.equal(j.tensors.find((t: { name: string }) => t.name.endsWith('attn_qkv.weight_scale')).kind, 'scale');
    const sample = (...args: string[]) => cli('sample', '--length', '8', '--seed', '1', '--no-eos-stop', '--json', ...args);
    const a = sample('--model', out);
    const b = sample('--model', GOLDEN, '--weights', 'int8');
    assert.equal(a.status, 0, a.stderr);
    assert.equal(b.status, 0, b.stderr);
    assert.deepEqual(JSON.parse(a.stdout).tokens, JSON.parse(b.stdout).tokens);
    assert.equal(JSON.parse(a.stdout).tokens.length, 8);
    const bad = sample('--model', out, '--weights', 'f16');
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /weights 'f16': this checkpoint holds int8 weights/);
    const badDtype = cli('export', GOLDEN, '--out', path.join(dir, 'x'), '--dtype', 'int4');
    assert.equal(badDtype.status, 2);
    assert.match(badDtype.stderr, /unknown dtype 'int4' \(--dtype takes f16, bf16, f32, int8\)/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
