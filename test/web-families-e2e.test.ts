/**
 * The browser page runs every model family: an AR model folder (`bd3lm web --model DIR`) generates in headless
 * Chromium exactly what `generate` gives in Node on the same wasm kernels and seed. Skipped without Chromium (a
 * failure under BD3LM_REQUIRE_ALL=1, as web-e2e.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium } from 'playwright-core';
import { PRESETS, withModelType } from '../src/model/config.js';
import { initTensors } from '../src/model/init.js';
import { saveCheckpoint } from '../src/model/checkpoint.js';
import { loadModel } from '../src/model/load.js';
import { loadTokenizer } from '../src/data/load-tokenizer.js';
import { generate } from '../src/sampling/generate.js';
import { createWasmBackend } from '../src/tensor/wasm.js';
import { CHROMIUM, chromiumSkip as skip, generateOnPage, startWeb, waitState } from './web-helpers.js';


test('browser page: an AR model folder generates token by token, as the library does', { skip, timeout: 120_000 }, async () => {
  const cfg = withModelType({ ...PRESETS.tiny, hiddenDim: 32, condDim: 16, nBlocks: 2, nHeads: 2, vocabSize: 257, modelLength: 32, blockSize: 4 }, 'ar');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bd3lm-web-ar-'));
  saveCheckpoint(dir, cfg, initTensors(cfg, 4, 'random'));
  const web = await startWeb('--model', dir);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(web.url);
    await waitState(page, ['ready', 'error']);
    assert.match((await page.textContent('#model-info')) ?? '', /^ar /);
    const threads = Number(/(\d+) threads?/.exec((await page.textContent('#model-info')) ?? '')?.[1]);
    assert.equal(await page.inputValue('#block-size'), '1');
    const options = { prompt: 'Hi', maxNewTokens: 20, seed: 5 };
    await generateOnPage(page, options);
    const backend = await createWasmBackend({ threads });
    const model = await loadModel(dir, { backend });
    const expected = await generate(model, await loadTokenizer(dir, model.config), { ...options, topP: 0.9, temperature: 1, stopOnEos: false }).result();
    await backend.dispose();
    assert.equal(await page.textContent('#generated'), expected.text);
    assert.equal(await page.textContent('#tokens'), '20');
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    await web.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
