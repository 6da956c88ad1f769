/**
 * Every kernel of every available backend (native, wasm) against the TypeScript reference on seeded random
 * inputs, including odd shapes, strides, aliasing and the block-structured attention masks the model uses.
 * Tolerances are relative to the scale (max |value|) of the expected array.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RefBackend, type Backend, type BackendName } from '../src/tensor/index.js';
import {
  assertClose,
  blockDiffusionSpans,
  causalSpans,
  fullSpans,
  place,
  Rng,
  loadBackend,
} from './helpers.js';

const ref = new RefBackend();
const TOL = 1e-5;


const candidates: [BackendName, Backend | string][] = [
  ['native', await loadBackend('native')],
  ['wasm', await loadBackend('wasm')],
];

/** sgemm (m, n, k): above 96 rows (the own kernel's row panel) the native addon picks OpenBLAS unless BD3LM_SGEMM=own */
const SGEMM_SHAPES = [
  [1, 1, 1],
  [1, 17, 33],
  [7, 5, 3],
  [33, 65, 17],
  [64, 64, 64],
  [3, 300, 20],
  [6, 41, 37], // transB: 5..8 rows of op(A) stream B's rows (native), odd n, a k tail
  [13, 151, 70], // two 6-row panels and a short one, odd n, a k tail
  [256, 256, 128], // large enough for OpenBLAS in the native backend
];

for (const [name, be] of candidates) {
  if (typeof be === 'string') {
    describe(`kernels on ${name}`, () => {
      test(`${name} backend`, { skip: `unavailable: ${be}` }, () => {});
    });
    continue;
  }
  describe(`kernels on ${name} (${be.info})`, () => kernelSuite(be));
}

