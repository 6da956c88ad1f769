/**
 * The static server's symbolic-link rule (issue 11): a file is served only when its real path lies inside its
 * mount's real folder, so a link in a served folder (the model folder, wasm/) cannot expose files elsewhere; links
 * that stay inside, and a mount folder that is itself a link, still work. `nosniff` on every response.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';
import { createStaticServer } from '../src/web/static-server.js';

function get(port: number, urlPath: string, method = 'GET'): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: urlPath, method }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('links inside a mount are served, links out of it are 404; nosniff everywhere', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bd3lm-static-'));
  const served = path.join(tmp, 'served');
  const secretDir = path.join(tmp, 'secret');
  fs.mkdirSync(path.join(served, 'sub'), { recursive: true });
  fs.mkdirSync(secretDir);
  fs.writeFileSync(path.join(served, 'a.txt'), 'inside\n');
  fs.writeFileSync(path.join(served, 'sub', 'b.txt'), 'inside too\n');
  fs.writeFileSync(path.join(secretDir, 'key.txt'), 'SECRET\n');
  // a sibling whose name starts like the folder's: outside, though its path string starts with the folder's
  fs.writeFileSync(path.join(tmp, 'served-evil.txt'), 'SECRET\n');
  fs.symlinkSync('../served-evil.txt', path.join(served, 'evil.txt'));
  fs.symlinkSync('a.txt', path.join(served, 'in.txt'));
  fs.symlinkSync(path.join(served, 'sub', 'b.txt'), path.join(served, 'in-abs.txt'));
  fs.symlinkSync(path.join(secretDir, 'key.txt'), path.join(served, 'out.txt'));
  fs.symlinkSync('../secret', path.join(served, 'outdir'));
  fs.symlinkSync('/etc/passwd', path.join(served, 'passwd'));
  fs.symlinkSync(path.join(served, 'missing'), path.join(served, 'dangling.txt'));
  // the model mount: an allow-list of names, one of them a link out
  const model = path.join(tmp, 'model');
  fs.mkdirSync(model);
  fs.writeFileSync(path.join(model, 'config.json'), '{}\n');
  fs.symlinkSync(path.join(secretDir, 'key.txt'), path.join(model, 'model.safetensors'));
  // a mount folder that is itself a link
  fs.symlinkSync(served, path.join(tmp, 'alias'));

  const only = new Set(['config.json', 'model.safetensors']);
  const server = createStaticServer([
    { prefix: '/', dir: served },
    { prefix: '/model/', dir: model, only: (f) => only.has(f) },
    { prefix: '/alias/', dir: path.join(tmp, 'alias') },
  ]);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  try {
    const ok: [string, string][] = [['/a.txt', 'inside\n'], ['/in.txt', 'inside\n'], ['/in-abs.txt', 'inside too\n'], ['/alias/sub/b.txt', 'inside too\n'], ['/model/config.json', '{}\n']];
    for (const [p, body] of ok) {
      const r = await get(port, p);
      assert.equal(r.status, 200, p);
      assert.equal(r.body, body, p);
      assert.equal(r.headers['x-content-type-options'], 'nosniff', p);
    }
    for (const p of ['/out.txt', '/evil.txt', '/outdir/key.txt', '/passwd', '/dangling.txt', '/model/model.safetensors', '/sub/', '/outdir/']) {
      for (const method of ['GET', 'HEAD']) {
        const r = await get(port, p, method);
        assert.equal(r.status, 404, `${method} ${p}`);
        assert.doesNotMatch(r.body, /SECRET|root:/, p);
        assert.equal(r.headers['x-content-type-options'], 'nosniff', p);
      }
    }
    for (const [p, status] of [['/..%2fsecret%2fkey.txt', 400], ['/a.txt', 405]] as const) {
      const r = await get(port, p, status === 405 ? 'POST' : 'GET');
      assert.equal(r.status, status, p);
      assert.equal(r.headers['x-content-type-options'], 'nosniff', p);
    }
  } finally {
    server.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
