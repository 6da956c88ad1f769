/**
 * The streaming `generate` API on a small random model (ref backend, exact arithmetic): batch = independent runs,
 * prompts (full and partial blocks, longer than the window, infilling), cache == no cache, the parallel samplers'
 * limits, streaming order and text, abort, the event loop staying free, and the option errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PRESETS, withModelType } from '../src/model/config.js';
import { generate, type GenerateEvent, type GenerateOptions, type StepEvent } from '../src/sampling/generate.js';
import { sampleSemiAR } from '../src/sampling/semi-ar.js';
import { SeededRandom } from '../src/tensor/sampling/random.js';
import { decodeWith, type Tokenizer } from '../src/data/tokenizer.js';
import { RefBackend } from '../src/tensor/index.js';
import { randomModel } from './model-helpers.js';

const be = new RefBackend();
// V = 41: mask 40, BOS = EOS = 39; L = 16, L' = 4
const model = randomModel(be);
const BOS = 39;
const MASK = 40;

/** ids 0..29 are letters, 30..38 loose UTF-8 bytes (lead and continuation), so characters span tokens */
const LOOSE = [0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80];
class TestTokenizer implements Tokenizer {
  readonly name = 'test';
  readonly vocabSize = 41;
  readonly bos = BOS;
  readonly eos = BOS;
  readonly mask = MASK;
  encode(text: string): number[] {
    return Array.from(text, (c) => c.charCodeAt(0) - 97);
  }
  decode(ids: ArrayLike<number>, opts?: { skipSpecial?: boolean }): string {
    return decodeWith(this, ids, opts);
  }
  tokenBytes(id: number): Uint8Array {
    return Uint8Array.of(id < 30 ? 97 + id : LOOSE[id - 30]);
  }
}
const tok = new TestTokenizer();

async function collect(o: GenerateOptions) {
  const events: GenerateEvent[] = [];
  for await (const ev of generate(model, tok, o)) events.push(ev);
  const done = events.at(-1);
  assert.ok(done && done.type === 'done');
  return { events, done };
}

test('batch of B equals B independent batch-1 runs under the same per-sequence seeds', async () => {
  for (const sampler of ['first-hitting', 'ddpm', 'threshold', 'entropy'] as const) {
    for (const cache of [true, false]) {
      const o: GenerateOptions = { prompt: 'abcde', maxNewTokens: 30, sampler, cache, topP: 0.9, threshold: 0.05, entropyBound: 4, steps: 4 };
      const seeds = [11, 12, 13];
      const { done } = await collect({ ...o, batch: 3, seed: seeds });
      for (let b = 0; b < 3; b++) {
        const one = await collect({ ...o, seed: seeds[b] });
        assert.deepEqual(done.sequences[b].allTokens, one.done.sequences[0].allTokens, `${sampler} cache=${cache} seq ${b}`);
        assert.equal(done.sequences[b].nfe, one.done.nfe);
        assert.equal(done.sequences[b].stopReason, one.done.stopReason);
      }
    }
  }
  // per-sequence stop points: some seed stops at its EOS, the others run on
  const { done } = await collect({ maxNewTokens: 60, batch: 6, seed: 1 });
  const reasons = done.sequences.map((s) => s.stopReason);
  assert.ok(reasons.includes('eos') && reasons.includes('length'), `mixed stops: ${reasons}`);
  for (const s of done.sequences) {
    if (s.stopReason === 'eos') assert.equal(s.tokens.indexOf(BOS), s.tokens.length - 1, 'cut right after the first generated EOS');
    else assert.equal(s.tokens.length, 60);
  }
});

test('without a prompt, generate is sampleSemiAR (same draws, same tokens and NFE)', async () => {
  for (const seed of [1, 2]) {
    const { done } = await collect({ maxNewTokens: 23, seed, stopOnEos: false, topP: 0.9 });
    const ref = sampleSemiAR(model, { length: 24, steps: 4, topP: 0.9, random: new SeededRandom(seed), stop: false });
    assert.deepEqual(done.sequences[0].allTokens, Array.from(ref.tokens));
    assert.equal(done.nfe, ref.nfe);
    assert.equal(done.nfe, 23, 'first hitting: one NFE per generated token');
  }
});

