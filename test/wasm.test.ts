/**
 * The wasm backend's own machinery: heap, views across memory growth, copying of foreign arrays, the thread pool,
 * and a few kernels against RefBackend (the broad per-kernel sweep is test/kernels.test.ts). Skipped when the
 * .wasm files are not built (`npm run build:wasm`).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createWasmBackend, type WasmBackend } from '../src/tensor/wasm.js';
import { RefBackend } from '../src/tensor/ref.js';
import type { Backend } from '../src/tensor/backend.js';

const root = fileURLToPath(new URL('../..', import.meta.url)); // dist/test -> package root
const built = ['simd', 'relaxed', 'simd-st'].every((v) => existsSync(`${root}/wasm/bd3lm-${v}.wasm`));
const skip = built ? false : 'wasm/*.wasm missing (they are committed; npm run build:wasm rebuilds them with clang-16 lld-16)';
const ref = new RefBackend();

let seed = 12345;
function rand(n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    a[i] = seed / 2 ** 32 - 0.5;
  }
  return a;
}

/** max |x - y| relative to max |y| (elementwise relative error is meaningless near zeros) */
function close(x: Float32Array, y: Float32Array, tol = 1e-5): void {
  assert.equal(x.length, y.length);
  let err = 0;
  let mag = 1e-30;
  for (let i = 0; i < y.length; i++) {
    err = Math.max(err, Math.abs(x[i]! - y[i]!));
    mag = Math.max(mag, Math.abs(y[i]!));
  }
  assert.ok(err / mag <= tol, `max rel err ${err / mag}`);
}

/** Copy into the backend's memory. */
function put(be: Backend, src: Float32Array): Float32Array {
  const a = be.alloc(src.length);
  a.set(src);
  return a;
}

