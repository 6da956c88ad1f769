/**
 * `generate` on every model family the library trains (AR, MDLM, SEDD; BD3-LM in generate.test.ts): for the same
 * seed it gives exactly the dedicated sampler's sequence (sampleAR / sampleMDLM / sampleSEDD, which sampler.test and
 * sampler-hand check against the reference), streams (block texts add up to the final text), batches (a batch =
 * independent runs), honours abort, and an AR model folder samples with `bd3lm sample` and serves with `bd3lm serve`'s
 * server. Small random models on the ref backend (exact arithmetic).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { PRESETS, withModelType, type ModelConfig } from '../src/model/config.js';
import { initTensors } from '../src/model/init.js';
import { saveCheckpoint } from '../src/model/checkpoint.js';
import { DiT } from '../src/model/dit.js';
import { generate, type GenerateEvent, type GenerateOptions } from '../src/sampling/generate.js';
import { arSteps, sampleAR } from '../src/sampling/ar.js';
import { ModelCall } from '../src/sampling/window-model.js';
import { availableBackends, maxAbs, maxAbsDiff, randomModel } from './model-helpers.js';
import { sampleMDLM } from '../src/sampling/mdlm.js';
import { sampleSEDD } from '../src/sampling/sedd.js';
import { SeededRandom } from '../src/tensor/sampling/random.js';
import { ByteTokenizer } from '../src/data/tokenizer.js';
import { RefBackend } from '../src/tensor/index.js';
import { startServer, type Completion } from './server-helpers.js';

const be = new RefBackend();
const tok = new ByteTokenizer(); // V = 257: BOS = EOS = 255, mask 256
const base: ModelConfig = { ...PRESETS.tiny, hiddenDim: 32, condDim: 16, nBlocks: 2, nHeads: 2, vocabSize: 257, modelLength: 16, blockSize: 4 };
const cfgs = {
  ar: withModelType(base, 'ar'),
  mdlm: withModelType(base, 'mdlm'),
  sedd: { ...withModelType(base, 'mdlm'), timeConditioning: true },
};
const models = Object.fromEntries(Object.entries(cfgs).map(([k, c]) => [k, new DiT(c, initTensors(c, 5, 'random', (n) => be.alloc(n)), be)])) as Record<keyof typeof cfgs, DiT>;
const EOS_STOP = { varLength: true, window: 1, minEntropy: -1 };
/** 4 tokens never have 1.5 nats of entropy (ln 4 = 1.39): a var-length cut after the 5th token */
const LOW_ENTROPY = { varLength: true, window: 4, minEntropy: 1.5 };

async function collect(model: DiT, o: GenerateOptions) {
  const events: GenerateEvent[] = [];
  for await (const ev of generate(model, tok, o)) events.push(ev);
  const done = events.at(-1);
  assert.ok(done && done.type === 'done');
  return { events, done };
}

/** the streamed block texts of sequence `seq` concatenate to its final text */
function assertStreams(events: GenerateEvent[], seq = 0): void {
  const done = events.at(-1)!;
  assert.ok(done.type === 'done');
  const blocks = events.filter((e) => e.type === 'block' && e.seq === seq);
  assert.equal(blocks.map((e) => (e.type === 'block' ? e.text : '')).join(''), done.sequences[seq].text);
  assert.deepEqual(blocks.flatMap((e) => (e.type === 'block' ? e.tokens : [])), done.sequences[seq].tokens);
}

test('AR through generate = sampleAR (cache, no cache, top-p, EOS stop, past the window), one block per token', async () => {
  for (const seed of [1, 2, 3]) {
    for (const o of [{}, { cache: false }, { topP: 0.8 }, { stop: EOS_STOP }, { stop: LOW_ENTROPY }, { length: 40 }, { length: 40, cache: false }]) {
      const { length = 16, ...rest } = o as { length?: number };
      const old = sampleAR(models.ar, { length, random: new SeededRandom(seed), stop: false, ...rest });
      const { events, done } = await collect(models.ar, { maxNewTokens: length - 1, seed, stop: false, ...rest });
      assert.deepEqual(done.sequences[0].allTokens, Array.from(old.tokens), `seed ${seed} ${JSON.stringify(o)}`);
      assert.equal(done.stopReason, old.stopReason);
      assert.equal(done.modelCalls, old.modelCalls);
      // a low-entropy cut drops the last `window` tokens, streamed already (as with BD3-LM blocks)
      if ('stop' in o && o.stop === LOW_ENTROPY) assert.equal(done.stopReason, 'low-entropy');
      else assertStreams(events);
    }
  }
});

