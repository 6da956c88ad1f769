/**
 * Config bounds at load and I/O errors that name the path (issue 11): an absurd size (model_length 2^40) used to
 * pass `bd3lm info` and fail in sampling as "Invalid typed array length"; a weights path that is a folder failed
 * as a bare EISDIR. Both now fail at load, naming the file and the field.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LIMITS, PRESETS, parseHfConfig, toHfConfig } from '../src/model/config.js';
import { loadCheckpoint } from '../src/model/checkpoint.js';
import { CheckpointError } from '../src/model/safetensors.js';

const GOLDEN = fileURLToPath(new URL('../../test/fixtures/bs4/', import.meta.url));
const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bd3lm-bounds-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

const base = toHfConfig(PRESETS.small);
function refused(edit: Record<string, unknown>, re: RegExp): void {
  assert.throws(() => parseHfConfig({ ...base, ...edit }, 'c.json'), (e: unknown) => {
    assert.ok(e instanceof CheckpointError);
    assert.match(e.message, /^c\.json: /);
    assert.match(e.message, re);
    return true;
  }, JSON.stringify(edit));
}

test('config fields beyond their bounds are refused, naming the field; the bounds themselves load', () => {
  refused({ model_length: 2 ** 40 }, /field "model_length" must be an integer in \[1, 1048576\], got 1099511627776/);
  refused({ model_length: LIMITS.modelLength + 4 }, /"model_length" must be an integer in \[1, 1048576\]/);
  refused({ vocab_size: 1 }, /"vocab_size" must be an integer in \[2, 16777216\], got 1/);
  refused({ vocab_size: 2 ** 24 + 1 }, /"vocab_size" must be an integer in \[2, 16777216\]/);
  refused({ hidden_dim: 2 ** 16, n_heads: 16 }, /"hidden_dim" must be an integer in \[1, 32768\]/);
  refused({ n_blocks: 5000 }, /"n_blocks" must be an integer in \[1, 4096\]/);
  refused({ n_heads: 770 }, /"n_heads" must be an integer in \[1, 768\], got 770/);
  refused({ cond_dim: 2 ** 20 }, /"cond_dim" must be an integer in \[1, 32768\]/);
  refused({ vocab_size: 2 ** 24, hidden_dim: 2 ** 15, n_heads: 2 ** 10 }, /vocab_size 16777216 x hidden_dim 32768 values are more than one tensor can hold/);
  refused({ block_size: 3 }, /block_size 3 does not divide model_length 1024/);
  const edge = parseHfConfig({ ...base, model_length: LIMITS.modelLength, vocab_size: 2 ** 16, hidden_dim: 2 ** 15, n_heads: 256, n_blocks: LIMITS.nBlocks, cond_dim: LIMITS.width }, 'c.json');
  assert.equal(edge.modelLength, 2 ** 20);
  assert.equal(edge.nBlocks, 4096);
});

test('bd3lm info on a model_length of 2^40 fails naming the file and the field', () => {
  const d = path.join(tmp, 'huge');
  fs.mkdirSync(d);
  fs.copyFileSync(path.join(GOLDEN, 'model.safetensors'), path.join(d, 'model.safetensors'));
  const cfg = JSON.parse(fs.readFileSync(path.join(GOLDEN, 'config.json'), 'utf8'));
  fs.writeFileSync(path.join(d, 'config.json'), JSON.stringify({ ...cfg, model_length: 2 ** 40 }));
  for (const cmd of [['info', d], ['sample', '--model', d, '--length', '8']]) {
    const r = spawnSync(process.execPath, [CLI, ...cmd], { encoding: 'utf8' });
    assert.equal(r.status, 1, `${cmd[0]}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`${path.join(d, 'config.json')}: field "model_length" must be an integer in \\[1, 1048576\\]`), cmd[0]);
  }
});

test('a weights path that is a folder is an error naming it (was a bare EISDIR)', () => {
  const d = path.join(tmp, 'folder-weights');
  fs.mkdirSync(path.join(d, 'model.safetensors'), { recursive: true });
  fs.copyFileSync(path.join(GOLDEN, 'config.json'), path.join(d, 'config.json'));
  const want = new RegExp(`${path.join(d, 'model.safetensors')}: not a regular file \\(a directory\\)`);
  assert.throws(() => loadCheckpoint(d), want);
  const r = spawnSync(process.execPath, [CLI, 'info', d], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, want);
});
