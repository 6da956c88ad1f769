/**
 * Training kernels (backward passes, AdamW, EMA, sum of squares).
 * (a) The reference backward of each op against central finite differences of the reference FORWARD kernel, both
 *     evaluated in float64 (the ref kernels run unchanged on Float64Arrays), for the scalar loss sum(dout * f(x)).
 * (b) native and wasm against the reference on random float32 inputs: odd shapes, packed/strided layouts, aliasing,
 *     repeated ids, and determinism (two runs bit-identical).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RefBackend, type Backend, type BackendName } from '../src/tensor/index.js';
import type { AttentionArgs } from '../src/tensor/backend.js';
import { assertClose, blockDiffusionSpans, causalSpans, fullSpans, loadBackend, place, Rng } from './helpers.js';

const ref = new RefBackend();
/** the ref kernels index plain arrays: run them in float64 by passing Float64Arrays where Float32Arrays are typed */
const f64 = (a: Float64Array) => a as unknown as Float32Array;
const d64 = (x: ArrayLike<number>) => Float64Array.from(x);

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** Central differences of loss() w.r.t. every entry of x (perturbed in place). */
function fdGrad(x: Float64Array, loss: () => number, h = 1e-5): Float64Array {
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const x0 = x[i];
    x[i] = x0 + h;
    const lp = loss();
    x[i] = x0 - h;
    const lm = loss();
    x[i] = x0;
    g[i] = (lp - lm) / (2 * h);
  }
  return g;
}

const FD = { rel: 1e-6, abs: 1e-8 };

// ---------------------------------------------------------------------------------------------------------------
// (a) reference backward vs finite differences of the reference forward

