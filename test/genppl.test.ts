/**
 * Generative perplexity against a brute-force computation on a small random AR judge: every scored position's NLL
 * from a causal forward of exactly its window prefix, the window/stride rule of spec 7.4, EOS exclusion, both
 * aggregates; and `bd3lm eval gen-ppl` end to end on a saved AR checkpoint (byte vocabulary).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PRESETS, withModelType } from '../src/model/config.js';
import { initTensors } from '../src/model/init.js';
import { saveCheckpoint } from '../src/model/checkpoint.js';
import { DiT } from '../src/model/dit.js';
import { genPPL, scoreSample, scoringWindows, unigramEntropy } from '../src/eval/genppl.js';
import { ByteTokenizer } from '../src/data/tokenizer.js';
import { Rng } from '../src/tensor/rng.js';
import { RefBackend } from '../src/tensor/index.js';
import { randomModel } from './model-helpers.js';

const be = new RefBackend();
const small = { ...PRESETS.tiny, hiddenDim: 32, condDim: 16, nBlocks: 2, nHeads: 2, vocabSize: 41, modelLength: 16 };
const judge = randomModel(be, withModelType(small, 'ar'), 3);
const EOS = 39;
const MASK = 40;

/** NLL of ids[p] given the tokens of its window before it, recomputed from scratch for every position */
function bruteForce(ids: number[], W: number, S: number) {
  let nll = 0;
  let count = 0;
  for (let p = 1; p < ids.length; p++) {
    if (ids[p] === EOS) continue;
    // the window that scores p: the first for p < W, else the one whose new part [start + W - S, start + W) holds p
    const w = p < W ? 0 : Math.floor((p - W) / S) + 1;
    const start = w * S;
    const prefix = ids.slice(start, p);
    const logits = judge.forward({ ids: prefix, batch: 1, seqLen: prefix.length, layout: 'causal', logitRows: [prefix.length - 1] }).logits;
    let z = 0;
    for (let v = 0; v < 41; v++) if (v !== MASK) z += Math.exp(logits[v]);
    nll += Math.log(z) - logits[ids[p]];
    count++;
  }
  return { nll, count };
}

test('windows: spec 7.4 counts and scored ranges cover every position once', () => {
  assert.deepEqual(scoringWindows(10, 16, 8), [{ start: 0, end: 10, from: 1 }]);
  assert.deepEqual(scoringWindows(16, 16, 8), [{ start: 0, end: 16, from: 1 }]);
  assert.deepEqual(scoringWindows(17, 16, 8), [{ start: 0, end: 16, from: 1 }, { start: 8, end: 17, from: 16 }]);
  assert.equal(scoringWindows(2048, 1024, 512).length, 3);
  for (const n of [2, 15, 16, 17, 24, 25, 40, 41]) {
    const seen = new Array(n).fill(0);
    for (const { end, from } of scoringWindows(n, 16, 8)) for (let p = from; p < end; p++) seen[p]++;
    assert.deepEqual(seen, [0, ...new Array(n - 1).fill(1)], `n = ${n}`);
  }
});