describe('wasm backend', { skip }, () => {
  let be: WasmBackend;
  before(async () => {
    be = await createWasmBackend({ threads: 2 });
  });
  after(async () => {
    await be?.dispose();
  });

  test('alloc/free: 64-byte aligned, reused after free, heap returns to its size', () => {
    const base = be.heapStats().used;
    const a = be.alloc(1000);
    const b = be.allocInt(3);
    assert.equal(a.length, 1000);
    assert.equal(a.byteOffset % 64, 0);
    assert.equal(b.byteOffset % 64, 0);
    assert.ok(a.buffer === be.memory.buffer || a.buffer.byteLength > 0);
    a.fill(1);
    b.fill(2);
    assert.equal(a[999], 1);
    be.free(a);
    const c = be.alloc(900);
    assert.equal(c.byteOffset, a.byteOffset, 'first fit reuses the freed block');
    be.free(c);
    be.free(b);
    assert.equal(be.heapStats().used, base);
    // many interleaved sizes, freed in a scrambled order, coalesce back
    const xs = Array.from({ length: 200 }, (_, i) => be.alloc(1 + ((i * 7919) % 5000)));
    for (let i = 0; i < xs.length; i++) xs[(i * 37) % xs.length]!.fill(i);
    for (let i = 0; i < xs.length; i++) be.free(xs[(i * 91) % xs.length]!);
    assert.equal(be.heapStats().used, base);
    // arrays read 0 like new Float32Array, also when made of dirty freed (and merged) blocks
    const live: Float32Array[] = [];
    for (let i = 0; i < 400; i++) {
      if (live.length && (i * 7) % 3 === 0) be.free(live.splice((i * 13) % live.length, 1)[0]!);
      const z = i % 2 ? be.alloc(1 + ((i * 4099) % 30000)) : be.allocInt(1 + ((i * 31) % 700));
      assert.ok(z.every((v) => v === 0), `alloc ${i} not zeroed`);
      z.fill(-7);
      if (z instanceof Float32Array) live.push(z);
      else be.free(z);
    }
    for (const z of live) be.free(z);
    assert.equal(be.heapStats().used, base);
    assert.throws(() => be.free(new Float32Array(4)), /not returned by alloc/);
    const d = be.alloc(8);
    assert.throws(() => be.free(d.subarray(2)), /not returned by alloc/);
    be.free(d);
    assert.throws(() => be.free(d), /freed twice/);
  });

  test('views made before the memory grows stay valid and usable by kernels', () => {
    const x = put(be, Float32Array.from([-1, 0, 0.5, 2]));
    const oldBuffer = be.memory.buffer;
    const oldSize = oldBuffer.byteLength;
    const big = be.alloc(64 << 20); // 256 MiB: forces memory.grow
    big[big.length - 1] = 3;
    assert.ok(be.memory.buffer.byteLength > oldSize);
    assert.notEqual(be.memory.buffer, oldBuffer);
    assert.deepEqual(Array.from(x), [-1, 0, 0.5, 2]);
    const want = new Float32Array(4);
    ref.geluTanh(x, want, 4);
    be.geluTanh(x, x, 4); // old view, in place
    close(x, want);
    be.free(big);
    be.free(x);
  });

  test('addresses above 2 GiB (i32 results are unsigned) work for views, kernels and free', () => {
    const filler = be.alloc(550 << 20); // 2.2 GB of address space; only touched pages cost memory
    const x = be.alloc(16 << 20);
    assert.ok(x.byteOffset >= 2 ** 31, `x at ${x.byteOffset}`);
    const src = rand(1000);
    const want = new Float32Array(1000);
    ref.geluTanh(src, want, 1000);
    const xs = x.subarray(x.length - 1000);
    xs.set(src);
    be.geluTanh(xs, xs, 1000);
    close(xs, want);
    be.free(x);
    be.free(filler);
  });

  test('foreign arrays (plain, offset subarrays, aliased in/out) are copied in and out', () => {
    const src = rand(37);
    const want = new Float32Array(37);
    ref.geluTanh(src, want, 37);
    const out = new Float32Array(40).fill(9);
    be.geluTanh(src, out.subarray(3), 37);
    close(out.subarray(3), want);
    assert.equal(out[2], 9);
    const inplace = src.slice();
    be.geluTanh(inplace, inplace, 37);
    close(inplace, want);
    // mixed: wasm input, foreign output and vice versa
    const w = put(be, src);
    const o2 = new Float32Array(37);
    be.geluTanh(w, o2, 37);
    close(o2, want);
    const wo = be.alloc(37);
    be.geluTanh(src, wo, 37);
    close(wo, want);
    be.free(w);
    be.free(wo);
  });

  test('parallel_for: every index once, nested calls serial on the caller, any grain', () => {
    assert.equal(be.threads, 2);
    for (const [n, grain] of [[10007, 1], [5, 10], [1, 1], [64, 3], [100000, 1000]] as const) {
      const { out, hits } = be.parallelSelfTest(n, grain);
      for (let i = 0; i < n; i++) assert.equal(out[i], i + 1, `n=${n} item ${i}`);
      assert.equal(hits[0]! + hits[1]!, n);
      assert.equal(hits[63], 0, 'nested parallel_for left its thread');
    }
    // many back-to-back jobs of varied size (workers hot, asleep or late) lose and repeat nothing
    for (let i = 0; i < 3000; i++) {
      const n = 1 + ((i * 7919) % 3000);
      const { out, hits } = be.parallelSelfTest(n, 1 + (i % 5));
      assert.equal(hits[0]! + hits[1]!, n, `job ${i}`);
      assert.equal(out[n - 1], n);
    }
  });

  test('sgemm equals RefBackend (transposes, alpha/beta, bias, batch; wasm and foreign arrays)', () => {
    for (const [tA, tB, m, n, k] of [[false, false, 33, 47, 29], [true, false, 64, 40, 70], [false, true, 5, 130, 17],
      [true, true, 20, 9, 64], [false, false, 1, 300, 128]] as const) {
      const batch = 2;
      const A = rand(batch * m * k);
      const B = rand(batch * k * n);
      const C0 = rand(batch * m * n);
      const bias = rand(n);
      const args = {
        transA: tA, transB: tB, m, n, k, alpha: 0.7, lda: tA ? m : k, ldb: tB ? k : n, beta: 0.5, ldc: n, bias,
        batch, strideA: m * k, strideB: k * n, strideC: m * n,
      };
      const want = C0.slice();
      ref.sgemm({ ...args, a: A, b: B, c: want });
      const got = C0.slice();
      be.sgemm({ ...args, a: A, b: B, c: got });
      close(got, want);
      const [wa, wb, wc] = [put(be, A), put(be, B), put(be, C0)];
      be.sgemm({ ...args, a: wa, b: wb, c: wc, bias: put(be, bias) });
      close(wc, want);
    }
  });

  test('row kernels equal RefBackend: layerNorm (adaLN), softmax family, gatedResidual, rotary, embedding', () => {
    const rows = 6;
    const dim = 40;
    const x = rand(rows * dim);
    const w = rand(dim);
    const shift = rand(2 * dim);
    const scale = rand(2 * dim);
    const ln = { rows, dim, weight: w, shift, scale, modStride: dim, rowsPerGroup: 3 };
    const [o1, s1, o2, s2] = [new Float32Array(rows * dim), new Float32Array(2 * rows), be.alloc(rows * dim),
      be.alloc(2 * rows)];
    ref.layerNorm({ ...ln, x, out: o1, stats: s1 });
    be.layerNorm({ ...ln, x: put(be, x), out: o2, stats: s2 });
    close(o2, o1);
    close(s2, s1);
    for (const f of ['softmax', 'logSoftmax'] as const) {
      const [a, b] = [new Float32Array(x.length), new Float32Array(x.length)];
      ref[f](x, a, rows, dim);
      be[f](x, b, rows, dim);
      close(b, a);
    }
    const [l1, l2] = [new Float32Array(rows), new Float32Array(rows)];
    ref.logsumexp(x, l1, rows, dim);
    be.logsumexp(x, l2, rows, dim);
    close(l2, l1);
    const y = rand(rows * dim);
    const gate = rand(2 * dim);
    const [h1, h2] = [x.slice(), x.slice()];
    ref.gatedResidual({ h: h1, y, gate, rows, dim, gateStride: dim, rowsPerGroup: 3 });
    be.gatedResidual({ h: h2, y, gate, rows, dim, gateStride: dim, rowsPerGroup: 3 });
    close(h2, h1);
    const cos = rand(16 * 4);
    const sin = rand(16 * 4);
    const rot = { rows: 6, rowStride: 24, heads: 3, headDim: 8, cos, sin, pos0: 2, seqLen: 4 };
    const [r1, r2] = [rand(6 * 24), new Float32Array(6 * 24)];
    r2.set(r1);
    ref.rotary({ ...rot, x: r1 });
    be.rotary({ ...rot, x: r2 });
    close(r2, r1);
    const ids = Int32Array.from([3, 0, 5, 5]);
    const [e1, e2] = [new Float32Array(4 * dim), new Float32Array(4 * dim)];
    ref.embedding(x, ids, 4, dim, e1);
    be.embedding(x, ids, 4, dim, e2);
    assert.deepEqual(e2, e1);
    for (const a of [o2, s2]) be.free(a);
  });

  test('attention equals RefBackend (block-causal spans, lse)', () => {
    const [batch, heads, headDim, L] = [2, 3, 16, 8];
    const rs = heads * headDim;
    const q = rand(batch * L * rs);
    const k = rand(batch * L * rs);
    const v = rand(batch * L * rs);
    // blocks of 4: block i attends keys [0, 4(i+1))
    const spans = Int32Array.from([0, 4, 0, 4, 0, 0, 4, 8, 0, 8, 0, 0]);
    const args = {
      batch, heads, headDim, qLen: L, kLen: L, q, k, v, qRowStride: rs, kRowStride: rs, vRowStride: rs,
      outRowStride: rs, qBatchStride: L * rs, kBatchStride: L * rs, vBatchStride: L * rs, outBatchStride: L * rs,
      scale: 1 / Math.sqrt(headDim), spans,
    };
    const [o1, o2] = [new Float32Array(batch * L * rs), be.alloc(batch * L * rs)];
    const [l1, l2] = [new Float32Array(batch * heads * L), new Float32Array(batch * heads * L)];
    ref.attention({ ...args, out: o1, lse: l1 });
    be.attention({ ...args, out: o2, lse: l2 });
    close(o2, o1);
    close(l2, l1);
    be.free(o2);
  });
});

