/**
 * int8 weight-only quantization of the large matrices ('int8' of storage.ts): symmetric, one fp32 scale per output
 * row (src/tensor/int8.ts), activations and accumulation fp32. In a checkpoint folder (`bd3lm export --dtype int8`)
 * each such matrix NAME is an I8 tensor of its usual shape plus an F32 tensor NAME_scale of shape [rows], and
 * config.json carries `quantization_config` (INT8_CONFIG), so the folder describes itself.
 */
import type { Backend, Int8Matrix } from '../tensor/backend.js';
import { quantizeRows } from '../tensor/int8.js';
import type { ModelConfig } from './config.js';
import { expectedParams } from './params.js';
import { CheckpointError } from './safetensors-format.js';
import { isStoredWeight } from './weights.js';

/** config.json's `quantization_config` of an int8 folder (every key is checked on load). */
export const INT8_CONFIG = Object.freeze({
  quant_method: 'bd3lm_int8',
  bits: 8,
  symmetric: true,
  granularity: 'per_row',
  scale_dtype: 'float32',
  scale_suffix: '_scale',
});

/** The tensor holding the row scales of quantized matrix `name`. */
export const scaleName = (name: string): string => name + INT8_CONFIG.scale_suffix;

/** A one-line description of the scheme (`bd3lm info`). */
export const INT8_SCHEME = 'int8 weight-only, symmetric, one fp32 scale per output row (I8 tensors + NAME_scale)';

/**
 * The quantization of a parsed config.json object: null when it has no quantization_config, 'int8' for
 * INT8_CONFIG; anything else is an error naming `source` and the key.
 */
export function parseQuantization(json: unknown, source: string): 'int8' | null {
  const q = (json as Record<string, unknown> | null)?.quantization_config;
  if (q === undefined || q === null) return null;
  if (typeof q !== 'object' || Array.isArray(q)) throw new CheckpointError(source, 'quantization_config must be an object');
  const want = INT8_CONFIG as Record<string, unknown>;
  const got = q as Record<string, unknown>;
  if (got.quant_method !== want.quant_method)
    throw new CheckpointError(source, `quantization_config.quant_method ${JSON.stringify(got.quant_method)} is not supported (only "${want.quant_method}", written by bd3lm export --dtype int8)`);
  for (const key of new Set([...Object.keys(want), ...Object.keys(got)]))
    if (got[key] !== want[key])
      throw new CheckpointError(source, `quantization_config.${key} is ${JSON.stringify(got[key])}, ${want[key] === undefined ? 'an unknown key' : `expected ${JSON.stringify(want[key])}`}`);
  return 'int8';
}

/** the longest rows (k) a W8A8 product takes: 127 * 127 * k must fit in int32 (BD_W8A8_MAX_K, native/kernels.h) */
export const W8A8_MAX_K = 131072;

/** The Int8Matrix storage of `be`, or an error saying that it has none. */
export function int8Alloc(be: Backend): (n: number) => Int8Array {
  if (!be.allocInt8)
    throw new Error(`weights 'int8': the ${be.name} backend has no int8 kernels${be.name === 'native' ? ' (this addon predates them: npm run build:native)' : ''}`);
  return (n) => be.allocInt8!(n);
}

/**
 * The matrices of `stored` set up for `weights` 'int8' (fp32 activations) or 'w8a8' (int8 activations too:
 * Int8Matrix.activations); 'w8a8' on a backend without that kernel is an error.
 */
export function withActivations(stored: Map<string, Int8Matrix>, weights: 'int8' | 'w8a8', be: Backend): Map<string, Int8Matrix> {
  if (weights === 'int8') return stored;
  if (!be.w8a8)
    throw new Error(`weights 'w8a8': the ${be.name} backend has no W8A8 kernel${be.name === 'native' ? ' (this addon predates it: npm run build:native)' : ''}`);
  for (const [name, m] of stored) {
    const k = m.data.length / m.scales.length;
    if (k > W8A8_MAX_K) throw new Error(`weights 'w8a8': ${name} has rows of ${k} values, above the ${W8A8_MAX_K} that int32 dot products hold`);
  }
  return new Map([...stored].map(([name, m]) => [name, { ...m, activations: 'int8' as const }]));
}

/** The rows of each stored matrix of `config` (its first dimension). */
function rowsOf(config: ModelConfig): Map<string, number> {
  return new Map(expectedParams(config).filter((s) => isStoredWeight(s.name)).map((s) => [s.name, s.shape[0]]));
}

/** The tensors an int8 folder adds to the model's parameters: NAME_scale, shape [rows], per quantized matrix. */
export function int8ScaleSpecs(config: ModelConfig): { name: string; shape: number[]; of: string }[] {
  return [...rowsOf(config)].map(([name, rows]) => ({ name: scaleName(name), shape: [rows], of: name }));
}

/** dtype problems of an int8 folder's tensors (matrices must be I8, scales floats); `dtypes` by tensor name. */
export function int8DtypeProblems(config: ModelConfig, dtypes: ReadonlyMap<string, string>): string[] {
  const problems: string[] = [];
  for (const s of int8ScaleSpecs(config)) {
    const q = dtypes.get(s.of), sc = dtypes.get(s.name);
    if (q !== undefined && q !== 'I8') problems.push(`tensor "${s.of}" has dtype ${q}, expected I8 (quantization_config says int8)`);
    if (sc !== undefined && !['F32', 'F16', 'BF16'].includes(sc)) problems.push(`scale tensor "${s.name}" has dtype ${sc}, expected F32 (F16 / BF16 are read too)`);
  }
  return problems;
}

/**
 * Moves the large matrices out of `tensors` into int8 matrices on `be`, one at a time, freeing each fp32 array once
 * quantized (no second fp32 copy is kept).
 */
export function quantizeWeights(config: ModelConfig, tensors: Map<string, Float32Array>, be: Backend, weights: 'int8' | 'w8a8' = 'int8'): Map<string, Int8Matrix> {
  const alloc = int8Alloc(be);
  withActivations(new Map(), weights, be); // refuse before converting anything
  const out = new Map<string, Int8Matrix>();
  for (const [name, rows] of rowsOf(config)) {
    const t = tensors.get(name);
    if (!t) throw new Error(`checkpoint is missing tensor ${name}`);
    const data = alloc(t.length);
    const scales = be.alloc(rows);
    quantizeRows(t, rows, t.length / rows, data, scales);
    out.set(name, { data, scales, dtype: 'int8' });
    tensors.delete(name);
    be.free(t);
  }
  return withActivations(out, weights, be);
}