describe('ref backward vs finite differences (float64)', () => {
  for (const mode of ['plain', 'shift', 'scale', 'shift+scale'] as const) {
    test(`layerNormBackward: ${mode}, two groups`, () => {
      const rng = new Rng(10);
      const rows = 6, dim = 7, rpg = 3, modStride = 2 * dim + 1;
      const hasShift = mode.includes('shift'), hasScale = mode.includes('scale');
      const x = d64(rng.randn(rows * dim));
      const w = d64(rng.randn(dim));
      const mod = d64(rng.randn(modStride * 2, 0.5)); // shift at 0, scale at dim: packed like adaLN chunks
      const shift = hasShift ? mod.subarray(0, modStride + dim) : null;
      const scale = hasScale ? mod.subarray(dim, modStride + 2 * dim) : null;
      const dout = d64(rng.randn(rows * dim));
      const stats = new Float64Array(2 * rows);
      const fwd = () => {
        const out = new Float64Array(rows * dim);
        ref.layerNorm({ x: f64(x), out: f64(out), rows, dim, weight: f64(w), shift: shift && f64(shift),
          scale: scale && f64(scale), modStride, rowsPerGroup: rpg, stats: f64(stats) });
        return dot(out, dout);
      };
      fwd();
      const dx = new Float64Array(rows * dim);
      const dw = new Float64Array(dim).fill(0.5); // accumulates
      const dmod = new Float64Array(mod.length);
      const dshift = hasShift ? dmod.subarray(0, modStride + dim) : null;
      const dscale = hasScale ? dmod.subarray(dim, modStride + 2 * dim) : null;
      ref.layerNormBackward({ dout: f64(dout), x: f64(x), stats: f64(stats), rows, dim, weight: f64(w),
        shift: shift && f64(shift), scale: scale && f64(scale), modStride, rowsPerGroup: rpg, dx: f64(dx),
        dweight: f64(dw), dshift: dshift && f64(dshift), dscale: dscale && f64(dscale) });
      assertClose(dx, fdGrad(x, fwd), { ...FD, label: 'dx' });
      assertClose(dw.map((v) => v - 0.5), fdGrad(w, fwd), { ...FD, label: 'dweight' });
      // dmod holds dshift/dscale at their packed offsets; untouched parts have zero gradient
      assertClose(dmod, fdGrad(mod, fwd), { ...FD, label: 'dshift/dscale' });
    });
  }

  for (const gated of [true, false]) {
    test(`gatedResidualBackward: ${gated ? 'gate per group' : 'no gate'}`, () => {
      const rng = new Rng(11);
      const rows = 5, dim = 6, rpg = 2, gateStride = dim + 3;
      const h0 = rng.randn(rows * dim);
      const y = d64(rng.randn(rows * dim));
      const gate = gated ? d64(rng.randn(2 * gateStride + dim)) : null;
      const dh = d64(rng.randn(rows * dim));
      const fwd = () => {
        const h = d64(h0);
        ref.gatedResidual({ h: f64(h), y: f64(y), gate: gate && f64(gate), rows, dim, gateStride, rowsPerGroup: rpg });
        return dot(h, dh);
      };
      const dy = new Float64Array(rows * dim);
      const dgate = gate ? new Float64Array(gate.length) : null;
      ref.gatedResidualBackward({ dh: f64(dh), y: f64(y), gate: gate && f64(gate), rows, dim, gateStride,
        rowsPerGroup: rpg, dy: f64(dy), dgate: dgate && f64(dgate) });
      assertClose(dy, fdGrad(y, fwd), { ...FD, label: 'dy' });
      if (gate) assertClose(dgate!, fdGrad(gate, fwd), { ...FD, label: 'dgate' });
    });
  }

  test('geluTanhBackward', () => {
    const rng = new Rng(12);
    const x = d64([...rng.randn(40, 3), 0, -12, 12, 1e-3]);
    const dout = d64(rng.randn(x.length));
    const fwd = () => {
      const out = new Float64Array(x.length);
      ref.geluTanh(f64(x), f64(out), x.length);
      return dot(out, dout);
    };
    const dx = new Float64Array(x.length);
    ref.geluTanhBackward(f64(x), f64(dout), f64(dx), x.length);
    assertClose(dx, fdGrad(x, fwd), { ...FD, label: 'dx' });
  });

  test('embeddingBackward (repeated ids)', () => {
    const rng = new Rng(13);
    const vocab = 5, dim = 3, ids = Int32Array.from([1, 4, 1, 0, 1]);
    const table = d64(rng.randn(vocab * dim));
    const dout = d64(rng.randn(ids.length * dim));
    const fwd = () => {
      const out = new Float64Array(ids.length * dim);
      ref.embedding(f64(table), ids, ids.length, dim, f64(out));
      return dot(out, dout);
    };
    const dt = new Float64Array(vocab * dim);
    ref.embeddingBackward(f64(dout), ids, ids.length, dim, f64(dt));
    assertClose(dt, fdGrad(table, fwd), { ...FD, label: 'dtable' });
  });

  const attCases: [string, number, number, number, number, number, Int32Array][] = [
    // name, batch, heads, headDim, qLen, kLen, spans
    ['block diffusion 2L (two intervals)', 2, 2, 4, 12, 12, blockDiffusionSpans(6, 2)],
    ['causal', 2, 2, 3, 7, 7, causalSpans(7)],
    ['full, kLen != qLen', 1, 3, 5, 3, 6, fullSpans(3, 6)],
  ];
  for (const [name, batch, heads, d, qLen, kLen, spans] of attCases) {
    test(`attentionBackward: ${name}, packed qkv (stride 3D + pad), batch ${batch}`, () => {
      const rng = new Rng(14);
      const D = heads * d, rs = 3 * D + 2; // q | k | v | 2 pad columns per row
      const rows = Math.max(qLen, kLen), bs = rows * rs + 5;
      const qkv = d64(rng.randn(batch * bs));
      const oRS = D + 1, oBS = qLen * oRS + 3;
      const dout = d64(rng.randn(batch * oBS));
      const scale = 1 / Math.sqrt(d);
      const args = (out: Float64Array, lse: Float64Array | null): AttentionArgs => ({
        batch, heads, headDim: d, qLen, kLen, q: f64(qkv), k: f64(qkv.subarray(D)), v: f64(qkv.subarray(2 * D)),
        out: f64(out), qRowStride: rs, kRowStride: rs, vRowStride: rs, outRowStride: oRS, qBatchStride: bs,
        kBatchStride: bs, vBatchStride: bs, outBatchStride: oBS, scale, spans, lse: lse && f64(lse) });
      const fwd = () => {
        const out = new Float64Array(batch * oBS);
        ref.attention(args(out, null));
        return dot(out, dout);
      };
      const out = new Float64Array(batch * oBS);
      const lse = new Float64Array(batch * heads * qLen);
      ref.attention(args(out, lse));
      const dqkv = new Float64Array(qkv.length);
      ref.attentionBackward({ ...args(out, lse), lse: f64(lse), dout: f64(dout), dq: f64(dqkv),
        dk: f64(dqkv.subarray(D)), dv: f64(dqkv.subarray(2 * D)) });
      assertClose(dqkv, fdGrad(qkv, fwd), { ...FD, label: 'dqkv' });
    });
  }
});

