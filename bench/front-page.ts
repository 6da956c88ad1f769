/**
 * Runs README's main command (Quick start's third line: the embedded default model, seed 1) a few times and records
 * what it printed: the text (every run must print the same), the stderr summary and each run's tokens/s, stamped with
 * commit, date and CPU. `npm run report` writes README's sample block from the latest record.
 *   node dist/bench/front-page.js [--runs 3] [--record results/front-page.jsonl]
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { provenance } from './provenance.js';

export const FRONT_ARGS = ['sample', '--prompt', 'And it came to pass', '--length', '200', '--top-p', '0.9', '--seed', '1', '--stream'];

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' }, record: { type: 'string' } }, strict: true });
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a positive integer, got ${values.runs}`);
const cli = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/cli/main.js');
const out: { text: string; stderr: string[]; tokens_per_s: number }[] = [];
for (let i = 0; i < runs; i++) {
  const r = spawnSync(process.execPath, [cli, ...FRONT_ARGS], { encoding: 'utf8', env: { ...process.env, BD3LM_BACKEND: 'native' } });
  if (r.status !== 0) throw new Error(`bd3lm ${FRONT_ARGS.join(' ')} exited ${r.status}: ${r.stderr}`);
  const stderr = r.stderr.trim().split('\n');
  const tps = /^([\d.]+) tokens\/s/.exec(stderr[stderr.length - 1]);
  if (!tps) throw new Error(`no tokens/s line on stderr: ${r.stderr}`);
  out.push({ text: r.stdout, stderr, tokens_per_s: Number(tps[1]) });
  process.stderr.write(`run ${i + 1}: ${stderr.join(' | ')}\n`);
}
if (out.some((o) => o.text !== out[0].text)) throw new Error('the runs printed different texts: the command is not deterministic here');
const line = { bench: 'front-page', command: `bd3lm ${FRONT_ARGS.map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(' ')}`, backend: 'native', ...provenance(), text: out[0].text, stderr: out[0].stderr, tokens_per_s: out.map((o) => o.tokens_per_s) };
if (values.record) appendFileSync(values.record, JSON.stringify(line) + '\n');
console.log(JSON.stringify({ ...line, text: `${line.text.length} characters` }));
