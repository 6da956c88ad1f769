/**
 * The compute backend: fp32 kernels over typed arrays, row-major. Three implementations share this contract:
 * `native` (Node addon, C + OpenBLAS), `wasm` (the same C compiled to WebAssembly SIMD) and `ref` (plain
 * TypeScript; the oracle for tests, never used for real work). The exact semantics of each kernel are those of
 * `src/tensor/ref.ts` and `native/kernels.h`.
 *
 * Memory: `alloc` returns arrays the backend reads in place (for wasm they live in its linear memory). Kernels
 * accept any Float32Array/Int32Array, but arrays not from `alloc` may be copied in and out (slow, still correct).
 */
export type BackendName = 'native' | 'wasm' | 'ref';

export interface GemmArgs {
  transA?: boolean;
  transB?: boolean;
  m: number;
  n: number;
  k: number;
  /** default 1 */
  alpha?: number;
  a: Float32Array;
  lda: number;
  b: Float32Array;
  ldb: number;
  /** default 0: C is overwritten and never read; 1 accumulates */
  beta?: number;
  c: Float32Array;
  ldc: number;
  /** length n, added to every row of C */
  bias?: Float32Array | null;
  /** default 1; batch items are strideA/strideB/strideC elements apart */
  batch?: number;
  strideA?: number;
  strideB?: number;
  strideC?: number;
}

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

export interface Backend {
  readonly name: BackendName;
  /** threads the kernels run on */
  readonly threads: number;
  /** human-readable details (e.g. "OpenBLAS sgemm", "relaxed-simd") */
  readonly info: string;
  alloc(n: number): Float32Array;
  allocInt(n: number): Int32Array;
  /** Return memory from alloc/allocInt (a no-op where the GC owns it). The array must not be used afterwards. */
  free(a: Float32Array | Int32Array): void;

  sgemm(args: GemmArgs): void;
  layerNorm(args: LayerNormArgs): void;
  gatedResidual(args: GatedResidualArgs): void;
  geluTanh(x: Float32Array, out: Float32Array, n: number): void;
  softmax(x: Float32Array, out: Float32Array, rows: number, cols: number): void;
  logSoftmax(x: Float32Array, out: Float32Array, rows: number, cols: number): void;
  logsumexp(x: Float32Array, out: Float32Array, rows: number, cols: number): void;
  rotary(args: RotaryArgs): void;
  embedding(table: Float32Array, ids: Int32Array, n: number, dim: number, out: Float32Array): void;
  attention(args: AttentionArgs): void;
}
