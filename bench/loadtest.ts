/**
 * `npm run loadtest`: starts `bd3lm serve` on loopback and runs C streaming clients for D seconds, each sending
 * requests back to back (fixed max_tokens, EOS stop off, so every request is the same work). Clients start no new
 * request after D seconds; those in flight finish. With several client counts (`--clients 1,8`) the phases run one
 * after the other on the same server, and with `--rounds N` the whole sequence N times (the arms alternate, so a
 * change in machine load hits them alike); the summary gives each client count's median tokens/s over the rounds
 * and its multiple of the first count's median (the continuous-batching gain). Per phase: requests, errors, p50/p99
 * time to the first block and to the end (ms), generated tokens per second, the server's mean model-call batch, and
 * its resident memory and JS heap at the start, end and peak of the phase (sampled from /metrics every second;
 * `--memory-every S` also keeps a sample every S seconds: RSS over time under a long load). A short unrecorded
 * warm-up phase at the largest client count runs first (`--warmup S`, default 3; 0: none).
 *   node dist/bench/loadtest.js [--model DIR | --preset tiny|small] [--clients 32 | --clients 1,8] [--seconds 60]
 *                               [--rounds 1] [--max-tokens 64] [--max-active N] [--sampler first-hitting] [--bound]
 *                               [--backend native|wasm] [--weights f32|bf16|f16|int8] [--memory-every S]
 *                               [--record results/FILE.jsonl]
 * `--preset` serves a model of that preset with random weights (GPT-2 vocabulary; written to a temporary folder).
 * `--bound` first measures, in this process and with the server idle, generate() at batch B (the largest client
 * count, at most --max-active) against batch 1 on the same model (same max_tokens and sampler), alternated for
 * max(3, rounds) rounds, medians: the tokens/s ratio that batching B clients' calls cannot exceed, with each arm's
 * milliseconds per model call and their split (sgemm, attention, sampling, other kernels, TypeScript). `--record`
 * appends the output line, stamped with the commit, date and CPU, to FILE;
 * the line also gives the machine's 1-minute load average at the start and the end (figures taken beside other work
 * are noise: a busy machine slows batch-1 calls more than batched ones, which inflates the ratios).
 * The server runs in its own process, so the clients' work does not delay its event loop.
 */
import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { integerFlag, UsageError } from '../src/cli/args.js';
import { saveCheckpoint } from '../src/model/checkpoint.js';
import { PRESETS, type PresetName } from '../src/model/config.js';
import { parseWeightDtype } from '../src/model/storage.js';
import { initTensors } from '../src/model/init.js';
import { loadModel } from '../src/model/load.js';
import { loadTokenizer } from '../src/data/load-tokenizer.js';
import { generate, type SamplerName } from '../src/sampling/generate.js';
import { SERVER_DEFAULTS } from '../src/server/app.js';
import type { BackendName } from '../src/tensor/index.js';
import { provenance } from './provenance.js';
import { median } from './stats.js';
import { timeModelCalls, type MsPerModelCall } from './cases.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string' }, preset: { type: 'string' }, clients: { type: 'string' }, seconds: { type: 'string' }, 'max-tokens': { type: 'string' },
    'max-active': { type: 'string' }, sampler: { type: 'string' }, backend: { type: 'string' }, weights: { type: 'string' }, bound: { type: 'boolean' },
    rounds: { type: 'string' }, warmup: { type: 'string' }, 'memory-every': { type: 'string' }, record: { type: 'string' },
  },
  strict: true,
});
const bad = (msg: string) => new UsageError(msg);
const phases = (values.clients ?? '32').split(',').map((c) => integerFlag(c, '--clients', 1, bad));
const seconds = integerFlag(values.seconds ?? '60', '--seconds', 1, bad);
const maxTokens = integerFlag(values['max-tokens'] ?? '64', '--max-tokens', 1, bad);
const maxActive = integerFlag(values['max-active'] ?? `${SERVER_DEFAULTS.maxActive}`, '--max-active', 1, bad);
const sampler = (values.sampler ?? 'first-hitting') as SamplerName;
const rounds = integerFlag(values.rounds ?? '1', '--rounds', 1, bad);
const warmup = integerFlag(values.warmup ?? '3', '--warmup', 0, bad);
const memoryEvery = values['memory-every'] === undefined ? 0 : integerFlag(values['memory-every'], '--memory-every', 1, bad);
if (values.model && values.preset) throw new Error('give --model or --preset, not both');
if (values.preset && !(values.preset in PRESETS)) throw new Error(`unknown preset '${values.preset}' (${Object.keys(PRESETS).join(', ')})`);