test('AR through generate: a prompt conditions the continuation (= uncached), batch = independent runs, logprobs', async () => {
  const o: GenerateOptions = { prompt: 'abcde', maxNewTokens: 10, seed: [4, 5, 6], batch: 3, stopOnEos: false, logprobs: 2 };
  const { events, done } = await collect(models.ar, o);
  for (let b = 0; b < 3; b++) {
    const one = await collect(models.ar, { ...o, batch: 1, seed: o.seed && (o.seed as number[])[b] });
    assert.deepEqual(done.sequences[b].allTokens, one.done.sequences[0].allTokens, `sequence ${b}`);
    const uncached = await collect(models.ar, { ...o, batch: 1, seed: (o.seed as number[])[b], cache: false });
    assert.deepEqual(uncached.done.sequences[0].allTokens, one.done.sequences[0].allTokens, 'cache = no cache (within the model length)');
    assertStreams(events, b);
  }
  assert.deepEqual(done.sequences[0].allTokens.slice(0, 6), [255, ...Buffer.from('abcde')]);
  assert.equal(done.sequences[0].tokens.length, 10);
  const lp = events.flatMap((e) => (e.type === 'block' && e.seq === 0 ? e.logprobs! : []));
  assert.equal(lp.length, 10);
  for (const l of lp) assert.ok(l.logprob <= 0 && l.top.length === 2);
});

test('MDLM through generate = sampleMDLM (one window, strided windows past L), streams each new token once', async () => {
  for (const seed of [1, 2]) {
    for (const o of [{ length: 16, steps: 16 }, { length: 9, steps: 8 }, { length: 37, steps: 16 }, { length: 16, steps: 6, mode: 'ddpm' as const }]) {
      const old = sampleMDLM(models.mdlm, { ...o, random: new SeededRandom(seed), stop: false, ddpmGrid: 'exact' });
      const { events, done } = await collect(models.mdlm, { maxNewTokens: o.length - 1, steps: o.steps, sampler: o.mode, ddpmGrid: 'exact', seed, stop: false });
      assert.deepEqual(done.sequences[0].allTokens, Array.from(old.tokens), `seed ${seed} ${JSON.stringify(o)}`);
      assert.equal(done.nfe, old.nfe);
      assertStreams(events);
    }
  }
  // batch = independent runs
  const o: GenerateOptions = { prompt: 'xyz', maxNewTokens: 30, steps: 16, stopOnEos: false };
  const batch = await collect(models.mdlm, { ...o, batch: 2, seed: [8, 9] });
  for (let b = 0; b < 2; b++) assert.deepEqual(batch.done.sequences[b].allTokens, (await collect(models.mdlm, { ...o, seed: 8 + b })).done.sequences[0].allTokens);
  assert.throws(() => generate(models.mdlm, tok, { maxNewTokens: 15, steps: 5 }), /first-hitting reveals one token per step: steps must be >= 15/);
  assert.throws(() => generate(models.mdlm, tok, { maxNewTokens: 15, blockSize: 4 }), /blockSize applies to bd3lm models/);
});

test('SEDD through generate = sampleSEDD; batch = independent runs; length and logprobs limits', async () => {
  for (const seed of [1, 2]) {
    for (const topP of [1, 0.9]) {
      const old = sampleSEDD(models.sedd, { length: 16, steps: 8, topP, random: new SeededRandom(seed), stop: false });
      const { events, done } = await collect(models.sedd, { maxNewTokens: 15, steps: 8, topP, seed, stop: false });
      assert.deepEqual(done.sequences[0].allTokens, Array.from(old.tokens), `seed ${seed} topP ${topP}`);
      assert.equal(done.modelCalls, old.modelCalls);
      assertStreams(events);
    }
  }
  const o: GenerateOptions = { prompt: 'ab', maxNewTokens: 10, steps: 6, stopOnEos: false };
  const batch = await collect(models.sedd, { ...o, batch: 2, seed: [3, 4] });
  for (let b = 0; b < 2; b++) assert.deepEqual(batch.done.sequences[b].allTokens, (await collect(models.sedd, { ...o, seed: 3 + b })).done.sequences[0].allTokens);
  assert.deepEqual(batch.done.sequences[0].allTokens.slice(0, 3), [255, 97, 98], 'the prompt is kept');
  assert.throws(() => generate(models.sedd, tok, { maxNewTokens: 16 }), /at most its length 16 tokens/);
  assert.throws(() => generate(models.sedd, tok, { maxNewTokens: 4, logprobs: 1 }), /logprobs is not available for a SEDD model/);
});

test('AR: halt ends a sequence after the tokens streamed so far (stop strings in the server)', async () => {
  const gen = generate(models.ar, tok, { maxNewTokens: 15, seed: 2, stopOnEos: false, batch: 2 });
  const streamed: number[] = [];
  for await (const ev of gen) {
    if (ev.type === 'block' && ev.seq === 0) {
      streamed.push(...ev.tokens);
      if (streamed.length === 3) gen.halt(0);
    }
    if (ev.type === 'done') {
      assert.equal(ev.sequences[0].stopReason, 'halted');
      assert.deepEqual(ev.sequences[0].tokens, streamed);
      assert.equal(ev.sequences[1].tokens.length, 15, 'the other sequence goes on');
    }
  }
  assert.equal(streamed.length, 3);
});

