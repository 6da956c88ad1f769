/**
 * Model configuration: the size presets of spec 2.1 and the HF `config.json` layouts of spec 8.2 (bd3lm),
 * 8.4 (mdlm) and this project's own AR layout. Parsing validates every field so that a bad file fails here,
 * naming the file and the field, instead of as a shape error deep inside the forward pass.
 */
import { CheckpointError } from './safetensors-format.js';

export type ModelType = 'bd3lm' | 'mdlm' | 'ar';

export interface ModelConfig {
  modelType: ModelType;
  vocabSize: number;
  modelLength: number;
  hiddenDim: number;
  /** Width of the conditioning vector c; unused (0 allowed) for AR. Inferred from weights on load. */
  condDim: number;
  nBlocks: number;
  nHeads: number;
  /** Block size L'; mdlm: = modelLength (one block); ar: 1. */
  blockSize: number;
  dropout: number;
  timeConditioning: boolean;
  crossAttn: boolean;
  /** Always true for non-causal models (the reference forces adaLN on, spec 2.4); false for AR. */
  adaln: boolean;
  causal: boolean;
  samplingEpsMin: number;
  samplingEpsMax: number;
}

export type PresetName = 'tiny' | 'small' | 'medium';

const presetDims: Record<PresetName, Pick<ModelConfig, 'hiddenDim' | 'condDim' | 'nBlocks' | 'nHeads'>> = {
  tiny: { hiddenDim: 256, condDim: 64, nBlocks: 8, nHeads: 8 },
  small: { hiddenDim: 768, condDim: 128, nBlocks: 12, nHeads: 12 },
  medium: { hiddenDim: 1024, condDim: 128, nBlocks: 24, nHeads: 16 },
};

/** BD3-LM presets (block size 4, GPT-2 vocab + mask token, length 1024); use `withModelType` for mdlm/ar. */
export const PRESETS: Record<PresetName, ModelConfig> = Object.fromEntries(
  (Object.keys(presetDims) as PresetName[]).map((k) => [
    k,
    Object.freeze({
      modelType: 'bd3lm',
      vocabSize: 50258,
      modelLength: 1024,
      ...presetDims[k],
      blockSize: 4,
      dropout: 0.1,
      timeConditioning: false,
      crossAttn: true,
      adaln: true,
      causal: false,
      samplingEpsMin: 1e-3,
      samplingEpsMax: 0.999,
    } satisfies ModelConfig),
  ]),
) as Record<PresetName, ModelConfig>;

/** How a model is trained and sampled: its type, and SEDD for a time-conditioned MDLM (the score-entropy baseline). */
export type ModelFamily = ModelType | 'sedd';
export function modelFamily(cfg: ModelConfig): ModelFamily {
  if (cfg.causal) return 'ar';
  if (cfg.modelType === 'mdlm') return cfg.timeConditioning ? 'sedd' : 'mdlm';
  return 'bd3lm';
}

/** Upper bounds of the config fields checked at load (the largest real BD3-LM / MDLM: L = 1024..131072, 12-24 layers). */
export const LIMITS = {
  vocabSize: 2 ** 24,
  modelLength: 2 ** 20,
  /** hidden_dim and cond_dim (the MLP's 4 * hidden_dim^2 weights fit one typed array) */
  width: 2 ** 15,
  nBlocks: 4096,
  /** values in one tensor (the largest typed array) */
  tensor: 2 ** 32 - 1,
} as const;

/** Same sizes, another model family: sets the flags that family implies (spec 2.6, 8.4). */
export function withModelType(cfg: ModelConfig, modelType: ModelType): ModelConfig {
  if (modelType === 'bd3lm') return { ...cfg, modelType, causal: false, adaln: true };
  if (modelType === 'mdlm')
    return { ...cfg, modelType, blockSize: cfg.modelLength, crossAttn: false, causal: false, adaln: true };
  return { ...cfg, modelType, blockSize: 1, crossAttn: false, causal: true, adaln: false, timeConditioning: false };
}

