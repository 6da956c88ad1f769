/** `bd3lm serve` end to end on the golden model (byte vocabulary), as a child process. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FIXTURES } from './model-helpers.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/cli/main.js');
const MODEL = path.join(FIXTURES, 'bs4');
const BAD_TEMPLATE = path.join(mkdtempSync(path.join(tmpdir(), 'bd3lm-serve-')), 'bad.jinja');
writeFileSync(BAD_TEMPLATE, '{% for m in %}');

test('serve: prints its address, answers, and exits 0 on SIGTERM', async () => {
  const child = spawn(process.execPath, [CLI, 'serve', '--model', MODEL, '--port', '0', '--max-tokens-cap', '32', '--max-body', '1k', '--drain-timeout', '1']);
  try {
    let out = '';
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (d) => {
        out += d;
        const m = /on (http:\/\/127\.0\.0\.1:\d+)\n/.exec(out);
        if (m) resolve(m[1]);
      });
      child.on('exit', (code) => reject(new Error(`serve exited with ${code}`)));
    });
    assert.match(out, /^bd3lm serve: bs4 \(\w+\) on http/);
    assert.deepEqual(await (await fetch(`${url}/health`)).json(), { status: 'ok', model: 'bs4', active: 0, queued: 0 });
    const post = (body: string) => fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
    const ok = await post(JSON.stringify({ model: 'bs4', prompt: 'Hi', max_tokens: 30, seed: 3, stop_on_eos: false }));
    assert.equal(ok.status, 200);
    const c = await ok.json();
    assert.equal(c.usage.completion_tokens, 30);
    // the same run as `bd3lm sample` (test/cli-sample.test.ts uses these settings)
    const sample = spawnSync(process.execPath, [CLI, 'sample', '--model', MODEL, '--prompt', 'Hi', '--length', '30', '--seed', '3', '--no-eos-stop', '--json'], { encoding: 'utf8' });
    assert.equal(c.choices[0].text, JSON.parse(sample.stdout).text);
    assert.equal((await post(JSON.stringify({ prompt: 'Hi', max_tokens: 33 }))).status, 400, '--max-tokens-cap');
    assert.equal((await post(JSON.stringify({ prompt: 'x'.repeat(2000) }))).status, 413, '--max-body');
    // SIGTERM with a stream running and --drain-timeout 1: it ends with an error event, the process exits 0
    const endless = await fetch(`${url}/v1/completions`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ prompt: 'Hi', max_tokens: 32, stop_on_eos: false, stream: true, steps: 256, sampler: 'ddpm' }),
    });
    const reader = endless.body!.getReader();
    await reader.read();
    child.kill('SIGTERM');
    let rest = '';
    for (let r = await reader.read(); !r.done; r = await reader.read()) rest += Buffer.from(r.value).toString();
    assert.ok(rest.endsWith('[DONE]\n\n') || /"code":"shutting_down"/.test(rest), rest.slice(-200));
    assert.equal(await new Promise((res) => child.on('exit', res)), 0);
  } finally {
    child.kill('SIGKILL');
  }
});

test('serve: bad flags are usage errors (exit 2)', () => {
  const run = (...args: string[]) => spawnSync(process.execPath, [CLI, 'serve', ...args], { encoding: 'utf8' });
  for (const [args, re] of [
    [['--port', 'x'], /--port must be an integer >= 0/],
    [['--port', '70000'], /--port must be at most 65535/],
    [['--max-active', '0'], /--max-active must be an integer >= 1/],
    [['--max-body', '12q'], /--max-body must be a positive size/],
    [['--backend', 'gpu'], /unknown backend 'gpu'/],
    [['--bogus'], /Unknown option/],
    [['--chat-template', '/nonexistent.jinja'], /--chat-template: cannot read \/nonexistent\.jinja/],
    [['--chat-template', BAD_TEMPLATE], /--chat-template: .*bad\.jinja: not a valid Jinja template/],
    [['--max-block-size', '0'], /--max-block-size must be an integer >= 1/],
    [['--max-prompt-tokens', 'many'], /--max-prompt-tokens must be an integer >= 1/],
    [['--drain-timeout', 'soon'], /--drain-timeout must be an integer >= 0/],
    [['--cors', ','], /--cors needs at least one value/],
  ] as const) {
    const r = run('--model', MODEL, ...args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
  }
  assert.equal(run('--help').status, 0);
  assert.equal(run('--model', '/nonexistent', '--port', '0').status, 1);
});
