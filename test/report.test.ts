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
