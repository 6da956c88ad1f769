/**
 * Downloads of repo files into the shared huggingface_hub cache, the way Python's `hf_hub_download` does it: a HEAD
 * on the `resolve` URL gives the commit (X-Repo-Commit), the blob name (X-Linked-Etag: the sha256 of an LFS file,
 * else the git blob sha1 in ETag), the size and the storage URL it redirects to; the bytes go to
 * `blobs/ETAG.incomplete`, resumed with `Range` after a cut connection (here and in a later run), checked against the
 * etag, renamed to `blobs/ETAG`. Only when every file of the request is complete are the snapshot links and the ref
 * written, so `snapshots/` never shows a half-downloaded model.
 *
 * Written here rather than taken from `@huggingface/hub` (whose `downloadFileToCacheDir` files a download under the
 * commit that last touched the file, not the revision's commit, writes no refs/, and neither resumes, verifies nor
 * reports progress); README "Run the paper's models" says which parts come from the library.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import { hubCacheDir, linkSnapshotFile, markNoExist, repoCacheDir, writeRef } from './cache.js';
import { DEFAULT_ENDPOINT, formatRepoRef, resolveUrl, COMMIT_HASH, type RepoRef } from './repo-id.js';

/** A download that failed: the message says what to do (token, revision, network). */
export class HubError extends Error {
  /** `status`: the HTTP status; `code`: the hub's X-Error-Code (e.g. EntryNotFound) */
  constructor(message: string, readonly status?: number, readonly code?: string) {
    super(message);
    this.name = 'HubError';
  }
}

export interface DownloadProgress {
  file: string;
  loaded: number;
  total: number;
}

export interface HubOptions {
  /** hub base URL; default $HF_ENDPOINT, else https://huggingface.co */
  endpoint?: string;
  /** access token; default $HF_TOKEN, else the token `huggingface-cli login` saved */
  token?: string;
  /** cache folder; default as huggingface_hub (HF_HUB_CACHE, HF_HOME/hub, ~/.cache/huggingface/hub) */
  cacheDir?: string;
  /** tries per file after a cut connection (each resumes where the last stopped); default 5 */
  retries?: number;
  onProgress?: (p: DownloadProgress) => void;
}

interface FileMeta {
  file: string;
  commit: string;
  etag: string;
  size: number;
  /** where the bytes are (the storage URL a LFS file redirects to) */
  location: string;
}

export function hubEndpoint(opts: HubOptions = {}): string {
  return (opts.endpoint ?? process.env.HF_ENDPOINT ?? DEFAULT_ENDPOINT).replace(/\/+$/, '');
}

