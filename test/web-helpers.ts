/** `bd3lm web` as a child process on a free port, for the page's server and browser tests. */
import { spawn, type ChildProcess } from 'node:child_process';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Page } from 'playwright-core';
import { fileURLToPath } from 'node:url';

export const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/cli/main.js');

export interface WebServer {
  /** the page's URL, e.g. http://127.0.0.1:41234/ */
  url: string;
  proc: ChildProcess;
  /** SIGTERM, then the exit code */
  stop(): Promise<number | null>;
}

/** Starts `bd3lm web --port 0 ...args` and resolves once it prints the address it serves. */
export function startWeb(...args: string[]): Promise<WebServer> {
  const proc = spawn(process.execPath, [CLI, 'web', '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  let out = '';
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /serving (http:\/\/\S+\/)/.exec(out);
      if (m) resolve({ url: m[1], proc, stop: () => (proc.kill('SIGTERM'), exited) });
    });
    void exited.then((code) => reject(new Error(`bd3lm web exited (${code}) before serving: ${err || out}`)));
  });
}

export const CHROMIUM = process.env.BD3LM_CHROMIUM ?? '/usr/bin/chromium'; // another path where Chromium lives elsewhere
/** the browser tests' skip reason where Chromium is missing */
export const chromiumSkip = fs.existsSync(CHROMIUM) ? false : `no ${CHROMIUM}: apt-get install chromium fonts-dejavu-core`;

/** Waits until the page's status is one of `states`. */
export const waitState = (page: Page, states: string[], timeout = 30_000) =>
  page.waitForFunction((s) => s.includes(document.getElementById('status')!.dataset.state!), states, { timeout });

/** Fills the form (prompt, new tokens, seed; no delay, no EOS stop), generates, and asserts the run ends 'done'. */
export async function generateOnPage(page: Page, o: { prompt: string; maxNewTokens: number; seed: number }): Promise<void> {
  await page.fill('#prompt', o.prompt);
  await page.fill('#max-new', String(o.maxNewTokens));
  await page.fill('#seed', String(o.seed));
  await page.fill('#delay', '0');
  await page.uncheck('#stop-eos');
  await page.click('#generate');
  await waitState(page, ['done', 'error']);
  assert.equal(await page.getAttribute('#status', 'data-state'), 'done', (await page.textContent('#status')) ?? '');
}