/** Parses the text of a config.json (`source` names it in errors). */
export function parseConfigText(text: string, source: string): ModelConfig {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(source, `config is not valid JSON: ${(e as Error).message}`);
  }
  return parseHfConfig(json, source);
}

/** Validates an HF-style config object (bd3lm / mdlm / ar) and converts it to a ModelConfig. */
export function parseHfConfig(json: unknown, source: string): ModelConfig {
  const fail = (msg: string): never => {
    throw new CheckpointError(source, msg);
  };
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail('config must be a JSON object');
  const o = json as Record<string, unknown>;
  const mt = o.model_type;
  if (mt !== 'bd3lm' && mt !== 'mdlm' && mt !== 'ar')
    fail(`model_type ${JSON.stringify(mt)} is not supported (expected "bd3lm", "mdlm" or "ar")`);
  const modelType = mt as ModelType;

  const int = (key: string, def?: number, min = 1, max = Number.MAX_SAFE_INTEGER): number => {
    const v = o[key] ?? def;
    if (v === undefined) return fail(`missing field "${key}"`);
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max)
      fail(`field "${key}" must be an integer in [${min}, ${max}], got ${JSON.stringify(v)}`);
    return v as number;
  };
  const num = (key: string, def: number, lo: number, hi: number): number => {
    const v = o[key] ?? def;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi)
      fail(`field "${key}" must be a number in [${lo}, ${hi}], got ${JSON.stringify(v)}`);
    return v as number;
  };
  const bool = (key: string, def: boolean): boolean => {
    const v = o[key] ?? def;
    if (typeof v !== 'boolean') fail(`field "${key}" must be true or false, got ${JSON.stringify(v)}`);
    return v as boolean;
  };

  // a token id besides the mask; the rest are far beyond any real model, so that an absurd value fails here and
  // not as a typed-array allocation deep in sampling (LIMITS)
  const vocabSize = int('vocab_size', 50258, 2, LIMITS.vocabSize);
  const modelLength = int('model_length', 1024, 1, LIMITS.modelLength);
  const hiddenDim = int('hidden_dim', 768, 1, LIMITS.width);
  const nBlocks = int('n_blocks', 12, 1, LIMITS.nBlocks);
  const nHeads = int('n_heads', 12, 1, hiddenDim);
  // cond_dim defaults are untrustworthy (class default 129); loading overrides it from the weights.
  const condDim = int('cond_dim', modelType === 'ar' ? 0 : 128, modelType === 'ar' ? 0 : 1, LIMITS.width);
  if (vocabSize * hiddenDim > LIMITS.tensor)
    fail(`vocab_size ${vocabSize} x hidden_dim ${hiddenDim} values are more than one tensor can hold (${LIMITS.tensor})`);
  const dropout = num('dropout', 0.1, 0, 1);
  if (dropout >= 1) fail('field "dropout" must be < 1');
  const causal = bool('causal', modelType === 'ar');
  const adalnField = bool('adaln', modelType !== 'ar');
  const timeConditioning = bool('time_conditioning', false);
  const samplingEpsMin = num('sampling_eps_min', 1e-3, 0, 1);
  const samplingEpsMax = num('sampling_eps_max', modelType === 'bd3lm' ? 0.999 : 1, 0, 1);

  let blockSize: number;
  let crossAttn: boolean;
  if (modelType === 'bd3lm') {
    blockSize = int('block_size', 1);
    crossAttn = bool('cross_attn', true);
  } else if (modelType === 'mdlm') {
    // MDLM = one block spanning the whole sequence, no x_t (+) x_0 layout (spec 8.4).
    blockSize = o.block_size === undefined ? modelLength : int('block_size');
    if (blockSize !== modelLength) fail(`mdlm block_size must equal model_length (${modelLength}), got ${blockSize}`);
    crossAttn = false;
  } else {
    blockSize = int('block_size', 1);
    if (blockSize !== 1) fail(`ar block_size must be 1, got ${blockSize}`);
    crossAttn = false;
  }

  if (modelType === 'ar') {
    if (!causal) fail('ar models must have "causal": true');
    if (adalnField) fail('ar models have no adaLN ("adaln" must be false)');
    if (timeConditioning) fail('ar models have no time conditioning ("time_conditioning" must be false)');
  } else if (causal) {
    fail(`${modelType} models must have "causal": false (the causal variant is model_type "ar")`);
  }
  if (hiddenDim % nHeads !== 0) fail(`hidden_dim ${hiddenDim} is not divisible by n_heads ${nHeads}`);
  if ((hiddenDim / nHeads) % 2 !== 0) fail(`head dim ${hiddenDim / nHeads} must be even (rotary embedding)`);
  if (modelLength % blockSize !== 0) fail(`block_size ${blockSize} does not divide model_length ${modelLength}`);
  if (samplingEpsMin > samplingEpsMax)
    fail(`sampling_eps_min ${samplingEpsMin} is larger than sampling_eps_max ${samplingEpsMax}`);

  return {
    modelType,
    vocabSize,
    modelLength,
    hiddenDim,
    condDim,
    nBlocks,
    nHeads,
    blockSize,
    dropout,
    timeConditioning,
    crossAttn,
    // the reference computes adaLN = !causal || adaln (spec 2.4)
    adaln: !causal || adalnField,
    causal,
    samplingEpsMin,
    samplingEpsMax,
  };
}

