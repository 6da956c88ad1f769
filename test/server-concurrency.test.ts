/**
 * The completions server under concurrency: requests in flight together give exactly the texts they give alone
 * (and really interleave), the FIFO queue and its limit, a disconnect stopping its generation (or leaving the
 * queue), an error inside one generation ending only that request, and close() stopping everything.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ByteTokenizer } from '../src/data/tokenizer.js';
import { availableBackends } from './model-helpers.js';
import { modelOn, sseEvents, startServer, tokenizer, waitForHealth, type Completion } from './server-helpers.js';

const LONG = { prompt: 'loop', max_tokens: 1_000_000, stop_on_eos: false, stream: true };

/** text of a whole SSE stream, with the order its block chunks arrived in recorded under `tag` */
async function streamText(res: Response, tag: string, arrivals: string[]): Promise<string> {
  let text = '';
  for await (const ev of sseEvents(res)) {
    if (ev === '[DONE]' || ev.choices[0].finish_reason !== null) continue;
    arrivals.push(tag);
    text += ev.choices[0].text;
  }
  return text;
}

for (const { name, backend, why } of await availableBackends()) {
  test(`${name}: concurrent requests interleave and give exactly the texts they give alone`, { skip: why }, async () => {
    const s = await startServer({ maxActive: 4 }, tokenizer, modelOn(backend!));
    try {
      const bodies = [
        { prompt: 'The', max_tokens: 64, seed: 1, stop_on_eos: false },
        { prompt: 'A long prompt that spans several blocks', max_tokens: 48, seed: 2, top_p: 0.8, stop_on_eos: false },
        { prompt: 'x', max_tokens: 40, seed: 3, sampler: 'ddpm', n: 2 },
        { prompt: 'y', max_tokens: 40, seed: 4, sampler: 'entropy', entropy_bound: 3 },
      ];
      const solo: string[][] = [];
      for (const b of bodies) solo.push(((await (await s.post(b)).json()) as Completion).choices.map((c) => c.text));
      const together = await Promise.all(bodies.map(async (b) => ((await (await s.post(b)).json()) as Completion).choices.map((c) => c.text)));
      assert.deepEqual(together, solo);
      // two streams at once: their block chunks arrive interleaved, and still add up to the solo texts
      const arrivals: string[] = [];
      const [a, b] = await Promise.all([
        s.post({ ...bodies[0], stream: true }).then((r) => streamText(r, 'a', arrivals)),
        s.post({ ...bodies[1], stream: true }).then((r) => streamText(r, 'b', arrivals)),
      ]);
      assert.deepEqual([a, b], [solo[0][0], solo[1][0]]);
      assert.ok(arrivals.indexOf('b') < arrivals.lastIndexOf('a') && arrivals.indexOf('a') < arrivals.lastIndexOf('b'), `interleaved: ${arrivals.join('')}`);
    } finally {
      await s.close();
    }
  });
}

test('beyond max-active a FIFO queue, beyond max-queue 503; disconnecting stops the generation or leaves the queue', async () => {
  const s = await startServer({ maxActive: 1, maxQueue: 1, maxTokensCap: LONG.max_tokens });
  try {
    const acA = new AbortController();
    const a = await s.post(LONG, { signal: acA.signal });
    const aEvents = sseEvents(a);
    await aEvents.next(); // A is generating
    const acB = new AbortController();
    const b = s.post(LONG, { signal: acB.signal }).catch((e: Error) => e);
    await waitForHealth(s, (h) => h.active === 1 && h.queued === 1);
    const c = await s.post({ prompt: 'x' });
    assert.equal(c.status, 503);
    assert.equal(c.headers.get('retry-after'), '1');
    assert.equal(((await c.json()) as Completion).error!.code, 'queue_full');
    acB.abort();
    assert.equal(((await b) as Error).name, 'AbortError');
    await waitForHealth(s, (h) => h.active === 1 && h.queued === 0);
    // A's million tokens would take minutes: the slot is freed only because its generation stopped
    acA.abort();
    await waitForHealth(s, (h) => h.active === 0 && h.queued === 0);
    // a non-streaming request whose client hangs up stops as well
    const acD = new AbortController();
    const d = s.post({ ...LONG, stream: false }, { signal: acD.signal }).catch((e: Error) => e);
    await waitForHealth(s, (h) => h.active === 1);
    acD.abort();
    await d;
    await waitForHealth(s, (h) => h.active === 0);
    const e = await s.post({ prompt: 'after', max_tokens: 8 });
    assert.equal(e.status, 200);
  } finally {
    await s.close();
  }
});

test('queued requests are served in arrival order', async () => {
  const s = await startServer({ maxActive: 1, maxQueue: 3, maxTokensCap: LONG.max_tokens });
  try {
    const ac = new AbortController();
    const a = await s.post(LONG, { signal: ac.signal });
    await sseEvents(a).next();
    const finished: string[] = [];
    const queued = [];
    for (const tag of ['b', 'c', 'd']) {
      queued.push(s.post({ prompt: tag, max_tokens: 8 }).then(async (r) => (await r.json(), finished.push(tag))));
      await waitForHealth(s, (h) => h.queued === queued.length); // arrival order is fixed before the next is sent
    }
    ac.abort();
    await Promise.all(queued);
    assert.deepEqual(finished, ['b', 'c', 'd']);
  } finally {
    await s.close();
  }
});

/** a tokenizer that breaks while decoding, on demand: an error in the middle of a generation */
class BreakingTokenizer extends ByteTokenizer {
  broken = false;
  override tokenBytes(id: number): Uint8Array {
    if (this.broken) throw new Error('the tokenizer broke');
    return super.tokenBytes(id);
  }
}

test('an error inside a generation ends only that request: 500, or an error event on a stream', async () => {
  const tok = new BreakingTokenizer();
  const logged: string[] = [];
  const s = await startServer({ log: (l) => logged.push(l) }, tok);
  try {
    tok.broken = true;
    const r = await s.post({ prompt: 'x', max_tokens: 8, stop_on_eos: false });
    assert.equal(r.status, 500);
    const err = ((await r.json()) as Completion).error!;
    assert.equal(err.type, 'server_error');
    assert.match(err.message, /the tokenizer broke/);
    const st = await s.post({ prompt: 'x', max_tokens: 8, stream: true, stop_on_eos: false });
    assert.equal(st.status, 200);
    const events = [];
    for await (const ev of sseEvents(st)) events.push(ev);
    assert.equal(events.length, 1, 'no block, no [DONE]: only the error');
    assert.match((events[0] as Completion).error!.message, /the tokenizer broke/);
    assert.equal(logged.length, 2);
    tok.broken = false;
    assert.deepEqual(await s.health(), { status: 'ok', model: 'test-model', active: 0, queued: 0 });
    assert.equal((await s.post({ prompt: 'x', max_tokens: 8 })).status, 200);
  } finally {
    await s.close();
  }
});

test('close() aborts the generations in flight and ends their streams', async () => {
  const s = await startServer({ maxTokensCap: LONG.max_tokens });
  const r = await s.post(LONG);
  const events = sseEvents(r);
  await events.next();
  const t0 = Date.now();
  await s.close();
  assert.ok(Date.now() - t0 < 2000);
  await assert.rejects(async () => {
    for await (const _ of events) void _;
  });
});
