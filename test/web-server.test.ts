/**
 * `bd3lm web`, the browser page's static server: cross-origin isolation headers on every response (the wasm
 * threads need them), MIME types, only the model's two files and the .wasm kernels besides the page, paths that
 * leave a folder refused, GET/HEAD only, clear errors for a missing model and a bad port.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as http from 'node:http';
import { fileURLToPath } from 'node:url';
import { CLI, startWeb } from './web-helpers.js';

const GOLDEN = fileURLToPath(new URL('../../test/fixtures/bs4/', import.meta.url));

/** A raw request: the path is sent exactly as given (fetch would normalise dot segments first). */
function request(url: string, path: string, method = 'GET'): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path, method }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts) }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('serves the page, the model files and the wasm kernels, isolated, with their MIME types', async () => {
  const web = await startWeb('--model', GOLDEN);
  try {
    const cases: [string, string][] = [
      ['/', 'text/html; charset=utf-8'],
      ['/model/config.json', 'application/json; charset=utf-8'],
      ['/model/model.safetensors', 'application/octet-stream'],
      ['/wasm/bd3lm-simd.wasm', 'application/wasm'],
    ];
    for (const [path, type] of cases) {
      const r = await request(web.url, path);
      assert.equal(r.status, 200, path);
      assert.equal(r.headers['content-type'], type, path);
      assert.equal(r.headers['cross-origin-opener-policy'], 'same-origin', path);
      assert.equal(r.headers['cross-origin-embedder-policy'], 'require-corp', path);
      assert.equal(Number(r.headers['content-length']), r.body.length, path);
    }
    assert.match((await request(web.url, '/')).body.toString(), /<script type="module"/);
    const head = await request(web.url, '/model/model.safetensors', 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
    assert.equal((await request(web.url, '/', 'POST')).status, 405);
  } finally {
    assert.equal(await web.stop(), 0);
  }
});

test('serves nothing else: other model-folder files, non-wasm files, paths that climb out', async () => {
  const web = await startWeb('--model', GOLDEN);
  try {
    for (const path of ['/model/meta.json', '/model/', '/wasm/../package.json', '/nothing.js']) {
      const r = await request(web.url, path);
      assert.equal(r.status, 404, path);
      assert.equal(r.headers['cross-origin-embedder-policy'], 'require-corp', path);
    }
    for (const path of ['/..%2f..%2fpackage.json', '/model/..%2f..%2f..%2fpackage.json', '/%E0%A4%A']) {
      const r = await request(web.url, path);
      assert.equal(r.status, 400, path);
      assert.doesNotMatch(r.body.toString(), /"name"/, path);
    }
  } finally {
    await web.stop();
  }
});

test('a folder without a checkpoint and a bad port are errors that say why', () => {
  const noModel = spawnSync(process.execPath, [CLI, 'web', '--model', '/nonexistent/model'], { encoding: 'utf8' });
  assert.equal(noModel.status, 1);
  assert.match(noModel.stderr, /\/nonexistent\/model has no config\.json/);
  const badPort = spawnSync(process.execPath, [CLI, 'web', '--port', '70000'], { encoding: 'utf8' });
  assert.equal(badPort.status, 2);
  assert.match(badPort.stderr, /--port must be at most 65535/);
});
