/**
 * Reference backend: the executable definition of every kernel in plain TypeScript (see backend.ts, kernels.h).
 * Clarity over speed: simple loops, float64 accumulation. The oracle for the kernel tests; never used for real work.
 */
import type {
  AdamWArgs,
  AttentionArgs,
  AttentionBackwardArgs,
  Backend,
  GatedResidualArgs,
  GatedResidualBackwardArgs,
  GemmArgs,
  LayerNormArgs,
  LayerNormBackwardArgs,
  RotaryArgs,
  SampleRowsArgs,
  StoredMatrix,
} from './backend.js';
import { NOT_A_DISTRIBUTION } from './backend.js';
import { isStored, widenStored } from './stored.js';
import { w8a8Reference } from './int8.js';
import { applyFilters, isDistribution, notADistribution } from './sampling/filters.js';
import { sampleRow } from './sampling/categorical.js';
import { seededRow } from './sampling/random.js';
import { applyPosterior } from './sampling/posterior.js';

const GELU_C = Math.sqrt(2 / Math.PI);

export class RefBackend implements Backend {
  readonly name = 'ref' as const;
  readonly w8a8 = true;
  readonly threads = 1;
  readonly info = 'TypeScript reference (float64 accumulation)';

  alloc(n: number): Float32Array {
    return new Float32Array(n);
  }
  allocInt(n: number): Int32Array {
    return new Int32Array(n);
  }
  allocHalf(n: number): Uint16Array {
    return new Uint16Array(n);
  }
  allocInt8(n: number): Int8Array {
    return new Int8Array(n);
  }
  free(_a: Float32Array | Int32Array | Uint16Array | Int8Array): void {}