/** The HF config.json object for `cfg` (keys sorted like `save_pretrained`); parseHfConfig round-trips it. */
export function toHfConfig(cfg: ModelConfig): Record<string, unknown> {
  const o: Record<string, unknown> = {
    model_type: cfg.modelType,
    vocab_size: cfg.vocabSize,
    model_length: cfg.modelLength,
    hidden_dim: cfg.hiddenDim,
    cond_dim: cfg.condDim,
    n_blocks: cfg.nBlocks,
    n_heads: cfg.nHeads,
    dropout: cfg.dropout,
    time_conditioning: cfg.timeConditioning,
    return_dict: false,
    torch_dtype: 'float32',
    // written for every type so the config round-trips (mdlm/ar only use them as sampling defaults)
    sampling_eps_min: cfg.samplingEpsMin,
    sampling_eps_max: cfg.samplingEpsMax,
  };
  if (cfg.modelType === 'bd3lm') {
    Object.assign(o, {
      architectures: ['BD3LM'],
      auto_map: {
        AutoConfig: 'configuration_bd3lm.BD3LMConfig',
        AutoModelForMaskedLM: 'modeling_bd3lm.BD3LM',
      },
      block_size: cfg.blockSize,
      cross_attn: cfg.crossAttn,
      adaln: cfg.adaln,
      causal: cfg.causal,
      attn_backend: 'sdpa',
      var_min: true,
    });
  } else if (cfg.modelType === 'mdlm') {
    o.architectures = ['MDLM'];
  } else {
    Object.assign(o, { block_size: 1, causal: true, adaln: false });
  }
  return Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]]));
}

/**
 * cond_dim from tensor shapes: `sigma_map.mlp.0.weight` is [cond, 256]; AR checkpoints have no conditioning
 * (returns undefined). Accepts a Map or a plain record of name -> shape.
 */
export function inferCondDim(shapes: Map<string, number[]> | Record<string, number[]>): number | undefined {
  const get = (n: string): number[] | undefined =>
    shapes instanceof Map ? shapes.get(n) : Object.prototype.hasOwnProperty.call(shapes, n) ? shapes[n] : undefined;
  const s = get('backbone.sigma_map.mlp.0.weight');
  if (s && s.length === 2) return s[0];
  const a = get('backbone.blocks.0.adaLN_modulation.weight');
  if (a && a.length === 2) return a[1];
  return undefined;
}
