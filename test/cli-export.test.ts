/** `bd3lm export`: a checkpoint rewritten with half-precision parameters loads back as the same model, rounded. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadCheckpoint } from '../src/model/checkpoint.js';
import { expectedParams } from '../src/model/params.js';
import { f16BitsToF32, f32ToF16Bits } from '../src/tensor/half.js';
import { FIXTURES } from './model-helpers.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/cli/main.js');
const SRC = path.join(FIXTURES, 'bs4');
const run = (...args: string[]) => spawnSync(process.execPath, [CLI, 'export', ...args], { encoding: 'utf8' });

test('export --dtype f16: every parameter is its fp16 rounding, buffers exact, the file about half', () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'bd3lm-export-'));
  try {
    const r = run(SRC, '--out', out);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).dtype, 'F16');
    const a = loadCheckpoint(SRC);
    const b = loadCheckpoint(out);
    assert.deepEqual(b.config, a.config);
    const kind = new Map(expectedParams(a.config).map((p) => [p.name, p.kind]));
    for (const [name, x] of a.tensors) {
      const y = b.tensors.get(name)!;
      assert.equal(y.length, x.length, name);
      const buffer = kind.get(name) !== 'param';
      for (let i = 0; i < x.length; i++) {
        const want = buffer ? x[i] : f16BitsToF32(f32ToF16Bits(x[i]));
        if (y[i] !== want) assert.fail(`${name}[${i}]: ${y[i]} != ${want}`);
      }
    }
    const size = (d: string) => fs.statSync(path.join(d, 'model.safetensors')).size;
    assert.ok(size(out) < 0.6 * size(SRC), `${size(out)} vs ${size(SRC)}`);
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});

test('export: bad flags are usage errors (exit 2)', () => {
  assert.equal(run(SRC).status, 2);
  const bad = run(SRC, '--out', path.join(os.tmpdir(), 'x'), '--dtype', 'fp8');
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /unknown dtype 'fp8' \(--dtype takes f16, bf16, f32, int8\)/);
  assert.match(run(SRC, '--out', SRC).stderr, /--out must differ/);
});