// a preset with random weights: written once to a temporary model folder for the server to load
let modelDir = values.model;
let tmp: string | undefined;
if (values.preset) {
  tmp = mkdtempSync(path.join(tmpdir(), 'bd3lm-loadtest-'));
  const cfg = PRESETS[values.preset as PresetName];
  saveCheckpoint(tmp, cfg, initTensors(cfg, 1, 'random', (n) => new Float32Array(n)));
  modelDir = tmp;
}

const PROMPTS = ['The', 'In the beginning', 'Once upon a time', 'It was a dark and stormy night', 'Question: what is', ''];

const maxClients = Math.max(...phases);
const round1 = (x: number) => Math.round(x * 10) / 10;
const round2 = (x: number) => Math.round(x * 100) / 100;

/**
 * generate() at batch B against batch 1 in this process (the server is idle meanwhile), alternated: per round each
 * arm's tokens/s and milliseconds per model call; medians and their ratio
 */
async function batchBound(B: number) {
  const model = await loadModel(modelDir, { backend: values.backend as BackendName | undefined, weights: parseWeightDtype(values.weights ?? 'f32') });
  const tok = await loadTokenizer(modelDir ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../models/default'), model.config);
  const arm = async (batch: number) => {
    const calls = timeModelCalls(model.backend);
    const r = await generate(model, tok, { prompt: PROMPTS[1], maxNewTokens: maxTokens, sampler, stopOnEos: false, seed: 1, batch }).result();
    const split = calls.stop(r.seconds * 1000, r.modelCalls);
    return { tokens_per_second: round1(r.tokensPerSecond), ms_per_model_call: round2((r.seconds * 1000) / r.modelCalls), ms_per_model_call_split: split };
  };
  await arm(1); // warm-up
  await arm(B);
  const runs: { batch1: Awaited<ReturnType<typeof arm>>; batched: Awaited<ReturnType<typeof arm>> }[] = [];
  for (let i = 0; i < Math.max(3, rounds); i++) runs.push({ batch1: await arm(1), batched: await arm(B) });
  model.dispose();
  const med = (k: 'batch1' | 'batched') => ({
    tokens_per_second: median(runs.map((r) => r[k].tokens_per_second)), ms_per_model_call: median(runs.map((r) => r[k].ms_per_model_call)),
    ms_per_model_call_split: Object.fromEntries(Object.keys(runs[0][k].ms_per_model_call_split).map((f) => [f, median(runs.map((r) => r[k].ms_per_model_call_split[f as keyof MsPerModelCall]))])),
  });
  const m = { batch1: med('batch1'), batched: med('batched') };
  return { batch: B, runs, median: m, ratio: round2(m.batched.tokens_per_second / m.batch1.tokens_per_second) };
}
const loadBefore = loadavg()[0];
const bound = values.bound ? await batchBound(Math.min(maxClients, maxActive)) : undefined;

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/cli/main.js');
const serveArgs = ['serve', '--port', '0', '--max-active', String(maxActive), '--max-queue', String(maxClients), '--max-tokens-cap', String(maxTokens)];
if (modelDir !== undefined) serveArgs.push('--model', modelDir);
for (const flag of ['backend', 'weights'] as const) if (values[flag] !== undefined) serveArgs.push(`--${flag}`, values[flag]!);
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

/** the server's metrics of interest: resident memory, JS heap in use, model calls and the generations they served */
async function serverMetrics(): Promise<{ rss: number; heap: number; calls: number; served: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const get = (name: string) => Number(/^(\S+) (\S+)$/m.exec(text.split('\n').find((l) => l.startsWith(name + ' ')) ?? '')?.[2] ?? NaN);
  return {
    rss: get('bd3lm_process_resident_memory_bytes'), heap: get('bd3lm_nodejs_heap_size_used_bytes'),
    calls: get('bd3lm_model_calls_total'), served: get('bd3lm_model_call_sequences_total'),
  };
}

/** nearest-rank percentile of ms figures, rounded to 0.1 ms */
function percentile(xs: number[], p: number): number | null {
  if (xs.length === 0) return null;
  const s = xs.slice().sort((a, b) => a - b);
  return round1(s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]);
}
const MiB = (b: number) => Math.round(b / 2 ** 20);

