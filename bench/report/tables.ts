/**
 * README's and the model card's numbers, each table rendered from recorded runs only. A table without enough runs
 * (MIN_RUNS per figure, one session, both sides of a ratio in the same session) says so and names the command that
 * records them; nothing here is typed by hand.
 */
import * as path from 'node:path';
import { GROUPS, type Group } from '../groups.js';
import { fmtStat, header, latestSession, MIN_RUNS, num, provenanceNote, readJsonl, row, stampNote, stat, type Rec, type Stat } from './runs.js';
import { loadTestMemory, loadTestStress, loadTestTable } from './loadtest.js';
import { frontPage } from './front-page.js';
import { ordering } from './ordering.js';
import { int8Quality, logitChange } from './weights.js';
import { kvCacheBytes } from '../../src/model/kvcache.js';
import { parseHfConfig } from '../../src/model/config.js';
import * as fs from 'node:fs';

export interface Table {
  name: string;
  /** the Markdown file (relative to the repository root) holding the block */
  doc: string;
  render(root: string): string;
}

const SIDE_BY_SIDE = 'results/side-by-side.jsonl';

const missing = (what: string, cmd: string) =>
  `_No recorded runs yet (${what}). Record them with \`${cmd}\`, then \`npm run report\`._`;


/** tokens/s of a run; a reference training step counts its EMA update as this port's step does */
function tps(r: Rec): number {
  const res = r.result as Rec;
  return Number(res.tokens_per_s_with_ema ?? res.tokens_per_s);
}

/** per arm, the statistic of the group's latest session (null when an arm has fewer than MIN_RUNS runs) */
function armStats(recs: Rec[], g: Group): { stats: (Stat | null)[]; used: Rec[] } {
  const used = latestSession(recs, (r) => r.group === g.id);
  return { stats: g.arms.map((a) => stat(used.filter((r) => r.arm === a.label).map(tps))), used };
}

const ratio = (a: Stat, b: Stat) => `${num(a.median / b.median)}×`;

/**
 * A table of groups: one row per group with every arm's median (min–max) and each later arm's median over the first
 * arm's (or, for this-port-vs-reference groups, native over reference).
 */
function groupTable(table: Group['table'], what: string, ratioHead: (labels: string[]) => string[]): (root: string) => string {
  return (root) => {
    const recs = readJsonl(path.join(root, SIDE_BY_SIDE));
    const groups = GROUPS.filter((g) => g.table === table);
    const rows: string[] = [];
    const used: Rec[] = [];
    for (const g of groups) {
      const s = armStats(recs, g);
      if (s.stats.some((x) => x === null)) continue;
      const st = s.stats as Stat[];
      const vsRef = g.arms.some((a) => 'ref' in a);
      // reference first in the row, then this port, then the ratio of the two
      const cells = vsRef ? [fmtStat(st[1]), fmtStat(st[0]), ratio(st[0], st[1])] : [...st.map(fmtStat), ...st.slice(1).map((x) => ratio(x, st[0]))];
      rows.push(row([g.row, ...cells]));
      used.push(...s.used);
    }
    const cmd = `node dist/bench/side-by-side.js --table ${table} --rounds ${MIN_RUNS}`;
    if (!rows.length) return missing(what, cmd);
    const labels = groups[0].arms.map((a) => a.label);
    const heads = groups[0].arms.some((a) => 'ref' in a) ? ['reference', 'native', 'native / reference'] : [...labels, ...ratioHead(labels)];
    return [
      header(['', ...heads]),
      ...rows,
      '',
      `Tokens/s, median (min–max) of ${MIN_RUNS}+ rounds that alternate the columns in one session (\`${cmd}\`, ` +
        `\`${SIDE_BY_SIDE}\`): ${provenanceNote(used)}.`,
    ].join('\n');
  };
}

/**
 * int8 and w8a8 weights (issue 13's targets): sampling tokens/s of fp32, int8, w8a8 and the reference alternated in
 * one session, and one model call's time (ms) of fp32, int8 and w8a8 alternated in one session.
 */