test('gen PPL equals the brute-force NLL; EOS and position 0 excluded; pooled and mean aggregates', () => {
  const rng = new Rng(4);
  const samples = [3, 10, 16, 17, 29, 40].map((n) => Array.from({ length: n }, (_, i) => (i === 0 ? EOS : Math.floor(rng.uniform() * 39))));
  samples[4][7] = EOS;
  samples[4][20] = EOS;
  let totN = 0;
  let totC = 0;
  const ppls: number[] = [];
  for (const s of samples) {
    const got = scoreSample(judge, s);
    const want = bruteForce(s, 16, 8);
    assert.equal(got.count, want.count);
    assert.ok(Math.abs(got.nll - want.nll) < 1e-4 * Math.max(1, want.nll), `${got.nll} vs ${want.nll}`);
    assert.equal(got.count, s.slice(1).filter((t) => t !== EOS).length);
    assert.ok(Math.abs(got.entropy - unigramEntropy(s)) < 1e-12);
    totN += want.nll;
    totC += want.count;
    ppls.push(Math.exp(want.nll / want.count));
  }
  const r = genPPL(judge, samples);
  assert.equal(r.window, 16);
  assert.equal(r.stride, 8);
  assert.ok(Math.abs(r.pooledPpl - Math.exp(totN / totC)) < 1e-4 * r.pooledPpl);
  assert.ok(Math.abs(r.meanPpl - ppls.reduce((a, b) => a + b) / ppls.length) < 1e-4 * r.meanPpl);
  assert.notEqual(r.pooledPpl.toFixed(6), r.meanPpl.toFixed(6), 'the two aggregates differ');
  assert.deepEqual([r.length.min, r.length.max, r.length.median], [2, 39, (15 + 16) / 2]);
  // another window/stride and truncation
  const w8 = scoreSample(judge, samples[5], { window: 8, stride: 4 });
  assert.ok(Math.abs(w8.nll - bruteForce(samples[5], 8, 4).nll) < 1e-4 * w8.nll);
  assert.equal(scoreSample(judge, samples[5], { maxLength: 10 }).tokens, 10);
  // a sample of only EOS scores nothing: NaN, skipped by the mean
  const r2 = genPPL(judge, [[EOS, EOS], samples[2]]);
  assert.ok(Number.isNaN(r2.perSample[0].ppl));
  assert.ok(Math.abs(r2.meanPpl - r2.perSample[1].ppl) < 1e-9);
  assert.throws(() => genPPL(randomModel(be), samples), /must be an AR/);
  assert.throws(() => scoreSample(judge, samples[0], { window: 32 }), /window must be/);
  assert.throws(() => genPPL(judge, []), /no samples/);
});

test('bd3lm eval gen-ppl: text and token lines, judge folder with a byte vocabulary', () => {
  const cfg = withModelType({ ...small, vocabSize: 257, modelLength: 32 }, 'ar');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bd3lm-judge-'));
  saveCheckpoint(dir, cfg, initTensors(cfg, 7, 'random'));
  const model = new DiT(cfg, initTensors(cfg, 7, 'random'), be);
  const tok = new ByteTokenizer();
  const texts = ['<|endoftext|>Hello there, this is a sample of some length that crosses a window.', '<|endoftext|>short'];
  const file = path.join(dir, 'samples.jsonl');
  fs.writeFileSync(file, texts.map((t) => JSON.stringify({ text: t })).join('\n') + '\n' + JSON.stringify({ tokens: [255, 1, 2, 3] }) + '\n\n');
  const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/cli/main.js');
  const r = spawnSync(process.execPath, [CLI, 'eval', 'gen-ppl', '--judge', dir, file, '--backend', 'ref'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const rep = JSON.parse(r.stdout);
  const want = genPPL(model, [...texts.map((t) => tok.encode(t)), [255, 1, 2, 3]]);
  assert.equal(rep.samples, 3);
  assert.equal(rep.window, 32);
  assert.ok(Math.abs(rep.pooledPpl - want.pooledPpl) < 1e-6 * want.pooledPpl);
  assert.ok(Math.abs(rep.meanPpl - want.meanPpl) < 1e-6 * want.meanPpl);
  assert.equal(rep.perSample, undefined);
  assert.match(r.stderr, /pooled/);
  fs.writeFileSync(file, '{"nope": 1}\n');
  const bad = spawnSync(process.execPath, [CLI, 'eval', 'gen-ppl', '--judge', dir, file], { encoding: 'utf8' });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /samples\.jsonl:1: expected/);
  assert.equal(spawnSync(process.execPath, [CLI, 'eval', 'ppl'], { encoding: 'utf8' }).status, 2);
  assert.equal(spawnSync(process.execPath, [CLI, 'eval', 'gen-ppl', file], { encoding: 'utf8' }).status, 2);
});
