/** The embedded default model (models/default): what `loadModel()` and `bd3lm sample` use without a path. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultModelDir, loadModel } from '../src/model/load.js';
import { RefBackend } from '../src/tensor/index.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/cli/main.js');

// Frequent words of the training corpus (KJV, Brown, fortunes). Byte noise or an untrained model matches
// almost none of them; a model that learned English writes many.
const COMMON = new Set(
  ('the and of to in that a he is it for his be was with not as they unto shall him them i you all this but have ' +
    'on from by which are or we said will had there their her she my me so when were what one if out up were an ' +
    'at do no thou thy thee lord god man men who us upon your into would time now then').split(' '),
);

test('loadModel() without a path loads the embedded byte-level model, small enough to ship', async () => {
  const dir = await defaultModelDir();
  assert.ok(fs.statSync(path.join(dir, 'model.safetensors')).size <= 12e6, 'weights <= 12 MB');
  const model = await loadModel(undefined, { backend: new RefBackend() });
  assert.equal(model.config.vocabSize, 257);
  assert.equal(model.config.modelType, 'bd3lm');
  assert.equal(model.config.blockSize, 4);
});

test('bd3lm sample without --model writes English words from the default model', () => {
  const r = spawnSync(process.execPath, [CLI, 'sample', '--length', '300', '--seed', '1', '--no-eos-stop', '--json'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const { text } = JSON.parse(r.stdout) as { text: string };
  const words = text.toLowerCase().split(/[^a-z]+/).filter(Boolean);
  const common = words.filter((w) => COMMON.has(w)).length;
  assert.ok(common >= 8, `only ${common} common English words in: ${JSON.stringify(text)}`);
});
