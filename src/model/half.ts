/**
 * Half-precision weight storage for inference (`loadModel(dir, { weights: 'bf16' | 'f16' })`): the large 2-D
 * matrices (per block attn_qkv, attn_out, mlp.0, mlp.2; the output projection; the embedding table) are kept as
 * half bits in backend memory and widened to fp32 inside the kernels, halving the bytes a batch-1 model call
 * streams. Everything else (norms, biases, adaLN, timestep MLP) stays fp32. Training refuses such a model
 * (fp32Weights in weights.ts).
 */
import type { Backend, HalfDtype, HalfMatrix } from '../tensor/backend.js';
import { narrowToHalf } from '../tensor/half.js';

export type WeightDtype = 'f32' | HalfDtype;

export const WEIGHT_DTYPES: readonly WeightDtype[] = ['f32', 'bf16', 'f16'];

export function parseWeightDtype(s: string): WeightDtype {
  if ((WEIGHT_DTYPES as readonly string[]).includes(s)) return s as WeightDtype;
  throw new Error(`weights must be f32, bf16 or f16, got '${s}'`);
}

const HALF_NAMES = /^backbone\.(blocks\.\d+\.(attn_qkv|attn_out|mlp\.0|mlp\.2)\.weight|output_layer\.linear\.weight|vocab_embed\.embedding)$/;

/** Whether a checkpoint tensor is stored in half precision under the half options. */
export function isHalfWeight(name: string): boolean {
  return HALF_NAMES.test(name);
}

/**
 * Moves the half-precision candidates out of `tensors` (freeing their fp32 arrays) into half matrices on `be`.
 * Throws when an f16 conversion overflows (a weight beyond +-65504).
 */
export function halveWeights(tensors: Map<string, Float32Array>, dtype: HalfDtype, be: Backend): Map<string, HalfMatrix> {
  const halves = new Map<string, HalfMatrix>();
  for (const [name, t] of [...tensors]) {
    if (!isHalfWeight(name)) continue;
    const data = be.allocHalf(t.length);
    narrowToHalf(t, dtype, data);
    if (dtype === 'f16') {
      const bad = data.findIndex((h) => (h & 0x7fff) === 0x7c00);
      if (bad >= 0) throw new Error(`tensor ${name}: value ${t[bad]} at flat index ${bad} overflows f16 (use bf16)`);
    }
    halves.set(name, { data, dtype });
    tensors.delete(name);
    be.free(t);
  }
  return halves;
}