// ---------------------------------------------------------------------------------------------------------------
// optimizer kernels against hand-written double-precision references (every backend, ref included)

/** torch.optim.AdamW (foreach=False, amsgrad=False), written out step by step in float64. */
function torchAdamW(p: number[], g: number[], m: number[], v: number[], o: { lr: number; b1: number; b2: number;
  eps: number; wd: number; step: number; gs: number }): void {
  for (let i = 0; i < p.length; i++) {
    const grad = g[i] * o.gs;
    p[i] *= 1 - o.lr * o.wd; // param.mul_(1 - lr * weight_decay)
    m[i] = o.b1 * m[i] + (1 - o.b1) * grad; // exp_avg
    v[i] = o.b2 * v[i] + (1 - o.b2) * grad * grad; // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, 1 - beta2)
    const bc1 = 1 - o.b1 ** o.step, bc2 = 1 - o.b2 ** o.step;
    const denom = Math.sqrt(v[i]) / Math.sqrt(bc2) + o.eps;
    p[i] += -(o.lr / bc1) * (m[i] / denom); // param.addcdiv_(exp_avg, denom, value=-step_size)
  }
}


const all: [BackendName, Backend | string][] = [
  ['ref', ref],
  ['native', await loadBackend('native')],
  ['wasm', await loadBackend('wasm')],
];

for (const [name, be] of all) {
  if (typeof be === 'string') {
    describe(`training kernels on ${name}`, () => {
      test(`${name} backend`, { skip: `unavailable: ${be}` }, () => {});
    });
    continue;
  }
  describe(`optimizer kernels on ${name}`, () => optimSuite(be));
  if (name !== 'ref') describe(`backward kernels on ${name} (${be.info}) vs ref`, () => backwardSuite(be));
}

function optimSuite(be: Backend): void {
  const put = (x: ArrayLike<number>) => place((n) => be.alloc(n), x);

  test('adamw: steps 1..4 against torch order, bias correction at step 1', () => {
    const rng = new Rng(20);
    const n = 1000 + 37; // crosses vector tails
    const o = { lr: 1e-3, b1: 0.9, b2: 0.999, eps: 1e-8, wd: 0.1, gs: 0.5 };
    const p0 = rng.randn(n), eP = Array.from(p0), eM = new Array<number>(n).fill(0), eV = eM.slice();
    const param = put(p0), m = be.alloc(n), v = be.alloc(n), grad = be.alloc(n);
    for (let step = 1; step <= 4; step++) {
      const g = rng.randn(n, 0.1 * step);
      grad.set(g);
      be.adamw({ param, grad, m, v, n, lr: o.lr, beta1: o.b1, beta2: o.b2, eps: o.eps, weightDecay: o.wd, step,
        gradScale: o.gs });
      torchAdamW(eP, Array.from(g), eM, eV, { ...o, step });
      if (step === 1) {
        // m/(1-b1) = g*gs and sqrt(v/(1-b2)) = |g*gs|: the first update is lr*sign(g) (bias correction works)
        for (let i = 0; i < 20; i++) {
          const expect = p0[i] * (1 - o.lr * o.wd) - o.lr * Math.sign(g[i]);
          assert.ok(Math.abs(param[i] - expect) < 1e-6, `step 1 param[${i}] ${param[i]} vs ${expect}`);
        }
      }
      assertClose(param, eP, { rel: 1e-6, abs: 1e-7, label: `param after step ${step}` });
      assertClose(m, eM, { rel: 1e-6, label: `m after step ${step}` });
      assertClose(v, eV, { rel: 1e-6, label: `v after step ${step}` });
    }
  });

  test('emaUpdate and sumSquares', () => {
    const rng = new Rng(21);
    const n = 50000 + 3; // several parallel chunks
    const s0 = rng.randn(n), p = rng.randn(n);
    const shadow = put(s0);
    be.emaUpdate(shadow, put(p), n, 0.999);
    assertClose(shadow, Array.from(s0, (s, i) => s - (1 - 0.999) * (s - p[i])), { rel: 1e-6, label: 'ema' });
    let want = 0;
    for (const x of p) want += x * x;
    const got = be.sumSquares(put(p), n);
    assert.ok(Math.abs(got - want) <= 1e-12 * want, `sumSquares ${got} vs ${want}`);
    assert.equal(be.sumSquares(put(p), n), got, 'sumSquares deterministic');
    assert.equal(be.sumSquares(put([3]), 1), 9);
  });
}

