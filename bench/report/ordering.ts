/**
 * The paper's likelihood ordering reproduced at small scale (scripts/reproduce-ordering.sh): per model its test
 * perplexity from `<run>.ppl.json` (diffusion models: the NELBO bound, the mean of its Monte-Carlo draws with their
 * min–max), its provenance from `<run>.time.json`, the run's shape from `<run>.config.json`.
 */
import * as path from 'node:path';
import { header, readJsonFile, row, type Rec } from './runs.js';

const DIR = 'results/ordering';

/** the paper's test perplexities (Arriola et al. 2025, Table 1: LM1B; Table 2: OpenWebText), quoted, not measured here */
const RUNS = [
  { run: 'ar', label: 'AR (causal DiT)', lm1b: '22.83', owt: '17.54' },
  { run: 'bd3lm-4', label: "BD3-LM L' = 4", lm1b: '≤ 28.23', owt: '≤ 20.73' },
  { run: 'bd3lm-16', label: "BD3-LM L' = 16", lm1b: '≤ 30.60', owt: '≤ 22.27' },
  { run: 'mdlm', label: 'MDLM', lm1b: '≤ 31.78', owt: '≤ 22.98' },
];

/** perplexity of an eval report, and with several draws of t the range of the draws' perplexities */
function ppl(ev: Rec): string {
  const bound = ev.bound ? '≤ ' : '';
  const draws = ev.nll_draws as number[] | undefined;
  const mean = Number(ev.ppl).toFixed(2);
  if (!draws || draws.length < 2) return `${bound}${mean}`;
  return `${bound}${mean} (${Math.exp(Math.min(...draws)).toFixed(2)}–${Math.exp(Math.max(...draws)).toFixed(2)})`;
}

export function ordering(root: string): string {
  const one = (run: string, kind: string): Rec | undefined => readJsonFile(path.join(root, DIR, `${run}.${kind}.json`));
  const have = RUNS.filter((r) => one(r.run, 'ppl') && one(r.run, 'time'));
  if (have.length < RUNS.length) return '_No complete recorded run yet. Record one with `scripts/reproduce-ordering.sh` (about 40 minutes on 2 cores), then `npm run report`._';
  const rows = have.map((r) => row([r.label, ppl(one(r.run, 'ppl')!), r.lm1b, r.owt]));
  const ev = one('bd3lm-4', 'ppl')!;
  const cfg = one('bd3lm-4', 'config')!;
  const t = one('bd3lm-4', 'time')!;
  const times = have.map((r) => one(r.run, 'time')!);
  const commits = [...new Set(times.map((x) => `${x.commit}${x.dirty ? ' + uncommitted changes' : ''}`))].join(', ');
  const L = Number(cfg.model_length);
  const steps = Number(t.steps);
  const draws = Number(ev.draws ?? 1);
  return [
    header(['model (this repo, bytes)', 'test PPL', 'paper LM1B (65B tokens)', 'paper OWT (524B tokens)']),
    ...rows,
    '',
    `Test perplexity per byte on ${Number(ev.sequences).toLocaleString('en-US')} held-out sequences of ${L} bytes ` +
      `(${Number(ev.tokens).toLocaleString('en-US')} tokens) with the EMA weights after ${steps.toLocaleString('en-US')} steps of 8 × ${L} ` +
      `= ${((steps * 8 * L) / 1e6).toFixed(2)}M training tokens each; the diffusion models' NELBO bound is ` +
      `${draws > 1 ? `the mean of ${draws} Monte-Carlo draws of t (the range of the draws in brackets)` : 'one Monte-Carlo draw of t'}; AR's NLL is exact. \`scripts/reproduce-ordering.sh\`, \`${DIR}/\`: ` +
      `${String(t.date).slice(0, 10)}, commit ${commits}, ${t.cpu} (${t.cores} cores). ` +
      "The paper's columns are its Tables 1 and 2 (GPT-2 BPE tokens, so only the order compares).",
  ].join('\n');
}
