/**
 * bd3lm: Block Diffusion language models (BD3-LM) in TypeScript.
 *
 * The package entry holds what an application needs, grouped by task (test/public-api.test.ts keeps it to at most
 * 30 names). The building blocks are under subpath exports (package.json "exports"; README "Library"):
 *   bd3lm/model      the DiT, configs, checkpoints (safetensors, .npy, Lightning conversion), masks, KV cache, hub
 *   bd3lm/sampling   the samplers (block, AR, MDLM, SEDD), their steps, filters, batching and streaming parts
 *   bd3lm/training   the objective (loss and gradients) and the trainer
 *   bd3lm/data       tokenizers, dataset preparation, the loader
 *   bd3lm/diffusion  SUBS, noise schedules, the sampler's time grids
 *   bd3lm/eval       perplexity, generative perplexity, gradient variance, golden verification
 *   bd3lm/tensor     the backends (native, wasm, reference) and the Backend interface
 *   bd3lm/server     the OpenAI-compatible completion server
 */

// load: a model folder, a Hugging Face repo id or the embedded default model, on a backend
export { loadModel, type LoadOptions } from './model/load.js';
export { DiT } from './model/dit.js';
export type { ModelConfig } from './model/config.js';
export { createBackend } from './tensor/index.js';
export type { Backend, BackendName } from './tensor/backend.js';

// tokenize: the model folder's tokenizer
export { loadTokenizer } from './data/load-tokenizer.js';
export type { Tokenizer } from './data/tokenizer.js';

// generate: streaming, cancellable generation with any sampler; the exact KV cache of clean blocks
export { generate, type Generation, type GenerateOptions, type GenerateEvent, type GenerateResult, type SamplerName } from './sampling/generate.js';
export { KVCache } from './model/kvcache.js';

// train: prepare a corpus into a dataset, then train a model on it
export { prepare, type PrepareOptions } from './data/prepare.js';
export { train, type TrainOptions, type TrainResult } from './training/trainer.js';

// evaluate: perplexity (the NELBO bound) and generative perplexity under a judge model
export { perplexity, type PplReport } from './eval/ppl.js';
export { genPPL } from './eval/genppl.js';

// serve: the OpenAI-compatible completion server
export { createCompletionServer, type CompletionServer, type ServerOptions } from './server/app.js';

// verify: this port against the authors' golden fixtures
export { verifyGolden, type VerifyReport } from './eval/conformance.js';
