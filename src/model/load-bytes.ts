/**
 * Loading a model from bytes rather than a folder: a browser page or Web Worker fetches config.json and
 * model.safetensors and builds the DiT on a backend it created (in browsers the WebAssembly one). Validation is the
 * one `loadModel` uses (checkpoint-format.ts). No Node imports.
 */
import type { Backend } from '../tensor/backend.js';
import { CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE, readCheckpoint, type CheckpointContents } from './checkpoint-format.js';
import { DiT } from './dit.js';
import { int8Alloc, withActivations } from './quantize.js';
import { storeWeights, type WeightDtype } from './storage.js';
import { bytesSource, openSource } from './safetensors-format.js';
import { fetchBytes, fetchOptionalBytes } from '../hub/browser-fetch.js';
import { DEFAULT_ENDPOINT, parseRepoRef, repoIdProblem, resolveUrl } from '../hub/repo-id.js';

export interface BytesLoadOptions {
  /** where the weights go and the model runs */
  backend: Backend;
  /** storage of the large weight matrices (as `loadModel`'s option), default: as stored (int8 folders, files of half matrices), else 'f32' */
  weights?: WeightDtype;
}

/** Options for reading a checkpoint onto `backend`: tensors and int8 matrices in its memory. */
export function backendAllocs(backend: Backend) {
  return { alloc: (n: number) => backend.alloc(n), allocInt8: (n: number) => int8Alloc(backend)(n) };
}

/**
 * The DiT of a checkpoint read onto `backend` (its tensors already live in backend memory). An int8 folder loads
 * as int8 (asking it for other storage is an error: its fp32 weights are gone); a float one is converted to `weights`.
 */
export function modelFromCheckpoint(ckpt: CheckpointContents, backend: Backend, weights?: WeightDtype): DiT {
  if (ckpt.quantization) {
    if (weights !== undefined && weights !== ckpt.quantization && weights !== 'w8a8')
      throw new Error(`weights '${weights}': this checkpoint holds ${ckpt.quantization} weights (config.json quantization_config); load it with weights '${ckpt.quantization}' (or 'w8a8') or export an fp32 checkpoint again`);
    return new DiT(ckpt.config, ckpt.tensors, backend, withActivations(ckpt.stored, weights ?? 'int8', backend));
  }
  // by default as stored: a half-precision file's matrices stay half (the same values, half the memory)
  return new DiT(ckpt.config, ckpt.tensors, backend, storeWeights(ckpt.config, ckpt.tensors, weights ?? ckpt.half ?? 'f32', backend));
}

/** A model from the text of its config.json and the bytes of its model.safetensors (`source` names them in errors). */
export function loadModelFromBytes(configText: string, weights: Uint8Array, opts: BytesLoadOptions, source = '.'): DiT {
  const { backend } = opts;
  const weightsPath = `${source}/${WEIGHTS_FILE}`;
  const file = openSource(bytesSource(weights, weightsPath), weightsPath);
  const ckpt = readCheckpoint(configText, `${source}/${CONFIG_FILE}`, file, backendAllocs(backend));
  return modelFromCheckpoint(ckpt, backend, opts.weights);
}

export interface UrlLoadOptions extends BytesLoadOptions {
  /** reports download progress of the weights (total is 0 when the server sends no length) */
  onProgress?: (loaded: number, total: number) => void;
  /** the hub a repo id is fetched from (default https://huggingface.co) */
  endpoint?: string;
  /** Cache API storage for the files; default 'bd3lm-models' for a repo id, none for a folder URL; false: none */
  cache?: string | false;
}

/** The model and config URLs of `base`: a repo id `ORG/NAME[@REVISION]` (no trailing slash) or a folder URL. */

function modelFiles(base: string | URL, endpoint?: string): { config: string; weights: string; tokenizer: string; source: string; repo: boolean } {
  if (typeof base === 'string' && !base.includes('://') && !base.endsWith('/') && !/^[.~/]/.test(base) && repoIdProblem(base) === undefined) {
    const ref = parseRepoRef(base);
    const hub = endpoint ?? DEFAULT_ENDPOINT;
    return { config: resolveUrl(hub, ref, CONFIG_FILE), weights: resolveUrl(hub, ref, WEIGHTS_FILE), tokenizer: resolveUrl(hub, ref, TOKENIZER_FILE), source: base, repo: true };
  }
  const folder = new URL(base, globalThis.location?.href);
  if (!folder.pathname.endsWith('/')) folder.pathname += '/';
  return { config: new URL(CONFIG_FILE, folder).href, weights: new URL(WEIGHTS_FILE, folder).href, tokenizer: new URL(TOKENIZER_FILE, folder).href, source: folder.href.replace(/\/$/, ''), repo: false };
}

/**
 * The model, the raw config.json object (it may name the tokenizer) and the tokenizer.json (parsed, with its URL;
 * absent when the server answers 404) of a Hugging Face repo id (`'kuleshov-group/bd3lm-owt-block_size16'`, from the
 * hub's resolve URLs, kept in the Cache API) or of the checkpoint at folder URL `base`.
 */
export async function loadModelFromUrl(
  base: string | URL,
  opts: UrlLoadOptions,
): Promise<{ model: DiT; configJson: unknown; tokenizerFile?: { json: unknown; source: string } }> {
  const files = modelFiles(base, opts.endpoint);
  const cacheName = opts.cache === false ? undefined : opts.cache ?? (files.repo ? 'bd3lm-models' : undefined);
  const configText = new TextDecoder().decode(await fetchBytes(files.config, { cacheName }));
  const weights = await fetchBytes(files.weights, { cacheName, onProgress: opts.onProgress });
  const model = loadModelFromBytes(configText, weights, opts, files.source);
  let tokenizerFile: { json: unknown; source: string } | undefined;
  const tokBytes = await fetchOptionalBytes(files.tokenizer, { cacheName }); // absent: the config names or implies one
  const tokText = tokBytes && new TextDecoder().decode(tokBytes);
  if (tokText !== undefined) {
    try {
      tokenizerFile = { json: JSON.parse(tokText), source: files.tokenizer };
    } catch (e) {
      throw new Error(`${files.tokenizer}: not valid JSON (${(e as Error).message})`);
    }
  }
  return { model, configJson: JSON.parse(configText) as unknown, tokenizerFile };
}
