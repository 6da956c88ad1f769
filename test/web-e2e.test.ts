/**
 * The browser page end to end, in real headless Chromium (Debian's `chromium`, driven by playwright-core): `bd3lm web`
 * serves the built page and the default model, the page loads it on the WebAssembly backend inside its Web Worker,
 * generates 64 tokens exactly as the library does in Node (same wasm kernels, same seed), shows NFE and tokens/s,
 * and Stop ends a long generation for good. A screenshot is taken mid-generation: to $BD3LM_SCREENSHOT when set
 * (`BD3LM_SCREENSHOT=docs/web.png` refreshes README's picture), else to a temporary file, so test runs leave the tree clean.
 *
 * Without Chromium the test is skipped, naming the package; under BD3LM_REQUIRE_ALL=1 (CI) that skip is a failure.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { defaultModelDir, loadModel } from '../src/model/load.js';
import { loadTokenizer } from '../src/data/load-tokenizer.js';
import { generate } from '../src/sampling/generate.js';
import { createWasmBackend } from '../src/tensor/wasm.js';
import { CHROMIUM, chromiumSkip as skip, generateOnPage, startWeb, waitState } from './web-helpers.js';

const SCREENSHOT = path.resolve(process.env.BD3LM_SCREENSHOT ?? path.join(os.tmpdir(), `bd3lm-web-${process.pid}.png`));

const state = (page: Page) => page.getAttribute('#status', 'data-state');
const text = async (page: Page, sel: string) => (await page.textContent(sel)) ?? '';

test('browser page: loads the default model in a worker, generates, shows the diffusion, stops', { skip, timeout: 120_000 }, async () => {
  const web = await startWeb();
  // root (as in CI containers) cannot run Chromium's sandbox; containers often have a tiny /dev/shm
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 760 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => void (m.type() === 'error' && errors.push(m.text())));

    await page.goto(web.url);
    await waitState(page, ['ready', 'error']);
    assert.equal(await state(page), 'ready', await text(page, '#status'));
    assert.equal(await page.evaluate(() => crossOriginIsolated), true, 'COOP/COEP make the page cross-origin isolated');
    const info = await text(page, '#model-info');
    const threads = Number(/(\d+) threads?/.exec(info)?.[1]);
    assert.ok(threads >= 1 && !/single-thread build/.test(info), info);

    // 64 tokens, no EOS stop: the page must produce exactly the library's output for these options
    const options = { prompt: 'In the beginning', maxNewTokens: 64, seed: 7 };
    await generateOnPage(page, options);

    const backend = await createWasmBackend({ threads });
    const dir = await defaultModelDir();
    const model = await loadModel(dir, { backend });
    const expected = await generate(model, await loadTokenizer(dir, model.config), {
      ...options, sampler: 'first-hitting', topP: 0.9, temperature: 1, blockSize: model.config.blockSize, stopOnEos: false,
    }).result();
    await backend.dispose();
    const shown = await text(page, '#generated');
    assert.equal(shown, expected.text, 'the page shows the text the library generates');
    assert.equal([...shown].length, [...expected.text].length);
    assert.equal(await text(page, '#tokens'), '64');
    assert.equal(await text(page, '#nfe'), String(expected.nfe));
    assert.ok(Number(await text(page, '#tps')) > 0, 'tokens/s shown');
    assert.equal(await text(page, '#reason'), 'length');
    assert.equal(await page.locator('#current .cell').count(), 0, 'no block in progress after the end');

    // a long generation; slowed down once it has some text, so the screenshot shows a block half revealed; then Stop
    await page.fill('#max-new', '20000');
    await page.click('#generate');
    await page.waitForFunction(() => Number(document.getElementById('blocks')!.textContent) >= 40, null, { timeout: 30_000 });
    await page.fill('#delay', '400');
    await page.waitForFunction(() => {
      const cells = Array.from(document.querySelectorAll('#current .cell'));
      return cells.some((c) => c.classList.contains('mask')) && cells.some((c) => c.classList.contains('revealed'));
    }, null, { timeout: 10_000 });
    await page.screenshot({ path: SCREENSHOT });
    assert.equal(await state(page), 'running');
    await page.click('#stop');
    await waitState(page, ['stopped'], 10_000);
    assert.equal(await text(page, '#reason'), 'stopped');
    const stoppedAt = await text(page, '#generated');
    const tokens = Number(await text(page, '#tokens'));
    assert.ok(tokens >= 24 && tokens < 20000, `stopped after ${tokens} tokens`);
    await page.waitForTimeout(1000);
    assert.equal(await text(page, '#generated'), stoppedAt, 'no text after Stop');
    assert.equal(Number(await text(page, '#tokens')), tokens);
    assert.equal(await page.isDisabled('#stop'), true);
    assert.equal(await page.isEnabled('#generate'), true);
    assert.deepEqual(errors, []);
    assert.ok(fs.statSync(SCREENSHOT).size > 10_000, 'screenshot written');
    if (!process.env.BD3LM_SCREENSHOT) fs.rmSync(SCREENSHOT);
  } finally {
    await browser.close();
    await web.stop();
  }
});