// ---------------------------------------------------------------------------------------------------------------
// (b) native / wasm against ref

function same(a: Float32Array, b: Float32Array, label: string): void {
  assert.ok(Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength)),
    `${label}: two runs differ (not deterministic)`);
}

function backwardSuite(be: Backend): void {
  const put = (x: ArrayLike<number>) => place((n) => be.alloc(n), x);
  const putInt = (x: ArrayLike<number>) => {
    const a = be.allocInt(x.length);
    a.set(x);
    return a;
  };

  test('layerNormBackward: shapes x modulation, accumulation, dx aliasing dout, determinism', () => {
    const rng = new Rng(30);
    for (const [rows, dim, rpg] of [[1, 5, 1], [3, 13, 2], [70, 64, 70], [130, 768, 64], [200, 20, 7]]) {
      for (const mode of ['plain', 'shift', 'scale', 'shift+scale']) {
        const hasShift = mode.includes('shift'), hasScale = mode.includes('scale');
        const nG = Math.ceil(rows / rpg), modStride = 3 * dim;
        const x = rng.randn(rows * dim, 2), w = rng.randn(dim), dout = rng.randn(rows * dim);
        const shift = hasShift ? rng.randn(nG * modStride) : null;
        const scale = hasScale ? rng.randn(nG * modStride, 0.3) : null;
        const stats = new Float32Array(2 * rows);
        ref.layerNorm({ x, out: new Float32Array(rows * dim), rows, dim, weight: w, shift, scale, modStride,
          rowsPerGroup: rpg, stats });
        const dw0 = rng.randn(dim), dsh0 = rng.randn(nG * modStride), dsc0 = rng.randn(nG * modStride);
        const e = { dx: new Float64Array(rows * dim), dw: d64(dw0), dsh: d64(dsh0), dsc: d64(dsc0) };
        ref.layerNormBackward({ dout, x, stats, rows, dim, weight: w, shift, scale, modStride, rowsPerGroup: rpg,
          dx: f64(e.dx), dweight: f64(e.dw), dshift: hasShift ? f64(e.dsh) : null,
          dscale: hasScale ? f64(e.dsc) : null });
        const run = (alias: boolean) => {
          const g = put(dout);
          const r = { dx: alias ? g : be.alloc(rows * dim), dw: put(dw0), dsh: put(dsh0), dsc: put(dsc0) };
          be.layerNormBackward({ dout: g, x: put(x), stats: put(stats), rows, dim, weight: put(w),
            shift: shift && put(shift), scale: scale && put(scale), modStride, rowsPerGroup: rpg, dx: r.dx,
            dweight: r.dw, dshift: hasShift ? r.dsh : null, dscale: hasScale ? r.dsc : null });
          return r;
        };
        const a = run(false), b = run(true);
        const label = `${rows}x${dim} rpg ${rpg} ${mode}`;
        assertClose(a.dx, e.dx, { rel: 2e-5, label: `${label} dx` });
        assertClose(a.dw, e.dw, { rel: 2e-5, label: `${label} dweight` });
        assertClose(a.dsh, e.dsh, { rel: 2e-5, label: `${label} dshift` });
        assertClose(a.dsc, e.dsc, { rel: 2e-5, label: `${label} dscale` });
        for (const k of ['dx', 'dw', 'dsh', 'dsc'] as const) same(a[k], b[k], `${label} ${k} (dx aliasing dout)`);
      }
    }
  });

  test('gatedResidualBackward: shapes, with/without gate, determinism', () => {
    const rng = new Rng(31);
    for (const [rows, dim, rpg] of [[1, 3, 1], [9, 17, 4], [300, 768, 100], [129, 8, 129]]) {
      for (const gated of [true, false]) {
        const gateStride = 6 * dim, nG = Math.ceil(rows / rpg);
        const dh = rng.randn(rows * dim), y = rng.randn(rows * dim);
        const gate = gated ? rng.randn(nG * gateStride) : null;
        const dg0 = rng.randn(nG * gateStride);
        const e = { dy: new Float64Array(rows * dim), dg: d64(dg0) };
        ref.gatedResidualBackward({ dh, y, gate, rows, dim, gateStride, rowsPerGroup: rpg, dy: f64(e.dy),
          dgate: gated ? f64(e.dg) : null });
        const run = () => {
          const r = { dy: be.alloc(rows * dim), dg: put(dg0) };
          be.gatedResidualBackward({ dh: put(dh), y: put(y), gate: gate && put(gate), rows, dim, gateStride,
            rowsPerGroup: rpg, dy: r.dy, dgate: gated ? r.dg : null });
          return r;
        };
        const a = run(), b = run();
        const label = `${rows}x${dim} rpg ${rpg} ${gated ? 'gated' : 'plain'}`;
        assertClose(a.dy, e.dy, { rel: 1e-6, label: `${label} dy` });
        assertClose(a.dg, e.dg, { rel: 2e-5, label: `${label} dgate` });
        same(a.dg, b.dg, `${label} dgate`);
      }
    }
  });

  test('geluTanhBackward: tails, extremes, dx aliasing dout', () => {
    const rng = new Rng(32);
    for (const n of [1, 7, 8, 9, 10000 + 3]) {
      const x = rng.randn(n, 3);
      if (n > 8) x.set([0, -10, 10, -50, 50, 1e-4], 0);
      const dout = rng.randn(n);
      const e = new Float64Array(n);
      ref.geluTanhBackward(x, dout, f64(e), n);
      const dx = be.alloc(n);
      be.geluTanhBackward(put(x), put(dout), dx, n);
      assertClose(dx, e, { rel: 2e-6, abs: 1e-6, label: `n ${n}` });
      const g = put(dout);
      be.geluTanhBackward(put(x), g, g, n);
      same(g, dx, `n ${n} aliased`);
    }
  });

  test('embeddingBackward: repeated ids accumulate, bit-identical to the sequential reference', () => {
    const rng = new Rng(33);
    for (const [n, dim, vocab] of [[1, 1, 1], [50, 7, 5], [2000, 130, 300], [513, 768, 9]]) {
      const ids = Int32Array.from({ length: n }, () => rng.int(0, vocab));
      const dout = rng.randn(n * dim), t0 = rng.randn(vocab * dim);
      const e = Float32Array.from(t0);
      ref.embeddingBackward(dout, ids, n, dim, e);
      const dt = put(t0);
      be.embeddingBackward(put(dout), putInt(ids), n, dim, dt);
      assert.deepEqual(dt, e, `n ${n} dim ${dim}`);
    }
  });

  if (be.name === 'native') {
    test('native: bad arguments throw clear errors', () => {
      const f = (n: number) => new Float32Array(n);
      const base = { batch: 1, heads: 2, headDim: 4, qLen: 3, kLen: 3, q: f(24), k: f(24), v: f(24), out: f(24),
        qRowStride: 8, kRowStride: 8, vRowStride: 8, outRowStride: 8, qBatchStride: 24, kBatchStride: 24,
        vBatchStride: 24, outBatchStride: 24, scale: 1, spans: fullSpans(3, 3), lse: f(6), dout: f(24), dq: f(24),
        dk: f(24), dv: f(24) };
      be.attentionBackward(base);
      assert.throws(() => be.attentionBackward({ ...base, dk: f(23) }), /'dk' has 23 elements/);
      assert.throws(() => be.attentionBackward({ ...base, lse: null as unknown as Float32Array }), /'lse'/);
      assert.throws(() => be.embeddingBackward(f(4), Int32Array.from([0, 9]), 2, 2, f(8)), /outside the table/);
      assert.throws(() => be.gatedResidualBackward({ dh: f(4), y: f(4), gate: f(2), rows: 2, dim: 2, dy: f(4),
        dgate: null }), /'dgate' is required/);
      assert.throws(() => be.adamw({ param: f(2), grad: f(1), m: f(2), v: f(2), n: 2, lr: 1, beta1: 0.9, beta2: 0.9,
        eps: 1e-8, weightDecay: 0, step: 1, gradScale: 1 }), /'grad' has 1 elements/);
      assert.throws(() => be.adamw({ param: f(2), grad: f(2), m: f(2), v: f(2), n: 2, lr: 1, beta1: 0.9, beta2: 0.9,
        eps: 1e-8, weightDecay: 0, step: 0, gradScale: 1 }), /'step' must be in/);
    });
  }

  const attCases: [string, number, number, number, number, number, Int32Array][] = [
    // name, batch, heads, headDim, qLen, kLen, spans
    ['one row', 1, 1, 4, 1, 1, fullSpans(1, 1)],
    ['full, long keys', 2, 3, 20, 5, 150, fullSpans(5, 150)],
    ['causal', 2, 2, 4, 77, 77, causalSpans(77)],
    ['causal with cached prefix', 1, 2, 64, 9, 40, causalSpans(9, 31)],
    ['block diffusion L=48 B=16', 2, 3, 20, 96, 96, blockDiffusionSpans(48, 16)],
    ['block diffusion L=64 B=4', 1, 2, 64, 128, 128, blockDiffusionSpans(64, 4)],
    ['block diffusion L=40 B=8 d=32', 2, 2, 32, 80, 80, blockDiffusionSpans(40, 8)],
    ['block diffusion L=10 B=5 d=7', 1, 3, 7, 20, 20, blockDiffusionSpans(10, 5)],
  ];
  for (const [name, batch, heads, d, qLen, kLen, spans] of attCases) {
    test(`attentionBackward: ${name} (B ${batch}, H ${heads}, d ${d}), packed dqkv, determinism`, () => {
      const rng = new Rng(34 + d);
      const D = heads * d, rs = 3 * D + 3;
      const rows = Math.max(qLen, kLen), bs = rows * rs + 1;
      const qkv = rng.randn(batch * bs);
      const oRS = D, oBS = qLen * D;
      const dout = rng.randn(batch * oBS);
      const scale = 1 / Math.sqrt(d);
      const layout = { batch, heads, headDim: d, qLen, kLen, qRowStride: rs, kRowStride: rs, vRowStride: rs,
        outRowStride: oRS, qBatchStride: bs, kBatchStride: bs, vBatchStride: bs, outBatchStride: oBS, scale };
      const out = new Float32Array(batch * oBS), lse = new Float32Array(batch * heads * qLen);
      ref.attention({ ...layout, q: qkv, k: qkv.subarray(D), v: qkv.subarray(2 * D), out, spans, lse });
      const e = new Float64Array(qkv.length).fill(7);
      ref.attentionBackward({ ...layout, q: qkv, k: qkv.subarray(D), v: qkv.subarray(2 * D), out, spans, lse,
        dout, dq: f64(e), dk: f64(e.subarray(D)), dv: f64(e.subarray(2 * D)) });
      // foreign: plain arrays (the wasm backend copies them in and out; packed views must survive that)
      const run = (foreign = false) => {
        const mine = (v: Float32Array) => (foreign ? Float32Array.from(v) : put(v));
        const x = mine(qkv);
        const g = mine(new Float32Array(qkv.length).fill(7)); // pad columns must stay 7
        be.attentionBackward({ ...layout, q: x, k: x.subarray(D), v: x.subarray(2 * D), out: mine(out),
          spans: foreign ? spans : putInt(spans), lse: mine(lse), dout: mine(dout), dq: g, dk: g.subarray(D),
          dv: g.subarray(2 * D) });
        return g;
      };
      const a = run();
      assertClose(a, e, { rel: 2e-5, label: 'dqkv' });
      same(a, run(), 'dqkv');
      same(a, run(true), 'dqkv from plain arrays');
    });
  }
}
