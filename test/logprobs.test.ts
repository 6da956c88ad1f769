/**
 * `generate`'s logprobs against a brute-force replay: every step of a run is recomputed from scratch (the whole
 * sequence through the model with the block-causal mask, no KV cache, then SUBS log-softmax in float64), and each
 * revealed token's reported log-probability and top alternatives must be that step's distribution; tokens come in
 * text order, not reveal order.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generate, type BlockEvent, type StepEvent } from '../src/sampling/generate.js';
import { topLogprobs } from '../src/sampling/logprobs.js';
import { ByteTokenizer } from '../src/data/tokenizer.js';
import { RefBackend } from '../src/tensor/index.js';
import { randomModel } from './model-helpers.js';

const be = new RefBackend();
const model = randomModel(be, { vocabSize: 257, modelLength: 32, blockSize: 4 }, 3);
const tok = new ByteTokenizer();

/** log p(x0) of `pos` given the whole sequence x (masks still in it), in float64, temperature 1 and no filters */
function replayLogProbs(x: number[], pos: number): Float64Array {
  const S = Math.ceil(x.length / 4) * 4;
  const ids = Int32Array.from({ length: S }, (_, i) => (i < x.length ? x[i] : tok.mask));
  const logits = model.forward({ ids, batch: 1, seqLen: S, layout: 'block-causal', blockSize: 4, logitRows: [pos] }).logits;
  const row = Float64Array.from(logits);
  row[tok.mask] = -Infinity;
  const max = Math.max(...row);
  const lse = max + Math.log(row.reduce((a, v) => a + Math.exp(v - max), 0));
  return row.map((v) => v - lse);
}

test('logprobs are the distribution each token was drawn from, at its reveal step, in text order', async () => {
  for (const sampler of ['first-hitting', 'threshold'] as const) {
    const prompt = 'Hey';
    const events: (BlockEvent | StepEvent)[] = [];
    for await (const ev of generate(model, tok, { prompt, maxNewTokens: 14, seed: 9, reveal: true, logprobs: 3, sampler, threshold: 0.02, stopOnEos: false })) {
      if (ev.type !== 'done') events.push(ev);
    }
    const P0 = 1 + prompt.length;
    const x = [tok.bos, ...tok.encode(prompt), ...new Array(14).fill(tok.mask)];
    const expected = new Map<number, ReturnType<typeof topLogprobs>>();
    let revealOrder: number[] = [];
    // the reveals of one step all come from the window before that step
    const steps = events.filter((e): e is StepEvent => e.type === 'step');
    for (let i = 0; i < steps.length; ) {
      const { block, step } = steps[i];
      const group = [];
      while (i < steps.length && steps[i].block === block && steps[i].step === step) group.push(steps[i++]);
      const before = x.slice();
      for (const s of group) {
        s.positions.forEach((pos, k) => {
          const lp = replayLogProbs(before, pos);
          expected.set(pos, topLogprobs(Float64Array.from(lp, Math.exp), s.tokens[k], 3));
          x[pos] = s.tokens[k];
          revealOrder.push(pos);
        });
      }
    }
    const blocks = events.filter((e): e is BlockEvent => e.type === 'block');
    const reported = blocks.flatMap((b) => b.logprobs!);
    assert.deepEqual(reported.map((r) => r.token), x.slice(P0, P0 + 14), `${sampler}: tokens in text order (the last block is sampled whole, then trimmed)`);
    if (sampler === 'first-hitting') assert.notDeepEqual(revealOrder.filter((p) => p >= P0), revealOrder.filter((p) => p >= P0).slice().sort((a, b) => a - b), 'the reveal order differs from the text order');
    reported.forEach((r, i) => {
      const e = expected.get(P0 + i)!;
      assert.ok(Math.abs(r.logprob - e.logprob) < 1e-4, `${sampler} position ${P0 + i}: ${r.logprob} vs ${e.logprob}`);
      assert.ok(r.logprob < 0 && Number.isFinite(r.logprob));
      assert.deepEqual(r.top.map((t) => t.token), e.top.map((t) => t.token), `${sampler} position ${P0 + i}: top tokens`);
      r.top.forEach((t, k) => assert.ok(Math.abs(t.logprob - e.top[k].logprob) < 1e-4));
    });
    revealOrder = [];
  }
});

test('logprobs with filters: greedy draws have probability 1; top-p zeroes the tail', async () => {
  const blocks: BlockEvent[] = [];
  for await (const ev of generate(model, tok, { prompt: 'a', maxNewTokens: 8, seed: 1, topK: 1, logprobs: 2, stopOnEos: false })) if (ev.type === 'block') blocks.push(ev);
  for (const r of blocks.flatMap((b) => b.logprobs!)) {
    assert.equal(r.logprob, 0);
    assert.equal(r.top[0].token, r.token);
    assert.equal(r.top[1].logprob, -Infinity);
  }
  assert.throws(() => generate(model, tok, { maxNewTokens: 4, logprobs: 21 }), /logprobs must be an integer in 0\.\.20, got 21/);
});

test('topLogprobs: the k largest, ties to the lower id', () => {
  const p = Float64Array.from([0.1, 0.3, 0.3, 0.05, 0.25]);
  assert.deepEqual(topLogprobs(p, 3, 3), { token: 3, logprob: Math.log(0.05), top: [1, 2, 4].map((t) => ({ token: t, logprob: Math.log(p[t]) })) });
  assert.deepEqual(topLogprobs(p, 0, 0).top, []);
});
