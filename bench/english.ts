/**
 * The default model's English check (issue 16): runs `bd3lm sample --length 300 --top-p 0.9 --seed S` for S = 1..8
 * (no prompt) on a model folder and prints the share of dictionary words (Debian wamerican), distinct/words and the
 * samples' tokens/s as one JSON line.
 *   usage: node dist/bench/english.js [--model DIR] [--seeds 8] [--length 300] [--dict /usr/share/dict/american-english]
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { dictionaryFrom, wordStats } from '../src/eval/words.js';

const { values } = parseArgs({ options: { model: { type: 'string' }, seeds: { type: 'string' }, length: { type: 'string' }, dict: { type: 'string' }, samples: { type: 'string' } } });
const cli = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.js');
const dictFile = values.dict ?? '/usr/share/dict/american-english';
if (!fs.existsSync(dictFile)) throw new Error(`${dictFile}: no word list (apt-get install wamerican)`);
const dict = dictionaryFrom(fs.readFileSync(dictFile, 'utf8'));
const seeds = Number(values.seeds ?? 8);
const texts: string[] = [];
let tokens = 0;
let seconds = 0;
for (let s = 1; s <= seeds; s++) {
  const args = [cli, 'sample', '--length', values.length ?? '300', '--top-p', '0.9', '--seed', String(s), '--json'];
  if (values.model) args.push('--model', values.model);
  const out = JSON.parse(execFileSync(process.execPath, args, { encoding: 'utf8' }).trim().split('\n').pop()!);
  texts.push(out.text);
  tokens += out.tokens.length;
  seconds += out.seconds;
}
const st = wordStats(texts, dict);
if (values.samples) fs.writeFileSync(values.samples, texts.map((t, i) => JSON.stringify({ seed: i + 1, text: t })).join('\n') + '\n');
process.stdout.write(JSON.stringify({ model: values.model ?? 'default', seeds, ...st, tokens_per_s: seconds > 0 ? tokens / seconds : null }) + '\n');