function int8Speed(root: string): string {
  const recs = readJsonl(path.join(root, SIDE_BY_SIDE));
  const cmd = `node dist/bench/side-by-side.js --table int8 --rounds ${MIN_RUNS}`;
  const [sampleGroup, ...callGroups] = ['int8-small-16', 'int8-call-small-16', 'int8-call-wasm-small-16'].map((id) => GROUPS.find((g) => g.id === id)!);
  const out: string[] = [];
  const used: Rec[] = [];
  const s = armStats(recs, sampleGroup);
  if (s.stats.every((x) => x !== null)) {
    const [f32, int8, w8a8, ref] = s.stats as Stat[];
    out.push(header(['tokens/s', 'reference', 'f32', 'int8', 'w8a8', 'int8 / reference', 'w8a8 / reference', 'w8a8 / f32']),
      row([sampleGroup.row, fmtStat(ref), fmtStat(f32), fmtStat(int8), fmtStat(w8a8), ratio(int8, ref), ratio(w8a8, ref), ratio(w8a8, f32)]), '');
    used.push(...s.used);
  }
  const callRows: string[] = [];
  for (const g of callGroups) {
    const calls = latestSession(recs, (r) => r.group === g.id);
    const ms = g.arms.map((a) => stat(calls.filter((r) => r.arm === a.label).map((r) => Number((r.result as Rec).ms_one_row))));
    if (ms.some((x) => x === null)) continue;
    const [f32, int8, w8a8] = ms as Stat[];
    callRows.push(row([g.row, fmtStat(f32), fmtStat(int8), fmtStat(w8a8), ratio(int8, f32), ratio(w8a8, f32)]));
    used.push(...calls);
  }
  if (callRows.length) out.push(header(['ms per call', 'f32', 'int8', 'w8a8', 'int8 / f32', 'w8a8 / f32']), ...callRows, '');
  // peak memory of the sampling runs above, against the stored weights plus the KV cache
  const mem = (['f32', 'int8', 'w8a8'] as const).map((w) => stat(s.used.filter((r) => r.arm === w).map((r) => Number((r.result as Rec).rss_mb))));
  const memRatio = (['int8', 'w8a8'] as const).map((w) => stat(s.used.filter((r) => r.arm === w).map((r) => Number((r.result as Rec).rss_ratio))));
  if (mem.every((x) => x !== null) && memRatio.every((x) => x !== null)) {
    out.push(header(['peak RSS while sampling (MiB)', 'f32', 'int8', 'w8a8', 'int8: RSS / (weights + KV cache)', 'w8a8: RSS / (weights + KV cache)']),
      row([sampleGroup.row, ...(mem as Stat[]).map(fmtStat), ...(memRatio as Stat[]).map((x) => num(x.median))]), '');
  }
  if (!out.length) return missing('int8 and w8a8 speed', cmd);
  return [...out, `Median (min–max) of ${MIN_RUNS}+ rounds that alternate the columns in one session (\`${cmd}\`, \`${SIDE_BY_SIDE}\`; ` +
    `a call's figure per run is its best of 7): ${provenanceNote(used)}.`].join('\n');
}

const SHAPES = ['1024x768x768', '1024x768x3072', '64x768x50258', '16x256x256'];
const KERNELS = 'results/kernels.jsonl';

function kernels(root: string): string {
  const recs = readJsonl(path.join(root, KERNELS));
  const cols = [['native, default routing (OpenBLAS for large products)', 'sgemm:native'], ['native, own C kernel forced', 'sgemm:native-own'], ['wasm (relaxed SIMD)', 'sgemm:wasm']];
  const used: Rec[] = [];
  const rows: string[] = [];
  for (const shape of SHAPES) {
    const cells = cols.map(([, prefix]) => {
      const runs = latestSession(recs, (r) => r.case === `${prefix}:${shape}`);
      const s = stat(runs.map((r) => Number(r.gflops)));
      if (s) used.push(...runs);
      return s ? fmtStat(s) : '';
    });
    const [m, k, n] = shape.split('x');
    if (cells.some((c) => c)) rows.push(row([`${m}x${k} · ${k}x${n}`, ...cells]));
  }
  const cmd = `node dist/bench/bench.js --only sgemm --repeat ${MIN_RUNS} --record ${KERNELS}`;
  if (!rows.length) return missing('sgemm', cmd);
  const infos = [...new Set(used.map((r) => `${r.backend}: ${r.info}`))];
  return [header(['shape', ...cols.map(([c]) => c)]), ...rows, '',
    `GFLOP/s, median (min–max) (\`${cmd}\`): ${provenanceNote(used)}. Kernels: ${infos.join('; ')}.`].join('\n');
}

