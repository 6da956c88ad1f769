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
