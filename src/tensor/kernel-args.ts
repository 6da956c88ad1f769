/**
 * The argument records of the kernels that take one (Backend methods, src/tensor/backend.ts), and the half dtypes: the
 * types native/kernels.def's lines name, so that src/tensor/kernels.gen.ts can bind them without importing backend.ts.
 */
export type HalfDtype = 'bf16' | 'f16';

export interface LayerNormArgs {
  x: Float32Array;
  out: Float32Array;
  rows: number;
  dim: number;
  weight: Float32Array;
  /** default 1e-5 */
  eps?: number;
  /** adaLN modulation: out = LN(x)*w*(1+scale[g]) + shift[g], g = row / rowsPerGroup, groups modStride apart */
  shift?: Float32Array | null;
  scale?: Float32Array | null;
  modStride?: number;
  rowsPerGroup?: number;
  /** receives [rows][2] = mean, rstd (for the backward pass) */
  stats?: Float32Array | null;
}

export interface GatedResidualArgs {
  h: Float32Array;
  y: Float32Array;
  /** null: h += y */
  gate: Float32Array | null;
  rows: number;
  dim: number;
  gateStride?: number;
  rowsPerGroup?: number;
}

export interface RotaryArgs {
  x: Float32Array;
  rows: number;
  rowStride: number;
  heads: number;
  headDim: number;
  /** tables [maxPos][headDim/2] */
  cos: Float32Array;
  sin: Float32Array;
  /** position of row r is pos0 + (r % seqLen) */
  pos0: number;
  seqLen: number;
}

export interface AttentionArgs {
  batch: number;
  heads: number;
  headDim: number;
  qLen: number;
  kLen: number;
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  out: Float32Array;
  qRowStride: number;
  kRowStride: number;
  vRowStride: number;
  outRowStride: number;
  qBatchStride: number;
  kBatchStride: number;
  vBatchStride: number;
  outBatchStride: number;
  scale: number;
  /** records (q0, q1, k0, k1, k2, k3): rows [q0,q1) attend keys [k0,k1) U [k2,k3); see src/model/mask.ts */
  spans: Int32Array;
  /** receives [batch][heads][qLen] logsumexp of the scaled allowed scores */
  lse?: Float32Array | null;
}

/** Backward of `layerNorm` (with the same modulation arguments). Gradients marked "accumulate" are added to. */
export interface LayerNormBackwardArgs {
  /** gradient of the output [rows][dim] */
  dout: Float32Array;
  /** the forward input and its saved stats [rows][2] (mean, rstd) */
  x: Float32Array;
  stats: Float32Array;
  rows: number;
  dim: number;
  weight: Float32Array;
  shift?: Float32Array | null;
  scale?: Float32Array | null;
  modStride?: number;
  rowsPerGroup?: number;
  /** gradient of x [rows][dim], overwritten (may alias dout) */
  dx: Float32Array;
  /** accumulate: [dim] */
  dweight: Float32Array;
  /** accumulate: per group, modStride apart like shift/scale (null when unmodulated) */
  dshift?: Float32Array | null;
  dscale?: Float32Array | null;
}

/** Backward of `gatedResidual` h += gate * y: dy = gate * dh (overwritten), dgate += sum over the group's rows dh * y. */
export interface GatedResidualBackwardArgs extends Omit<GatedResidualArgs, 'h'> {
  dh: Float32Array;
  dy: Float32Array;
  /** accumulate (null when gate is null) */
  dgate: Float32Array | null;
}

/**
 * Backward of `attention` with the same layout arguments plus the forward output `out` and its `lse`.
 * dq, dk, dv use the q/k/v strides and are overwritten on the rows/heads the call covers (kLen rows of dk, dv).
 */
export interface AttentionBackwardArgs extends AttentionArgs {
  dout: Float32Array;
  lse: Float32Array;
  dq: Float32Array;
  dk: Float32Array;
  dv: Float32Array;
}

/** One AdamW step over n parameters (PyTorch semantics: decoupled weight decay, bias-corrected moments). */
export interface AdamWArgs {
  param: Float32Array;
  grad: Float32Array;
  m: Float32Array;
  v: Float32Array;
  n: number;
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** 1-based step count for bias correction */
  step: number;
  /** grad is multiplied by this first (gradient clipping / accumulation averaging) */
  gradScale: number;
}
