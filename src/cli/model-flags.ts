/**
 * The model options `sample` and `serve` share (--model DIR|ORG/NAME[@REV], default the embedded model; --backend;
 * --weights; --quiet), as option-table lines, and loading the model they name with the folder's tokenizer.
 */
import { WEIGHT_DTYPES, type WeightDtype } from '../model/storage.js';
import { loadModel, resolveModel } from '../model/load.js';
import type { DiT } from '../model/dit.js';
import { loadTokenizer } from '../data/load-tokenizer.js';
import type { Tokenizer } from '../data/tokenizer.js';
import { BACKEND_NAMES } from '../tensor/index.js';
import type { BackendName } from '../tensor/backend.js';

/** --backend, for every command that runs a model */
export const BACKEND_OPTION = {
  backend: { choices: BACKEND_NAMES, help: 'compute backend (default: native when the addon loads, else wasm; or $BD3LM_BACKEND)' },
} as const;

export const MODEL_OPTIONS = {
  model: { value: 'DIR|ORG/NAME[@REV]', help: 'checkpoint folder (config.json + model.safetensors) or Hugging Face repo id (default: the embedded models/default)' },
  ...BACKEND_OPTION,
  weights: { choices: WEIGHT_DTYPES, help: 'weight storage for inference (default: as stored: int8 for an int8 folder, f16/bf16 for a file of half matrices, else f32): bf16/f16 halve the memory, int8 quarters it (fp32 arithmetic), w8a8 is int8 with int8 activations (integer products: faster, less exact)' },
  quiet: { help: 'no download progress bar' },
} as const;

export interface ModelFlags {
  model?: string;
  /** --quiet: no download progress bar */
  quiet?: boolean;
  backend?: string;
  /** absent: as the folder stores them (int8 folders load as int8), else f32 */
  weights?: string;
}

/** The model folder the flags name (or the default model's), loaded, with its tokenizer. */
export async function loadFlaggedModel(f: ModelFlags): Promise<{ dir: string; model: DiT; tok: Tokenizer }> {
  const dir = await resolveModel(f.model, f.quiet ? { progress: false } : undefined); // a folder, or a repo id from the hub cache (downloaded when missing)
  const model = await loadModel(dir, { backend: f.backend as BackendName | undefined, weights: f.weights as WeightDtype | undefined });
  return { dir, model, tok: await loadTokenizer(dir, model.config) };
}
