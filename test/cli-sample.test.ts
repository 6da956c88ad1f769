/** `bd3lm sample` end to end on the golden model (byte vocabulary), as a child process. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FIXTURES } from './model-helpers.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/cli/main.js');
const MODEL = path.join(FIXTURES, 'bs4');
const run = (...args: string[]) => spawnSync(process.execPath, [CLI, 'sample', '--model', MODEL, ...args], { encoding: 'utf8' });
const json = (...args: string[]) => {
  const r = run(...args, '--json');
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1);
  return JSON.parse(lines[0]);
};

test('sample: text on stdout, stats on stderr; --stream prints the same text; --json one line', () => {
  const plain = run('--prompt', 'Hi', '--length', '30', '--seed', '3', '--no-eos-stop');
  assert.equal(plain.status, 0, plain.stderr);
  assert.match(plain.stderr, /nfe 3\d, 30 tokens, stop: length/);
  assert.match(plain.stderr, /tokens\/s/);
  const stream = run('--prompt', 'Hi', '--length', '30', '--seed', '3', '--no-eos-stop', '--stream');
  assert.equal(stream.status, 0, stream.stderr);
  assert.equal(stream.stdout, plain.stdout);
  const j = json('--prompt', 'Hi', '--length', '30', '--seed', '3', '--no-eos-stop');
  assert.equal(j.text + '\n', plain.stdout);
  assert.equal(j.tokens.length, 30);
  assert.deepEqual(j.sequences[0].allTokens.slice(0, 3), [255, 72, 105]);
  assert.equal(j.stopReason, 'length');
  assert.ok(j.nfe >= 30 && j.tokensPerSecond > 0);
});

test('sample: every sampler, batches, length rounding, empty and long prompts', () => {
  for (const sampler of ['first-hitting', 'ddpm', 'threshold', 'entropy']) {
    const j = json('--sampler', sampler, '--length', '13', '--seed', '1', '--no-eos-stop', '--threshold', '0.001');
    assert.equal(j.tokens.length, 13, `${sampler}: length 13 is sampled as whole blocks and trimmed`);
    assert.ok(!j.tokens.includes(256));
  }
  assert.equal(json('--sampler', 'threshold', '--threshold', '0', '--length', '15', '--no-eos-stop').nfe, 4, 'one step per block');
  const b = json('--batch', '3', '--length', '8', '--seed', '7');
  assert.deepEqual(b.sequences.map((s: { seed: number }) => s.seed), [7, 8, 9]);
  const single = json('--length', '8', '--seed', '8');
  assert.deepEqual(b.sequences[1].allTokens, single.sequences[0].allTokens, 'sequence 1 of a batch = the run with its seed');
  assert.deepEqual(json('--length', '4').sequences[0].allTokens.slice(0, 1), [255], 'empty prompt: BOS only');
  const long = 'x'.repeat(100); // model length 32: consumed through the sliding window
  const l = json('--prompt', long, '--length', '8', '--no-eos-stop');
  assert.equal(l.sequences[0].allTokens.length, 109);
  const text = run('--length', '5', '--batch', '2');
  assert.match(text.stdout, /=== sample 0 \(seed \d+\) ===\n[^]*=== sample 1/);
});

test('sample: bad input gives a usage error (exit 2); an untrained block size warns', () => {
  const bad = (args: string[], re: RegExp) => {
    const r = spawnSync(process.execPath, [CLI, 'sample', ...args], { encoding: 'utf8' });
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
  };
  bad(['--model', MODEL, '--sampler', 'greedy'], /unknown sampler 'greedy'/);
  bad(['--model', MODEL, '--length', 'x'], /--length must be an integer/);
  bad(['--model', MODEL, '--steps', '2'], /steps must be >= blockSize/);
  bad(['--model', MODEL, '--top-p', '0'], /topP must be in/);
  bad(['--model', MODEL, '--threshold', '2', '--sampler', 'threshold'], /threshold must be/);
  bad(['--model', MODEL, '--stream', '--batch', '2'], /--stream prints one sequence/);
  bad(['--model', MODEL, '--bogus'], /Unknown option/);
  const r = run('--block-size', '8', '--length', '8');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /warning: block size 8 differs from the 4/);
  assert.equal(spawnSync(process.execPath, [CLI, 'sample', '--model', '/nonexistent'], { encoding: 'utf8' }).status, 1);
  assert.equal(spawnSync(process.execPath, [CLI, 'sample', '--help'], { encoding: 'utf8' }).status, 0);
});

test('sample: Ctrl-C (SIGINT) aborts between model calls with exit 130', async () => {
  const child = spawn(process.execPath, [CLI, 'sample', '--model', MODEL, '--length', '1000000', '--stream', '--no-eos-stop']);
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  await new Promise<void>((res) => child.stdout.once('data', () => res()));
  child.kill('SIGINT');
  const code = await new Promise<number | null>((res) => child.on('close', res));
  assert.equal(code, 130);
  assert.match(err, /aborted/);
});
