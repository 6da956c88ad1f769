/**
 * The model flags `sample` and `serve` share: --model DIR|ORG/NAME[@REV] (default: the embedded model), --backend, --weights.
 * Checked together with the other flags (before anything loads); loaded with the folder's tokenizer.
 */
import { parseWeightDtype, type WeightDtype } from '../model/storage.js';
import { loadModel, resolveModel } from '../model/load.js';
import type { DiT } from '../model/dit.js';
import { loadTokenizer } from '../data/load-tokenizer.js';
import type { Tokenizer } from '../data/tokenizer.js';
import type { BackendName } from '../tensor/backend.js';
import type { UsageError } from './args.js';

export interface ModelFlags {
  model?: string;
  /** --quiet: no download progress bar */
  quiet?: boolean;
  backend?: BackendName;
  /** absent: as the folder stores them (int8 folders load as int8), else f32 */
  weights?: WeightDtype;
}

/** Validates the flags' values; `usage` builds the command's usage error. */
export function parseModelFlags(values: { model?: string; backend?: string; weights?: string; quiet?: boolean }, usage: (msg: string) => UsageError): ModelFlags {
  if (values.backend !== undefined && !['native', 'wasm', 'ref'].includes(values.backend)) throw usage(`unknown backend '${values.backend}'`);
  try {
    return { model: values.model, quiet: values.quiet, backend: values.backend as BackendName | undefined, weights: values.weights === undefined ? undefined : parseWeightDtype(values.weights) };
  } catch (e) {
    throw usage(`--${(e as Error).message}`);
  }
}

/** The model folder the flags name (or the default model's), loaded, with its tokenizer. */
export async function loadFlaggedModel(f: ModelFlags): Promise<{ dir: string; model: DiT; tok: Tokenizer }> {
  const dir = await resolveModel(f.model, f.quiet ? { progress: false } : undefined); // a folder, or a repo id from the hub cache (downloaded when missing)
  const model = await loadModel(dir, { backend: f.backend, weights: f.weights });
  return { dir, model, tok: await loadTokenizer(dir, model.config) };
}