function kernelSuite(be: Backend): void {
  const put = (x: ArrayLike<number>) => place((n) => be.alloc(n), x);
  const putInt = (x: ArrayLike<number>) => {
    const a = be.allocInt(x.length);
    a.set(x);
    return a;
  };

  // CI runs this file again with BD3LM_SGEMM=own: the project's own sgemm (what runs without OpenBLAS) then serves
  // every product, the large shapes included
  if (process.env.BD3LM_SGEMM === 'own' && be.name === 'native') {
    test('BD3LM_SGEMM=own: the own sgemm serves every product, shapes above 96 rows included', () => {
      assert.match(be.info, /^own sgemm/);
      assert.ok(SGEMM_SHAPES.some(([m]) => m > 96));
    });
  }

  test('sgemm: shapes, transposes, alpha/beta/bias, padding, batch', () => {
    const rng = new Rng(1);
    const shapes = SGEMM_SHAPES;
    let cases = 0;
    for (const [m, n, k] of shapes) {
      for (const [transA, transB] of [[false, false], [true, false], [false, true], [true, true]] as const) {
        const variants = [
          { alpha: 1, beta: 0, bias: false, batch: 1, pad: 0 },
          { alpha: 0.5, beta: 1, bias: true, batch: 1, pad: 3 },
          { alpha: -1.5, beta: 0.25, bias: true, batch: 3, pad: 1 },
        ];
        for (const v of variants) {
          const [ar, ac] = transA ? [k, m] : [m, k];
          const [br, bc] = transB ? [n, k] : [k, n];
          const lda = ac + v.pad, ldb = bc + v.pad, ldc = n + v.pad;
          const strideA = ar * lda + 5, strideB = br * ldb + 2, strideC = m * ldc + 7;
          const a = rng.randn(v.batch * strideA);
          const b = rng.randn(v.batch * strideB);
          const c0 = rng.randn(v.batch * strideC);
          if (v.beta === 0) c0.fill(NaN); // beta 0 must never read C
          const bias = v.bias ? rng.randn(n) : null;
          const args = { transA, transB, m, n, k, alpha: v.alpha, lda, ldb, beta: v.beta, ldc, batch: v.batch,
            strideA, strideB, strideC };
          const want = c0.slice();
          ref.sgemm({ ...args, a, b, c: want, bias });
          const got = put(c0);
          be.sgemm({ ...args, a: put(a), b: put(b), c: got, bias: bias && put(bias) });
          // padding between rows/items keeps its NaN/garbage: compare only the written elements
          for (let t = 0; t < v.batch; t++)
            for (let i = 0; i < m; i++) {
              const o = t * strideC + i * ldc;
              assertClose(got.subarray(o, o + n), want.subarray(o, o + n), {
                rel: TOL * Math.sqrt(k), abs: 1e-6, label: `sgemm m${m} n${n} k${k} tA${+transA} tB${+transB} ` +
                  `alpha${v.alpha} beta${v.beta} batch ${t} row ${i}` });
            }
          cases++;
        }
      }
    }
    assert.equal(cases, shapes.length * 12);
  });

  test('layerNorm: plain, modulated groups, stats, in place', () => {
    const rng = new Rng(2);
    for (const [rows, dim] of [[1, 1], [1, 7], [5, 64], [33, 768], [12, 13]]) {
      for (const mod of [false, true]) {
        const rowsPerGroup = mod ? Math.max(1, Math.floor(rows / 3)) : rows;
        const groups = Math.ceil(rows / rowsPerGroup);
        const modStride = mod ? 6 * dim : 0;
        const x = rng.randn(rows * dim, 3);
        for (let i = 0; i < x.length; i++) x[i] += 2; // a nonzero mean
        const weight = rng.randn(dim);
        const mods = rng.randn(groups * 6 * dim + dim);
        const shift = mod ? mods.subarray(0) : null; // groups are 6*dim apart, like the adaLN split6 layout
        const scale = mod ? mods.subarray(dim) : null;
        const want = new Float32Array(rows * dim), wantStats = new Float32Array(2 * rows);
        ref.layerNorm({ x, out: want, rows, dim, weight, shift, scale, modStride, rowsPerGroup, stats: wantStats });
        const out = be.alloc(rows * dim), stats = be.alloc(2 * rows);
        const pm = put(mods);
        const bx = put(x);
        const common = { rows, dim, weight: put(weight), modStride, rowsPerGroup,
          shift: mod ? pm.subarray(0) : null, scale: mod ? pm.subarray(dim) : null };
        be.layerNorm({ ...common, x: bx, out, stats });
        const label = `layerNorm rows ${rows} dim ${dim} mod ${mod}`;
        assertClose(out, want, { rel: TOL, label });
        assertClose(stats, wantStats, { rel: TOL, label: `${label} stats` });
        be.layerNorm({ ...common, x: bx, out: bx }); // out aliases x
        assertClose(bx, want, { rel: TOL, label: `${label} in place` });
      }
    }
  });

  test('gatedResidual: no gate, per-group gates', () => {
    const rng = new Rng(3);
    for (const [rows, dim, rowsPerGroup] of [[1, 5, 1], [10, 33, 4], [64, 256, 64]]) {
      const h = rng.randn(rows * dim), y = rng.randn(rows * dim);
      const gate = rng.randn(Math.ceil(rows / rowsPerGroup) * 6 * dim);
      for (const gated of [false, true]) {
        const args = { rows, dim, gateStride: 6 * dim, rowsPerGroup };
        const want = h.slice();
        ref.gatedResidual({ ...args, h: want, y, gate: gated ? gate : null });
        const got = put(h);
        be.gatedResidual({ ...args, h: got, y: put(y), gate: gated ? put(gate) : null });
        assertClose(got, want, { rel: TOL, label: `gatedResidual ${rows}x${dim} gated ${gated}` });
      }
    }
  });

  test('geluTanh: wide range, odd lengths, in place', () => {
    const rng = new Rng(4);
    for (const n of [1, 13, 1000, 4099]) {
      const x = rng.uniformArray(n, -12, 12);
      x[0] = 0;
      if (n > 3) (x[1] = -30), (x[2] = 30), (x[3] = 1e-6);
      const want = new Float32Array(n);
      ref.geluTanh(x, want, n);
      const bx = put(x), out = be.alloc(n);
      be.geluTanh(bx, out, n);
      assertClose(out, want, { rel: 2e-6, abs: 1e-7, label: `gelu n ${n}` });
      be.geluTanh(bx, bx, n);
      assertClose(bx, want, { rel: 2e-6, abs: 1e-7, label: `gelu n ${n} in place` });
    }
  });

  test('softmax, logSoftmax, logsumexp: odd widths, -inf entries, large logits', () => {
    const rng = new Rng(5);
    for (const [rows, cols] of [[1, 1], [3, 7], [4, 100], [2, 1025], [5, 50258]]) {
      const x = rng.randn(rows * cols, 4);
      for (let i = 0; i < x.length; i += 5) if (i % cols !== 0) x[i] = -Infinity; // masked logits
      if (cols > 3) x[1] = 1e4; // one dominant logit
      const label = `${rows}x${cols}`;
      const sm = new Float32Array(rows * cols), ls = new Float32Array(rows * cols), lse = new Float32Array(rows);
      ref.softmax(x, sm, rows, cols);
      ref.logSoftmax(x, ls, rows, cols);
      ref.logsumexp(x, lse, rows, cols);
      const bx = put(x);
      const o = be.alloc(rows * cols), l = be.alloc(rows);
      be.softmax(bx, o, rows, cols);
      assertClose(o, sm, { rel: TOL, label: `softmax ${label}` });
      be.logSoftmax(bx, o, rows, cols);
      assertClose(o, ls, { rel: TOL, abs: 1e-5, label: `logSoftmax ${label}` });
      be.logsumexp(bx, l, rows, cols);
      assertClose(l, lse, { rel: TOL, abs: 1e-5, label: `logsumexp ${label}` });
      be.logSoftmax(bx, bx, rows, cols); // in place
      assertClose(bx, ls, { rel: TOL, abs: 1e-5, label: `logSoftmax in place ${label}` });
    }
  });

  test('rotary: heads inside a qkv row, position offset, sequence wrap', () => {
    const rng = new Rng(6);
    for (const [rows, heads, headDim, seqLen, pos0] of [[1, 1, 2, 1, 0], [10, 3, 8, 4, 5], [40, 4, 64, 40, 0]]) {
      const rowStride = 3 * heads * headDim; // rotate the q part of a [rows][3][heads][headDim] buffer
      const maxPos = pos0 + seqLen;
      const cos = new Float32Array(maxPos * (headDim / 2)), sin = new Float32Array(maxPos * (headDim / 2));
      for (let p = 0; p < maxPos; p++)
        for (let j = 0; j < headDim / 2; j++) {
          const th = p * Math.pow(10000, (-2 * j) / headDim);
          cos[p * (headDim / 2) + j] = Math.cos(th);
          sin[p * (headDim / 2) + j] = Math.sin(th);
        }
      const x = rng.randn(rows * rowStride);
      const args = { rows, rowStride, heads, headDim, pos0, seqLen };
      const want = x.slice();
      ref.rotary({ ...args, x: want, cos, sin });
      const got = put(x);
      be.rotary({ ...args, x: got, cos: put(cos), sin: put(sin) });
      assertClose(got, want, { rel: TOL, label: `rotary rows ${rows} heads ${heads} d ${headDim}` });
    }
  });

  test('embedding', () => {
    const rng = new Rng(7);
    for (const [vocab, dim, n] of [[1, 1, 1], [50, 17, 9], [1000, 64, 300]]) {
      const table = rng.randn(vocab * dim);
      const ids = Int32Array.from({ length: n }, () => rng.int(0, vocab));
      const want = new Float32Array(n * dim);
      ref.embedding(table, ids, n, dim, want);
      const out = be.alloc(n * dim);
      be.embedding(put(table), putInt(ids), n, dim, out);
      assertClose(out, want, { rel: 0, label: `embedding ${vocab}x${dim}` });
    }
  });

  interface AttnCase {
    label: string;
    batch: number;
    heads: number;
    headDim: number;
    qLen: number;
    kLen: number;
    spans: Int32Array;
    /** q, k, v packed in one [batch][len][3][heads][headDim] buffer (the qkv projection's layout) */
    packed?: boolean;
  }

  function runAttention(c: AttnCase, rng: Rng): void {
    const { batch, heads, headDim: d, qLen, kLen } = c;
    const hd = heads * d;
    let q: Float32Array, k: Float32Array, v: Float32Array;
    let qRS: number, kRS: number, vRS: number, qBS: number, kBS: number, vBS: number;
    let bq: Float32Array, bk: Float32Array, bv: Float32Array;
    if (c.packed) {
      assert.equal(qLen, kLen);
      const qkv = rng.randn(batch * qLen * 3 * hd);
      const bqkv = put(qkv);
      [q, k, v] = [qkv, qkv.subarray(hd), qkv.subarray(2 * hd)];
      [bq, bk, bv] = [bqkv, bqkv.subarray(hd), bqkv.subarray(2 * hd)];
      qRS = kRS = vRS = 3 * hd;
      qBS = kBS = vBS = qLen * 3 * hd;
    } else {
      // separate arrays with padded rows and batch items
      qRS = hd + 3, kRS = hd + 1, vRS = hd;
      qBS = qLen * qRS + 2, kBS = kLen * kRS, vBS = kLen * vRS + 5;
      q = rng.randn(batch * qBS), k = rng.randn(batch * kBS), v = rng.randn(batch * vBS);
      [bq, bk, bv] = [put(q), put(k), put(v)];
    }
    const oRS = hd + 2, oBS = qLen * oRS + 1;
    const common = { batch, heads, headDim: d, qLen, kLen, qRowStride: qRS, kRowStride: kRS, vRowStride: vRS,
      outRowStride: oRS, qBatchStride: qBS, kBatchStride: kBS, vBatchStride: vBS, outBatchStride: oBS,
      scale: 1 / Math.sqrt(d) };
    const want = new Float32Array(batch * oBS), wantLse = new Float32Array(batch * heads * qLen);
    ref.attention({ ...common, q, k, v, out: want, spans: c.spans, lse: wantLse });
    const out = be.alloc(batch * oBS), lse = be.alloc(batch * heads * qLen);
    be.attention({ ...common, q: bq, k: bk, v: bv, out, spans: putInt(c.spans), lse });
    assertClose(out, want, { rel: TOL, label: `attention ${c.label} out` });
    assertClose(lse, wantLse, { rel: TOL, abs: 1e-5, label: `attention ${c.label} lse` });
    // without lse
    const out2 = be.alloc(batch * oBS);
    be.attention({ ...common, q: bq, k: bk, v: bv, out: out2, spans: putInt(c.spans) });
    assertClose(out2, want, { rel: TOL, label: `attention ${c.label} out (no lse)` });
  }

  test('attention: block-diffusion spans (two intervals), packed qkv', () => {
    const rng = new Rng(8);
    for (const [L, B, d, heads, batch] of [[16, 4, 32, 2, 1], [64, 8, 64, 3, 2], [37, 5, 12, 2, 1], [40, 1, 64, 1, 1],
      [128, 16, 64, 2, 1]]) {
      runAttention({ label: `bd L${L} B${B} d${d} h${heads} b${batch}`, batch, heads, headDim: d, qLen: 2 * L,
        kLen: 2 * L, spans: blockDiffusionSpans(L, B), packed: true }, rng);
    }
  });

  test('attention: causal (one record per row), full, cached keys, odd head dims', () => {
    const rng = new Rng(9);
    const cases: AttnCase[] = [
      { label: 'causal d64', batch: 2, heads: 2, headDim: 64, qLen: 70, kLen: 70, spans: causalSpans(70) },
      { label: 'causal packed d32', batch: 1, heads: 4, headDim: 32, qLen: 33, kLen: 33, spans: causalSpans(33),
        packed: true },
      { label: 'full d64', batch: 1, heads: 2, headDim: 64, qLen: 100, kLen: 100, spans: fullSpans(100, 100) },
      { label: 'full d4', batch: 2, heads: 3, headDim: 4, qLen: 9, kLen: 9, spans: fullSpans(9, 9) },
      { label: 'cached keys', batch: 1, heads: 2, headDim: 32, qLen: 5, kLen: 200, spans: causalSpans(5, 195) },
      { label: 'one query one key', batch: 1, heads: 1, headDim: 8, qLen: 1, kLen: 1, spans: fullSpans(1, 1) },
      { label: 'd 20 two intervals', batch: 1, heads: 1, headDim: 20, qLen: 6, kLen: 300,
        spans: Int32Array.from([0, 3, 0, 7, 100, 290, 3, 6, 250, 300, 5, 9]) },
    ];
    for (const c of cases) runAttention(c, rng);
  });

  test('attention only reads allowed keys (NaN elsewhere does not leak)', () => {
    const rng = new Rng(10);
    const L = 24, d = 32, heads = 2, S = 2 * L, hd = heads * d;
    const q = rng.randn(S * hd), k = rng.randn(S * hd), v = rng.randn(S * hd);
    // query rows [0, 4) may see keys [0, 4) only; poison everything after for those rows' keys
    const spans = Int32Array.from([0, 4, 0, 4, 0, 0, 4, S, 0, S, 0, 0]);
    const common = { batch: 1, heads, headDim: d, qLen: S, kLen: S, qRowStride: hd, kRowStride: hd, vRowStride: hd,
      outRowStride: hd, qBatchStride: 0, kBatchStride: 0, vBatchStride: 0, outBatchStride: 0, scale: 0.2 };
    const want = new Float32Array(S * hd);
    ref.attention({ ...common, q, k, v, out: want, spans });
    const kp = k.slice(), vp = v.slice();
    kp.fill(NaN, 4 * hd);
    vp.fill(NaN, 4 * hd);
    const out = be.alloc(S * hd);
    be.attention({ ...common, q: put(q), k: put(kp), v: put(vp), out, spans: putInt(spans.subarray(0, 6)), qLen: 4 });
    assertClose(out.subarray(0, 4 * hd), want.subarray(0, 4 * hd), { rel: TOL, label: 'masked rows' });
  });

  if (be.name === 'native') {
    test('native: bad arguments throw instead of crashing', () => {
      const x = new Float32Array(10);
      assert.throws(() => be.softmax(x, x, 3, 4), /'x' has 10 elements/);
      assert.throws(() => be.geluTanh(x, new Float64Array(10) as unknown as Float32Array, 10), /Float32Array/);
      assert.throws(() => be.embedding(x, Int32Array.from([5]), 1, 2, new Float32Array(2)), /outside the table/);
      assert.throws(() => be.sgemm({ m: 2, n: 2, k: 2, a: x, lda: 1, b: x, ldb: 2, c: x, ldc: 2 }), /lda/);
      const base = { batch: 1, heads: 1, headDim: 2, qLen: 2, kLen: 2, q: x, k: x, v: x, out: x, qRowStride: 2,
        kRowStride: 2, vRowStride: 2, outRowStride: 2, qBatchStride: 0, kBatchStride: 0, vBatchStride: 0,
        outBatchStride: 0, scale: 1 };
      assert.throws(() => be.attention({ ...base, spans: Int32Array.from([0, 1, 0, 2, 0, 0]) }), /row 1 is in no/);
      assert.throws(() => be.attention({ ...base, spans: Int32Array.from([0, 2, 0, 3, 0, 0]) }), /key interval/);
      assert.throws(() => be.attention({ ...base, spans: Int32Array.from([0, 2, 1, 1, 0, 0]) }), /no keys/);
      assert.throws(() => be.attention({ ...base, qRowStride: 20, spans: fullSpans(2, 2) }), /'q' has 10/);
    });
  }
}