test('prompts: full-block and partial-block prompts are kept; the cache gives the same tokens as re-running', async () => {
  for (const prompt of ['abc', 'abcdefg', 'abcde']) {
    const P0 = prompt.length + 1;
    const ids = [BOS, ...tok.encode(prompt)];
    const runs = [];
    for (const cache of [true, false]) {
      const { done, events } = await collect({ prompt, maxNewTokens: 14, seed: 4, cache, stopOnEos: false });
      assert.deepEqual(done.sequences[0].allTokens.slice(0, P0), ids, 'prompt kept');
      assert.equal(done.tokens.length, 14);
      assert.ok(!done.tokens.includes(MASK));
      // only masked positions cost denoiser calls: full prompt blocks go straight into the cache
      assert.equal(done.modelCalls, 14 + ((4 - (P0 + 14) % 4) % 4));
      const first = events.find((e) => e.type === 'block');
      assert.ok(first && first.type === 'block');
      assert.equal(first.index, Math.floor(P0 / 4), 'the first denoised block is the prompt\'s partial block (or the next)');
      assert.equal(first.tokens.length, 4 - (P0 % 4), 'its prompt positions are not reported as generated');
      runs.push(done.sequences[0].allTokens);
    }
    assert.deepEqual(runs[0], runs[1], `prompt '${prompt}': cache == no cache`);
  }
});

test('a prompt longer than the window is consumed through the sliding window (only the last C tokens count)', async () => {
  const long = 'abcdefghijklmnopqrstuvw'; // 23 tokens + BOS = 24 > L = 16
  const a = await collect({ prompt: long, maxNewTokens: 12, seed: 9, cache: false, stopOnEos: false });
  assert.deepEqual(a.done.sequences[0].allTokens.slice(1, 24), tok.encode(long));
  // uncached, the window of every generated block is the last C = 16 tokens: the same as the last 12 prompt tokens
  const tail = [BOS, ...tok.encode(long)].slice(-12);
  const b = await collect({ prompt: tail, addBos: false, maxNewTokens: 12, seed: 9, cache: false, stopOnEos: false });
  assert.deepEqual(a.done.tokens, b.done.tokens);
  const c = await collect({ prompt: long, maxNewTokens: 12, seed: 9, cache: true, stopOnEos: false });
  assert.equal(c.done.tokens.length, 12);
  assert.ok(!c.done.tokens.includes(MASK));
  // cached, the prompt blocks before the first sampled block's window are never run: that block is the uncached
  // one (the cache starts at the window), later ones slide on with the cache (spec 5.5)
  const firstBlock = (r: typeof a) => r.events.find((e) => e.type === 'block')!;
  assert.deepEqual(firstBlock(c), firstBlock(a));
  // a prompt of any length costs about one window: 2000 tokens here, as few store calls as 20 tokens
  const calls = async (prompt: string) => {
    let n = 0;
    await generate(model, tok, { prompt, maxNewTokens: 4, seed: 1, runCall: async (call) => (n++, call.run()) }).result();
    return n;
  };
  assert.equal(await calls('ab'.repeat(1000)), await calls('ab'.repeat(10)));
});

test('infilling: mask ids in a token prompt are filled, the given tokens stay', async () => {
  const prompt = [1, 2, 3, MASK, MASK, 6, 7, MASK, 9, 10, 11];
  for (const sampler of ['first-hitting', 'threshold'] as const) {
    const { done } = await collect({ prompt, maxNewTokens: 0, seed: 3, sampler, stopOnEos: false });
    const row = done.sequences[0].allTokens;
    assert.equal(row.length, 12);
    assert.equal(row[0], BOS);
    prompt.forEach((t, i) => (t === MASK ? assert.notEqual(row[i + 1], MASK) : assert.equal(row[i + 1], t)));
    assert.equal(done.tokens.length, 0);
  }
});

test('threshold / entropy: tau = 1 and gamma = 0 reveal one token per step; tau = 0 and gamma = inf a block per step', async () => {
  const steps = (events: GenerateEvent[]) => events.filter((e): e is StepEvent => e.type === 'step');
  for (const o of [{ sampler: 'threshold', threshold: 1 }, { sampler: 'entropy', entropyBound: 0 }] as const) {
    const { events, done } = await collect({ ...o, maxNewTokens: 19, seed: 2, reveal: true, stopOnEos: false });
    assert.ok(steps(events).every((s) => s.positions.length === 1));
    assert.equal(done.nfe, 19);
  }
  for (const o of [{ sampler: 'threshold', threshold: 0 }, { sampler: 'entropy', entropyBound: Infinity }] as const) {
    const { events, done } = await collect({ ...o, maxNewTokens: 19, seed: 2, reveal: true, stopOnEos: false });
    assert.equal(done.nfe, 5, 'NFE = number of blocks');
    assert.equal(done.modelCalls, 5);
    assert.deepEqual(steps(events).map((s) => s.positions.length), [3, 4, 4, 4, 4]);
  }
  // in between: more than one token for some step, fewer calls than tokens, never more than `steps` per block
  const mid = await collect({ sampler: 'entropy', entropyBound: 8, maxNewTokens: 19, seed: 2, stopOnEos: false });
  assert.ok(mid.done.nfe > 5 && mid.done.nfe < 19, `nfe ${mid.done.nfe}`);
  const capped = await collect({ sampler: 'threshold', threshold: 1, steps: 2, maxNewTokens: 19, seed: 2, stopOnEos: false });
  assert.equal(capped.done.nfe, 10, 'steps = 2 forces ceil(masks / steps left) reveals per step');
});

