/**
 * Loading a model from bytes rather than a folder: a browser page or Web Worker fetches config.json and
 * model.safetensors and builds the DiT on a backend it created (in browsers the WebAssembly one). Validation is the
 * one `loadModel` uses (checkpoint-format.ts). No Node imports.
 */
import type { Backend } from '../tensor/backend.js';
import { CONFIG_FILE, WEIGHTS_FILE, readCheckpoint, type CheckpointContents } from './checkpoint-format.js';
import { DiT } from './dit.js';
import { halveWeights, type WeightDtype } from './half.js';
import { bytesSource, openSource } from './safetensors-format.js';

export interface BytesLoadOptions {
  /** where the weights go and the model runs */
  backend: Backend;
  /** storage of the large weight matrices (as `loadModel`'s option), default 'f32' */
  weights?: WeightDtype;
}

/** The DiT of a checkpoint read onto `backend` (its tensors already live in backend memory). */
export function modelFromCheckpoint(ckpt: CheckpointContents, backend: Backend, weights: WeightDtype = 'f32'): DiT {
  const halves = weights === 'f32' ? undefined : halveWeights(ckpt.tensors, weights, backend);
  return new DiT(ckpt.config, ckpt.tensors, backend, halves);
}

/** A model from the text of its config.json and the bytes of its model.safetensors (`source` names them in errors). */
export function loadModelFromBytes(configText: string, weights: Uint8Array, opts: BytesLoadOptions, source = '.'): DiT {
  const { backend } = opts;
  const weightsPath = `${source}/${WEIGHTS_FILE}`;
  const file = openSource(bytesSource(weights, weightsPath), weightsPath);
  const ckpt = readCheckpoint(configText, `${source}/${CONFIG_FILE}`, file, { alloc: (n) => backend.alloc(n) });
  return modelFromCheckpoint(ckpt, backend, opts.weights);
}

export interface UrlLoadOptions extends BytesLoadOptions {
  /** reports download progress of the weights (total is 0 when the server sends no length) */
  onProgress?: (loaded: number, total: number) => void;
}

/**
 * The model, the raw config.json object (it may name the tokenizer) and the folder's tokenizer.json (parsed, with its
 * URL; absent when the server answers 404) of the checkpoint at folder URL `base`.
 */
export async function loadModelFromUrl(
  base: string | URL,
  opts: UrlLoadOptions,
): Promise<{ model: DiT; configJson: unknown; tokenizerFile?: { json: unknown; source: string } }> {
  const folder = new URL(base, globalThis.location?.href);
  if (!folder.pathname.endsWith('/')) folder.pathname += '/';
  const configText = await (await fetchOk(new URL(CONFIG_FILE, folder))).text();
  const weights = await readBody(await fetchOk(new URL(WEIGHTS_FILE, folder)), opts.onProgress);
  const source = folder.href.replace(/\/$/, '');
  const model = loadModelFromBytes(configText, weights, opts, source);
  const tokUrl = new URL('tokenizer.json', folder);
  const tokRes = await fetch(tokUrl);
  let tokenizerFile: { json: unknown; source: string } | undefined;
  if (tokRes.ok) {
    try {
      tokenizerFile = { json: JSON.parse(await tokRes.text()), source: tokUrl.href };
    } catch (e) {
      throw new Error(`${tokUrl.href}: not valid JSON (${(e as Error).message})`);
    }
  } else if (tokRes.status !== 404) throw new Error(`cannot fetch ${tokUrl.href}: HTTP ${tokRes.status}`);
  return { model, configJson: JSON.parse(configText) as unknown, tokenizerFile };
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
