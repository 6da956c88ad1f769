/**
 * `bd3lm prepare` on a folder with files it cannot use (issue 11): a single broken link or binary file used to
 * abort the whole run. Now each is skipped with one warning, the count is in the summary, and only a folder with
 * nothing readable fails; a file named on its own still fails hard.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readMeta } from '../src/data/dataset.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/cli/main.js');
const prepare = (...args: string[]) => spawnSync(process.execPath, [CLI, 'prepare', '--tokenizer', 'bytes', '--length', '8', ...args], { encoding: 'utf8' });
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bd3lm-prep-skip-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
const root = process.getuid?.() === 0;

const PNG = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48, 0x44, 0x52]);
const LATIN1 = Uint8Array.from([0x63, 0x61, 0x66, 0xe9, 0x0a]); // "café\n" in Latin-1: no NUL, not UTF-8

test('prepare on a folder skips unreadable and binary files, one warning each, and counts them', () => {
  const d = path.join(tmp, 'mixed');
  fs.mkdirSync(path.join(d, 'sub'), { recursive: true });
  fs.writeFileSync(path.join(d, 'a.txt'), 'The first readable document of the folder.\n');
  fs.writeFileSync(path.join(d, 'sub', 'b.txt'), 'A second one, with ünïcödé.\n');
  fs.symlinkSync(path.join(d, 'gone.txt'), path.join(d, 'dangling.txt'));
  fs.symlinkSync('loop2', path.join(d, 'loop1'));
  fs.symlinkSync('loop1', path.join(d, 'loop2'));
  fs.writeFileSync(path.join(d, 'image.png'), PNG);
  fs.writeFileSync(path.join(d, 'sub', 'latin1.txt'), LATIN1);
  const bad: [string, RegExp][] = [
    ['dangling.txt', /unreadable \(a broken symbolic link\)/],
    ['image.png', /binary \(a NUL byte at offset 8\)/],
    ['loop1', /unreadable \(.*ELOOP/],
    ['loop2', /unreadable \(.*ELOOP/],
    [path.join('sub', 'latin1.txt'), /binary \(not UTF-8 text\)/],
  ];
  if (!root) {
    fs.writeFileSync(path.join(d, 'locked.txt'), 'no permission\n');
    fs.chmodSync(path.join(d, 'locked.txt'), 0);
    bad.push(['locked.txt', /unreadable \(.*EACCES/]);
  }
  const out = path.join(tmp, 'mixed-data');
  const r = prepare('--out', out, d);
  assert.equal(r.status, 0, r.stderr);
  const warnings = r.stderr.split('\n').filter((l) => l.startsWith('prepare: skipping '));
  assert.equal(warnings.length, bad.length, r.stderr);
  for (const [name, why] of bad) {
    const w = warnings.find((l) => l.startsWith(`prepare: skipping ${path.join(d, name)}: `));
    assert.ok(w, `no warning for ${name}`);
    assert.match(w, why, name);
  }
  assert.match(r.stdout, new RegExp(`^prepared 2 files \\(.*, bytes, ${bad.length} unreadable or binary skipped\\)`));
  const meta = readMeta(path.join(out, 'train'));
  assert.deepEqual(meta.sources, [path.join(d, 'a.txt'), path.join(d, 'sub', 'b.txt')]);
  assert.equal(meta.documents, 2);
});

test('a folder with nothing readable fails; a binary or broken file named on its own fails hard', () => {
  const d = path.join(tmp, 'nothing');
  fs.mkdirSync(d);
  fs.writeFileSync(path.join(d, 'image.png'), PNG);
  fs.symlinkSync(path.join(d, 'gone.txt'), path.join(d, 'dangling.txt'));
  const r = prepare('--out', path.join(tmp, 'nothing-data'), d);
  assert.equal(r.status, 1);
  assert.match(r.stderr, new RegExp(`no readable input files in ${d} \\(2 skipped\\)`));
  assert.equal(fs.existsSync(path.join(tmp, 'nothing-data', 'train')), false);

  const latin1 = path.join(tmp, 'named-latin1.txt');
  fs.writeFileSync(latin1, LATIN1);
  const named = prepare('--out', path.join(tmp, 'named-data'), latin1);
  assert.equal(named.status, 1);
  assert.match(named.stderr, /named-latin1\.txt: not valid UTF-8/);
  const link = prepare('--out', path.join(tmp, 'named-data'), path.join(d, 'dangling.txt'));
  assert.equal(link.status, 1);
  assert.match(link.stderr, /input not found: .*dangling\.txt/);
});

test('a folder file that is text at its start and broken later still fails, naming it (the sniff reads 64 KiB)', () => {
  const d = path.join(tmp, 'late');
  fs.mkdirSync(d);
  fs.writeFileSync(path.join(d, 'ok.txt'), 'Fine.\n');
  fs.writeFileSync(path.join(d, 'late.txt'), Buffer.concat([Buffer.from('a'.repeat(70_000)), Buffer.from(LATIN1)]));
  const r = prepare('--out', path.join(tmp, 'late-data'), d);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /late\.txt: not valid UTF-8/);
});
