/**
 * The completions server's API on a small random model: the GET endpoints, a completion equal to `generate` with the
 * same options, streaming whose blocks add up to the same text, n as a batch, and every kind of bad request (4xx
 * with a JSON error; the server keeps answering).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as net from 'node:net';
import { generate } from '../src/sampling/generate.js';
import { model, sseEvents, startServer, tokenizer, type Completion } from './server-helpers.js';

const logged: string[] = [];
const s = await startServer({ maxTokensCap: 64, maxBody: 4096, log: (l) => logged.push(l) });
after(() => s.close());

const complete = async (body: object): Promise<Completion> => {
  const r = await s.post(body);
  assert.equal(r.status, 200, await r.clone().text());
  assert.match(r.headers.get('content-type')!, /application\/json/);
  return (await r.json()) as Completion;
};

test('GET /health and /v1/models', async () => {
  assert.deepEqual(await s.health(), { status: 'ok', model: 'test-model', active: 0, queued: 0 });
  const m = await (await fetch(`${s.url}/v1/models`)).json();
  assert.equal(m.object, 'list');
  assert.equal(m.data.length, 1);
  assert.equal(m.data[0].id, 'test-model');
  assert.equal(m.data[0].object, 'model');
  assert.deepEqual(m.data[0].bd3lm, { block_size: 4, max_block_size: 4, model_length: 32, vocab_size: 257, tokenizer: 'bytes' });
});

test('a completion is generate() with the same options, in the OpenAI shape', async () => {
  const c = await complete({ model: 'test-model', prompt: 'Hello', max_tokens: 30, seed: 5, top_p: 0.9, stop_on_eos: false });
  const expected = await generate(model, tokenizer, { prompt: 'Hello', maxNewTokens: 30, seed: 5, topP: 0.9, stopOnEos: false }).result();
  assert.match(c.id, /^cmpl-/);
  assert.equal(c.object, 'text_completion');
  assert.equal(c.model, 'test-model');
  assert.ok(Math.abs(c.created - Date.now() / 1000) < 60);
  assert.deepEqual(c.choices, [{ text: expected.text, index: 0, logprobs: null, finish_reason: 'length' }]);
  assert.deepEqual(c.usage, { prompt_tokens: 5, completion_tokens: 30, total_tokens: 35 });
  assert.deepEqual(c.bd3lm!.sequences, [{ index: 0, nfe: expected.nfe, stop_reason: 'length', seed: 5 }]);
  assert.ok(c.bd3lm!.tokens_per_second > 0);
  // a one-element array, token ids, the extensions and the neutral OpenAI fields are accepted
  assert.equal((await complete({ prompt: ['Hello'], max_tokens: 30, seed: 5, top_p: 0.9, stop_on_eos: false })).choices[0].text, expected.text);
  assert.equal((await complete({ prompt: [72, 101, 108, 108, 111], max_tokens: 30, seed: 5, top_p: 0.9, stop_on_eos: false })).choices[0].text, expected.text);
  const ext = await complete({
    prompt: 'Hi', max_tokens: 8, seed: 1, sampler: 'threshold', threshold: 0, block_size: 4, steps: 4, top_k: 5, temperature: 0.7,
    stop: null, echo: false, best_of: 1, presence_penalty: 0, frequency_penalty: 0, logit_bias: {}, logprobs: null, user: 'u', stream_options: {},
  });
  assert.equal(ext.usage!.completion_tokens, 8);
  assert.equal(ext.bd3lm!.sequences[0].nfe, 3, 'threshold 0 reveals a whole block per step: blocks 1 (with "Hi"), 2, 3');
  // default max_tokens is OpenAI's 16; temperature 0 is accepted (top-k 1)
  assert.equal((await complete({ prompt: 'x', stop_on_eos: false })).usage!.completion_tokens, 16);
  assert.equal((await complete({ prompt: 'x', temperature: 0, max_tokens: 8 })).choices.length, 1);
});

test('n samples a batch: choice b is the run with seed + b', async () => {
  const c = await complete({ prompt: 'ab', max_tokens: 12, seed: 7, n: 3, stop_on_eos: false });
  assert.deepEqual(c.choices.map((ch) => ch.index), [0, 1, 2]);
  assert.deepEqual(c.bd3lm!.sequences.map((q) => q.seed), [7, 8, 9]);
  assert.equal(c.usage!.completion_tokens, 36);
  const solo = await complete({ prompt: 'ab', max_tokens: 12, seed: 8, stop_on_eos: false });
  assert.equal(c.choices[1].text, solo.choices[0].text);
});

test('streaming: one SSE chunk per block, concatenating to the non-streamed text, then a final chunk and [DONE]', async () => {
  for (const n of [1, 2]) {
    const body = { prompt: 'Once', max_tokens: 40, seed: 11, n };
    const whole = await complete(body);
    const r = await s.post({ ...body, stream: true });
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type')!, /^text\/event-stream/);
    const events = [];
    for await (const ev of sseEvents(r)) events.push(ev);
    assert.equal(events.pop(), '[DONE]');
    const final = events.pop() as Completion;
    const chunks = events as Completion[];
    assert.ok(chunks.length >= 40 / 4, `${chunks.length} block chunks`);
    for (let b = 0; b < n; b++) {
      const mine = chunks.filter((c) => c.choices[0].index === b);
      assert.ok(mine.every((c) => c.choices[0].finish_reason === null && c.id === final.id && c.object === 'text_completion'));
      assert.equal(mine.map((c) => c.choices[0].text).join(''), whole.choices[b].text);
      assert.equal(final.choices[b].finish_reason, whole.choices[b].finish_reason);
    }
    assert.deepEqual(final.usage, whole.usage);
    assert.deepEqual(final.bd3lm!.sequences, whole.bd3lm!.sequences);
  }
});

/** sends raw bytes (any body, any framing) and returns status and parsed JSON */
function raw(method: string, path: string, body?: string, headers: http.OutgoingHttpHeaders = {}): Promise<{ status: number; json: Completion; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${s.url}${path}`, { method, headers }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, json: JSON.parse(text), headers: res.headers }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('bad requests get a 4xx with an OpenAI error object, and the server keeps serving', async () => {
  const cases: [unknown, number, string | null, RegExp][] = [
    ['{"prompt": "x"', 400, null, /invalid JSON/],
    ['[1, 2]', 400, null, /must be a JSON object/],
    [{}, 400, 'prompt', /'prompt' is required/],
    [{ prompt: 3 }, 400, 'prompt', /must be a string/],
    [{ prompt: ['a', 'b'] }, 400, 'prompt', /one prompt per request/],
    [{ prompt: 'x', max_tokens: '10' }, 400, 'max_tokens', /must be an integer/],
    [{ prompt: 'x', max_tokens: 1.5 }, 400, 'max_tokens', /must be an integer/],
    [{ prompt: 'x', max_tokens: 65 }, 400, 'max_tokens', /0\.\.64/],
    [{ prompt: 'x', max_tokens: -1 }, 400, 'max_tokens', /0\.\.64/],
    [{ prompt: 'x', temperature: 'hot' }, 400, 'temperature', /must be a number/],
    [{ prompt: 'x', temperature: -1 }, 400, 'temperature', />= 0/],
    [{ prompt: 'x', stream: 'yes' }, 400, 'stream', /must be a boolean/],
    [{ prompt: 'x', seed: 'abc' }, 400, 'seed', /must be an integer/],
    [{ prompt: 'x', n: 9 }, 400, 'n', /1\.\.8/],
    [{ prompt: 'x', sampler: 'greedy' }, 400, 'sampler', /unknown sampler 'greedy'/],
    [{ prompt: 'x', sampler: 'ddpm', steps: 257 }, 400, 'steps', /at most 256/],
    [{ prompt: 'x', max_token: 5 }, 400, 'max_token', /unknown field 'max_token'/],
    [{ prompt: 'x', stop: ['a', 'b', 'c', 'd', 'e'] }, 400, 'stop', /at most 4 strings, got 5/],
    [{ prompt: 'x', stop: ['a', ''] }, 400, 'stop', /must not be empty/],
    [{ prompt: 'x', stop: '' }, 400, 'stop', /must not be empty/],
    [{ prompt: 'x', stop: [1] }, 400, 'stop', /a string or an array of strings/],
    [{ prompt: 'x', logprobs: 6 }, 400, 'logprobs', /0\.\.5, got 6/],
    [{ prompt: 'x', logprobs: -1 }, 400, 'logprobs', /0\.\.5, got -1/],
    [{ prompt: 'x', logprobs: true }, 400, 'logprobs', /must be an integer/],
    [{ prompt: 'x', block_size: 8 }, 400, 'block_size', /at most 4 on this server, got 8/],
    [{ prompt: 'x', echo: true }, 400, 'echo', /not supported/],
    [{ prompt: 'x', user: 5 }, 400, 'user', /must be a string/],
    // ranges that generate() checks
    [{ prompt: 'x', top_p: 0 }, 400, null, /topP must be in/],
    [{ prompt: 'x', steps: 2 }, 400, null, /steps must be >= blockSize/],
    [{ prompt: 'x', seed: -1 }, 400, 'seed', /0\.\.4294967295/],
    [{ prompt: 'x', sampler: 'threshold', threshold: 2 }, 400, null, /threshold must be/],
    [{ prompt: [999] }, 400, null, /outside the vocabulary/],
    [{ prompt: 'x', model: 'gpt-4' }, 404, 'model', /'gpt-4' does not exist/],
  ];
  for (const [body, status, param, message] of cases) {
    const r = await raw('POST', '/v1/completions', typeof body === 'string' ? body : JSON.stringify(body), { 'Content-Type': 'application/json' });
    assert.equal(r.status, status, JSON.stringify(body));
    assert.equal(r.json.error!.param, param, JSON.stringify(body));
    assert.match(r.json.error!.message, message);
    assert.equal(r.json.error!.type, 'invalid_request_error');
  }
  const notFound = await raw('GET', '/v2/anything');
  assert.equal(notFound.status, 404);
  assert.equal(notFound.json.error!.code, 'not_found');
  const wrongMethod = await raw('GET', '/v1/completions');
  assert.equal(wrongMethod.status, 405);
  assert.equal(wrongMethod.headers.allow, 'POST');
  assert.equal((await raw('DELETE', '/health')).status, 405);
  assert.deepEqual(await s.health(), { status: 'ok', model: 'test-model', active: 0, queued: 0 });
  assert.equal((await complete({ prompt: 'still here', max_tokens: 4 })).choices.length, 1);
});

test('oversized bodies: 413 by Content-Length or while a chunked body arrives, without reading it all', async () => {
  const big = JSON.stringify({ prompt: 'x'.repeat(5000) });
  const declared = await raw('POST', '/v1/completions', big, { 'Content-Type': 'application/json' });
  assert.equal(declared.status, 413);
  assert.equal(declared.json.error!.code, 'body_too_large');
  assert.equal(declared.headers.connection, 'close');
  // chunked, 1 KiB a millisecond: the server counts as it reads and answers while the client is still sending
  const chunked = await new Promise<{ status: number; sent: number }>((resolve, reject) => {
    let sent = 0;
    const req = http.request(`${s.url}/v1/completions`, { method: 'POST', headers: { 'Transfer-Encoding': 'chunked', 'Content-Type': 'application/json' } }, (res) => {
      clearInterval(pump);
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, sent }));
    });
    req.on('error', reject);
    const pump = setInterval(() => {
      if (sent >= 1e6) return clearInterval(pump), req.end();
      req.write('y'.repeat(1024));
      sent += 1024;
    }, 1);
  });
  assert.equal(chunked.status, 413);
  assert.ok(chunked.sent < 1e6, `answered after ${chunked.sent} bytes, not after the whole megabyte`);
  assert.deepEqual(await s.health(), { status: 'ok', model: 'test-model', active: 0, queued: 0 });
});

test('a client hanging up mid-body or speaking broken HTTP disturbs nothing', async () => {
  const sock = net.connect(Number(new URL(s.url).port), '127.0.0.1');
  sock.write('POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"prompt":');
  await new Promise((r) => setTimeout(r, 20));
  sock.destroy();
  const garbage = net.connect(Number(new URL(s.url).port), '127.0.0.1');
  garbage.end('GARBAGE\r\n\r\n');
  let reply = '';
  for await (const d of garbage) reply += d;
  assert.match(reply, /^HTTP\/1\.1 400 Bad Request/);
  assert.deepEqual(await s.health(), { status: 'ok', model: 'test-model', active: 0, queued: 0 });
  assert.deepEqual(logged, [], 'no request of this file caused an internal error');
});
