/**
 * A static file server for the browser page (`bd3lm web`): URL prefixes mapped to folders, each with an optional
 * allow-list of file names. Every response carries the cross-origin isolation headers (COOP same-origin, COEP
 * require-corp): without them browsers withhold SharedArrayBuffer and the WebAssembly backend runs on one thread.
 * Files are streamed; paths that would leave their folder are refused, and so is a file whose real path (symbolic
 * links resolved) lies outside its mount's real folder: a link inside a served folder cannot expose other files.
 * `X-Content-Type-Options: nosniff` keeps browsers to the declared types.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as nodePath from 'node:path';

export interface Mount {
  /** URL path prefix ending in '/', e.g. '/model/' ('/' for the page itself) */
  prefix: string;
  dir: string;
  /** serve only these file names (directly in `dir`); default: any file below `dir` */
  only?: (name: string) => boolean;
  /**
   * the folder the files' real paths must lie in (default `dir`): a Hugging Face cache snapshot's files are links
   * into its repo folder's blobs/, so a snapshot is mounted with its repo folder here
   */
  realRoot?: string;
}

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
};

/** on every response */
const HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'X-Content-Type-Options': 'nosniff',
};

export function contentType(file: string): string {
  return MIME[nodePath.extname(file).toLowerCase()] ?? 'application/octet-stream';
}

/**
 * The file a URL path names under the mounts (longest prefix first) and the mount's folder, or a status: 400 for a
 * malformed or traversing path, 404 when no mount serves it. A path ending in '/' names its index.html.
 */
export function resolvePath(mounts: readonly Mount[], urlPath: string): { file: string; root: string } | 400 | 404 {
  let path: string;
  try {
    path = decodeURIComponent(urlPath);
  } catch {
    return 400;
  }
  if (path.includes('\0') || path.includes('\\')) return 400;
  if (path.split('/').some((seg) => seg === '..')) return 400;
  const mount = [...mounts].sort((a, b) => b.prefix.length - a.prefix.length).find((m) => path.startsWith(m.prefix));
  if (!mount) return 404;
  let rel = path.slice(mount.prefix.length);
  if (rel === '' || rel.endsWith('/')) rel += 'index.html';
  if (mount.only && (rel.includes('/') || !mount.only(rel))) return 404;
  const root = nodePath.resolve(mount.dir);
  const file = nodePath.resolve(root, rel);
  // belt and braces: whatever the checks above missed, nothing outside the mount's folder is served
  if (!inside(file, root)) return 400;
  return { file, root: mount.realRoot ? nodePath.resolve(mount.realRoot) : root };
}

const inside = (file: string, root: string) => file === root || file.startsWith(root.endsWith(nodePath.sep) ? root : root + nodePath.sep);

/** The real path of `file` when it is a regular file whose real path lies inside the real `root`, else null. */
async function servable(file: string, root: string): Promise<{ real: string; st: fs.Stats } | null> {
  try {
    const [real, realRoot] = await Promise.all([fs.promises.realpath(file), fs.promises.realpath(root)]);
    if (!inside(real, realRoot)) return null;
    const st = await fs.promises.stat(real);
    return st.isFile() ? { real, st } : null;
  } catch {
    return null;
  }
}

function fail(res: http.ServerResponse, status: number, text: string): void {
  res.writeHead(status, { ...HEADERS, 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

export function createStaticServer(mounts: readonly Mount[]): http.Server {
  return http.createServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return fail(res, 405, 'method not allowed\n');
    }
    const found = resolvePath(mounts, new URL(req.url ?? '/', 'http://localhost').pathname);
    if (found === 400) return fail(res, 400, 'bad path\n');
    if (found === 404) return fail(res, 404, 'not found\n');
    void servable(found.file, found.root).then((ok) => {
      if (!ok) return fail(res, 404, 'not found\n');
      const { real, st } = ok;
      res.writeHead(200, {
        ...HEADERS,
        // the type of the name asked for (a link inside the folder may name a file of another extension)
        'Content-Type': contentType(found.file),
        'Content-Length': st.size,
        // the model can be replaced while the server runs: always revalidate
        'Cache-Control': 'no-cache',
        'Last-Modified': st.mtime.toUTCString(),
      });
      if (req.method === 'HEAD') return void res.end();
      fs.createReadStream(real)
        .on('error', () => res.destroy())
        .pipe(res);
    });
  });
}
