/**
 * The training loop end to end on a tiny byte-level dataset: it learns, a killed run resumes to the same loss curve,
 * bad situations (NaN loss, disk full while saving, resuming another architecture) fail clearly and lose nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { createBackend } from '../src/tensor/index.js';
import { prepare } from '../src/data/prepare.js';
import { ByteTokenizer } from '../src/data/tokenizer.js';
import { train, TrainingError, type TrainOptions } from '../src/training/trainer.js';
import { loadCheckpoint } from '../src/model/checkpoint.js';

const backend = await createBackend();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bd3lm-train-'));
const corpus = path.join(tmp, 'corpus.txt');
fs.writeFileSync(corpus, Array.from({ length: 400 }, (_, i) => `In the beginning ${i % 7} the word was with the text number ${i}.`).join('\n'));
await prepare({ inputs: [corpus], out: path.join(tmp, 'data'), tokenizer: new ByteTokenizer(), L: 32, splitLines: true, validDocs: 20, seed: 1 });
const data = path.join(tmp, 'data');

const base = (out: string, over: Partial<TrainOptions> = {}): TrainOptions => ({
  algo: 'bd3lm', data, out: path.join(tmp, out), backend, preset: 'tiny', blockSize: 4, batchSize: 2, maxSteps: 4,
  warmup: 2, lr: 1e-3, saveEvery: 2, seed: 3, dropout: 0.1, ...over,
});
const losses = (out: string) =>
  fs.readFileSync(path.join(tmp, out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((m) => 'loss' in m).map((m) => m.loss);

test('train: a killed run resumes from its last checkpoint to the same loss curve', async () => {
  const full = await train(base('full'));
  assert.equal(full.step, 4);
  let calls = 0;
  const cut = await train(base('cut', { shouldStop: () => ++calls > 2 }));
  assert.equal(cut.stopped, 'interrupted');
  assert.equal(cut.step, 2);
  const resumed = await train(base('cut', { resume: true }));
  assert.equal(resumed.step, 4);
  assert.deepEqual(losses('cut'), losses('full'));
  // the published checkpoint (EMA weights, HF layout) loads
  const ck = loadCheckpoint(path.join(tmp, 'full'));
  assert.equal(ck.config.blockSize, 4);
});

test('train: the loss goes down on a repetitive corpus', async () => {
  await train(base('learn', { maxSteps: 30, saveEvery: 30, lr: 3e-3, warmup: 5, dropout: 0 }));
  const l = losses('learn');
  const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
  assert.ok(mean(l.slice(-5)) < 0.8 * mean(l.slice(0, 5)), `first ${mean(l.slice(0, 5))} last ${mean(l.slice(-5))}`);
  assert.equal(loadCheckpoint(path.join(tmp, 'learn')).config.dropout, 0, 'config.json records the dropout used');
});

test('train: a NaN loss stops with a message and keeps the last good checkpoint', async () => {
  await assert.rejects(train(base('nan', { lr: 1e30, warmup: 0, saveEvery: 1, maxSteps: 5 })), (e: unknown) => e instanceof TrainingError && /loss is (NaN|Infinity|-Infinity)/.test((e as Error).message));
  const latest = JSON.parse(fs.readFileSync(path.join(tmp, 'nan', 'train', 'latest.json'), 'utf8'));
  assert.ok(latest.step >= 1);
  assert.ok(loadCheckpoint(path.join(tmp, 'nan')));
});

test('train: a full disk while saving fails clearly and leaves the previous checkpoint', async () => {
  await train(base('disk', { maxSteps: 2, saveEvery: 2 }));
  const before = fs.readFileSync(path.join(tmp, 'disk', 'train', 'latest.json'), 'utf8');
  const fsc = createRequire(import.meta.url)('node:fs') as typeof fs;
  const orig = fsc.writeSync;
  fsc.writeSync = (() => {
    throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  }) as typeof fs.writeSync;
  syncBuiltinESMExports();
  try {
    await assert.rejects(train(base('disk', { resume: true, maxSteps: 4, saveEvery: 2 })), /ENOSPC[\s\S]*previous checkpoint .* is intact/);
  } finally {
    fsc.writeSync = orig;
    syncBuiltinESMExports();
  }
  assert.equal(fs.readFileSync(path.join(tmp, 'disk', 'train', 'latest.json'), 'utf8'), before);
  const again = await train(base('disk', { resume: true, maxSteps: 4, saveEvery: 2 }));
  assert.equal(again.step, 4);
});

test('train: resuming with another architecture or without a run is refused', async () => {
  await assert.rejects(train(base('full', { resume: true, algo: 'mdlm', maxSteps: 6 })), /started with algo/);
  await assert.rejects(train(base('nothing-here', { resume: true })), /no training checkpoint/);
  await assert.rejects(train(base('full')), /already holds a training run/);
  await assert.rejects(train(base('bs', { blockSize: 5 })), /does not divide/);
});