/** $HF_TOKEN, else the file `huggingface-cli login` writes ($HF_TOKEN_PATH, else HF_HOME/token). */
export function hubToken(opts: HubOptions = {}): string | undefined {
  if (opts.token !== undefined) return opts.token || undefined;
  const env = process.env.HF_TOKEN ?? process.env.HUGGING_FACE_HUB_TOKEN;
  if (env) return env.trim();
  const home = process.env.HF_HOME ?? nodePath.join(process.env.XDG_CACHE_HOME ?? nodePath.join(process.env.HOME ?? '', '.cache'), 'huggingface');
  try {
    return fs.readFileSync(process.env.HF_TOKEN_PATH ?? nodePath.join(home, 'token'), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** HF_HUB_OFFLINE set to 1 / true / yes / on (as huggingface_hub reads it). */
export function hubOffline(): boolean {
  return ['1', 'true', 'yes', 'on'].includes((process.env.HF_HUB_OFFLINE ?? '').trim().toLowerCase());
}

const normalizeEtag = (e: string | null): string | undefined => e?.replace(/^W\//, '').replace(/^"|"$/g, '') || undefined;

function networkError(what: string, url: string, e: unknown): HubError {
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  const why = cause?.code ?? cause?.message ?? (e as Error).message;
  return new HubError(`${what}: cannot reach ${new URL(url).origin} (${why}); check the network and HF_ENDPOINT, or set HF_HUB_OFFLINE=1 to use only the cache`);
}

/** The error for a refused request, naming the repo, the revision or the file as the hub's X-Error-Code tells. */
function statusError(ref: RepoRef, file: string, res: Response, hasToken: boolean, endpoint: string): HubError {
  const code = res.headers.get('x-error-code') ?? '';
  const id = formatRepoRef(ref);
  const s = res.status;
  if (s === 401 || s === 403) {
    const gated = code === 'GatedRepo' || /gated/i.test(res.headers.get('x-error-message') ?? '');
    const why = gated
      ? `${ref.repo} is gated: accept its conditions on the hub page, then set HF_TOKEN to a token of that account`
      : hasToken
        ? `HF_TOKEN gives no access to ${ref.repo} (private or gated, or no such repo)`
        : `${ref.repo} does not exist, or is private or gated: set HF_TOKEN to a token with access`;
    return new HubError(`cannot download ${file} of ${id}: HTTP ${s}: ${why}`, s);
  }
  if (s === 404) {
    if (code === 'RevisionNotFound') return new HubError(`${ref.repo} has no revision '${ref.revision}' (a branch, tag or commit)`, s);
    if (code === 'EntryNotFound') return new HubError(`${id} has no file ${file}`, s, code);
    return new HubError(`no repo ${ref.repo} on ${endpoint}: check the name (ORG/NAME)`, s);
  }
  return new HubError(`cannot download ${file} of ${id}: the hub answered HTTP ${s}${res.statusText ? ` ${res.statusText}` : ''}`, s);
}

/** HEAD on the resolve URL, following relative redirects only (renamed repos), as huggingface_hub does. */
async function fileMeta(ref: RepoRef, file: string, endpoint: string, token: string | undefined): Promise<FileMeta> {
  let url = resolveUrl(endpoint, ref, file);
  const headers: Record<string, string> = { 'accept-encoding': 'identity', ...(token ? { authorization: `Bearer ${token}` } : {}) };
  for (let hop = 0; ; hop++) {
    let res: Response;
    try {
      res = await fetch(url, { method: 'HEAD', headers, redirect: 'manual' });
    } catch (e) {
      throw networkError(`cannot download ${file} of ${formatRepoRef(ref)}`, url, e);
    }
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location && !/^[a-z][a-z0-9+.-]*:\/\//i.test(location) && hop < 10) {
      url = new URL(location, url).href;
      continue;
    }
    if (res.status >= 400) throw statusError(ref, file, res, token !== undefined, endpoint);
    const commit = res.headers.get('x-repo-commit') ?? '';
    const etag = normalizeEtag(res.headers.get('x-linked-etag') ?? res.headers.get('etag'));
    const size = Number(res.headers.get('x-linked-size') ?? res.headers.get('content-length') ?? NaN);
    if (!COMMIT_HASH.test(commit) || !etag || !/^[\w.-]+$/.test(etag) || !Number.isSafeInteger(size))
      throw new HubError(`${url} did not answer like a Hugging Face hub (X-Repo-Commit, ETag and size expected; HTTP ${res.status}): check HF_ENDPOINT`);
    return { file, commit, etag, size, location: location ? new URL(location, url).href : url };
  }
}

/** Checks a finished blob against its etag: sha256 for LFS files, the git blob sha1 for small ones. */
async function verifyBlob(path: string, meta: FileMeta): Promise<string | undefined> {
  const kind = /^[0-9a-f]{64}$/.test(meta.etag) ? 'sha256' : /^[0-9a-f]{40}$/.test(meta.etag) ? 'sha1' : undefined;
  if (!kind) return undefined; // an etag of another form: nothing to check it against
  const h = createHash(kind);
  if (kind === 'sha1') h.update(`blob ${meta.size}\0`);
  for await (const chunk of fs.createReadStream(path)) h.update(chunk as Buffer);
  const got = h.digest('hex');
  return got === meta.etag ? undefined : `${kind} ${got}, but the hub says ${meta.etag}`;
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Fetches one blob into `blobs/ETAG`, resuming `blobs/ETAG.incomplete` with Range requests. */
async function downloadBlob(ref: RepoRef, meta: FileMeta, blob: string, endpoint: string, token: string | undefined, opts: HubOptions): Promise<void> {
  const part = `${blob}.incomplete`;
  const tries = (opts.retries ?? 5) + 1;
  const sameOrigin = new URL(meta.location).origin === new URL(endpoint).origin;
  let lastError: unknown;
  for (let attempt = 0; attempt < tries; attempt++) {
    let have = fs.existsSync(part) ? fs.statSync(part).size : 0;
    if (have > meta.size) {
      fs.truncateSync(part, 0);
      have = 0;
    }
    if (have === meta.size) break;
    const headers: Record<string, string> = { 'accept-encoding': 'identity' };
    if (token && sameOrigin) headers.authorization = `Bearer ${token}`; // never hand the token to a storage host
    if (have > 0) headers.range = `bytes=${have}-`;
    let res: Response;
    try {
      res = await fetch(meta.location, { headers });
    } catch (e) {
      lastError = networkError(`cannot download ${meta.file} of ${formatRepoRef(ref)}`, meta.location, e);
      await pause(200 * (attempt + 1));
      continue;
    }
    if (res.status === 416) {
      await res.body?.cancel();
      fs.truncateSync(part, 0);
      continue;
    }
    if (res.status !== 200 && res.status !== 206) {
      await res.body?.cancel();
      if (res.status >= 500) {
        lastError = statusError(ref, meta.file, res, token !== undefined, endpoint);
        await pause(200 * (attempt + 1));
        continue;
      }
      throw statusError(ref, meta.file, res, token !== undefined, endpoint);
    }
    if (res.status === 200) have = 0; // the server ignored Range: start over
    const fh = await fs.promises.open(part, have === 0 ? 'w' : 'a');
    let loaded = have;
    try {
      opts.onProgress?.({ file: meta.file, loaded, total: meta.size });
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        await fh.write(chunk);
        loaded += chunk.length;
        opts.onProgress?.({ file: meta.file, loaded, total: meta.size });
      }
    } catch (e) {
      lastError = networkError(`the download of ${meta.file} of ${formatRepoRef(ref)} was cut at ${loaded} of ${meta.size} bytes`, meta.location, e);
      continue;
    } finally {
      await fh.close();
    }
  }
  const have = fs.existsSync(part) ? fs.statSync(part).size : 0;
  if (have !== meta.size) {
    if (have > meta.size) fs.rmSync(part, { force: true });
    throw lastError instanceof HubError
      ? new HubError(`${lastError.message}; ${have} of ${meta.size} bytes are kept in ${part}: run again to resume`)
      : new HubError(`${meta.file} of ${formatRepoRef(ref)}: got ${have} bytes, the hub announced ${meta.size}`);
  }
  const bad = await verifyBlob(part, meta);
  if (bad) {
    fs.rmSync(part, { force: true });
    throw new HubError(`${meta.file} of ${formatRepoRef(ref)} arrived corrupted (${bad}); the bad copy was deleted: run again`);
  }
  fs.renameSync(part, blob);
}

/**
 * Makes `files` of `ref` present in the cache and returns the snapshot folder; each of `optional` too when the repo
 * has it (a repo without it gets the `.no_exist` record huggingface_hub keeps, so the next run asks no more). Blobs
 * already in the cache are not fetched again (a file shared with another revision, or one Python downloaded).
 */
export async function downloadRepoFiles(ref: RepoRef, files: readonly string[], opts: HubOptions = {}, optional: readonly string[] = []): Promise<string> {
  const endpoint = hubEndpoint(opts);
  const token = hubToken(opts);
  const repoDir = repoCacheDir(opts.cacheDir ?? hubCacheDir(), ref.repo);
  const metas: FileMeta[] = [];
  for (const f of files) metas.push(await fileMeta(ref, f, endpoint, token));
  const absent: string[] = [];
  for (const f of optional) {
    try {
      metas.push(await fileMeta(ref, f, endpoint, token));
    } catch (e) {
      if (!(e instanceof HubError && e.code === 'EntryNotFound')) throw e;
      absent.push(f);
    }
  }
  const commit = metas[0].commit;
  if (metas.some((m) => m.commit !== commit)) throw new HubError(`${formatRepoRef(ref)} changed while it was being downloaded: run again`);
  if (COMMIT_HASH.test(ref.revision) && commit !== ref.revision)
    throw new HubError(`the hub served commit ${commit} for the pinned revision ${ref.revision}`);
  fs.mkdirSync(nodePath.join(repoDir, 'blobs'), { recursive: true });
  for (const m of metas) {
    const blob = nodePath.join(repoDir, 'blobs', m.etag);
    if (!fs.existsSync(blob)) await downloadBlob(ref, m, blob, endpoint, token, opts);
  }
  for (const m of metas) linkSnapshotFile(repoDir, commit, m.file, m.etag);
  for (const f of absent) markNoExist(repoDir, commit, f);
  writeRef(repoDir, ref.revision, commit);
  return nodePath.join(repoDir, 'snapshots', commit);
}
