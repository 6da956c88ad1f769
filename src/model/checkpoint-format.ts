/**
 * A checkpoint in the HF layout (spec 8): config.json + model.safetensors, read from wherever their bytes come from
 * (files in Node: checkpoint.ts; a download in browsers: load-bytes.ts). Validates the tensors against the
 * architecture the config describes, after correcting cond_dim from the weights (the config value is not
 * trustworthy, spec 8.2). No Node imports.
 */
import { type ModelConfig, inferCondDim, parseConfigText } from './config.js';
import { expectedParams } from './params.js';
import { CheckpointError, compareToExpected, readTensors, type SafetensorsFile } from './safetensors-format.js';

export const CONFIG_FILE = 'config.json';
export const WEIGHTS_FILE = 'model.safetensors';

export interface CheckpointContents {
  config: ModelConfig;
  /** every tensor of the file (parameters and buffers), in state_dict order */
  tensors: Map<string, Float32Array>;
  shapes: Map<string, number[]>;
  /** what loading corrected in the config (e.g. cond_dim inferred from the weights) */
  notes: string[];
}

export interface ReadCheckpointOptions {
  alloc?: (n: number) => Float32Array;
  allowNonFinite?: boolean;
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
  const expected = expectedParams(config);
  const problems = compareToExpected(header, expected);
  if (problems.length)
    throw new CheckpointError(
      header.path,
      `tensors do not match the ${config.modelType} model described by ${configPath} (${problems.length} problem(s)):\n  ${problems.join('\n  ')}`,
    );
  const { tensors, shapes } = readTensors(file, { expected, alloc: opts.alloc, allowNonFinite: opts.allowNonFinite });
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
  return { config, tensors, shapes, notes };
}
