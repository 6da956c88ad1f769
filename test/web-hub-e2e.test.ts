/**
 * The browser page loading a repo id from a hub (the mock hub on 127.0.0.1, CORS as the real one) in headless
 * Chromium: `?model=ORG/NAME&endpoint=URL` fetches config.json and model.safetensors through the resolve URLs with
 * progress, keeps them in the Cache API, and a reload loads without a single request to the hub.
 * BD3LM_SKIP_E2E=1 skips it, as the other browser test.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { chromium } from 'playwright-core';
import { defaultModelDir } from '../src/model/load.js';
import { MockHub, sha256 } from './mock-hub.js';
import { startWeb } from './web-helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const skip = process.env.BD3LM_SKIP_E2E === '1' ? 'BD3LM_SKIP_E2E=1' : false;
const COMMIT = 'e'.repeat(40);

test('browser page: ?model=ORG/NAME loads from the hub with progress, and from the Cache API after a reload', { skip, timeout: 120_000 }, async () => {
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} not found: install Debian's chromium or set BD3LM_SKIP_E2E=1`);
  const dir = await defaultModelDir();
  const weights = fs.readFileSync(path.join(dir, 'model.safetensors'));
  const hub = await new MockHub().start();
  const files: Record<string, Buffer> = { 'config.json': fs.readFileSync(path.join(dir, 'config.json')), 'model.safetensors': weights };
  if (fs.existsSync(path.join(dir, 'tokenizer.json'))) files['tokenizer.json'] = fs.readFileSync(path.join(dir, 'tokenizer.json'));
  hub.addRepo('org/kjv', { refs: { main: COMMIT }, commits: { [COMMIT]: files } });
  const web = await startWeb();
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const statuses: string[] = [];
    await page.exposeFunction('reportStatus', (s: string) => statuses.push(s));
    await page.addInitScript(() => {
      new MutationObserver(() => (window as unknown as { reportStatus(s: string): void }).reportStatus(document.getElementById('status')?.textContent ?? ''))
        .observe(document, { subtree: true, childList: true, characterData: true });
    });
    const ready = () => page.waitForFunction(() => ['ready', 'error'].includes(document.getElementById('status')?.dataset.state ?? ''), null, { timeout: 60_000 });
    await page.goto(`${web.url}?model=org/kjv&endpoint=${encodeURIComponent(hub.endpoint)}`);
    await ready();
    assert.equal(await page.getAttribute('#status', 'data-state'), 'ready', (await page.textContent('#status')) ?? '');
    // the page describes the model it loaded: the default model's shape, and its tokenizer.json from the hub
    const cfg = JSON.parse(files['config.json'].toString()) as { n_blocks: number; hidden_dim: number };
    assert.ok(((await page.textContent('#model-info')) ?? '').includes(`(${cfg.n_blocks} layers × ${cfg.hidden_dim}), tokenizer.json tokens`));
    const first = hub.log.splice(0);
    assert.deepEqual(first.filter((r) => r.path.startsWith('/lfs/')).map((r) => r.path), [`/lfs/${sha256(weights)}`], 'the weights once, through the redirect');
    assert.ok(first.some((r) => r.path === '/org/kjv/resolve/main/config.json'));
    assert.ok(statuses.some((s) => /Loading the model… \d+ %/.test(s)), `progress shown: ${statuses.join(' | ')}`);
    assert.deepEqual(await page.evaluate(() => caches.keys()), ['bd3lm-models']);

    await page.reload();
    await ready();
    assert.equal(await page.getAttribute('#status', 'data-state'), 'ready');
    assert.deepEqual(hub.log.splice(0), [], 'a reload asks the hub nothing');
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    await web.stop();
    await hub.close();
  }
});
