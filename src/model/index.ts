/** bd3lm/model: the DiT and everything around it: configs, checkpoints and conversions, masks, the KV cache, hub. */
export { PRESETS, parseHfConfig, parseConfigText, toHfConfig, withModelType, type ModelConfig, type ModelType, type PresetName } from './config.js';
export { expectedParams, paramCount } from './params.js';
export { loadCheckpoint, saveCheckpoint, describeCheckpoint, readConfigFile } from './checkpoint.js';
export { loadSafetensors, saveSafetensors, CheckpointError } from './safetensors.js';
export { readNpy, writeNpy } from './npy.js';
export { DiT, type ForwardRequest, type ForwardResult, type Layout } from './dit.js';
export { KVCache, type StepOptions, type CacheStep } from './kvcache.js';
export { loadModel, defaultModelDir, resolveModel, type LoadOptions } from './load.js';
export { convertLightning, writeConverted, type ConvertResult } from './ckpt/convert.js';
export { loadModelFromBytes, loadModelFromUrl, type BytesLoadOptions, type UrlLoadOptions } from './load-bytes.js';
export type { WeightDtype } from './storage.js';
export { initTensors } from './init.js';
export { blockDiffusionSpans, blockCausalSpans, causalSpans, fullSpans, blockDiffusionMaskDense } from './mask.js';
export { HubError, downloadRepoFiles, type HubOptions, type DownloadProgress } from '../hub/download.js';
export { parseRepoRef, type RepoRef } from '../hub/repo-id.js';
