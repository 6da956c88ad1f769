/**
 * `npm run report`: tables rendered from recorded runs (median and min–max of one session, never older sessions,
 * rows with fewer than three runs left out, ratios of medians), `--check` failing on a stale table and passing
 * after a rewrite, and the text outside the markers untouched. Synthetic results in a scratch repository layout.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TABLES } from '../bench/report/tables.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const REPORT = path.resolve(here, '../bench/report.js');
const ROOT = path.resolve(here, '../..');

function scratch(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bd3lm-report-'));
  fs.mkdirSync(path.join(dir, 'results'));
  fs.mkdirSync(path.join(dir, 'models/default'), { recursive: true });
  for (const f of ['metrics-phase1.jsonl', 'metrics-phase2.jsonl', 'valid-ppl.json']) fs.copyFileSync(path.join(ROOT, 'models/default', f), path.join(dir, 'models/default', f));
  for (const doc of new Set(TABLES.map((t) => t.doc))) {
    const blocks = TABLES.filter((t) => t.doc === doc).map((t) => `text before ${t.name}\n\n<!-- report:${t.name} -->\nstale\n<!-- /report:${t.name} -->\n\ntext after\n`);
    fs.writeFileSync(path.join(dir, doc), `# ${doc}\n\n${blocks.join('\n')}`);
  }
  return dir;
}

const stamp = (session: string, round: number) => ({ session, round, commit: 'abc123', dirty: false, date: `${session}T10:00:00Z`, cpu: 'Test CPU', cores: 2, node: 'v20' });
const report = (dir: string, ...args: string[]) => spawnSync(process.execPath, [REPORT, '--root', dir, ...args], { encoding: 'utf8' });
const lines = (recs: object[]) => recs.map((r) => JSON.stringify(r)).join('\n') + '\n';

test('report: medians of the latest session with min-max and the ratio; --check fails until the tables are rewritten', () => {
  const dir = scratch();
  const sbs: object[] = [];
  // an older session with other figures: must not count
  for (let r = 1; r <= 3; r++) sbs.push({ group: 'eval-tiny', arm: 'native', side: 'ours', ...stamp('2026-01-01', r), result: { tokens_per_s: 9999 } });
  [100, 300, 200].forEach((v, i) => sbs.push({ group: 'eval-tiny', arm: 'native', side: 'ours', ...stamp('2026-02-01', i + 1), result: { tokens_per_s: v } }));
  [10, 30, 20].forEach((v, i) => sbs.push({ group: 'eval-tiny', arm: 'reference', side: 'reference', ...stamp('2026-02-01', i + 1), result: { tokens_per_s: v } }));
  // a reference training step counts the EMA update (tokens_per_s_with_ema) as this port's step does
  [50, 60, 70].forEach((v, i) => sbs.push({ group: 'train-tiny-128-8', arm: 'native', side: 'ours', ...stamp('2026-02-01', i + 1), result: { tokens_per_s: v } }));
  [5, 6, 7].forEach((v, i) => sbs.push({ group: 'train-tiny-128-8', arm: 'reference', side: 'reference', ...stamp('2026-02-01', i + 1), result: { tokens_per_s: 99, tokens_per_s_with_ema: v } }));
  // two rounds only: the row is left out
  [1, 2].forEach((v, i) => sbs.push({ group: 'eval-small', arm: 'native', side: 'ours', ...stamp('2026-02-01', i + 1), result: { tokens_per_s: v } }));
  [1, 2].forEach((v, i) => sbs.push({ group: 'eval-small', arm: 'reference', side: 'reference', ...stamp('2026-02-01', i + 1), result: { tokens_per_s: v } }));
  // arms of one port (half precision): every arm's median, then each over the first arm's
  for (const [arm, vs] of [['f32', [100, 110, 90]], ['bf16', [120, 125, 115]], ['f16', [90, 80, 100]]] as const)
    vs.forEach((v, i) => sbs.push({ group: 'half-tiny-4', arm, side: 'ours', ...stamp('2026-02-01', i + 1), result: { tokens_per_s: v } }));
  fs.writeFileSync(path.join(dir, 'results/side-by-side.jsonl'), lines(sbs));
  fs.writeFileSync(path.join(dir, 'results/kernels.jsonl'), lines([70, 90, 74, 80].map((g, i) => ({ case: 'sgemm:native:16x256x256', backend: 'native', info: 'OpenBLAS', gflops: g, ...stamp('2026-02-01', i + 1) }))));

  const stale = report(dir, '--check');
  assert.equal(stale.status, 1);
  assert.match(stale.stderr, /README\.md: model-vs-reference/);
  assert.equal(report(dir).status, 0);
  const ok = report(dir, '--check');
  assert.equal(ok.status, 0, ok.stderr);

  const readme = fs.readFileSync(path.join(dir, 'README.md'), 'utf8');
  assert.match(readme, /\| NELBO forward \(eval\), tiny, L = 1024 \| 20\.0 \(10\.0–30\.0\) \| 200 \(100–300\) \| 10\.0× \|/);
  assert.match(readme, /\| training step, tiny, L = 128, B = 8 \| 6\.00 \(5\.00–7\.00\) \| 60\.0 \(50\.0–70\.0\) \| 10\.0× \|/);
  assert.doesNotMatch(readme, /eval\), small/);
  assert.match(readme, /\| f32 \| bf16 \| f16 \| bf16 \/ f32 \| f16 \/ f32 \|\n.*\n\| tiny, 4 \| 100 \(90\.0–110\) \| 120 \(115–125\) \| 90\.0 \(80\.0–100\) \| 1\.20× \| 0\.90× \|/);
  assert.match(readme, /2026-02-01, commit abc123, Test CPU \(2 cores\), 3 rounds/);
  assert.doesNotMatch(readme, /2026-01-01/);
  // four runs: median of the middle two; the other columns of the row are empty
  assert.match(readme, /\| 16x256 · 256x256 \| 77\.0 \(70\.0–90\.0\) \|  \|  \|/);
  // no data: the table says how to record it
  assert.match(readme, /<!-- report:batch -->\n_No recorded runs yet \(batched sampling\)\. Record them with `node dist\/bench\/side-by-side\.js --table batch --rounds 3`/);
  assert.match(readme, /text before kernels\n\n<!-- report:kernels -->/);
  assert.match(readme, /<!-- \/report:kernels -->\n\ntext after/);

  // new data makes the table stale again
  fs.appendFileSync(path.join(dir, 'results/kernels.jsonl'), lines([{ case: 'sgemm:wasm:16x256x256', backend: 'wasm', info: 'simd', gflops: 20, ...stamp('2026-03-01', 1) }]));
  fs.appendFileSync(path.join(dir, 'results/kernels.jsonl'), lines([1, 2].map((i) => ({ case: 'sgemm:wasm:16x256x256', backend: 'wasm', info: 'simd', gflops: 20, ...stamp('2026-03-01', i + 1) }))));
  const again = report(dir, '--check');
  assert.equal(again.status, 1);
  assert.match(again.stderr, /README\.md: kernels/);
});

test('report: a missing block or an unknown one is an error naming the file', () => {
  const dir = scratch();
  const file = path.join(dir, 'README.md');
  fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace(/<!-- report:batch -->\nstale\n<!-- \/report:batch -->\n/, ''));
  const r = report(dir, '--check');
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /README\.md: no block for <!-- report:batch -->/);
  fs.appendFileSync(file, '<!-- report:nonsense -->\nx\n<!-- /report:nonsense -->\n');
  assert.match(report(dir, '--check').stderr, /README\.md: no table named 'nonsense'/);
});

test('report: the load-test table: the latest run of 3+ rounds, medians (min-max) per client count, the ratio of medians, the batch ceiling', () => {
  const dir = scratch();
  const arm = (tps: number, ms: number) => ({ tokens_per_second: tps, ms_per_model_call: ms, ms_per_model_call_split: { sgemm: ms / 2, typescript: ms / 2 } });
  const phase = (round: number, clients: number, tps: number, p50: number) => ({
    round, clients, errors: 0, tokens_per_second: tps, first_block_ms: { p50, p99: 2 * p50 }, mean_model_call_batch: clients === 1 ? 1 : 7.5 + round / 10,
  });
  const run = (rounds: number, date: string, tps1: number[], tps8: number[]) => ({
    commit: 'abc123', dirty: false, date: `${date}T10:00:00Z`, cpu: 'Test CPU', cores: 2, node: 'v20', bench: 'loadtest', load_average_1min: { start: 0.25, end: 2 },
    server: 'default (native) on http://127.0.0.1:1', max_tokens: 64, sampler: 'first-hitting', max_active: 8, seconds: 20, rounds,
    phases: tps1.flatMap((t, i) => [phase(i + 1, 1, t, 10 + i), phase(i + 1, 8, tps8[i], 40 + i)]),
    batch_bound: { batch: 8, runs: [[100, 300], [120, 280], [110, 290]].map(([a, b]) => ({ batch1: arm(a, 2), batched: arm(b, 6) })) },
  });
  // an older run, then the latest of 3 rounds, then one of 2 rounds (too few: not shown)
  fs.writeFileSync(path.join(dir, 'results/loadtest-batching.jsonl'), lines([run(3, '2026-01-01', [1, 1, 1], [9, 9, 9]), run(3, '2026-02-01', [600, 700, 650], [1000, 1300, 1200]), run(2, '2026-03-01', [1, 1], [2, 2])]));
  assert.equal(report(dir).status, 0);
  const readme = fs.readFileSync(path.join(dir, 'README.md'), 'utf8');
  assert.match(readme, /\| 1 \| 650 \(600–700\) \| 1\.00× \| 11\.0 \/ 22\.0 ms \| 1\.00 \| 0 \|/);
  assert.match(readme, /\| 8 \| 1,200 \(1,000–1,300\) \| 1\.85× \| 41\.0 \/ 82\.0 ms \| 7\.70 \| 0 \|/);
  assert.match(readme, /2026-02-01, commit abc123, Test CPU \(2 cores\), load average 0\.25 at the start/);
  assert.match(readme, /`--max-active 8`, default \(native\) \(`node dist\/bench\/loadtest\.js --clients 1,8 /);
  assert.doesNotMatch(readme, /2026-0[13]-01/);
  assert.match(readme, /batch 8 gives 290 \(280–300\) tokens\/s against 110 \(100–120\) at batch 1 \(2\.64×; 3 alternated rounds/);
  assert.match(readme, /takes 6\.00 ms at batch 8 \(sgemm 3\.00, typescript 3\.00\) against 2\.00 ms at batch 1/);
  // no run of the small preset: the table says how to record one
  assert.match(readme, /<!-- report:loadtest-small -->\n_No recorded run of 3\+ rounds yet\. Record one with `node dist\/bench\/loadtest\.js --preset small/);
});

test('report: prose values are rewritten from the records, and a hand-typed figure outside values, tables and code fails the check', () => {
  const dir = scratch();
  const file = path.join(dir, 'README.md');
  const base = fs.readFileSync(file, 'utf8');
  const fixed = path.join(dir, 'bench/report/fixed-figures.json');
  fs.mkdirSync(path.dirname(fixed), { recursive: true });
  fs.writeFileSync(fixed, JSON.stringify([{ doc: 'README.md', phrase: 'a target of 4× batch 1', why: 'a target' }]));
  const prose = 'Held out: <!-- v:default.bpb -->9.99<!-- /v --> bits per byte; a target of 4× batch 1; `456 tokens/s` in code.\n';
  fs.writeFileSync(file, base + prose + 'It ran at 123 tokens/s and 1.2e-3 off, a 12 × 768 matrix.\n');
  const bad = report(dir, '--check');
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /README\.md: value default\.bpb/);
  assert.match(bad.stderr, /README\.md:\d+: '123 tokens\/s' is typed by hand/);
  assert.match(bad.stderr, /'1\.2e-3' is typed by hand/);
  assert.doesNotMatch(bad.stderr, /456|'4×'|'12 ×'/, 'code, fixed phrases and shapes are not figures');

  fs.writeFileSync(file, base + prose);
  assert.equal(report(dir).status, 0);
  const ev = JSON.parse(fs.readFileSync(path.join(ROOT, 'models/default/valid-ppl.json'), 'utf8'));
  assert.match(fs.readFileSync(file, 'utf8'), new RegExp(`<!-- v:default\\.bpb -->${Number(ev.bits_per_byte).toFixed(2)}<!-- /v --> bits per byte`));
  assert.equal(report(dir, '--check').status, 0);

  // a fixed phrase that covers no figure is stale; an unknown value names the file
  fs.writeFileSync(fixed, JSON.stringify([{ doc: 'README.md', phrase: 'a target of 4× batch 1', why: 'a target' }, { doc: 'README.md', phrase: 'gone', why: 'x' }]));
  assert.match(report(dir, '--check').stderr, /the fixed figure 'gone' covers no figure any more/);
  fs.appendFileSync(file, 'x <!-- v:nonsense -->1<!-- /v -->\n');
  assert.match(report(dir, '--check').stderr, /README\.md: no value named 'nonsense'/);
});

test('report: the ordering table: perplexity bounds with the range of their draws, exact AR, provenance and the token budget', () => {
  const dir = scratch();
  const ord = path.join(dir, 'results/ordering');
  fs.mkdirSync(ord);
  const nll = { ar: [1.5], 'bd3lm-4': [2.0, 2.2], 'bd3lm-16': [2.3, 2.5], mdlm: [2.6, 2.4] } as Record<string, number[]>;
  for (const [run, draws] of Object.entries(nll)) {
    const mean = draws.reduce((a, b) => a + b) / draws.length;
    fs.writeFileSync(path.join(ord, `${run}.ppl.json`), JSON.stringify({ algo: run === 'ar' ? 'ar' : 'bd3lm', bound: run !== 'ar', nll: mean, ppl: Math.exp(mean), tokens: 1280, sequences: 10, draws: draws.length, ...(draws.length > 1 ? { nll_draws: draws } : {}) }));
    fs.writeFileSync(path.join(ord, `${run}.time.json`), JSON.stringify({ run, train_seconds: 90, steps: 50, commit: 'abc123', dirty: false, date: '2026-02-01T10:00:00Z', cpu: 'Test CPU', cores: 2 }));
    fs.writeFileSync(path.join(ord, `${run}.config.json`), JSON.stringify({ model_length: 128 }, null, 2));
  }
  assert.equal(report(dir).status, 0);
  const readme = fs.readFileSync(path.join(dir, 'README.md'), 'utf8');
  assert.match(readme, /\| AR \(causal DiT\) \| 4\.48 \| 22\.83 \| 17\.54 \|/);
  assert.match(readme, new RegExp(`\\| BD3-LM L' = 4 \\| ≤ ${Math.exp(2.1).toFixed(2)} \\(${Math.exp(2.0).toFixed(2)}–${Math.exp(2.2).toFixed(2)}\\) \\|`));
  assert.match(readme, /\| MDLM \| ≤ 12\.18 \(11\.02–13\.46\) \|/);
  assert.match(readme, /10 held-out sequences of 128 bytes \(1,280 tokens\) .* after 50 steps of 8 × 128 = 0\.05M training tokens each; .* the mean of 2 Monte-Carlo draws/);
  assert.match(readme, /2026-02-01, commit abc123, Test CPU \(2 cores\)/);
  // one model missing: no table, the command that records it
  fs.rmSync(path.join(ord, 'mdlm.ppl.json'));
  assert.equal(report(dir).status, 0);
  assert.match(fs.readFileSync(path.join(dir, 'README.md'), 'utf8'), /<!-- report:ordering -->\n_No complete recorded run yet\. Record one with `scripts\/reproduce-ordering\.sh`/);
});

test('report: logit change of stored weights per model, one session, runs that disagree are an error', () => {
  const dir = scratch();
  const rec = (model: string, weights: string, rel: number, session = '2026-02-01') =>
    ({ case: `logits:native:${model}:${weights}`, bench: 'logits', backend: 'native', model, weights, max_rel_diff: rel, max_prob_tv: rel / 2, argmax_agree: 0.99, ...stamp(session, 1) });
  const file = path.join(dir, 'results/weights-logits.jsonl');
  fs.writeFileSync(file, lines([rec('tiny', 'int8', 0.5, '2026-01-01'), rec('tiny', 'int8', 0.0138), rec('tiny', 'bf16', 0.003), rec('small', 'w8a8', 0.0224)]));
  assert.equal(report(dir).status, 0);
  const readme = fs.readFileSync(path.join(dir, 'README.md'), 'utf8');
  assert.match(readme, /<!-- report:int8-accuracy -->\n\| model \| weights .*\n.*\n\| tiny \| int8 \| 1\.38e-2 \| 6\.90e-3 \| 99\.0 % \|\n\| small \| w8a8 \| 2\.24e-2 \| 1\.12e-2 \| 99\.0 % \|\n/);
  assert.match(readme, /<!-- report:half-accuracy -->\n\| model .*\n.*\n\| tiny \| bf16 \| 3\.00e-3 \|/);
  fs.appendFileSync(file, lines([rec('tiny', 'int8', 0.02)]));
  assert.match(report(dir).stderr, /runs of logits:native:tiny:int8 in one session disagree/);
});

test('report: the heavy load test: medians of 3+ rounds per client count, errors summed, memory from the first start to the last end', () => {
  const dir = scratch();
  const phase = (round: number, tps: number, errors: number, rss: [number, number, number]) => ({
    round, clients: 64, seconds: 60 + round, requests: 1000 + round, errors, tokens_per_second: tps, first_block_ms: { p50: 100 * round, p99: 300 * round },
    mean_model_call_batch: 60 + round, server_rss_mib: { start: rss[0], end: rss[1], peak: rss[2] },
  });
  const run = (rounds: number, date: string) => ({
    commit: 'abc123', dirty: false, date: `${date}T10:00:00Z`, cpu: 'Test CPU', cores: 2, bench: 'loadtest', server: 'default (native) on http://127.0.0.1:1',
    max_tokens: 64, sampler: 'first-hitting', max_active: 64, seconds: 60, rounds,
    phases: [phase(1, 1500, 0, [100, 380, 390]), phase(2, 1400, 1, [380, 385, 395]), phase(3, 1450, 0, [385, 383, 392])].slice(0, rounds),
  });
  fs.writeFileSync(path.join(dir, 'results/loadtest-64.jsonl'), lines([run(3, '2026-02-01'), run(1, '2026-03-01')]));
  assert.equal(report(dir).status, 0);
  const readme = fs.readFileSync(path.join(dir, 'README.md'), 'utf8');
  assert.match(readme, /\| 64 \| 62\.0 \| 1,002 \| 1 \| 200 \/ 600 ms \| 1,450 \(1,400–1,500\) \| 62\.0 \| 100 → 383 MiB \(395\) \|/);
  assert.match(readme, /Median \(min–max\) of 3 rounds, .*2026-02-01, commit abc123/);
});
