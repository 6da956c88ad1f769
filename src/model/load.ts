import type { Backend, BackendName } from '../tensor/backend.js';
import { createBackend } from '../tensor/index.js';
import { loadCheckpoint } from './checkpoint.js';
import { DiT } from './dit.js';

export interface LoadOptions {
  /** a backend instance, or a name to create one (default: native when built, else wasm; $BD3LM_BACKEND) */
  backend?: Backend | BackendName;
}

/** Loads a checkpoint folder (config.json + model.safetensors, HF layout) onto a backend. */
export async function loadModel(dir: string, opts: LoadOptions = {}): Promise<DiT> {
  const backend = typeof opts.backend === 'object' ? opts.backend : await createBackend(opts.backend);
  const ckpt = loadCheckpoint(dir, { alloc: (n) => backend.alloc(n) });
  return new DiT(ckpt.config, ckpt.tensors, backend);
}