test('streaming: blocks in order, their tokens and text add up to the result; reveal steps cover every token', async () => {
  for (const batch of [1, 2]) {
    const { events, done } = await collect({ prompt: 'ab', maxNewTokens: 37, seed: 5, batch, reveal: true });
    for (let b = 0; b < batch; b++) {
      const blocks = events.filter((e) => e.type === 'block' && e.seq === b);
      const idx = blocks.map((e) => (e.type === 'block' ? e.index : -1));
      assert.deepEqual(idx, [...idx].sort((p, q) => p - q));
      assert.equal(new Set(idx).size, idx.length);
      assert.deepEqual(blocks.flatMap((e) => (e.type === 'block' ? e.tokens : [])), done.sequences[b].tokens);
      assert.equal(blocks.map((e) => (e.type === 'block' ? e.text : '')).join(''), done.sequences[b].text);
      const revealed = events.filter((e): e is StepEvent => e.type === 'step' && e.seq === b).flatMap((e) => e.positions);
      assert.ok(revealed.length >= done.sequences[b].tokens.length);
    }
    assert.ok(done.tokensPerSecond > 0);
  }
  // a character split across blocks is held back instead of printed as U+FFFD: ids alternate the two bytes of 'é'
  const halves = new (class extends TestTokenizer {
    override tokenBytes(id: number): Uint8Array {
      return Uint8Array.of(id % 2 ? 0xa9 : 0xc3);
    }
  })();
  let split = 0;
  for (let seed = 0; seed < 10; seed++) {
    const events: GenerateEvent[] = [];
    for await (const ev of generate(model, halves, { maxNewTokens: 40, seed, stopOnEos: false })) events.push(ev);
    const done = events.at(-1)!;
    assert.ok(done.type === 'done');
    const blocks = events.flatMap((e) => (e.type === 'block' ? [e] : []));
    assert.equal(blocks.map((e) => e.text).join(''), done.text);
    split += blocks.filter((e, i) => i + 1 < blocks.length && e.tokens.at(-1)! % 2 === 0 && blocks[i + 1].tokens[0] % 2 === 1).length;
  }
  assert.ok(split > 0, 'some character was split across two blocks');
  const g = generate(model, tok, { maxNewTokens: 8, seed: 1 });
  assert.equal(await g.text(), (await g.result()).text);
  assert.throws(() => g[Symbol.asyncIterator](), /once/);
  const early = generate(model, tok, { maxNewTokens: 40, seed: 1 });
  for await (const ev of early) if (ev.type === 'block') break;
  await assert.rejects(early.result(), /stopped before its done event/);
});

test('abort: an abort from an event handler stops before the next model call; an aborted signal fails at once', async () => {
  const ac = new AbortController();
  const seen: GenerateEvent[] = [];
  await assert.rejects(
    (async () => {
      for await (const ev of generate(model, tok, { maxNewTokens: 40, seed: 1, reveal: true, signal: ac.signal })) {
        seen.push(ev);
        if (ev.type === 'step' && ev.step === 1) ac.abort();
      }
    })(),
    (e: Error) => e.name === 'AbortError' && e.message === 'aborted',
  );
  assert.equal(seen.at(-1)!.type, 'step', 'nothing after the aborting event');
  assert.equal(seen.filter((e) => e.type === 'block').length, 0, 'stopped mid-block');
  await assert.rejects(generate(model, tok, { maxNewTokens: 4, signal: AbortSignal.abort() }).result(), { name: 'AbortError' });
  // an abort from a timer lands between two model calls
  const ac2 = new AbortController();
  const g = generate(model, tok, { prompt: 'ab', maxNewTokens: 4000, seed: 1, signal: ac2.signal });
  setTimeout(() => ac2.abort(), 20);
  await assert.rejects(g.result(), { name: 'AbortError' });
});

test('the event loop is not blocked: a setInterval keeps ticking during generation', async () => {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  const t0 = Date.now();
  const { done } = await collect({ maxNewTokens: 300, seed: 1, stopOnEos: false });
  clearInterval(timer);
  const ms = Date.now() - t0;
  assert.equal(done.tokens.length, 300);
  assert.ok(ticks >= Math.min(5, ms / 10), `${ticks} ticks in ${ms} ms`);
});