/**
 * a parallel-decoding sweep (bench/parallel-sweep.ts): one line per setting of one sweep. Tokens/s are shown only when
 * every setting has MIN_RUNS timed rounds (median, min–max); a sweep of single runs shows NFE and quality alone.
 */
function sweep(file: string, how: string): (root: string) => string {
  return (root) => {
    let recs = readJsonl(path.join(root, file));
    if (recs.some((r) => r.session)) recs = latestSession(recs, () => true);
    if (!recs.length) return missing('parallel-decoding sweep', how);
    const label = (s: string) => s.replace('first-hitting', 'first hitting').replace('tau=', 'τ = ').replace('gamma=', 'γ = ');
    const speed = (r: Rec) => stat(Array.isArray(r.tokens_per_s_runs) ? (r.tokens_per_s_runs as number[]) : []);
    const fh = recs.find((r) => r.setting === 'first-hitting');
    const timed = fh !== undefined && recs.every((r) => speed(r) !== null);
    const base = timed ? speed(fh!)! : null;
    const rows = recs.map((r) => {
      const s = base && speed(r)!;
      return row([label(String(r.setting)), num(Number(r.nfe_per_token)), ...(s ? [fmtStat(s), `${num(s.median / base!.median)}×`] : []),
        num(Number(r.gen_ppl)), num(Number(r.entropy))]);
    });
    const when = recs[0].commit ? stampNote(recs[0]) : 'recorded before runs carried a commit, date and CPU';
    const speedNote = timed
      ? `tokens/s: median (min–max) of ${recs[0].rounds} rounds that alternate the settings`
      : 'its tokens/s were single runs (in the file), so they are not shown: NFE / token is the measure';
    return [header(['sampler', 'NFE / token', ...(timed ? ['tokens/s', 'tokens/s vs first hitting'] : []), 'Gen PPL (judge)', 'unigram entropy']), ...rows, '',
      `One sweep, \`${file}\` (${how}); ${speedNote}: ${when}.`].join('\n');
  };
}

/** an `eval ppl` report's bits per byte: the mean, and with several Monte-Carlo draws their min–max */
function bitsPerByte(ev: Rec): string {
  const mean = Number(ev.bits_per_byte).toFixed(3);
  const draws = ev.nll_draws as number[] | undefined;
  if (!draws || draws.length < 2) return mean;
  const perDraw = draws.map((nll) => (nll * Number(ev.tokens)) / Math.LN2 / Number(ev.bytes));
  return `${mean} (${Math.min(...perDraw).toFixed(3)}–${Math.max(...perDraw).toFixed(3)})`;
}

