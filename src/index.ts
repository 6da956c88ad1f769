/** bd3lm: Block Diffusion language models (BD3-LM) in TypeScript. */
export type * from './tensor/backend.js';
export { createBackend, RefBackend } from './tensor/index.js';
export { Rng } from './tensor/rng.js';
export { PRESETS, parseHfConfig, readConfigFile, toHfConfig, withModelType, type ModelConfig, type ModelType, type PresetName } from './model/config.js';
export { expectedParams, paramCount } from './model/params.js';
export { loadCheckpoint, saveCheckpoint, describeCheckpoint } from './model/checkpoint.js';
export { loadSafetensors, saveSafetensors, CheckpointError } from './model/safetensors.js';
export { readNpy, writeNpy } from './model/npy.js';
export { DiT, type ForwardRequest, type ForwardResult, type Layout } from './model/dit.js';
export { KVCache } from './model/kvcache.js';
export { loadModel, type LoadOptions } from './model/load.js';
export { initTensors } from './model/init.js';
export { blockDiffusionSpans, blockCausalSpans, causalSpans, fullSpans, blockDiffusionMaskDense } from './model/mask.js';
export { subsLogProbs, NEG_INF } from './diffusion/subs.js';
export { nelboFromLogProbs } from './diffusion/nelbo.js';
export { nucleusFilter } from './sampling/nucleus.js';
export { verifyGolden, type VerifyReport } from './eval/conformance.js';
