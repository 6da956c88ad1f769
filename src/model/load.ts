import type { Backend, BackendName } from '../tensor/backend.js';
import { createBackend } from '../tensor/index.js';
import { loadCheckpoint } from './checkpoint.js';
import type { DiT } from './dit.js';
import type { WeightDtype } from './storage.js';
import { backendAllocs, modelFromCheckpoint } from './load-bytes.js';
import { packageRoot } from '../tensor/package-root.js';

export interface LoadOptions {
  /** a backend instance, or a name to create one (default: native when built, else wasm; $BD3LM_BACKEND) */
  backend?: Backend | BackendName;
  /**
   * storage of the large weight matrices, default 'f32' (an int8 folder: 'int8'). 'bf16' / 'f16' halve their memory
   * and the bytes a sampling step streams, 'int8' quarters them (fp32 arithmetic; logits change slightly, see
   * README); inference only.
   */
  weights?: WeightDtype;
}

/** The embedded default model shipped with the package (models/default; see its README.md model card). */
export async function defaultModelDir(): Promise<string> {
  const { join } = await import('node:path');
  return join(await packageRoot(), 'models', 'default');
}

/**
 * Loads a checkpoint folder (config.json + model.safetensors, HF layout) onto a backend; without a folder, the
 * embedded default model.
 */
export async function loadModel(dir?: string, opts: LoadOptions = {}): Promise<DiT> {
  const backend = typeof opts.backend === 'object' ? opts.backend : await createBackend(opts.backend);
  const ckpt = loadCheckpoint(dir ?? (await defaultModelDir()), backendAllocs(backend));
  return modelFromCheckpoint(ckpt, backend, opts.weights);
}
