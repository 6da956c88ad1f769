/**
 * The model options `sample` and `serve` share (--model DIR, default the embedded model; --backend; --weights), as
 * option-table lines, and loading the model they name with the folder's tokenizer.
 */
import { WEIGHT_DTYPES, type WeightDtype } from '../model/half.js';
import { defaultModelDir, loadModel } from '../model/load.js';
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
  model: { value: 'DIR', help: 'checkpoint folder, config.json + model.safetensors (default: the embedded models/default)' },
  ...BACKEND_OPTION,
  weights: { choices: WEIGHT_DTYPES, default: 'f32', help: 'weight storage for inference: bf16/f16 halve the memory (fp32 arithmetic)' },
} as const;

export interface ModelFlags {
  model?: string;
  backend?: string;
  weights: string;
}

/** The model folder the flags name (or the default model's), loaded, with its tokenizer. */
export async function loadFlaggedModel(f: ModelFlags): Promise<{ dir: string; model: DiT; tok: Tokenizer }> {
  const dir = f.model ?? (await defaultModelDir());
  const model = await loadModel(dir, { backend: f.backend as BackendName | undefined, weights: f.weights as WeightDtype });
  return { dir, model, tok: await loadTokenizer(dir, model.config) };
}
