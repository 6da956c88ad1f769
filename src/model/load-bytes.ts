/**
 * Loading a model from bytes rather than a folder: a browser page or Web Worker fetches config.json and
 * model.safetensors and builds the DiT on a backend it created (in browsers the WebAssembly one). Validation is the
 * one `loadModel` uses (checkpoint-format.ts). No Node imports.
 */
import type { Backend } from '../tensor/backend.js';
import { CONFIG_FILE, WEIGHTS_FILE, readCheckpoint, type CheckpointContents } from './checkpoint-format.js';
import { DiT } from './dit.js';
import { int8Alloc } from './quantize.js';
import { storeWeights, type WeightDtype } from './storage.js';
import { bytesSource, openSource } from './safetensors-format.js';

export interface BytesLoadOptions {
  /** where the weights go and the model runs */
  backend: Backend;
  /** storage of the large weight matrices (as `loadModel`'s option), default: as stored (int8 folders), else 'f32' */
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
    if (weights !== undefined && weights !== ckpt.quantization)
      throw new Error(`weights '${weights}': this checkpoint holds ${ckpt.quantization} weights (config.json quantization_config); load it with weights '${ckpt.quantization}' or export an fp32 checkpoint again`);
    return new DiT(ckpt.config, ckpt.tensors, backend, ckpt.stored);
  }
  return new DiT(ckpt.config, ckpt.tensors, backend, storeWeights(ckpt.config, ckpt.tensors, weights ?? 'f32', backend));
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
}

/** The model and the raw config.json object (it may name the tokenizer) of the checkpoint at folder URL `base`. */
export async function loadModelFromUrl(base: string | URL, opts: UrlLoadOptions): Promise<{ model: DiT; configJson: unknown }> {
  const folder = new URL(base, globalThis.location?.href);
  if (!folder.pathname.endsWith('/')) folder.pathname += '/';
  const configText = await (await fetchOk(new URL(CONFIG_FILE, folder))).text();
  const weights = await readBody(await fetchOk(new URL(WEIGHTS_FILE, folder)), opts.onProgress);
  const source = folder.href.replace(/\/$/, '');
  const model = loadModelFromBytes(configText, weights, opts, source);
  return { model, configJson: JSON.parse(configText) as unknown };
}

async function fetchOk(url: URL): Promise<Response> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`cannot fetch ${url.href}: HTTP ${res.status}`);
  return res;
}

async function readBody(res: Response, onProgress?: (loaded: number, total: number) => void): Promise<Uint8Array> {
  const total = Number(res.headers.get('content-length') ?? 0);
  if (!onProgress || !res.body) return new Uint8Array(await res.arrayBuffer());
  const parts: Uint8Array[] = [];
  let loaded = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    loaded += value.length;
    onProgress(loaded, total);
  }
  const out = new Uint8Array(loaded);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