/** the default model's training record, from its logs and its evaluations (models/default) */
function defaultModel(root: string): string {
  const dir = path.join(root, 'models/default');
  const phases = ['metrics-phase1.jsonl', 'metrics-phase2.jsonl'].map((f) => readJsonl(path.join(dir, f)));
  const cells = phases.map((recs) => {
    const steps = recs.filter((r) => typeof r.tokens_per_s === 'number');
    let prev = 0;
    let seconds = 0;
    for (const r of steps) {
      seconds += (Number(r.tokens) - prev) / Number(r.tokens_per_s);
      prev = Number(r.tokens);
    }
    const valid = recs.filter((r) => typeof r.valid_nelbo === 'number');
    const last = valid[valid.length - 1];
    return {
      steps: steps.length, tokens: prev, minutes: seconds / 60,
      tps: stat(steps.map((r) => Number(r.tokens_per_s)))!,
      valid: last ? `${Number(last.valid_nelbo).toFixed(3)} (step ${last.step}, ${Number(last.valid_tokens).toLocaleString('en-US')} tokens)` : '',
    };
  });
  const ev = readJsonl(path.join(dir, 'valid-ppl.json'))[0];
  const en = readJsonl(path.join(dir, 'english.json'))[0];
  const lines = [
    header(['', 'phase 1 (the sweep run)', 'phase 2']),
    row(['optimizer steps', ...cells.map((c) => c.steps.toLocaleString('en-US'))]),
    row(['training tokens', ...cells.map((c) => `${(c.tokens / 1e6).toFixed(2)}M`)]),
    row(['time in training steps (sum of each step\'s tokens / tokens/s)', ...cells.map((c) => `${Math.round(c.minutes)} min`)]),
    row(['tokens/s per step, median (min–max)', ...cells.map((c) => fmtStat(c.tps))]),
    row(['last validation NELBO in the log (nats/token)', ...cells.map((c) => c.valid)]),
    '',
  ];
  if (ev) {
    const bpb = ev.bits_per_byte === undefined ? '' : `, **${bitsPerByte(ev)} bits per byte** (${Number(ev.bytes).toLocaleString('en-US')} bytes)`;
    const draws = Number(ev.draws ?? 1) > 1 ? `the mean of ${ev.draws} Monte-Carlo draws of t (min–max of the draws), ` : '';
    lines.push(`Held-out evaluation of the shipped fp16 weights (\`valid-ppl.json\`, \`bd3lm eval ppl\`, ${draws}${ev.sequences} sequences, ` +
      `${Number(ev.tokens).toLocaleString('en-US')} tokens): NELBO ${Number(ev.nll).toFixed(3)} nats per token, a bound: perplexity ≤ ` +
      `${Number(ev.ppl).toFixed(2)}, ${Number(ev.bits_per_token).toFixed(2)} bits per token${bpb}.`);
  }
  if (en) {
    lines.push('', `English check (\`english.json\`, \`node dist/bench/english.js\`: \`bd3lm sample --length 300 --top-p 0.9 --seed S\`, S = 1..${en.seeds}, ` +
      `no prompt): **${(100 * Number(en.share)).toFixed(1)} %** of ${Number(en.words).toLocaleString('en-US')} words are in Debian's wamerican word list ` +
      `(runs of 2+ letters, case-insensitive); distinct / words ${Number(en.distinctRatio).toFixed(2)} (the sampling speed: README's first sample).`);
  }
  lines.push('', 'From `metrics-phase1.jsonl`, `metrics-phase2.jsonl` (every step\'s loss, learning rate, gradient norm and tokens/s; ' +
    'validation NELBO with the EMA weights); the machine was shared with other work during training, so tokens/s varies.');
  return lines.join('\n');
}

/** how many Monte-Carlo draws of t the sweep's evaluations average */
function drawsNote(recs: Rec[]): string {
  const n = [...new Set(recs.map((r) => Number((r.ppl as Rec).draws ?? 1)))];
  return n.length === 1 && n[0] > 1 ? `bits per byte: the mean of ${n[0]} draws of t, min–max of the draws` : 'bits per byte: one draw of t';
}

/** the sweep that chose the default model's recipe (scripts/sweep-default.sh) */
function defaultSweep(root: string): string {
  const recs = readJsonl(path.join(root, 'results/default-sweep.jsonl'));
  if (!recs.length) return missing('default-model sweep', 'scripts/sweep-default.sh');
  const rows = recs.map((r) => {
    const ppl = r.ppl as Rec;
    const en = r.english as Rec;
    return row([String(r.run), String(r.corpus), String(r.vocab), `${r.layers} × ${r.hidden}`, String(r.block_size), String(r.lr), `${Number(r.parameters).toLocaleString('en-US')}`,
      `${Math.round(Number(r.train_seconds) / 60)} min`, bitsPerByte(ppl), `${(100 * Number(en.share)).toFixed(1)} %`, Number(en.distinctRatio).toFixed(2)]);
  });
  const r0 = recs[0];
  return [header(['run', 'corpus', 'tokenizer', 'layers × width', "L'", 'peak lr', 'parameters', 'time', 'held-out bits/byte', 'dictionary words', 'distinct / words']), ...rows, '',
    `Each run: ${r0.steps} steps of ${r0.batch} × ${r0.L} tokens, cosine schedule (50 warm-up steps), evaluated on its own corpus's held-out split (3 % of the ` +
    `documents: KJV chapters, or KJV chapters + Brown texts + fortune files; ${drawsNote(recs)}) and by 8 samples as in the English check; \`results/default-sweep.jsonl\` ` +
    `(${String(r0.cpu)}, ${String(r0.date).slice(0, 10)}, shared with other work: compare times within the table).`].join('\n');
}