test('every family honours abort between model calls (the run stops, the promise rejects with AbortError)', async () => {
  for (const [name, model] of Object.entries(models)) {
    const ac = new AbortController();
    let calls = 0;
    const gen = generate(model, tok, {
      maxNewTokens: 15, steps: 16, seed: 1, signal: ac.signal, stopOnEos: false,
      runCall: async (c) => {
        if (++calls === 3) ac.abort();
        return c.run();
      },
    });
    await assert.rejects(gen.result(), { name: 'AbortError' }, name);
    assert.equal(calls, 3, `${name}: no model call after the abort`);
  }
});

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/cli/main.js');

test('bd3lm sample runs an AR model folder (= generate in process)', async () => {
  const cfg = withModelType({ ...base, modelLength: 32 }, 'ar');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bd3lm-ar-'));
  try {
    saveCheckpoint(dir, cfg, initTensors(cfg, 9, 'random'));
    const r = spawnSync(process.execPath, [CLI, 'sample', '--model', dir, '--prompt', 'Hi', '--length', '12', '--seed', '3', '--no-eos-stop', '--json'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    const model = new DiT(cfg, initTensors(cfg, 9, 'random', (n) => be.alloc(n)), be);
    const { done } = await collect(model, { prompt: 'Hi', maxNewTokens: 12, seed: 3, stopOnEos: false });
    assert.deepEqual(j.sequences[0].allTokens, done.sequences[0].allTokens);
    assert.equal(j.tokens.length, 12);
    assert.equal(j.modelCalls, 13, 'BOS and the first prompt token stored in one call, then one cached forward per position: the last prompt token, 11 more to draw 12');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the completions server serves an AR model (streamed chunks = the whole text)', async () => {
  const model = new DiT(withModelType({ ...base, modelLength: 32 }, 'ar'), initTensors(withModelType({ ...base, modelLength: 32 }, 'ar'), 9, 'random', (n) => be.alloc(n)), be);
  const s = await startServer({}, tok, model);
  try {
    const body = { prompt: 'Hi', max_tokens: 10, seed: 5, stop_on_eos: false };
    const res = await s.post(body);
    assert.equal(res.status, 200, await res.clone().text());
    const c = (await res.json()) as Completion;
    const { done } = await collect(model, { prompt: 'Hi', maxNewTokens: 10, seed: 5, stopOnEos: false });
    assert.equal(c.choices[0].text, done.text);
    assert.equal(c.usage!.completion_tokens, 10);
    const sse = await (await s.post({ ...body, stream: true })).text();
    const chunks = sse.split('\n').filter((l) => l.startsWith('data: {')).map((l) => JSON.parse(l.slice(6)) as Completion);
    assert.equal(chunks.map((k) => k.choices[0]?.text ?? '').join(''), done.text);
  } finally {
    await s.close();
  }
});

// with the cache, an AR prompt is stored in as few model calls as fit: the same draws as one call per prompt token
for (const { name, backend, why } of await availableBackends()) {
  test(`AR prompt stored in few model calls (at most maxPrefix tokens, never past the cache's room) = one call per token (${name})`, { skip: why }, () => {
    const model = randomModel(backend!, { ...cfgs.ar, hiddenDim: 64, nHeads: 4, vocabSize: 257, modelLength: 64 }, 7);
    const ids = { maskId: 256, bos: 255, eos: 255 };
    // prompt tokens (BOS included), maxPrefix, row length, and the prompt's calls: all in one; in chunks of 8;
    // longer than the 64-token window: the first 64 in one call, then one per call as the window slides
    for (const [P0, maxPrefix, N, promptCalls] of [[6, undefined, 14, 1], [30, 8, 38, 4], [80, undefined, 88, 1 + 79 - 64]] as const) {
      const run = (chunk: number | undefined) => {
        const x = new Int32Array(N);
        x[0] = 255;
        for (let i = 1; i < P0; i++) x[i] = (i * 37) % 255;
        let calls = 0;
        const logits: Float32Array[] = [];
        const g = arSteps({ model, x, batch: 1, prefix: P0, context: 64, cache: true, filters: {}, random: new SeededRandom(3), ids, stop: null, maxPrefix: chunk });
        let step = g.next();
        while (!step.done) {
          const v = step.value;
          if (v instanceof ModelCall) {
            calls++;
            const out = v.run();
            logits.push(Float32Array.from(out));
            step = g.next(out);
          } else step = g.next(undefined);
        }
        // the logits of the draws: the last N - P0 calls (one call per prompt token also returns its logits)
        return { tokens: Array.from(step.value.sequences[0].tokens), calls, modelCalls: step.value.modelCalls, logits: logits.slice(-(N - P0)) };
      };
      const one = run(1);
      const few = run(maxPrefix);
      assert.equal(one.calls - few.calls, P0 - 1 - promptCalls, `P0 ${P0}: the prompt's model calls`);
      assert.equal(few.modelCalls, few.calls);
      const worst = Math.max(...few.logits.map((l, i) => maxAbsDiff(l, one.logits[i]) / maxAbs(one.logits[i])));
      if (name === 'ref') assert.equal(worst, 0, 'ref: bit for bit');
      else assert.ok(worst < 1e-5, `P0 ${P0}: logits differ by ${worst}`);
      assert.deepEqual(few.tokens, one.tokens, `P0 ${P0}: the same tokens`);
    }
  });
}
