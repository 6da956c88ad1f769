/**
 * `npm run loadtest`: starts `bd3lm serve` on loopback and runs C streaming clients for D seconds, each sending
 * requests back to back (fixed max_tokens, EOS stop off, so every request is the same work). Clients start no new
 * request after D seconds; those in flight finish. Prints one JSON object: requests, errors, p50/p99 time to the
 * first block and to the end (ms), generated tokens per second over the run.
 *   node dist/bench/loadtest.js [--model DIR] [--clients 32] [--seconds 60] [--max-tokens 64] [--max-active N]
 *                               [--sampler first-hitting] [--backend native|wasm] [--weights f32|bf16|f16|int8]
 * The server runs in its own process, so the clients' work does not delay its event loop.
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { integerFlag, UsageError } from '../src/cli/args.js';
import { SERVER_DEFAULTS } from '../src/server/app.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string' }, clients: { type: 'string' }, seconds: { type: 'string' }, 'max-tokens': { type: 'string' },
    'max-active': { type: 'string' }, sampler: { type: 'string' }, backend: { type: 'string' }, weights: { type: 'string' },
  },
  strict: true,
});
const bad = (msg: string) => new UsageError(msg);
const clients = integerFlag(values.clients ?? '32', '--clients', 1, bad);
const seconds = integerFlag(values.seconds ?? '60', '--seconds', 1, bad);
const maxTokens = integerFlag(values['max-tokens'] ?? '64', '--max-tokens', 1, bad);
const maxActive = integerFlag(values['max-active'] ?? `${SERVER_DEFAULTS.maxActive}`, '--max-active', 1, bad);
const sampler = values.sampler ?? 'first-hitting';

const PROMPTS = ['The', 'In the beginning', 'Once upon a time', 'It was a dark and stormy night', 'Question: what is', ''];

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/cli/main.js');
const serveArgs = ['serve', '--port', '0', '--max-active', String(maxActive), '--max-queue', String(clients), '--max-tokens-cap', String(maxTokens)];
for (const flag of ['model', 'backend', 'weights'] as const) if (values[flag] !== undefined) serveArgs.push(`--${flag}`, values[flag]!);
const server = spawn(process.execPath, [CLI, ...serveArgs], { stdio: ['ignore', 'pipe', 'inherit'] });
const exited = new Promise<number | null>((res) => server.on('exit', res));
const banner = await new Promise<string>((resolve, reject) => {
  let out = '';
  server.stdout.on('data', (d) => {
    out += d;
    if (out.includes('\n')) resolve(out.trim());
  });
  void exited.then((code) => reject(new Error(`bd3lm serve exited with ${code} before listening`)));
});
const url = /(http:\/\/\S+)/.exec(banner)![1];

interface Outcome {
  ttfb: number;
  total: number;
  tokens: number;
}

/** one streaming request; throws on anything but a complete, well-formed stream */
async function request(seed: number): Promise<Outcome> {
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ prompt: PROMPTS[seed % PROMPTS.length], max_tokens: maxTokens, seed, sampler, stop_on_eos: false, stream: true }),
  });
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  let ttfb = -1;
  let tokens = -1;
  for (let r = await reader.read(); !r.done; r = await reader.read()) {
    buf += decoder.decode(r.value, { stream: true });
    let cut;
    while ((cut = buf.indexOf('\n\n')) >= 0) {
      const data = buf.slice(6, cut); // after 'data: '
      buf = buf.slice(cut + 2);
      if (data === '[DONE]') {
        if (tokens < 0) throw new Error('[DONE] before the final chunk');
        return { ttfb, total: performance.now() - t0, tokens };
      }
      const ev = JSON.parse(data);
      if (ev.error) throw new Error(`error event: ${ev.error.message}`);
      if (ev.usage) tokens = ev.usage.completion_tokens;
      else if (ttfb < 0) ttfb = performance.now() - t0;
    }
  }
  throw new Error('the stream ended without [DONE]');
}

const outcomes: Outcome[] = [];
const errors: string[] = [];
const start = performance.now();
const deadline = start + seconds * 1000;
let nextSeed = 0;
await Promise.all(
  Array.from({ length: clients }, async () => {
    while (performance.now() < deadline) {
      try {
        outcomes.push(await request(nextSeed++));
      } catch (e) {
        errors.push(e instanceof Error ? e.message : String(e));
      }
    }
  }),
);
const wall = (performance.now() - start) / 1000;
server.kill('SIGTERM');
await exited;

/** nearest-rank percentile of ms figures, rounded to 0.1 ms */
function percentile(xs: number[], p: number): number | null {
  if (xs.length === 0) return null;
  const s = xs.slice().sort((a, b) => a - b);
  return Math.round(s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] * 10) / 10;
}
const ttfb = outcomes.map((o) => o.ttfb);
const total = outcomes.map((o) => o.total);
const tokens = outcomes.reduce((n, o) => n + o.tokens, 0);
process.stdout.write(
  JSON.stringify({
    server: banner.replace(/^bd3lm serve: /, ''), clients, seconds: Math.round(wall * 10) / 10, max_tokens: maxTokens, sampler,
    max_active: maxActive, requests: outcomes.length, errors: errors.length, error_samples: errors.slice(0, 3),
    first_block_ms: { p50: percentile(ttfb, 50), p99: percentile(ttfb, 99) }, latency_ms: { p50: percentile(total, 50), p99: percentile(total, 99) },
    tokens_per_second: Math.round((tokens / wall) * 10) / 10, requests_per_second: Math.round((outcomes.length / wall) * 100) / 100,
  }) + '\n',
);
process.exitCode = errors.length ? 1 : 0;
