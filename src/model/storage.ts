/**
 * Storage of the large weight matrices for inference (`loadModel(dir, { weights })`): per block attn_qkv, attn_out,
 * mlp.0, mlp.2; the output projection; the embedding table. 'f32' keeps them as they are; 'bf16' / 'f16' keep half
 * bits (half.ts), 'int8' int8 values with a scale per row (quantize.ts); the kernels widen them to fp32 where they
 * read them. 'w8a8' stores them as 'int8' does and quantizes the activations too (Int8Matrix.activations): integer
 * products, an approximation of fp32 arithmetic (its error: README). Everything else (norms, biases, adaLN, timestep MLP) stays fp32. Training refuses such a model
 * (fp32Weights in weights.ts).
 */
import type { Backend, StoredMatrix } from '../tensor/backend.js';
import type { ModelConfig } from './config.js';
import { halveWeights } from './half.js';
import { quantizeWeights } from './quantize.js';

export type WeightDtype = 'f32' | 'bf16' | 'f16' | 'int8' | 'w8a8';

export const WEIGHT_DTYPES: readonly WeightDtype[] = ['f32', 'bf16', 'f16', 'int8', 'w8a8'];

export function parseWeightDtype(s: string): WeightDtype {
  if ((WEIGHT_DTYPES as readonly string[]).includes(s)) return s as WeightDtype;
  throw new Error(`weights must be f32, bf16, f16, int8 or w8a8, got '${s}'`);
}

/**
 * Moves the matrices of `tensors` into `dtype` storage on `be`, one at a time, freeing each fp32 array once
 * converted (no second fp32 copy is kept). Empty for 'f32'.
 */
export function storeWeights(config: ModelConfig, tensors: Map<string, Float32Array>, dtype: WeightDtype, be: Backend): Map<string, StoredMatrix> {
  if (dtype === 'f32') return new Map();
  return dtype === 'int8' || dtype === 'w8a8' ? quantizeWeights(config, tensors, be, dtype) : halveWeights(tensors, dtype, be);
}
