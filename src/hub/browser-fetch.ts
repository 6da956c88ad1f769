/**
 * Fetching model files in a browser (or Web Worker): with progress, and kept in the Cache API under their URL so a
 * reload does not download the weights again. Without the Cache API (Node, an insecure origin) it just fetches.
 * A response is stored only when it arrived whole (its length matches Content-Length). No Node imports.
 */

export interface BrowserFetchOptions {
  /** Cache API storage to keep the file in; undefined: never cached */
  cacheName?: string;
  /** bytes so far and in all (total 0 when the server sends no length) */
  onProgress?: (loaded: number, total: number) => void;
}

async function readBody(res: Response, onProgress?: (loaded: number, total: number) => void): Promise<Uint8Array<ArrayBuffer>> {
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

function statusMessage(url: string, status: number): string {
  const hint = status === 401 || status === 403 ? ' (a gated or private repo cannot be loaded in the browser without a token: download it with bd3lm and serve it with bd3lm web --model)'
    : status === 404 ? ' (no such repo, revision or file)' : '';
  return `cannot fetch ${url}: HTTP ${status}${hint}`;
}

const ABSENT = 'x-bd3lm-absent';

/**
 * The bytes at `url`, from the cache when there, else downloaded (and cached when `cacheName` is set). With
 * `optional`, a 404 gives undefined, and the absence is cached too, so a reload asks the server nothing.
 */
async function fetchFile(url: string, opts: BrowserFetchOptions, optional: boolean): Promise<Uint8Array | undefined> {
  const store = opts.cacheName && typeof caches !== 'undefined' ? await caches.open(opts.cacheName).catch(() => undefined) : undefined;
  const hit = await store?.match(url);
  const absent = hit?.headers.get(ABSENT) !== null && hit !== undefined; // a kept 404 of an optional file
  if (absent && optional) return undefined;
  if (hit && !absent) {
    const bytes = new Uint8Array(await hit.arrayBuffer());
    opts.onProgress?.(bytes.length, bytes.length);
    return bytes;
  }
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new Error(`cannot fetch ${url}: ${(e as Error).message}`);
  }
  if (optional && res.status === 404) {
    await store?.put(url, new Response(null, { headers: { [ABSENT]: '1' } })).catch(() => undefined);
    return undefined;
  }
  if (!res.ok) throw new Error(statusMessage(url, res.status));
  const bytes = await readBody(res, opts.onProgress); // fresh memory, so the Response below may own it
  const announced = res.headers.get('content-length');
  if (announced !== null && Number(announced) !== bytes.length && !res.headers.get('content-encoding'))
    throw new Error(`cannot fetch ${url}: got ${bytes.length} of ${announced} bytes (connection cut?)`);
  if (store) {
    const headers = { 'content-type': res.headers.get('content-type') ?? 'application/octet-stream', 'content-length': String(bytes.length) };
    await store.put(url, new Response(bytes, { headers })).catch(() => undefined); // a full quota only costs the next download
  }
  return bytes;
}

/** The bytes at `url`, from the cache when there, else downloaded (and cached when `cacheName` is set). */
export async function fetchBytes(url: string, opts: BrowserFetchOptions = {}): Promise<Uint8Array> {
  return (await fetchFile(url, opts, false))!;
}

/** The same for an optional file (such as tokenizer.json): undefined when the server answers 404. */
export function fetchOptionalBytes(url: string, opts: BrowserFetchOptions = {}): Promise<Uint8Array | undefined> {
  return fetchFile(url, opts, true);
}
