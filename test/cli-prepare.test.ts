/** `bd3lm prepare` run as a user would (a child process on the compiled CLI). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Dataset, readMeta, verifyDataset } from '../src/data/dataset.js';
import { Loader } from '../src/data/loader.js';
import { ByteTokenizer } from '../src/data/tokenizer.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/cli/main.js');
const run = (...args: string[]) => spawnSync(process.execPath, [CLI, 'prepare', ...args], { encoding: 'utf8' });
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'bd3lm-prep-'));

function corpus(): string {
  const d = tmp();
  fs.mkdirSync(path.join(d, 'texts', 'more'), { recursive: true });
  fs.writeFileSync(path.join(d, 'texts', 'a.txt'), 'In the beginning was the word.\n');
  fs.writeFileSync(path.join(d, 'texts', 'more', 'b.txt'), 'Ünïcödé text — survives the trip ✓\n');
  fs.writeFileSync(path.join(d, 'texts', 'c.txt'), 'A third, somewhat longer document about nothing in particular.\n');
  return d;
}

test('prepare with the bytes tokenizer: rows are the wrapped documents, meta.json describes them', () => {
  const d = corpus();
  const out = path.join(d, 'data');
  const r = run('--tokenizer', 'bytes', '--length', '16', '--out', out, path.join(d, 'texts'));
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^prepared 3 files \(.* MB, .* MB\/s, bytes\): train \d+ × 16 \(3 docs, \d+ tokens dropped\) → /);
  assert.equal(r.stdout.trim().split('\n').length, 1);
  const meta = readMeta(path.join(out, 'train'));
  assert.equal(meta.tokenizer, 'bytes');
  assert.equal(meta.vocabSize, 257);
  assert.equal(meta.L, 16);
  assert.equal(meta.dtype, 'uint16');
  assert.equal(meta.insertEos, true);
  assert.equal(meta.insertSpecial, false);
  assert.deepEqual(meta.sources, [path.join(d, 'texts', 'a.txt'), path.join(d, 'texts', 'c.txt'), path.join(d, 'texts', 'more', 'b.txt')]);
  assert.ok(verifyDataset(path.join(out, 'train')));
  assert.equal(fs.existsSync(path.join(out, 'valid')), false);
  // the rows are the UTF-8 bytes of the documents in sorted file order, EOS after each, the tail dropped
  const files = ['a.txt', 'c.txt', path.join('more', 'b.txt')];
  const stream = files.flatMap((f) => [...fs.readFileSync(path.join(d, 'texts', f)), 255]);
  const count = Math.floor(stream.length / 16);
  assert.equal(meta.count, count);
  assert.equal(meta.droppedTokens, stream.length - count * 16);
  const ds = new Dataset(path.join(out, 'train'));
  const ids = new Int32Array(count * 16);
  ds.readRows(0, count, ids);
  ds.close();
  assert.deepEqual(Array.from(ids), stream.slice(0, count * 16));
  const text = new ByteTokenizer().decode(ids);
  assert.ok(text.startsWith('In the beginning was the word.\n<|endoftext|>A third'));
  // the loader reads it back with the model's expectations
  const l = new Loader(path.join(out, 'train'), { batchSize: 2, seed: 1, expect: { L: 16, vocabSize: 257, tokenizer: 'bytes' } });
  assert.equal(l.next().ids.length, 32);
  l.close();
});

test('prepare --split-lines --insert-special --valid-docs: BOS/EOS framed rows, seeded validation split, rerun identical', () => {
  const d = tmp();
  const lines = Array.from({ length: 30 }, (_, i) => `line ${i}: ${'abc'.repeat(1 + (i % 4))}`);
  fs.writeFileSync(path.join(d, 'lines.txt'), lines.join('\n') + '\n');
  const args = ['--tokenizer', 'bytes', '--length', '12', '--split-lines', '--insert-special', '--valid-docs', '5', '--seed', '3', path.join(d, 'lines.txt')];
  const r1 = run(...args, '--out', path.join(d, 'o1'));
  assert.equal(r1.status, 0, r1.stderr);
  assert.match(r1.stdout, /train \d+ × 12 \(25 docs.*; valid \d+ × 12 \(5 docs/);
  const r2 = run(...args, '--out', path.join(d, 'o1')); // rerun over the same folder
  assert.equal(r2.status, 0, r2.stderr);
  assert.equal(r2.stdout.replace(/[\d.]+ MB\/s/, ''), r1.stdout.replace(/[\d.]+ MB\/s/, ''));
  for (const split of ['train', 'valid']) {
    const dir = path.join(d, 'o1', split);
    const meta = readMeta(dir);
    assert.equal(meta.split, split);
    assert.equal(meta.insertSpecial, true);
    assert.ok(verifyDataset(dir));
    const ds = new Dataset(dir);
    const ids = new Int32Array(ds.count * 12);
    ds.readRows(0, ds.count, ids);
    ds.close();
    for (let i = 0; i < ds.count; i++) {
      assert.equal(ids[i * 12], 255);
      assert.equal(ids[i * 12 + 11], 255);
    }
    assert.deepEqual(fs.readdirSync(dir).sort(), ['meta.json', 'tokens.bin']);
  }
});

test('prepare with GPT-2 on JSONL: uint16 tokens that decode back to the documents', async () => {
  const d = tmp();
  const docs = ['Hello world, this is a test.', 'Another document follows here, with more words in it.'];
  fs.writeFileSync(path.join(d, 'docs.jsonl'), docs.map((t) => JSON.stringify({ body: t })).join('\n') + '\n');
  const r = run('--tokenizer', 'gpt2', '--length', '8', '--text-field', 'body', '--out', path.join(d, 'o'), '--quiet', path.join(d, 'docs.jsonl'));
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '');
  const meta = readMeta(path.join(d, 'o', 'train'));
  assert.equal(meta.vocabSize, 50258);
  assert.equal(meta.dtype, 'uint16');
  const ds = new Dataset(path.join(d, 'o', 'train'));
  const ids = new Int32Array(ds.count * 8);
  ds.readRows(0, ds.count, ids);
  ds.close();
  const { loadGpt2Tokenizer } = await import('../src/data/gpt2.js');
  const text = (await loadGpt2Tokenizer()).decode(ids);
  assert.ok(`${docs[0]}<|endoftext|>${docs[1]}<|endoftext|>`.startsWith(text), text);
});

test('bad flags exit 2 with the usage line; --help exits 0', () => {
  const d = corpus();
  const inp = path.join(d, 'texts');
  const out = path.join(d, 'o');
  const cases: [string[], RegExp][] = [
    [['--length', '16', '--out', out, inp], /--tokenizer is required/],
    [['--tokenizer', 'bert', '--length', '16', '--out', out, inp], /--tokenizer: tokenizer 'bert': not gpt2 or bytes, and no such file or folder/],
    [['--tokenizer', 'bytes', '--out', out, inp], /--length is required/],
    [['--tokenizer', 'bytes', '--length', '0', '--out', out, inp], /--length must be an integer >= 1/],
    [['--tokenizer', 'bytes', '--length', 'abc', '--out', out, inp], /--length must be an integer/],
    [['--tokenizer', 'bytes', '--length', '2', '--insert-special', '--out', out, inp], /--length must be an integer >= 3/],
    [['--tokenizer', 'bytes', '--length', '16', inp], /--out is required/],
    [['--tokenizer', 'bytes', '--length', '16', '--out', out], /expected at least 1 argument/],
    [['--tokenizer', 'bytes', '--length', '16', '--out', out, '--valid-fraction', '1.5', inp], /--valid-fraction must be a number in \(0, 1\)/],
    [['--tokenizer', 'bytes', '--length', '16', '--out', out, '--valid-docs', '0', inp], /--valid-docs must be an integer >= 1/],
    [['--tokenizer', 'bytes', '--length', '16', '--out', out, '--valid-docs', '1', '--valid-fraction', '0.1', inp], /exclude each other/],
    [['--tokenizer', 'bytes', '--length', '16', '--out', out, '--seed', '1.5', inp], /--seed must be an integer >= 0/],
    [['--tokenizer', 'bytes', '--length', '16', '--out', out, '--bogus', inp], /Unknown option '--bogus'/],
  ];
  for (const [args, msg] of cases) {
    const r = run(...args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, msg);
    assert.match(r.stderr, /usage: bd3lm prepare/);
  }
  const h = run('--help');
  assert.equal(h.status, 0);
  assert.match(h.stdout, /--split-lines/);
  assert.equal(fs.existsSync(out), false);
});

test('bad data exits 1 naming the problem: empty file, non-UTF-8, shorter than one sequence, missing input', () => {
  const d = tmp();
  fs.writeFileSync(path.join(d, 'empty.txt'), '');
  fs.writeFileSync(path.join(d, 'latin1.txt'), Uint8Array.from([0x63, 0x61, 0x66, 0xe9]));
  fs.writeFileSync(path.join(d, 'short.txt'), 'short');
  const prep = (...a: string[]) => run('--tokenizer', 'bytes', '--length', '64', '--out', path.join(d, 'o'), ...a);
  const cases: [string[], RegExp][] = [
    [[path.join(d, 'empty.txt')], /empty\.txt: empty/],
    [[path.join(d, 'latin1.txt')], /latin1\.txt: not valid UTF-8/],
    [[path.join(d, 'short.txt')], /train split has 6 tokens \(1 documents\), shorter than one sequence of 64/],
    [[path.join(d, 'missing.txt')], /input not found: .*missing\.txt/],
  ];
  for (const [args, msg] of cases) {
    const r = prep(...args);
    assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, msg);
    assert.doesNotMatch(r.stderr, /\n\s+at /); // no stack trace
  }
  assert.equal(fs.existsSync(path.join(d, 'o', 'train', 'meta.json')), false);
});
