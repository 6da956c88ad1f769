/**
 * The compute backend: fp32 kernels over typed arrays, row-major. Three implementations share this contract:
 * `native` (Node addon, C + OpenBLAS), `wasm` (the same C compiled to WebAssembly SIMD) and `ref` (plain
 * TypeScript; the oracle for tests, never used for real work). The exact semantics of each kernel are those of
 * `src/tensor/ref.ts` and `native/kernels.h`.
 *
 * Memory: `alloc` returns arrays the backend reads in place (for wasm they live in its linear memory). Kernels
 * accept any Float32Array/Int32Array, but arrays not from `alloc` may be copied in and out (slow, still correct).
 */
import type { BoundKernels } from './kernels.gen.js';
import type { HalfDtype } from './kernel-args.js';

export type {
  AdamWArgs,
  AttentionArgs,
  AttentionBackwardArgs,
  GatedResidualArgs,
  GatedResidualBackwardArgs,
  HalfDtype,
  LayerNormArgs,
  LayerNormBackwardArgs,
  RotaryArgs,
} from './kernel-args.js';

export type BackendName = 'native' | 'wasm' | 'ref';

/**
 * A matrix kept as half-precision bit patterns (IEEE binary16 or bfloat16) in backend memory (`allocHalf`) and
 * widened to fp32 where a kernel reads it: inference weights stored at half the bytes (src/model/half.ts).
 */
export interface HalfMatrix {
  readonly data: Uint16Array;
  readonly dtype: HalfDtype;
}

/**
 * A matrix kept as int8 values with one fp32 scale per row (`allocInt8`, `alloc`): row r stands for the fp32 values
 * fround(data[r * cols + c] * scales[r]) (symmetric weight-only quantization, src/model/quantize.ts).
 */
export interface Int8Matrix {
  readonly data: Int8Array;
  readonly scales: Float32Array;
  readonly dtype: 'int8';
  /**
   * 'int8': a product with this matrix quantizes op(A) as well, one scale per row (the weights' own rule,
   * quantizeRows in int8.ts), multiplies integers and applies both scales at the end (W8A8, native/kernels/w8a8.c):
   * an approximation of the fp32 product, faster where the CPU has int8 dot products. Default: fp32 activations.
   */
  readonly activations?: 'int8';
}

/** A weight matrix in a storage format the kernels widen to fp32 where they read it. */
export type StoredMatrix = HalfMatrix | Int8Matrix;

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
  /** a StoredMatrix only with transB and batch 1 (weight products): fp32 arithmetic on the widened values */
  b: Float32Array | StoredMatrix;
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

/** Filters between the denoiser and a draw, applied in this order (src/tensor/sampling/filters.ts has the definitions). */
export interface RowFilters {
  /** p^(1/temperature), renormalised (as (p / max p)^(1/T): no underflow); 1 = off; 0 = greedy (argmax, ties to the lowest id) */
  temperature?: number;
  /** keep the k most likely tokens (ties by lower index); 0 = off */
  topK?: number;
  /** nucleus p in (0, 1]; 1 = off (reference default). The reference excludes the token that crosses p. */
  topP?: number;
  /** keep the token crossing p (the common convention) instead of the reference's exclusion */
  includeCrossing?: boolean;
}

/** `SampleRowsArgs.fallback` of a row that is not a probability distribution (a broken model's NaN). */
export const NOT_A_DISTRIBUTION = 2;

/**
 * The per-row work of the block sampler (spec 5.1-5.3), in float64, rows in parallel where the backend has threads;
 * the definition is RefBackend.sampleRows. With `logp`: row r of `probs` becomes exp(logp[r]) after the filters;
 * then draw d picks a token from row drawRow[d] into out[d]: argmax_v q_v / (1e-10 - ln(u_v + 1e-10)) with q = p,
 * or with `posterior` the DDPM posterior q = p * keep, q[maskId] = stay (spec 5.3).
 */
export interface SampleRowsArgs {
  rows: number;
  V: number;
  /** [rows][V]: written from `logp` when given, else read (probabilities kept from an earlier call) */
  probs: Float64Array;
  /** [rows][V] SUBS log-probabilities; null: draws only */
  logp?: Float32Array | null;
  filters?: RowFilters;
  /**
   * [rows], with logp: 1 marks a row whose top-k / top-p were not applied (scratch memory ran out) and whose draws
   * were not made (out = -1): the caller filters it by the definition and draws again without logp.
   * NOT_A_DISTRIBUTION marks a row that is not a probability distribution (a NaN or infinite log-probability): not
   * filtered, its draws not made (out = -1); nothing may be drawn from it. Else 0.
   */
  fallback?: Int32Array | null;
  /** the row of each draw (< rows); absent: no draws */
  drawRow?: Int32Array | null;
  /** [draws][V] uniform noise of each draw, or ... */
  noise?: Float64Array | null;
  /** ... [draws][3]: the seeded draw's two words and row (src/tensor/sampling/random.ts seededRow), regenerated in place */
  seeds?: Int32Array | null;
  posterior?: { keep: number; stay: number; maskId: number } | null;
  /** [draws] tokens */
  out?: Int32Array | null;
}

/**
 * The contract every backend meets. The kernels native/kernels.def binds directly come from the list
 * (BoundKernels, src/tensor/kernels.gen.ts); the methods below dispatch one op over its variants (a stored b or
 * table picks the half or int8 entry point) or check their arguments first, by hand in each binding.
 */
export interface Backend extends BoundKernels {
  readonly name: BackendName;
  /** threads the kernels run on */
  readonly threads: number;
  /** human-readable details (e.g. "OpenBLAS sgemm", "relaxed-simd") */
  readonly info: string;
  alloc(n: number): Float32Array;
  allocInt(n: number): Int32Array;
  /** storage for a HalfMatrix's bits */
  allocHalf(n: number): Uint16Array;
  /** storage for an Int8Matrix's values; absent on a backend without the int8 kernels (e.g. an addon built before them) */
  allocInt8?(n: number): Int8Array;
  /** whether sgemm takes an Int8Matrix with `activations: 'int8'` (false on an addon built before that kernel) */
  readonly w8a8?: boolean;
  /** Return memory from alloc/allocInt/allocHalf/allocInt8 (a no-op where the GC owns it). The array must not be used afterwards. */
  free(a: Float32Array | Int32Array | Uint16Array | Int8Array): void;

  sgemm(args: GemmArgs): void;
  embedding(table: Float32Array | StoredMatrix, ids: Int32Array, n: number, dim: number, out: Float32Array): void;
  /** The block sampler's per-row work: probabilities from log-probabilities, filters, categorical draws. */
  sampleRows(args: SampleRowsArgs): void;
}
