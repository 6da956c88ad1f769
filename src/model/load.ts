import type { Backend, BackendName } from '../tensor/backend.js';
import { createBackend } from '../tensor/index.js';
import { loadCheckpoint } from './checkpoint.js';
import { DiT } from './dit.js';
import { halveWeights, type WeightDtype } from './half.js';

export interface LoadOptions {
  /** a backend instance, or a name to create one (default: native when built, else wasm; $BD3LM_BACKEND) */
  backend?: Backend | BackendName;
  /**
   * storage of the large weight matrices, default 'f32'. 'bf16' / 'f16' halve their memory and the bytes a
   * sampling step streams (fp32 arithmetic; logits change slightly, see README); inference only.
   */
  weights?: WeightDtype;
}

/** Loads a checkpoint folder (config.json + model.safetensors, HF layout) onto a backend. */
export async function loadModel(dir: string, opts: LoadOptions = {}): Promise<DiT> {
  const backend = typeof opts.backend === 'object' ? opts.backend : await createBackend(opts.backend);
  const ckpt = loadCheckpoint(dir, { alloc: (n) => backend.alloc(n) });
  const dtype = opts.weights ?? 'f32';
  const halves = dtype === 'f32' ? undefined : halveWeights(ckpt.tensors, dtype, backend);
  return new DiT(ckpt.config, ckpt.tensors, backend, halves);
}