async function phase(clients: number, duration: number) {
  const outcomes: Outcome[] = [];
  const errors: string[] = [];
  const m0 = await serverMetrics();
  const start = performance.now();
  const mem = [{ t: 0, rss: m0.rss, heap: m0.heap }];
  const sampling = setInterval(() => void serverMetrics().then((m) => mem.push({ t: (performance.now() - start) / 1000, rss: m.rss, heap: m.heap }), () => {}), 1000);
  const deadline = start + duration * 1000;
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
  clearInterval(sampling);
  const m1 = await serverMetrics();
  mem.push({ t: wall, rss: m1.rss, heap: m1.heap });
  const tokens = outcomes.reduce((n, o) => n + o.tokens, 0);
  // one sample per memoryEvery seconds (the first at or after each mark), and the last
  const series = memoryEvery ? mem.filter((m, i) => i === mem.length - 1 || Math.floor(m.t / memoryEvery) > Math.floor((mem[i - 1]?.t ?? -1) / memoryEvery)) : [];
  return {
    clients, seconds: round1(wall), requests: outcomes.length, errors: errors.length, error_samples: errors.slice(0, 3),
    first_block_ms: { p50: percentile(outcomes.map((o) => o.ttfb), 50), p99: percentile(outcomes.map((o) => o.ttfb), 99) },
    latency_ms: { p50: percentile(outcomes.map((o) => o.total), 50), p99: percentile(outcomes.map((o) => o.total), 99) },
    tokens_per_second: round1(tokens / wall), requests_per_second: round2(outcomes.length / wall),
    mean_model_call_batch: round2((m1.served - m0.served) / Math.max(1, m1.calls - m0.calls)),
    server_rss_mib: { start: MiB(mem[0].rss), end: MiB(m1.rss), peak: MiB(Math.max(...mem.map((m) => m.rss))) },
    server_heap_mib: { start: MiB(mem[0].heap), end: MiB(m1.heap), peak: MiB(Math.max(...mem.map((m) => m.heap))) },
    ...(memoryEvery ? { memory_mib_over_time: series.map((m) => ({ s: Math.round(m.t), rss: MiB(m.rss), heap: MiB(m.heap) })) } : {}),
  };
}

if (warmup) await phase(maxClients, warmup);
const results: ({ round: number } & Awaited<ReturnType<typeof phase>>)[] = [];
for (let r = 0; r < rounds; r++) for (const c of phases) results.push({ round: r + 1, ...(await phase(c, seconds)) });
server.kill('SIGTERM');
await exited;
if (tmp) rmSync(tmp, { recursive: true, force: true });
// per client count: the median over the rounds
const medians = phases.map((c) => {
  const rs = results.filter((r) => r.clients === c);
  return {
    clients: c, tokens_per_second: round1(median(rs.map((r) => r.tokens_per_second))),
    first_block_ms_p50: round1(median(rs.map((r) => r.first_block_ms.p50 ?? NaN))), first_block_ms_p99: round1(median(rs.map((r) => r.first_block_ms.p99 ?? NaN))),
    mean_model_call_batch: round2(median(rs.map((r) => r.mean_model_call_batch))),
  };
});
const base = medians[0].tokens_per_second;
const line = JSON.stringify({
  ...provenance(), bench: 'loadtest', load_average_1min: { start: round2(loadBefore), end: round2(loadavg()[0]) }, server: banner.replace(/^bd3lm serve: /, ''), preset: values.preset ?? null, max_tokens: maxTokens, sampler,
  max_active: maxActive, seconds, rounds, phases: results, medians, tokens_per_second_vs_first: medians.map((m) => round2(m.tokens_per_second / base)),
  ...(bound ? { batch_bound: bound } : {}),
});
process.stdout.write(line + '\n');
if (values.record) appendFileSync(values.record, line + '\n');
process.exitCode = results.some((r) => r.errors) ? 1 : 0;
