/**
 * Loading a model from bytes and from a URL (the browser path, load-bytes.ts) goes through the same validation as
 * loading a folder and gives the same model; here on the golden fixture, served over HTTP by the page's server.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { loadModel } from '../src/model/load.js';
import { loadModelFromBytes, loadModelFromUrl } from '../src/model/load-bytes.js';
import { CheckpointError } from '../src/model/safetensors.js';
import { tokenizerForConfigJson } from '../src/data/tokenizers.js';
import { RefBackend } from '../src/tensor/index.js';
import { createStaticServer } from '../src/web/static-server.js';
import type { DiT } from '../src/model/dit.js';

const GOLDEN = fileURLToPath(new URL('../../test/fixtures/bs4/', import.meta.url));
const configText = fs.readFileSync(GOLDEN + 'config.json', 'utf8');
const weights = new Uint8Array(fs.readFileSync(GOLDEN + 'model.safetensors'));
const be = new RefBackend();

const ids = Array.from({ length: 32 }, (_, i) => (i * 37) % 257);
const logits = (m: DiT) => m.forward({ ids, batch: 1, seqLen: 32, layout: 'block-causal' }).logits;

test('a model from bytes equals the model loaded from its folder', async () => {
  const fromDir = await loadModel(GOLDEN, { backend: be });
  const fromBytes = loadModelFromBytes(configText, weights, { backend: be });
  assert.deepEqual(fromBytes.config, fromDir.config);
  assert.deepEqual(logits(fromBytes), logits(fromDir));
});

test('bad bytes fail with the checks of a folder load, naming the source', () => {
  assert.throws(
    () => loadModelFromBytes(configText, weights.subarray(0, weights.length - 100), { backend: be }, 'https://x/m'),
    (e: unknown) => e instanceof CheckpointError && e.file === 'https://x/m/model.safetensors' && /past the end of the file/.test(e.problem),
  );
  const wrong = configText.replace('"hidden_dim": 64', '"hidden_dim": 32');
  assert.throws(() => loadModelFromBytes(wrong, weights, { backend: be }), /tensors do not match the bd3lm model described by/);
});

test('a model from a URL (streamed, with progress) equals the folder model, and its config names the tokenizer', async () => {
  const server = createStaticServer([{ prefix: '/m/', dir: GOLDEN }]);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const { port } = server.address() as AddressInfo;
    const progress: [number, number][] = [];
    const { model, configJson } = await loadModelFromUrl(`http://127.0.0.1:${port}/m`, {
      backend: be,
      onProgress: (loaded, total) => progress.push([loaded, total]),
    });
    assert.deepEqual(logits(model), logits(await loadModel(GOLDEN, { backend: be })));
    assert.deepEqual(progress.at(-1), [weights.length, weights.length]);
    assert.equal((await tokenizerForConfigJson(configJson, model.config.vocabSize)).name, 'bytes');
    await assert.rejects(loadModelFromUrl(`http://127.0.0.1:${port}/nothing/`, { backend: be }), /HTTP 404/);
  } finally {
    server.close();
  }
});