  sgemm(g: GemmArgs): void {
    const { m, n, k, a, lda, ldb, c, ldc } = g;
    if (isStored(g.b) && (!g.transB || (g.batch ?? 1) !== 1)) throw new Error(`sgemm: a ${g.b.dtype} b needs transB and batch 1`);
    if (isStored(g.b) && g.b.dtype === 'int8' && g.b.activations === 'int8') return w8a8Reference(g, g.b);
    // a stored b is the same product on the fp32 values it stands for
    const b = isStored(g.b) ? widenStored(g.b) : g.b;
    const alpha = g.alpha ?? 1;
    const beta = g.beta ?? 0;
    const batch = g.batch ?? 1;
    const sA = g.strideA ?? 0;
    const sB = g.strideB ?? 0;
    const sC = g.strideC ?? 0;
    const bias = g.bias ?? null;
    for (let t = 0; t < batch; t++) {
      const oA = t * sA;
      const oB = t * sB;
      const oC = t * sC;
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let p = 0; p < k; p++) {
            const av = g.transA ? a[oA + p * lda + i] : a[oA + i * lda + p];
            const bv = g.transB ? b[oB + j * ldb + p] : b[oB + p * ldb + j];
            s += av * bv;
          }
          let r = alpha * s;
          // beta == 0: C is write-only (it may hold NaN garbage)
          if (beta !== 0) r += beta * c[oC + i * ldc + j];
          if (bias) r += bias[j];
          c[oC + i * ldc + j] = r;
        }
      }
    }
  }

  layerNorm(l: LayerNormArgs): void {
    const { x, out, rows, dim, weight } = l;
    const eps = l.eps ?? 1e-5;
    const shift = l.shift ?? null;
    const scale = l.scale ?? null;
    const modStride = l.modStride ?? 0;
    const rowsPerGroup = l.rowsPerGroup ?? rows;
    const stats = l.stats ?? null;
    for (let r = 0; r < rows; r++) {
      const o = r * dim;
      let mean = 0;
      for (let j = 0; j < dim; j++) mean += x[o + j];
      mean /= dim;
      let v = 0;
      for (let j = 0; j < dim; j++) v += (x[o + j] - mean) ** 2;
      v /= dim; // biased variance
      const rstd = 1 / Math.sqrt(v + eps);
      const gOff = Math.floor(r / rowsPerGroup) * modStride;
      for (let j = 0; j < dim; j++) {
        let y = (x[o + j] - mean) * rstd * weight[j];
        if (scale) y *= 1 + scale[gOff + j];
        if (shift) y += shift[gOff + j];
        out[o + j] = y;
      }
      if (stats) {
        stats[2 * r] = mean;
        stats[2 * r + 1] = rstd;
      }
    }
  }

  gatedResidual(g: GatedResidualArgs): void {
    const { h, y, gate, rows, dim } = g;
    const gateStride = g.gateStride ?? 0;
    const rowsPerGroup = g.rowsPerGroup ?? rows;
    for (let r = 0; r < rows; r++) {
      const o = r * dim;
      const gOff = Math.floor(r / rowsPerGroup) * gateStride;
      for (let j = 0; j < dim; j++) h[o + j] += gate ? gate[gOff + j] * y[o + j] : y[o + j];
    }
  }

  geluTanh(x: Float32Array, out: Float32Array, n: number): void {
    for (let i = 0; i < n; i++) {
      const v = x[i];
      out[i] = 0.5 * v * (1 + Math.tanh(GELU_C * (v + 0.044715 * v * v * v)));
    }
  }

  /** The sampler's definitions composed (src/sampling); only a row that is not a distribution is marked. */
  sampleRows(a: SampleRowsArgs): void {
    const { rows, V, probs } = a;
    const broken = new Set<number>();
    if (a.logp) {
      for (let i = 0; i < rows * V; i++) probs[i] = Math.exp(a.logp[i]);
      for (let r = 0; r < rows; r++) {
        if (!isDistribution(probs, r * V, V)) broken.add(r);
        else applyFilters(probs.subarray(r * V, (r + 1) * V), 1, V, a.filters ?? {});
        if (a.fallback) a.fallback[r] = broken.has(r) ? NOT_A_DISTRIBUTION : 0;
        else if (broken.has(r)) throw notADistribution(`probability row ${r}`);
      }
    }
    const drawRow = a.drawRow ?? new Int32Array(0);
    for (let d = 0; d < drawRow.length; d++) {
      if (broken.has(drawRow[d])) {
        a.out![d] = -1;
        continue;
      }
      const p = probs.subarray(drawRow[d] * V, (drawRow[d] + 1) * V);
      const q = a.posterior ? applyPosterior(p.slice(), 1, V, a.posterior) : p;
      const u = a.noise ? a.noise.subarray(d * V, (d + 1) * V) : seededRow(a.seeds![3 * d] >>> 0, a.seeds![3 * d + 1] >>> 0, a.seeds![3 * d + 2], V);
      a.out![d] = sampleRow(q, u, V);
    }
  }

  softmax(x: Float32Array, out: Float32Array, rows: number, cols: number): void {
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      const lse = rowLse(x, o, cols);
      for (let j = 0; j < cols; j++) out[o + j] = Math.exp(x[o + j] - lse);
    }
  }

  logSoftmax(x: Float32Array, out: Float32Array, rows: number, cols: number): void {
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      const lse = rowLse(x, o, cols);
      for (let j = 0; j < cols; j++) out[o + j] = x[o + j] - lse;
    }
  }

  logsumexp(x: Float32Array, out: Float32Array, rows: number, cols: number): void {
    for (let r = 0; r < rows; r++) out[r] = rowLse(x, r * cols, cols);
  }

  rotary(a: RotaryArgs): void {
    const { x, rows, rowStride, heads, headDim, cos, sin, pos0, seqLen } = a;
    const half = headDim >> 1;
    for (let r = 0; r < rows; r++) {
      const t = (pos0 + (r % seqLen)) * half;
      for (let h = 0; h < heads; h++) {
        const o = r * rowStride + h * headDim;
        for (let j = 0; j < half; j++) {
          const x1 = x[o + j];
          const x2 = x[o + j + half];
          const c = cos[t + j];
          const s = sin[t + j];
          x[o + j] = x1 * c - x2 * s;
          x[o + j + half] = x2 * c + x1 * s;
        }
      }
    }
  }

  embedding(table: Float32Array | StoredMatrix, ids: Int32Array, n: number, dim: number, out: Float32Array): void {
    if (isStored(table)) table = widenStored(table);
    for (let i = 0; i < n; i++) out.set(table.subarray(ids[i] * dim, ids[i] * dim + dim), i * dim);
  }

  /** Two-pass exact softmax over the allowed keys of each query row (no tiling, no online rescaling). */
  attention(a: AttentionArgs): void {
    const { batch, heads, headDim: d, q, k, v, out, scale, spans, lse } = a;
    const scores = new Float64Array(a.kLen);
    const acc = new Float64Array(d);
    for (let s = 0; s + 6 <= spans.length; s += 6) {
      const [q0, q1, k0, k1, k2, k3] = spans.subarray(s, s + 6);
      for (let b = 0; b < batch; b++) {
        for (let h = 0; h < heads; h++) {
          for (let i = q0; i < q1; i++) {
            const qo = b * a.qBatchStride + i * a.qRowStride + h * d;
            const keys: number[] = [];
            for (let j = k0; j < k1; j++) keys.push(j);
            for (let j = k2; j < k3; j++) keys.push(j);
            let mx = -Infinity;
            for (const j of keys) {
              const ko = b * a.kBatchStride + j * a.kRowStride + h * d;
              let dot = 0;
              for (let p = 0; p < d; p++) dot += q[qo + p] * k[ko + p];
              scores[j] = scale * dot;
              if (scores[j] > mx) mx = scores[j];
            }
            let sum = 0;
            acc.fill(0);
            for (const j of keys) {
              const w = Math.exp(scores[j] - mx);
              sum += w;
              const vo = b * a.vBatchStride + j * a.vRowStride + h * d;
              for (let p = 0; p < d; p++) acc[p] += w * v[vo + p];
            }
            const oo = b * a.outBatchStride + i * a.outRowStride + h * d;
            for (let p = 0; p < d; p++) out[oo + p] = acc[p] / sum;
            if (lse) lse[(b * heads + h) * a.qLen + i] = mx + Math.log(sum);
          }
        }
      }
    }
  }

  // ---- training ----

  layerNormBackward(l: LayerNormBackwardArgs): void {
    const { dout, x, stats, rows, dim, weight, dx, dweight } = l;
    // shift does not enter the gradient (out is affine in it)
    const scale = l.scale ?? null;
    const dshift = l.dshift ?? null;
    const dscale = l.dscale ?? null;
    const modStride = l.modStride ?? 0;
    const rowsPerGroup = l.rowsPerGroup ?? rows;
    const xhat = new Float64Array(dim);
    const g = new Float64Array(dim); // d loss / d xhat
    for (let r = 0; r < rows; r++) {
      const o = r * dim;
      const mean = stats[2 * r];
      const rstd = stats[2 * r + 1];
      const gOff = Math.floor(r / rowsPerGroup) * modStride;
      let mg = 0;
      let mgx = 0;
      for (let j = 0; j < dim; j++) {
        const dy = dout[o + j];
        const xh = (x[o + j] - mean) * rstd;
        const s1 = scale ? 1 + scale[gOff + j] : 1;
        xhat[j] = xh;
        g[j] = dy * weight[j] * s1;
        dweight[j] += dy * xh * s1;
        if (dshift) dshift[gOff + j] += dy;
        if (dscale) dscale[gOff + j] += dy * xh * weight[j];
        mg += g[j];
        mgx += g[j] * xh;
      }
      mg /= dim;
      mgx /= dim;
      // dout is fully read above, so dx may alias it
      for (let j = 0; j < dim; j++) dx[o + j] = rstd * (g[j] - mg - xhat[j] * mgx);
    }
  }

  gatedResidualBackward(g: GatedResidualBackwardArgs): void {
    const { dh, y, gate, rows, dim, dy, dgate } = g;
    const gateStride = g.gateStride ?? 0;
    const rowsPerGroup = g.rowsPerGroup ?? rows;
    for (let r = 0; r < rows; r++) {
      const o = r * dim;
      const gOff = Math.floor(r / rowsPerGroup) * gateStride;
      for (let j = 0; j < dim; j++) {
        const d = dh[o + j];
        if (gate) {
          if (dgate) dgate[gOff + j] += d * y[o + j];
          dy[o + j] = gate[gOff + j] * d;
        } else {
          dy[o + j] = d;
        }
      }
    }
  }

  geluTanhBackward(x: Float32Array, dout: Float32Array, dx: Float32Array, n: number): void {
    for (let i = 0; i < n; i++) {
      const v = x[i];
      const t = Math.tanh(GELU_C * (v + 0.044715 * v * v * v));
      const du = GELU_C * (1 + 3 * 0.044715 * v * v);
      dx[i] = dout[i] * (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * du);
    }
  }

  /**
   * Exact backward over the allowed keys: P recomputed from the forward lse, D_i = dout_i . out_i,
   * dS = P (dP - D_i); dq = scale dS k, dk = scale dS^T q, dv = P^T dout. dk/dv accumulate in float64.
   */
  attentionBackward(a: AttentionBackwardArgs): void {
    const { batch, heads, headDim: d, kLen, q, k, v, out, dout, lse, dq, dk, dv, scale, spans } = a;
    const dkAcc = new Float64Array(batch * heads * kLen * d);
    const dvAcc = new Float64Array(batch * heads * kLen * d);
    const dqAcc = new Float64Array(d);
    for (let s = 0; s + 6 <= spans.length; s += 6) {
      const [q0, q1, k0, k1, k2, k3] = spans.subarray(s, s + 6);
      const keys: number[] = [];
      for (let j = k0; j < k1; j++) keys.push(j);
      for (let j = k2; j < k3; j++) keys.push(j);
      for (let b = 0; b < batch; b++) {
        for (let h = 0; h < heads; h++) {
          const accBase = (b * heads + h) * kLen * d;
          for (let i = q0; i < q1; i++) {
            const qo = b * a.qBatchStride + i * a.qRowStride + h * d;
            const oo = b * a.outBatchStride + i * a.outRowStride + h * d;
            const L = lse[(b * heads + h) * a.qLen + i];
            let D = 0;
            for (let p = 0; p < d; p++) D += dout[oo + p] * out[oo + p];
            dqAcc.fill(0);
            for (const j of keys) {
              const ko = b * a.kBatchStride + j * a.kRowStride + h * d;
              const vo = b * a.vBatchStride + j * a.vRowStride + h * d;
              let dot = 0;
              let dP = 0;
              for (let p = 0; p < d; p++) {
                dot += q[qo + p] * k[ko + p];
                dP += dout[oo + p] * v[vo + p];
              }
              const P = Math.exp(scale * dot - L);
              const dS = P * (dP - D);
              const ao = accBase + j * d;
              for (let p = 0; p < d; p++) {
                dvAcc[ao + p] += P * dout[oo + p];
                dkAcc[ao + p] += scale * dS * q[qo + p];
                dqAcc[p] += scale * dS * k[ko + p];
              }
            }
            for (let p = 0; p < d; p++) dq[qo + p] = dqAcc[p];
          }
        }
      }
    }
    for (let b = 0; b < batch; b++) {
      for (let h = 0; h < heads; h++) {
        for (let j = 0; j < kLen; j++) {
          const ao = ((b * heads + h) * kLen + j) * d;
          const ko = b * a.kBatchStride + j * a.kRowStride + h * d;
          const vo = b * a.vBatchStride + j * a.vRowStride + h * d;
          for (let p = 0; p < d; p++) {
            dk[ko + p] = dkAcc[ao + p];
            dv[vo + p] = dvAcc[ao + p];
          }
        }
      }
    }
  }

  embeddingBackward(dout: Float32Array, ids: Int32Array, n: number, dim: number, dtable: Float32Array): void {
    // float32 adds in index order: the order native/wasm reproduce exactly
    for (let i = 0; i < n; i++) {
      const t = ids[i] * dim;
      for (let j = 0; j < dim; j++) dtable[t + j] += dout[i * dim + j];
    }
  }

  /** torch.optim.AdamW (foreach=False) in float64 per element, stored back as float32. */
  adamw(o: AdamWArgs): void {
    const { param, grad, m, v, n, lr, beta1, beta2, eps, weightDecay, step, gradScale } = o;
    const bc1 = 1 - beta1 ** step;
    const bc2Sqrt = Math.sqrt(1 - beta2 ** step);
    const stepSize = lr / bc1;
    for (let i = 0; i < n; i++) {
      const g = grad[i] * gradScale;
      let p = param[i] * (1 - lr * weightDecay);
      const mi = beta1 * m[i] + (1 - beta1) * g;
      const vi = beta2 * v[i] + (1 - beta2) * g * g;
      p -= (stepSize * mi) / (Math.sqrt(vi) / bc2Sqrt + eps);
      m[i] = mi;
      v[i] = vi;
      param[i] = p;
    }
  }

  emaUpdate(shadow: Float32Array, param: Float32Array, n: number, decay: number): void {
    for (let i = 0; i < n; i++) shadow[i] -= (1 - decay) * (shadow[i] - param[i]);
  }

  sumSquares(x: Float32Array, n: number): number {
    let s = 0;
    for (let i = 0; i < n; i++) s += x[i] * x[i];
    return s;
  }
}

/** log(sum(exp(x[o..o+cols)))) with the max subtracted; -Infinity for an all -Infinity row. */
function rowLse(x: Float32Array, o: number, cols: number): number {
  let mx = -Infinity;
  for (let j = 0; j < cols; j++) if (x[o + j] > mx) mx = x[o + j];
  if (mx === -Infinity) return -Infinity;
  let s = 0;
  for (let j = 0; j < cols; j++) s += Math.exp(x[o + j] - mx);
  return mx + Math.log(s);
}
