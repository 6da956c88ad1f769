/**
 * Stop strings (exact, across block boundaries, never streamed past), chat bodies and templates, the prompt-length
 * limit, a long prompt next to streaming clients, and graceful draining.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ByteTokenizer } from '../src/data/tokenizer.js';
import { ChatTemplate } from '../src/server/chat-template.js';
import { ChoiceOutput } from '../src/server/choice.js';
import { sseEvents, startServer, type Completion } from './server-helpers.js';

const tok = new ByteTokenizer();
const lp = (token: number) => ({ token, logprob: -1, top: [] });

test('ChoiceOutput: a stop string split over pushes is found; the text before it is released, nothing after', () => {
  const c = new ChoiceOutput(['STOP', 'xyz'], tok);
  const ids = (s: string) => Array.from(s, (ch) => ch.charCodeAt(0));
  const push = (s: string) => c.push(s, ids(s), ids(s).map(lp));
  assert.deepEqual(push('abc ST').text, 'abc ', 'the possible start of a stop string is held back');
  assert.deepEqual(push('O').text, '');
  const r = push('Pdef');
  assert.equal(r.text, '');
  assert.ok(c.stopped);
  assert.equal(c.text, 'abc ');
  // the logprobs of the tokens whose text was released (a, b, c, space), with their character offsets
  assert.deepEqual(push('more').text, '');
  const d = new ChoiceOutput(['STOP'], tok);
  assert.equal(d.push('ab S', ids('ab S'), ids('ab S').map(lp)).logprobs.length, 3, "'S' is held back with its token");
  assert.deepEqual(d.push('Sx', ids('Sx'), ids('Sx').map(lp)).text, 'SSx', 'ruled out: released');
  assert.deepEqual(d.finish().text, '');
  assert.equal(d.text, 'ab SSx');
  // a prefix held at the end is released by finish()
  const e = new ChoiceOutput(['STOP'], tok);
  e.push('abST', ids('abST'), ids('abST').map(lp));
  const f = e.finish();
  assert.equal(f.text, 'ST');
  assert.deepEqual(f.logprobs.map((l) => l.offset), [2, 3]);
  // the earliest stop string wins; no stops: everything passes at once
  const g = new ChoiceOutput(['b', 'a'], tok);
  assert.equal(g.push('xxba', [], undefined).text, 'xx');
  assert.equal(new ChoiceOutput([], tok).push('abc', [], undefined).text, 'abc');
});

test('stop: exact across a block boundary, streamed chunks never pass it, the generation halts', async () => {
  const s = await startServer({ maxTokensCap: 200 });
  try {
    const body = { prompt: 'Go', max_tokens: 120, seed: 21, stop_on_eos: false, n: 2 };
    const full = (await (await s.post(body)).json()) as Completion;
    const chunks: string[] = [];
    for await (const ev of sseEvents(await s.post({ ...body, stream: true }))) {
      if (ev !== '[DONE]' && ev.choices[0].index === 0 && ev.choices[0].finish_reason === null) chunks.push(ev.choices[0].text);
    }
    // a stop string made of the end of one block's text and the start of the next
    let at = 0;
    let k = 0;
    for (; k < chunks.length - 1; k++) {
      at += chunks[k].length;
      if (k > 5 && chunks[k].length >= 2 && chunks[k + 1].length >= 2) break;
    }
    const text0 = full.choices[0].text;
    const stop = text0.slice(at - 2, at + 2);
    const expected = text0.slice(0, text0.indexOf(stop));
    assert.ok(expected.length > 0 && expected.length <= at - 2);
    const whole = (await (await s.post({ ...body, stop })).json()) as Completion;
    assert.equal(whole.choices[0].text, expected);
    assert.equal(whole.choices[0].finish_reason, 'stop');
    assert.equal(whole.bd3lm!.sequences[0].stop_reason, 'halted');
    assert.ok(whole.usage!.completion_tokens < full.usage!.completion_tokens, 'the stopped choice generated no further blocks');
    // choice 1 runs on unless the stop string is in its text too
    const other = full.choices[1].text;
    assert.equal(whole.choices[1].text, other.includes(stop) ? other.slice(0, other.indexOf(stop)) : other);
    let streamed = '';
    for await (const ev of sseEvents(await s.post({ ...body, stop, stream: true }))) {
      if (ev === '[DONE]') continue;
      for (const ch of ev.choices) {
        if (ch.index !== 0) continue;
        streamed += ch.text;
        assert.ok(expected.startsWith(streamed), 'no chunk shows text past the stop string');
      }
    }
    assert.equal(streamed, expected);
  } finally {
    await s.close();
  }
});

test('chat: bad messages, a template that fails, a prompt over the limit: 4xx naming the field, server fine after', async () => {
  const raising = new ChatTemplate("{% for m in messages %}{% if m.role == 'system' %}{{ raise_exception('no system messages') }}{% endif %}{{ m.content }}{% endfor %}", 'strict.jinja');
  const s = await startServer({ chatTemplate: raising, maxPromptTokens: 50 });
  const chat = (b: unknown) => fetch(`${s.url}/v1/chat/completions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(b) });
  try {
    const cases: [unknown, number, string | null, RegExp][] = [
      [{}, 400, 'messages', /'messages' is required/],
      [{ messages: [] }, 400, 'messages', /at least one message/],
      [{ messages: 'hi' }, 400, 'messages', /must be an array of messages/],
      [{ messages: [{ role: 'wizard', content: 'x' }] }, 400, 'messages[0].role', /must be one of system, user, assistant, got "wizard"/],
      [{ messages: [{ role: 'user', content: 'a' }, { role: 'tool', content: 'x' }] }, 400, 'messages[1].role', /got "tool"/],
      [{ messages: [{ role: 'user', content: [{ type: 'text', text: 'x' }] }] }, 400, 'messages[0].content', /must be a string/],
      [{ messages: [{ role: 'user', content: 3 }] }, 400, 'messages[0].content', /must be a string/],
      [{ messages: [{ role: 'user' }] }, 400, 'messages[0].content', /must be a string/],
      [{ messages: [{ role: 'user', content: 'x', tool_calls: [] }] }, 400, 'messages[0].tool_calls', /unknown field/],
      [{ messages: [{ role: 'user', content: 'x' }], top_logprobs: 2 }, 400, 'top_logprobs', /needs 'logprobs': true/],
      [{ messages: [{ role: 'user', content: 'x' }], logprobs: true, top_logprobs: 21 }, 400, 'top_logprobs', /0\.\.20, got 21/],
      [{ messages: [{ role: 'user', content: 'x' }], stop: ['a', 'b', 'c', 'd', 'e'] }, 400, 'stop', /at most 4/],
      [{ messages: [{ role: 'user', content: 'x' }], max_tokens: 4, max_completion_tokens: 4 }, 400, 'max_tokens', /not both/],
      [{ messages: [{ role: 'system', content: 'x' }] }, 400, 'messages', /strict\.jinja failed to render these messages: no system messages/],
      [{ messages: [{ role: 'user', content: 'y'.repeat(51) }] }, 413, 'messages', /51 tokens; this server takes at most 50 \(--max-prompt-tokens\)/],
    ];
    for (const [b, status, param, message] of cases) {
      const r = await chat(b);
      assert.equal(r.status, status, JSON.stringify(b));
      const e = (await r.json()).error;
      assert.equal(e.param, param, JSON.stringify(b));
      assert.match(e.message, message);
    }
    const long = await s.post({ prompt: 'z'.repeat(51) });
    assert.equal(long.status, 413);
    assert.equal((await long.json()).error.param, 'prompt');
    const ok = await chat({ messages: [{ role: 'user', content: 'fine' }], max_tokens: 4 });
    assert.equal(ok.status, 200);
    assert.equal((await s.health()).active, 0);
  } finally {
    await s.close();
  }
});

// Before, the prompt's blocks were stored in one synchronous pass: 52 s on this model, every stream frozen. Now only
// the first sampled block's window is run, in calls that yield; the bound is loose for a loaded machine (the streams
// alone take 0.2-1.8 s to their first block there).
test('a 60 KB prompt next to 8 streams: their first blocks still come within 5 s', async () => {
  const s = await startServer({ maxTokensCap: 64, maxPromptTokens: 100_000, maxActive: 9 });
  try {
    const long = s.post({ prompt: 'word '.repeat(12_000), max_tokens: 16 });
    const t0 = performance.now();
    const firsts = await Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        const r = await s.post({ prompt: `client ${i}`, max_tokens: 64, seed: i, stream: true });
        const ev = sseEvents(r);
        await ev.next();
        const t = performance.now() - t0;
        for await (const _ of ev) void _;
        return t;
      }),
    );
    assert.equal((await long).status, 200);
    assert.ok(Math.max(...firsts) < 5000, `first blocks after ${firsts.map(Math.round).join(', ')} ms`);
  } finally {
    await s.close();
  }
});

test('drain: running streams may finish within the timeout; the rest end with an error event; new requests are refused', async () => {
  const s = await startServer({ maxTokensCap: 1_000_000 });
  const endless = await s.post({ prompt: 'loop', max_tokens: 1_000_000, stop_on_eos: false, stream: true });
  const short = await s.post({ prompt: 'short', max_tokens: 40, stop_on_eos: false, stream: true });
  const longEvents = sseEvents(endless);
  await longEvents.next();
  const drained = s.server.drain(3000);
  const during = await s.post({ prompt: 'late', max_tokens: 4 }).then((r) => r.status, (e: Error) => e.name);
  assert.ok(during === 503 || during === 'TypeError', `a request during the drain: ${during}`);
  const shortEnd = [];
  for await (const ev of sseEvents(short)) shortEnd.push(ev);
  assert.equal(shortEnd.at(-1), '[DONE]', 'the short stream finished normally');
  let last: Completion | '[DONE]' | undefined;
  for await (const ev of longEvents) last = ev;
  assert.notEqual(last, '[DONE]');
  assert.equal((last as Completion).error!.code, 'shutting_down');
  await drained;
  await assert.rejects(fetch(`${s.url}/health`), 'no longer listening');
});
