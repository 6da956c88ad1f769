/**
 * A static file server for the browser page (`bd3lm web`): URL prefixes mapped to folders, each with an optional
 * allow-list of file names. Every response carries the cross-origin isolation headers (COOP same-origin, COEP
 * require-corp): without them browsers withhold SharedArrayBuffer and the WebAssembly backend runs on one thread.
 * Files are streamed; paths that would leave their folder are refused.
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

const ISOLATION = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

export function contentType(file: string): string {
  return MIME[nodePath.extname(file).toLowerCase()] ?? 'application/octet-stream';
}

/**
 * The file a URL path names under the mounts (longest prefix first), or a status: 400 for a malformed or
 * traversing path, 404 when no mount serves it. A path ending in '/' names its index.html.
 */
export function resolvePath(mounts: readonly Mount[], urlPath: string): string | 400 | 404 {
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
  if (file !== root && !file.startsWith(root + nodePath.sep)) return 400;
  return file;
}

function fail(res: http.ServerResponse, status: number, text: string): void {
  res.writeHead(status, { ...ISOLATION, 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

export function createStaticServer(mounts: readonly Mount[]): http.Server {
  return http.createServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return fail(res, 405, 'method not allowed\n');
    }
    const file = resolvePath(mounts, new URL(req.url ?? '/', 'http://localhost').pathname);
    if (file === 400) return fail(res, 400, 'bad path\n');
    if (file === 404) return fail(res, 404, 'not found\n');
    fs.stat(file, (err, st) => {
      if (err || !st.isFile()) return fail(res, 404, 'not found\n');
      res.writeHead(200, {
        ...ISOLATION,
        'Content-Type': contentType(file),
        'Content-Length': st.size,
        // the model can be replaced while the server runs: always revalidate
        'Cache-Control': 'no-cache',
        'Last-Modified': st.mtime.toUTCString(),
      });
      if (req.method === 'HEAD') return void res.end();
      fs.createReadStream(file)
        .on('error', () => res.destroy())
        .pipe(res);
    });
  });
}
