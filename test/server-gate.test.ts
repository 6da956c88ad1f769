/**
 * What every request passes before its route: the Host check on a loopback bind (DNS rebinding), JSON-only POSTs
 * (a no-cors text/plain POST is refused), CORS (off by default; allowed origins get the header on every response and
 * their preflight a 204; others a 403), API keys; plus GET /v1/models/{id} and /metrics.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { sseEvents, startServer } from './server-helpers.js';

/** a request with any headers (fetch will not send a foreign Host) */
function raw(url: string, method: string, path: string, headers: http.OutgoingHttpHeaders = {}, body?: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}${path}`, { method, headers }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
const JSON_POST = { 'Content-Type': 'application/json' };
const body = JSON.stringify({ prompt: 'x', max_tokens: 4 });
const errorOf = (r: { text: string }) => JSON.parse(r.text).error;

test('a server bound to loopback answers only loopback Host names, unless --allowed-hosts widens it', async () => {
  const s = await startServer();
  const narrow = await startServer({ allowedHosts: ['my.box'] });
  const open = await startServer({ allowedHosts: ['*'] });
  try {
    for (const host of ['localhost', 'localhost:8080', '127.0.0.1', '127.0.0.1:1', '[::1]:9', '[::1]']) {
      assert.equal((await raw(s.url, 'GET', '/v1/models', { Host: host })).status, 200, host);
    }
    const evil = await raw(s.url, 'POST', '/v1/completions', { Host: 'evil.example:8080', ...JSON_POST }, body);
    assert.equal(evil.status, 403);
    assert.equal(errorOf(evil).code, 'host_not_allowed');
    assert.match(errorOf(evil).message, /evil\.example:8080.*--allowed-hosts/);
    assert.equal((await raw(s.url, 'GET', '/health', { Host: 'evil.example' })).status, 403);
    assert.equal((await raw(narrow.url, 'GET', '/v1/models', { Host: 'my.box:80' })).status, 200);
    assert.equal((await raw(narrow.url, 'GET', '/v1/models', { Host: 'other.box' })).status, 403);
    assert.equal((await raw(open.url, 'GET', '/v1/models', { Host: 'anything.example' })).status, 200);
    assert.equal((await s.health()).status, 'ok');
  } finally {
    await Promise.all([s.close(), narrow.close(), open.close()]);
  }
});

test('POST bodies must be JSON: a text/plain (no-cors) POST is 415 and runs nothing', async () => {
  const s = await startServer();
  try {
    for (const type of ['text/plain', 'text/plain;charset=UTF-8', 'application/x-www-form-urlencoded', undefined]) {
      const r = await raw(s.url, 'POST', '/v1/completions', type ? { 'Content-Type': type } : {}, body);
      assert.equal(r.status, 415, String(type));
      assert.equal(errorOf(r).code, 'unsupported_media_type');
      assert.match(errorOf(r).message, /Content-Type: application\/json/);
    }
    assert.equal(s.server.batcher.stats.calls, 0, 'no model call was made');
    assert.equal((await raw(s.url, 'POST', '/v1/completions', { 'Content-Type': 'Application/JSON; charset=utf-8' }, body)).status, 200);
  } finally {
    await s.close();
  }
});

test('CORS: off by default; allowed origins get the header on every response and a 204 preflight', async () => {
  const off = await startServer();
  const s = await startServer({ cors: ['https://app.example'], apiKeys: ['k'] });
  const any = await startServer({ cors: '*' });
  try {
    const pre = (url: string, origin: string) =>
      raw(url, 'OPTIONS', '/v1/chat/completions', { Origin: origin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization, content-type, x-stainless-os' });
    const denied = await pre(off.url, 'https://app.example');
    assert.equal(denied.status, 403);
    assert.match(errorOf(denied).message, /--cors/);
    assert.equal((await raw(off.url, 'GET', '/health', { Origin: 'https://app.example' })).headers['access-control-allow-origin'], undefined);
    // allowed: the preflight needs no key, names the methods and headers
    const ok = await pre(s.url, 'https://app.example');
    assert.equal(ok.status, 204);
    assert.equal(ok.headers['access-control-allow-origin'], 'https://app.example');
    assert.match(ok.headers['access-control-allow-methods']!, /POST/);
    assert.match(ok.headers['access-control-allow-headers']!, /authorization/);
    assert.match(ok.headers['access-control-allow-headers']!, /x-stainless-os/);
    const other = await pre(s.url, 'https://evil.example');
    assert.equal(other.status, 403);
    assert.equal(errorOf(other).code, 'origin_not_allowed');
    assert.equal(other.headers['access-control-allow-origin'], undefined);
    // every response carries it: success, error (401), stream
    const origin = { Origin: 'https://app.example' };
    assert.equal((await raw(s.url, 'GET', '/v1/models', { ...origin, Authorization: 'Bearer k' })).headers['access-control-allow-origin'], 'https://app.example');
    const unauth = await raw(s.url, 'GET', '/v1/models', origin);
    assert.equal(unauth.status, 401);
    assert.equal(unauth.headers['access-control-allow-origin'], 'https://app.example');
    const st = await fetch(`${s.url}/v1/completions`, { method: 'POST', headers: { ...origin, ...JSON_POST, Authorization: 'Bearer k' }, body: JSON.stringify({ prompt: 'x', max_tokens: 4, stream: true }) });
    assert.equal(st.headers.get('access-control-allow-origin'), 'https://app.example');
    for await (const _ of sseEvents(st)) void _;
    assert.equal((await raw(any.url, 'GET', '/health', { Origin: 'https://whoever.example' })).headers['access-control-allow-origin'], '*');
    assert.equal((await pre(any.url, 'https://whoever.example')).status, 204);
  } finally {
    await Promise.all([off.close(), s.close(), any.close()]);
  }
});

test('API keys: every route but /health needs a right key; 401 in the OpenAI shape', async () => {
  const s = await startServer({ apiKeys: ['alpha', 'beta-key'] });
  try {
    for (const [auth, path] of [[undefined, '/v1/models'], ['Bearer wrong', '/v1/models'], ['Bearer alph', '/metrics'], ['alpha', '/v1/models/test-model'], ['Basic alpha', '/v1/models']] as const) {
      const r = await raw(s.url, 'GET', path, auth ? { Authorization: auth } : {});
      assert.equal(r.status, 401, `${auth} ${path}`);
      assert.deepEqual(Object.keys(errorOf(r)).sort(), ['code', 'message', 'param', 'type']);
      assert.equal(errorOf(r).code, 'invalid_api_key');
    }
    const post = await raw(s.url, 'POST', '/v1/completions', { ...JSON_POST, Authorization: 'Bearer nope' }, body);
    assert.equal(post.status, 401);
    assert.equal((await raw(s.url, 'GET', '/health')).status, 200);
    assert.equal((await raw(s.url, 'GET', '/v1/models', { Authorization: 'Bearer alpha' })).status, 200);
    assert.equal((await raw(s.url, 'POST', '/v1/completions', { ...JSON_POST, Authorization: 'bearer beta-key' }, body)).status, 200);
  } finally {
    await s.close();
  }
});

test('GET /v1/models/{id}; /metrics in the Prometheus format counts what happened', async () => {
  const s = await startServer();
  try {
    const m = await raw(s.url, 'GET', '/v1/models/test-model');
    assert.equal(m.status, 200);
    assert.equal(JSON.parse(m.text).id, 'test-model');
    const missing = await raw(s.url, 'GET', '/v1/models/other');
    assert.equal(missing.status, 404);
    assert.equal(errorOf(missing).param, 'model');
    const tokens = [];
    for (const max of [8, 12]) {
      const r = await raw(s.url, 'POST', '/v1/completions', JSON_POST, JSON.stringify({ prompt: 'ab', max_tokens: max, stop_on_eos: false, seed: max }));
      tokens.push(JSON.parse(r.text).usage.completion_tokens);
    }
    await raw(s.url, 'POST', '/v1/completions', JSON_POST, '{');
    const r = await raw(s.url, 'GET', '/metrics');
    assert.equal(r.status, 200);
    assert.match(r.headers['content-type']!, /^text\/plain; version=0\.0\.4/);
    const value = (line: string) => {
      const hit = r.text.split('\n').find((l) => l.startsWith(line + ' '));
      assert.ok(hit, `${line} in\n${r.text.slice(0, 400)}`);
      return Number(hit.slice(line.length + 1));
    };
    assert.equal(value('bd3lm_requests_total{route="/v1/completions",status="200"}'), 2);
    assert.equal(value('bd3lm_requests_total{route="/v1/completions",status="400"}'), 1);
    assert.equal(value('bd3lm_requests_total{route="/v1/models/{id}",status="404"}'), 1);
    assert.equal(value('bd3lm_generated_tokens_total'), tokens[0] + tokens[1]);
    assert.equal(value('bd3lm_model_calls_total'), s.server.batcher.stats.calls);
    assert.equal(value('bd3lm_requests_active'), 0);
    assert.equal(value('bd3lm_requests_queued'), 0);
    assert.equal(value('bd3lm_time_to_first_block_seconds_count'), 2);
    assert.equal(value('bd3lm_request_duration_seconds_count'), 2);
    assert.equal(value('bd3lm_nfe_per_token_count'), 2);
    assert.ok(value('bd3lm_tokens_per_second') > 0);
    assert.ok(value('bd3lm_process_resident_memory_bytes') > 0);
  } finally {
    await s.close();
  }
});
