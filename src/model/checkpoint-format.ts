/**
 * A checkpoint in the HF layout (spec 8): config.json + model.safetensors, read from wherever their bytes come from
 * (files in Node: checkpoint.ts; a download in browsers: load-bytes.ts). Validates the tensors against the
 * architecture the config describes, after correcting cond_dim from the weights (the config value is not
 * trustworthy, spec 8.2). No Node imports.
 */
import type { Int8Matrix } from '../tensor/backend.js';
import { type ModelConfig, inferCondDim, parseConfigText } from './config.js';
import { expectedParams } from './params.js';
import { int8DtypeProblems, int8ScaleSpecs, parseQuantization } from './quantize.js';
import { CheckpointError, compareToExpected, readTensors, type SafetensorsFile, type SafetensorsHeader } from './safetensors-format.js';
import { isStoredWeight } from './weights.js';

export const CONFIG_FILE = 'config.json';
export const WEIGHTS_FILE = 'model.safetensors';
/** a model folder's own tokenizer (optional; HF tokenizers' format) */
export const TOKENIZER_FILE = 'tokenizer.json';

export interface CheckpointContents {
  config: ModelConfig;
  /** every tensor of the file (parameters and buffers), in state_dict order */
  tensors: Map<string, Float32Array>;
  shapes: Map<string, number[]>;
  /** what loading corrected in the config (e.g. cond_dim inferred from the weights) */
  notes: string[];
  /** the weight storage config.json declares: 'int8' (quantization_config; quantize.ts) or null (float tensors) */
  quantization: 'int8' | null;
  /** int8 folders: the quantized matrices by name (not in `tensors`, nor their scale tensors); else empty */
  stored: Map<string, Int8Matrix>;
  /**
   * 'f16' / 'bf16' when the file holds every large weight matrix (isStoredWeight) in that half precision: their
   * values are then exactly what half storage keeps, so inference loads them so by default; else null
   */
  half: 'f16' | 'bf16' | null;
}

export interface ReadCheckpointOptions {
  alloc?: (n: number) => Float32Array;
  /** storage of int8 matrices (default new Int8Array); an int8 folder with `alloc` but no allocInt8 is refused */
  allocInt8?: (n: number) => Int8Array;
  allowNonFinite?: boolean;
}

/** The quantization declared by config text already parsed once by resolveConfig. */
export function quantizationOf(configText: string, configPath: string): 'int8' | null {
  return parseQuantization(JSON.parse(configText), configPath);
}

/** The tensors a checkpoint of `config` must hold (names and shapes) and their dtype problems. */
export function checkTensors(config: ModelConfig, quantization: 'int8' | null, header: SafetensorsHeader) {
  const expected: { name: string; shape: readonly number[] }[] = expectedParams(config);
  if (quantization) expected.push(...int8ScaleSpecs(config));
  const problems = compareToExpected(header, expected);
  if (quantization) problems.push(...int8DtypeProblems(config, new Map(header.entries.map((e) => [e.name, e.dtype]))));
  return { expected, problems };
}

/** Config with cond_dim taken from the weight shapes; `notes` records the correction. */
export function resolveConfig(configText: string, configPath: string, shapes: Map<string, number[]>, notes: string[]): ModelConfig {
  const config = parseConfigText(configText, configPath);
  const inferred = inferCondDim(shapes);
  if (inferred !== undefined && inferred !== config.condDim) {
    notes.push(`cond_dim ${config.condDim} in ${configPath} overridden by ${inferred} from the weight shapes`);
    config.condDim = inferred;
  }
  return config;
}

/** The model of config text `configText` (named `configPath` in messages) with its weights from `file`. */
export function readCheckpoint(
  configText: string,
  configPath: string,
  file: SafetensorsFile,
  opts: ReadCheckpointOptions = {},
): CheckpointContents {
  const { header } = file;
  const notes: string[] = [];
  const config = resolveConfig(configText, configPath, new Map(header.entries.map((e) => [e.name, e.shape])), notes);
  const quantization = quantizationOf(configText, configPath);
  const { expected, problems } = checkTensors(config, quantization, header);
  if (problems.length)
    throw new CheckpointError(
      header.path,
      `tensors do not match the ${config.modelType} model described by ${configPath} (${problems.length} problem(s)):\n  ${problems.join('\n  ')}`,
    );
  const scales = quantization ? int8ScaleSpecs(config) : [];
  const { tensors, shapes } = readTensors(file, {
    expected, alloc: opts.alloc, allowNonFinite: opts.allowNonFinite, skip: new Set(scales.map((s) => s.of)),
  });
  const stored = new Map<string, Int8Matrix>();
  if (scales.length) {
    if (opts.alloc && !opts.allocInt8)
      throw new CheckpointError(header.path, "holds int8 weights (config.json quantization_config): only inference loads them, with weights 'int8' on a backend with int8 kernels");
    const allocInt8 = opts.allocInt8 ?? ((n: number) => new Int8Array(n));
    for (const s of scales) {
      const sc = tensors.get(s.name)!;
      const bad = sc.findIndex((v) => !(v >= 0));
      if (bad >= 0) throw new CheckpointError(header.path, `scale tensor "${s.name}": value ${sc[bad]} at index ${bad} is negative`);
      const e = header.byName.get(s.of)!;
      const data = allocInt8(e.end - e.begin); // I8: one byte per value
      file.readInt8Into(s.of, data);
      stored.set(s.of, { data, scales: sc, dtype: 'int8' });
      shapes.set(s.of, [...e.shape]);
      tensors.delete(s.name);
      shapes.delete(s.name);
    }
  }
  if (config.modelType === 'bd3lm') {
    // the learned clip bounds live in the weights; config.json only carries the class defaults (spec 8.2)
    const lo = tensors.get('sampling_eps_min')![0];
    const hi = tensors.get('sampling_eps_max')![0];
    // (kept as written when equal at float32 precision, so 0.001 stays 0.001 rather than 0.0010000000474974513)
    if (lo !== Math.fround(config.samplingEpsMin) || hi !== Math.fround(config.samplingEpsMax)) {
      notes.push(`sampling_eps_min/max ${config.samplingEpsMin}/${config.samplingEpsMax} in ${configPath} replaced by the stored ${lo}/${hi}`);
      config.samplingEpsMin = lo;
      config.samplingEpsMax = hi;
    }
  }
  return { config, tensors, shapes, notes, quantization, stored, half: halfPrecisionOf(header) };
}

/** the half precision every stored weight matrix of the file is written in, if they share one */
function halfPrecisionOf(header: SafetensorsHeader): 'f16' | 'bf16' | null {
  const dtypes = new Set(header.entries.filter((e) => isStoredWeight(e.name)).map((e) => e.dtype));
  if (dtypes.size !== 1) return null;
  const [d] = dtypes;
  return d === 'F16' ? 'f16' : d === 'BF16' ? 'bf16' : null;
}
