/**
 * Resume reads train/latest.json and state.json from disk, so it checks them (issue 11): a folder outside the run,
 * garbage JSON, missing or ill-typed fields, a zeroed generator state, options that contradict config.json all
 * fail before anything is written, naming the file and the field; the untouched files still resume.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createBackend } from '../src/tensor/index.js';
import { prepare } from '../src/data/prepare.js';
import { ByteTokenizer } from '../src/data/tokenizer.js';
import { train, TrainingError, type TrainOptions } from '../src/training/trainer.js';

const backend = await createBackend();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bd3lm-resume-'));
const corpus = path.join(tmp, 'corpus.txt');
fs.writeFileSync(corpus, Array.from({ length: 200 }, (_, i) => `line ${i} of the resume corpus, with some words.`).join('\n'));
await prepare({ inputs: [corpus], out: path.join(tmp, 'data'), tokenizer: new ByteTokenizer(), L: 16, splitLines: true });
const run = path.join(tmp, 'run');
const opts = (over: Partial<TrainOptions> = {}): TrainOptions => ({
  algo: 'bd3lm', data: path.join(tmp, 'data'), out: run, backend, preset: 'tiny', size: { hiddenDim: 32, nBlocks: 1, nHeads: 2, condDim: 16 },
  blockSize: 4, batchSize: 2, maxSteps: 2, saveEvery: 2, warmup: 1, seed: 3, ...over,
});
await train(opts());
const latestFile = path.join(run, 'train', 'latest.json');
const stateFile = path.join(run, 'train', 'step-00000002', 'state.json');
const metrics = path.join(run, 'metrics.jsonl');

/** resume with `file` replaced by `text`: refused with a TrainingError matching `re`, and nothing changed */
async function refused(file: string, text: string, re: RegExp): Promise<void> {
  const good = fs.readFileSync(file, 'utf8');
  const metricsBefore = fs.readFileSync(metrics, 'utf8');
  fs.writeFileSync(file, text);
  try {
    await assert.rejects(train(opts({ resume: true, maxSteps: 4 })), (e: unknown) => {
      assert.ok(e instanceof TrainingError, `not a TrainingError: ${String(e)}`);
      assert.match(e.message, re);
      return true;
    });
    assert.equal(fs.readFileSync(metrics, 'utf8'), metricsBefore, 'metrics.jsonl untouched');
  } finally {
    fs.writeFileSync(file, good);
  }
}

const state = () => JSON.parse(fs.readFileSync(stateFile, 'utf8')) as Record<string, unknown>;
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

test('latest.json: garbage, a folder outside the run, a missing step folder are refused naming the file', async () => {
  const L = esc(latestFile);
  await refused(latestFile, '{"step": 2, "dir": "step-000', new RegExp(`${L}: not valid JSON`));
  await refused(latestFile, '[1, 2]', new RegExp(`${L}: must be a JSON object`));
  await refused(latestFile, JSON.stringify({ step: 2, dir: '../../../../etc' }), new RegExp(`${L}: field "dir" must be the step folder "step-00000002"`));
  await refused(latestFile, JSON.stringify({ step: -1, dir: 'step-00000002' }), new RegExp(`${L}: field "step" must be an integer >= 0, got -1`));
  await refused(latestFile, JSON.stringify({ step: 4, dir: 'step-00000004' }), new RegExp(`${L}: field "dir" names .*step-00000004, which cannot be opened`));
  // a step folder that is a link out of train/
  const outside = path.join(tmp, 'elsewhere');
  fs.cpSync(path.join(run, 'train', 'step-00000002'), outside, { recursive: true });
  fs.symlinkSync(outside, path.join(run, 'train', 'step-00000006'));
  await refused(latestFile, JSON.stringify({ step: 6, dir: 'step-00000006' }), new RegExp(`${L}: field "dir" must be a folder inside .*, not a link to ${esc(outside)}`));
  fs.unlinkSync(path.join(run, 'train', 'step-00000006'));
});

test('state.json: garbage, missing fields, a zeroed or malformed generator, contradicting options are refused naming the field', async () => {
  const S = esc(stateFile);
  const st = state();
  const withField = (k: string, v: unknown) => JSON.stringify({ ...st, [k]: v });
  await refused(stateFile, 'garbage', new RegExp(`${S}: not valid JSON`));
  await refused(stateFile, JSON.stringify({ ...st, options: undefined }), new RegExp(`${S}: field "options" must be an object, got nothing`));
  await refused(stateFile, withField('rng', [0, 0, 0, 0, null]), new RegExp(`${S}: field "rng" is all zero`));
  await refused(stateFile, withField('rng', [1, 2, 3]), new RegExp(`${S}: field "rng" must be four 32-bit unsigned words`));
  await refused(stateFile, withField('rng', [1, 2, 3, 2 ** 32, null]), new RegExp(`${S}: field "rng" must be four`));
  await refused(stateFile, withField('step', 7), new RegExp(`${S}: field "step" must be 2, the step of latest.json`));
  await refused(stateFile, withField('tokens', 'many'), new RegExp(`${S}: field "tokens" must be an integer >= 0`));
  await refused(stateFile, JSON.stringify({ ...st, epsMin: 0.9, epsMax: 0.5 }), new RegExp(`${S}: field "epsMin" must be at most epsMax`));
  await refused(stateFile, withField('epsMax', 2), new RegExp(`${S}: field "epsMax" must be a number in \\[0, 1\\]`));
  await refused(stateFile, withField('loader', 'here'), new RegExp(`${S}: field "loader" must be an object`));
  await refused(stateFile, withField('loader', { ...(st.loader as object), pos: -3 }), new RegExp(`${S}: field "loader": loader state has a bad position`));
  await refused(stateFile, withField('options', { ...(st.options as object), algo: 'ar' }), new RegExp(`${S}: field "options" says algo ar, but the run's config.json describes a bd3lm model`));
  await refused(stateFile, withField('options', { ...(st.options as object), blockSize: 8 }), new RegExp(`${S}: field "options" says block size 8, but the run's config.json has block_size 4`));
});

test('the untouched files still resume', async () => {
  const r = await train(opts({ resume: true, maxSteps: 4 }));
  assert.equal(r.step, 4);
});