test('option errors and warnings', () => {
  const bad = (o: Partial<GenerateOptions>, re: RegExp) => assert.throws(() => generate(model, tok, { maxNewTokens: 4, ...o }), re);
  bad({ sampler: 'greedy' as never }, /unknown sampler 'greedy'/);
  bad({ sampler: 'threshold', threshold: 1.5 }, /threshold must be/);
  bad({ sampler: 'entropy', entropyBound: -1 }, /entropyBound/);
  bad({ steps: 2 }, /steps must be >= blockSize/);
  bad({ blockSize: 32 }, /exceeds the model length/);
  bad({ prompt: [], addBos: false }, /empty prompt/);
  bad({ prompt: [41] }, /outside the vocabulary/);
  bad({ batch: 2, seed: [1] }, /1 seeds given for a batch of 2/);
  bad({ maxNewTokens: -1 }, /maxNewTokens/);
  bad({ topP: 0 }, /topP/);
  assert.throws(() => generate(model, tok, {} as GenerateOptions), /maxNewTokens/);
  const ar = randomModel(be, withModelType({ ...PRESETS.tiny, hiddenDim: 32, condDim: 16, nBlocks: 2, nHeads: 2, vocabSize: 41, modelLength: 16 }, 'ar'), 5);
  // an AR model samples one token per forward (generate-families.test.ts): the diffusion options only warn
  assert.equal(generate(ar, tok, { maxNewTokens: 4 }).warnings.length, 0);
  assert.match(generate(ar, tok, { maxNewTokens: 4, steps: 3 }).warnings[0], /AR model draws one token per forward pass/);
  assert.match(generate(model, tok, { maxNewTokens: 4, blockSize: 8 }).warnings[0], /block size 8 differs from the 4/);
  assert.equal(generate(model, tok, { maxNewTokens: 4 }).warnings.length, 0);
});

test('length: not a multiple of the block size is rounded up and trimmed; the empty prompt is BOS only', async () => {
  for (const n of [1, 5, 6, 7]) {
    const { done } = await collect({ maxNewTokens: n, seed: n, stopOnEos: false });
    assert.equal(done.tokens.length, n);
    assert.deepEqual(done.sequences[0].allTokens.slice(0, 1), [BOS]);
  }
});

// one test per backend: a backend that does not load is a named skip (a failure under BD3LM_REQUIRE_ALL=1), not a
// silently shorter loop
const { availableBackends, FIXTURES } = await import('./model-helpers.js');
for (const { name, backend, why } of await availableBackends()) {
  test(`golden model on ${name}: batch rows equal batch-1 runs (byte tokenizer)`, { skip: backend ? false : why }, async () => {
    const { loadModel } = await import('../src/model/load.js');
    const { ByteTokenizer } = await import('../src/data/tokenizer.js');
    const bytes = new ByteTokenizer();
    const m = await loadModel(`${FIXTURES}/bs4`, { backend });
    for (const sampler of ['first-hitting', 'threshold'] as const) {
      const o = { prompt: 'Hello', maxNewTokens: 40, sampler, threshold: 0.05, stopOnEos: false };
      const b = await generate(m, bytes, { ...o, batch: 3, seed: [1, 2, 3] }).result();
      for (let i = 0; i < 3; i++) {
        const one = await generate(m, bytes, { ...o, seed: i + 1 }).result();
        assert.deepEqual(b.sequences[i].tokens, one.tokens, `${name} ${sampler} row ${i}`);
      }
    }
  });
}

test('the layout says where a generation writes: after BOS + prompt, trimmed at prompt + maxNewTokens', async () => {
  const gen = generate(model, tok, { prompt: 'abcde', maxNewTokens: 9, seed: 3, reveal: true, stop: false });
  assert.deepEqual(gen.layout, { blockSize: 4, promptLength: 6, length: 15 });
  const events: GenerateEvent[] = [];
  for await (const ev of gen) events.push(ev);
  const steps = events.filter((e): e is StepEvent => e.type === 'step');
  // the reveals cover whole blocks from the prompt's last block on (the last block is sampled whole, then trimmed)
  const revealed = steps.flatMap((s) => s.positions).sort((a, b) => a - b);
  assert.deepEqual(revealed, Array.from({ length: 10 }, (_, i) => 6 + i));
  for (const s of steps) for (const p of s.positions) assert.equal(Math.floor(p / 4), s.block);
  const done = events.at(-1);
  assert.ok(done?.type === 'done');
  assert.equal(gen.layout.promptLength + done.tokens.length, gen.layout.length);
});