/** one sequence's KV cache of the default model (a server's: it may slide), in MiB */
function defaultKvMiB(root: string): number {
  const file = path.join(root, 'models/default/config.json');
  const cfg = parseHfConfig(JSON.parse(fs.readFileSync(file, 'utf8')), file);
  return kvCacheBytes(cfg, 1, cfg.modelLength, true) / 2 ** 20;
}

export const TABLES: Table[] = [
  { name: 'kernels', doc: 'README.md', render: kernels },
  { name: 'model-vs-reference', doc: 'README.md', render: groupTable('model', 'model vs reference', () => []) },
  { name: 'sampling-vs-reference', doc: 'README.md', render: groupTable('sampling', 'sampling vs reference', () => []) },
  { name: 'half-speed', doc: 'README.md', render: groupTable('half', 'half-precision sampling', (l) => l.slice(1).map((x) => `${x} / ${l[0]}`)) },
  { name: 'half-accuracy', doc: 'README.md', render: logitChange(['bf16', 'f16'], 'The default model is stored in fp16: its f16 row differs only by the order of float sums.') },
  { name: 'int8-accuracy', doc: 'README.md', render: logitChange(['int8', 'w8a8']) },
  { name: 'int8-quality', doc: 'README.md', render: int8Quality },
  { name: 'int8-speed', doc: 'README.md', render: int8Speed },
  { name: 'batch', doc: 'README.md', render: groupTable('batch', 'batched sampling', (l) => l.slice(1).map((x) => `${x} / ${l[0]}`)) },
  { name: 'parallel-sweep', doc: 'README.md', render: sweep('results/parallel-sweep-default.jsonl', '`node dist/bench/parallel-sweep.js --judge JUDGE --taus 0.9,0.7,0.5,0.3 --gammas 0.5,1,2,4 --rounds 3 --record results/parallel-sweep-default.jsonl`, JUDGE the AR judge of `results/int8-genppl.jsonl`') },
  { name: 'parallel-sweep-kjv', doc: 'README.md', render: sweep('results/parallel-sweep-tiny-kjv-8.jsonl', '`node dist/bench/parallel-sweep.js --judge work/runs/ar --model work/threshold/run --length 512 --samples 8 --taus 0.9,0.5,0.1,0.09,0.08,0.05 --gammas 1,8,16,24,32`') },
  { name: 'loadtest-default', doc: 'README.md', render: loadTestTable('results/loadtest-batching.jsonl', 'node dist/bench/loadtest.js --clients 1,8 --seconds 20 --rounds 3 --bound --record results/loadtest-batching.jsonl') },
  { name: 'loadtest-small', doc: 'README.md', render: loadTestTable('results/loadtest-small.jsonl', 'node dist/bench/loadtest.js --preset small --clients 1,8 --seconds 60 --rounds 3 --bound --record results/loadtest-small.jsonl') },
  { name: 'loadtest-64', doc: 'README.md', render: loadTestStress('results/loadtest-64.jsonl', 'node dist/bench/loadtest.js --clients 64 --max-active 64 --seconds 60 --rounds 3 --record results/loadtest-64.jsonl') },
  { name: 'loadtest-memory', doc: 'README.md', render: loadTestMemory('results/loadtest-memory.jsonl', 'node dist/bench/loadtest.js --clients 64 --max-active 64 --seconds 240 --memory-every 10 --record results/loadtest-memory.jsonl', defaultKvMiB) },
  { name: 'front-sample', doc: 'README.md', render: frontPage },
  { name: 'ordering', doc: 'README.md', render: ordering },
  { name: 'default-model', doc: 'models/default/README.md', render: defaultModel },
  { name: 'default-sweep', doc: 'models/default/README.md', render: defaultSweep },
];
