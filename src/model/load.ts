import type { Backend, BackendName } from '../tensor/backend.js';
import { createBackend } from '../tensor/index.js';
import { loadCheckpoint } from './checkpoint.js';
import type { DiT } from './dit.js';
import type { WeightDtype } from './storage.js';
import { backendAllocs, modelFromCheckpoint } from './load-bytes.js';
import { packageRoot } from '../tensor/package-root.js';
import { resolveModelDir, type ResolveOptions } from '../hub/resolve.js';
import { CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE } from './checkpoint-format.js';

export interface LoadOptions {
  /** a backend instance, or a name to create one (default: native when built, else wasm; $BD3LM_BACKEND) */
  backend?: Backend | BackendName;
  /**
   * storage of the large weight matrices, default as stored: 'int8' for an int8 folder, 'f16' / 'bf16' for a file
   * whose matrices are all in that half precision (the values are exact: arithmetic stays fp32), else 'f32' (what
   * gradients need: `weights: 'f32'` loads a half file for training-like uses). 'bf16' / 'f16' halve their memory
   * and the bytes a sampling step streams, 'int8' quarters them (fp32 arithmetic; logits change slightly, see
   * README); 'w8a8' stores them as 'int8' and quantizes the activations too (integer products: faster on AVX-512
   * VNNI CPUs, a larger change; an int8 folder loads either way); inference only.
   */
  weights?: WeightDtype;
  /** for a repo id: the hub, token, cache and progress bar (default: $HF_ENDPOINT, $HF_TOKEN, the shared cache, a bar on a terminal) */
  hub?: ResolveOptions;
}

/** The embedded default model shipped with the package (models/default; see its README.md model card). */
export async function defaultModelDir(): Promise<string> {
  const { join } = await import('node:path');
  return join(await packageRoot(), 'models', 'default');
}

/**
 * The folder a model name means: the default model's without a name, a local folder, or a Hugging Face repo id
 * `ORG/NAME[@REVISION]` from the shared hub cache, downloaded into it when missing (src/hub/resolve.ts), with the
 * repo's tokenizer.json when it has one.
 */
export async function resolveModel(name?: string, hub?: ResolveOptions): Promise<string> {
  return name === undefined ? defaultModelDir() : resolveModelDir(name, [CONFIG_FILE, WEIGHTS_FILE], hub, [TOKENIZER_FILE]);
}

/**
 * Loads a checkpoint (config.json + model.safetensors, HF layout) onto a backend: a folder, a repo id such as
 * 'kuleshov-group/bd3lm-owt-block_size16' (see `resolveModel`), or without a name the embedded default model.
 */
export async function loadModel(dir?: string, opts: LoadOptions = {}): Promise<DiT> {
  const folder = await resolveModel(dir, opts.hub);
  const backend = typeof opts.backend === 'object' ? opts.backend : await createBackend(opts.backend);
  const ckpt = loadCheckpoint(folder, backendAllocs(backend));
  return modelFromCheckpoint(ckpt, backend, opts.weights);
}