test('wasm single-thread build on a non-shared memory (pages without SharedArrayBuffer)', { skip }, async () => {
  const st = await createWasmBackend({ shared: false });
  try {
    assert.equal(st.threads, 1);
    assert.equal(st.shared, false);
    assert.match(st.info, /single-thread/);
    const { out, hits } = st.parallelSelfTest(1000, 1);
    assert.equal(out[999], 1000);
    assert.equal(hits[0], 1000);
    const A = rand(12 * 20);
    const B = rand(20 * 7);
    const [c1, c2] = [new Float32Array(12 * 7), new Float32Array(12 * 7)];
    ref.sgemm({ m: 12, n: 7, k: 20, a: A, lda: 20, b: B, ldb: 7, c: c1, ldc: 7 });
    st.sgemm({ m: 12, n: 7, k: 20, a: A, lda: 20, b: B, ldb: 7, c: c2, ldc: 7 });
    close(c2, c1);
    // growth detaches earlier views here; the backend says so instead of reading garbage
    const x = st.alloc(4);
    st.alloc(32 << 20);
    assert.equal(x.length, 0);
    assert.throws(() => st.geluTanh(x, x, 4), /detached/);
  } finally {
    await st.dispose();
  }
});

test('wasm SIMD128 build (no relaxed SIMD) with threads', { skip }, async () => {
  const be = await createWasmBackend({ relaxed: false, threads: 2 });
  try {
    assert.match(be.info, /simd128, 2 threads/);
    const [m, n, k] = [70, 90, 50];
    const A = rand(m * k);
    const B = rand(k * n);
    const [c1, c2] = [new Float32Array(m * n), be.alloc(m * n)];
    ref.sgemm({ m, n, k, a: A, lda: k, b: B, ldb: n, c: c1, ldc: n });
    be.sgemm({ m, n, k, a: A, lda: k, b: B, ldb: n, c: c2, ldc: n });
    close(c2, c1);
  } finally {
    await be.dispose();
  }
});

test('wasm backend: dispose right after creation stops the workers promptly', { skip }, async () => {
  for (let i = 0; i < 3; i++) {
    const be = await createWasmBackend({ threads: 3 });
    const t = performance.now();
    await be.dispose();
    assert.ok(performance.now() - t < 900, 'workers did not leave their loop (dispose fell back to terminate)');
    assert.throws(() => be.alloc(1), /after dispose/);
  }
});
