/**
 * The server's load-test table: the latest line of a results/ file that `bench/loadtest.ts --record` wrote with at
 * least MIN_RUNS rounds, per client count the median tokens/s over the rounds (min–max) and its multiple of the
 * first count's median, the medians of time to first block and of the mean model-call batch; with `--bound`,
 * generate()'s batched over batch-1 tokens/s in the same run and where a model call's milliseconds went.
 */
import * as path from 'node:path';
import { fmtStat, header, MIN_RUNS, num, readJsonl, row, stampNote, stat, type Rec, type Stat } from './runs.js';

interface Phase {
  clients: number;
  errors: number;
  tokens_per_second: number;
  first_block_ms: { p50: number | null; p99: number | null };
  mean_model_call_batch: number;
}
interface Arm {
  tokens_per_second: number;
  ms_per_model_call: number;
  ms_per_model_call_split: Record<string, number>;
}
interface Bound {
  batch: number;
  runs: { batch1: Arm; batched: Arm }[];
}

/** the phases' median time to the first block, p50 / p99 */
function firstBlock(phases: Phase[]): string {
  const med = (xs: number[]) => num(stat(xs)!.median);
  return `${med(phases.map((p) => p.first_block_ms.p50 ?? NaN))} / ${med(phases.map((p) => p.first_block_ms.p99 ?? NaN))} ms`;
}

export function loadTestTable(file: string, cmd: string): (root: string) => string {
  return (root) => {
    const recs = readJsonl(path.join(root, file)).filter((r) => r.bench === 'loadtest' && Number(r.rounds) >= MIN_RUNS);
    const r = recs[recs.length - 1];
    if (!r) return `_No recorded run of ${MIN_RUNS}+ rounds yet. Record one with \`${cmd}\`, then \`npm run report\`._`;
    const phases = r.phases as Phase[];
    const counts = [...new Set(phases.map((p) => p.clients))];
    const of = (c: number) => phases.filter((p) => p.clients === c);
    const med = (xs: number[]) => stat(xs)!.median;
    const tps = counts.map((c) => stat(of(c).map((p) => p.tokens_per_second))!);
    const lines = [
      header(['clients', 'tokens/s in all', 'vs the first row', 'first block p50 / p99', 'mean model-call batch', 'errors']),
      ...counts.map((c, i) =>
        row([
          String(c), fmtStat(tps[i]), `${num(tps[i].median / tps[0].median)}×`,
          firstBlock(of(c)),
          num(med(of(c).map((p) => p.mean_model_call_batch))), String(of(c).reduce((n, p) => n + p.errors, 0)),
        ]),
      ),
      '',
      `Median (min–max) of ${r.rounds} rounds that alternate the client counts, ${r.seconds} s each, \`max_tokens\` ${r.max_tokens}, ` +
        `${r.sampler}, \`--max-active ${r.max_active}\`, ${served(r)} (\`${cmd}\`, \`${file}\`): ${when(r)}.`,
    ];
    const b = r.batch_bound as Bound | undefined;
    if (b) lines.push('', boundNote(b));
    return lines.join('\n');
  };
}

/** the model and backend ("default (native)"; a preset's temporary folder is named by the preset), without the URL */
function served(r: Rec): string {
  const server = String(r.server).replace(/ on http\S+$/, '');
  return r.preset ? `${r.preset} preset ${/\(\w+\)$/.exec(server)?.[0] ?? ''}`.trim() : server;
}

function when(r: Rec): string {
  const load = r.load_average_1min as { start: number } | undefined;
  return stampNote(r) +
    (load ? `, load average ${num(load.start)} at the start` : '');
}

/** generate() at batch B vs batch 1 in the same run: the ceiling of the gain, and where a call's time went */
function boundNote(b: Bound): string {
  const s = (k: 'batch1' | 'batched', f: (a: Arm) => number): Stat => stat(b.runs.map((x) => f(x[k])))!;
  const t1 = s('batch1', (a) => a.tokens_per_second);
  const tb = s('batched', (a) => a.tokens_per_second);
  const split = (k: 'batch1' | 'batched') =>
    Object.keys(b.runs[0][k].ms_per_model_call_split).map((f) => `${f.replace('_', ' ')} ${num(s(k, (a) => a.ms_per_model_call_split[f]).median)}`).join(', ');
  return `Ceiling: \`generate()\` at batch ${b.batch} gives ${fmtStat(tb)} tokens/s against ${fmtStat(t1)} at batch 1 ` +
    `(${num(tb.median / t1.median)}×; ${b.runs.length} alternated rounds in the same run). A model call takes ` +
    `${num(s('batched', (a) => a.ms_per_model_call).median)} ms at batch ${b.batch} (${split('batched')}) against ` +
    `${num(s('batch1', (a) => a.ms_per_model_call).median)} ms at batch 1 (${split('batch1')}).`;
}

