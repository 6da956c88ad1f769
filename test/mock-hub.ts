/**
 * A local stand-in for the Hugging Face hub (HTTP on 127.0.0.1) with the endpoints and headers the downloader uses:
 * `HEAD|GET /ORG/NAME/resolve/REV/FILE` (X-Repo-Commit, ETag / X-Linked-Etag / X-Linked-Size, a 302 to a storage
 * URL on another origin for LFS files, X-Error-Code on 401/404), and the storage URL `/lfs/SHA256` with `Range`.
 * Faults on request: cut a connection half-way, corrupt a blob, answer 500. Every request is logged.
 */
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface MockRepo {
  /** branch or tag -> commit */
  refs: Record<string, string>;
  /** commit -> file -> bytes */
  commits: Record<string, Record<string, Uint8Array>>;
  /** a token the repo needs (private / gated) */
  token?: string;
  gated?: boolean;
}

export interface LoggedRequest {
  method: string;
  path: string;
  range?: string;
  auth?: string;
}

export const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
export const gitSha1 = (b: Uint8Array) => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');
const isLfs = (file: string) => file.endsWith('.safetensors') || file.endsWith('.ckpt');

export class MockHub {
  readonly repos = new Map<string, MockRepo>();
  readonly log: LoggedRequest[] = [];
  /** sha256 of blobs whose next download is cut after half the bytes */
  readonly cutOnce = new Set<string>();
  /** sha256 of blobs served with one byte flipped */
  readonly corrupt = new Set<string>();
  /** answer 500 to every request while set */
  failing = false;
  private server = http.createServer((req, res) => this.handle(req, res));
  private blobs = new Map<string, Uint8Array>();
  port = 0;

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  addRepo(name: string, repo: MockRepo): void {
    this.repos.set(name, repo);
    for (const files of Object.values(repo.commits)) for (const b of Object.values(files)) this.blobs.set(sha256(b), b);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    this.log.push({ method: req.method ?? '', path: decodeURIComponent(url.pathname), range: req.headers.range, auth: req.headers.authorization });
    // as the hub: readable from any page (the browser page fetches repo files itself); no HTTP caching, so a
    // browser that does not download again is using its Cache API copy
    res.setHeader('Access-Control-Allow-Origin', '*');
    res.setHeader('Cache-Control', 'no-store');
    if (this.failing) return void res.writeHead(500).end('down');
    const lfs = /^\/lfs\/([0-9a-f]{64})$/.exec(url.pathname);
    if (lfs) return this.serveBlob(lfs[1], req, res);
    const m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (!m) return void res.writeHead(404).end();
    const [, name, rev, file] = m.map(decodeURIComponent);
    const repo = this.repos.get(name);
    const err = (status: number, code: string) => void res.writeHead(status, { 'X-Error-Code': code }).end();
    if (!repo) return err(401, 'RepoNotFound'); // the hub does not say whether a repo exists to an anonymous caller
    if (repo.token && req.headers.authorization !== `Bearer ${repo.token}`)
      return err(req.headers.authorization ? 403 : 401, repo.gated ? 'GatedRepo' : 'RepoNotFound');
    const commit = repo.refs[rev] ?? (repo.commits[rev] ? rev : undefined);
    if (!commit) return err(404, 'RevisionNotFound');
    const bytes = repo.commits[commit][file];
    if (!bytes) return err(404, 'EntryNotFound');
    if (isLfs(file)) {
      // storage on another origin (localhost, not 127.0.0.1), as the hub's CDN: the token must not follow
      res.writeHead(302, {
        'X-Repo-Commit': commit, 'X-Linked-Etag': `"${sha256(bytes)}"`, 'X-Linked-Size': String(bytes.length),
        ETag: `"${gitSha1(new TextEncoder().encode('pointer'))}"`, Location: `http://localhost:${this.port}/lfs/${sha256(bytes)}`,
      });
      return void res.end();
    }
    res.writeHead(200, { 'X-Repo-Commit': commit, ETag: `"${gitSha1(bytes)}"`, 'Content-Length': String(bytes.length) });
    res.end(req.method === 'HEAD' ? undefined : bytes);
  }

  private serveBlob(sha: string, req: http.IncomingMessage, res: http.ServerResponse): void {
    let bytes = this.blobs.get(sha);
    if (!bytes) return void res.writeHead(404).end();
    if (this.corrupt.has(sha)) {
      bytes = Uint8Array.from(bytes);
      bytes[bytes.length >> 1] ^= 0xff;
    }
    const r = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const from = r ? Number(r[1]) : 0;
    if (from >= bytes.length && r) return void res.writeHead(416, { 'Content-Range': `bytes */${bytes.length}` }).end();
    const body = bytes.subarray(from);
    res.writeHead(r ? 206 : 200, {
      'Content-Length': String(body.length), 'Accept-Ranges': 'bytes',
      ...(r ? { 'Content-Range': `bytes ${from}-${bytes.length - 1}/${bytes.length}` } : {}),
    });
    if (this.cutOnce.delete(sha)) {
      res.write(body.subarray(0, body.length >> 1), () => res.socket?.end()); // headers promised more: a cut connection
      return;
    }
    res.end(req.method === 'HEAD' ? undefined : body);
  }
}