/**
 * A heavy load test (e.g. 64 clients for a minute), the latest line of `file` with at least MIN_RUNS rounds: per client
 * count the medians (min–max for tokens/s) over the rounds of requests, time to first block and mean model-call batch,
 * the errors of all rounds, and the server's memory from the first round's start to the last round's end (peak).
 */
export function loadTestStress(file: string, cmd: string): (root: string) => string {
  return (root) => {
    const recs = readJsonl(path.join(root, file)).filter((r) => Array.isArray(r.phases) && r.commit && Number(r.rounds) >= MIN_RUNS);
    const r = recs[recs.length - 1];
    if (!r) return `_No recorded run of ${MIN_RUNS}+ rounds yet. Record one with \`${cmd}\`, then \`npm run report\`._`;
    const phases = r.phases as (Phase & { seconds: number; requests: number; server_rss_mib?: { start: number; end: number; peak: number } })[];
    const counts = [...new Set(phases.map((p) => p.clients))];
    const med = (xs: number[]) => stat(xs)!.median;
    const rows = counts.map((c) => {
      const of = phases.filter((p) => p.clients === c);
      const rss = of.map((p) => p.server_rss_mib).filter((m) => m !== undefined);
      return row([
        String(c), num(med(of.map((p) => p.seconds))), med(of.map((p) => p.requests)).toLocaleString('en-US'), String(of.reduce((n, p) => n + p.errors, 0)),
        firstBlock(of),
        fmtStat(stat(of.map((p) => p.tokens_per_second))!), num(med(of.map((p) => p.mean_model_call_batch))),
        rss.length ? `${rss[0]!.start} → ${rss[rss.length - 1]!.end} MiB (${Math.max(...rss.map((m) => m!.peak))})` : '',
      ]);
    });
    return [
      header(['clients', 'seconds', 'requests', 'errors (all rounds)', 'first block p50 / p99', 'tokens/s in all', 'mean model-call batch', 'server RSS first start → last end (peak)']),
      ...rows,
      '',
      `Median (min–max) of ${r.rounds} rounds, \`max_tokens\` ${r.max_tokens}, ${r.sampler}, \`--max-active ${r.max_active}\`, ${served(r)} (\`${cmd}\`, \`${file}\`): ${when(r)}.`,
    ].join('\n');
  };
}

/**
 * Server memory under a long load test (`--memory-every`): the latest run's RSS at the start, after the first sample,
 * and its range over the rest of the run, the JS heap's range, set against the KV caches of the running generations.
 */
export function loadTestMemory(file: string, cmd: string, kvMiBPerSequence: (root: string) => number): (root: string) => string {
  return (root) => {
    const recs = readJsonl(path.join(root, file)).filter((r) => Array.isArray(r.phases) && r.commit);
    const r = recs[recs.length - 1];
    const p = (r?.phases as (Phase & { seconds: number; requests: number; memory_mib_over_time?: { s: number; rss: number; heap: number }[] })[] | undefined)?.[0];
    const m = p?.memory_mib_over_time;
    if (!r || !p || !m || m.length < 4) return `_No recorded run with memory samples yet. Record one with \`${cmd}\`, then \`npm run report\`._`;
    const rest = m.slice(2).map((x) => x.rss);
    const heap = m.slice(1).map((x) => x.heap);
    const kv = kvMiBPerSequence(root);
    return `${p.clients} streaming clients for ${Math.round(p.seconds)} s (\`${cmd}\`, \`${file}\`; ${when(r)}): ` +
      `${p.requests.toLocaleString('en-US')} requests, ${p.errors} errors; the server's RSS rose from ${m[0].rss} MiB to ${m[1].rss} MiB in the first ` +
      `${m[1].s} s and then stayed between ${Math.min(...rest)} and ${Math.max(...rest)} MiB to the end, its JS heap between ${Math.min(...heap)} and ` +
      `${Math.max(...heap)} MiB — a plateau, not a leak. The rise is the working set of ${r.max_active} running generations, mostly their KV caches ` +
      `(${kv.toFixed(1)} MiB each for this model, ${Math.round(kv * Number(r.max_active))} MiB for ${r.max_active}).`;
  };
}
