/**
 * `bd3lm eval <metric>`: sample-quality and likelihood evaluations, one subcommand each (gen-ppl for now).
 */
import * as fs from 'node:fs';
import { parseArgs } from 'node:util';
import { loadModel } from '../model/load.js';
import { loadTokenizer } from '../data/load-tokenizer.js';
import { genPPL } from '../eval/genppl.js';
import type { BackendName } from '../tensor/backend.js';
import { UsageError, withUsage } from './args.js';

const GEN_PPL_USAGE = 'bd3lm eval gen-ppl --judge DIR SAMPLES.jsonl [--window 1024] [--stride W/2] [--max-length N] [--per-sample] [--backend native|wasm|ref]';
export const EVAL_USAGE = `bd3lm eval <metric> ...\n  ${GEN_PPL_USAGE}`;

/** One sample per line: {"text": "..."} (tokenized with the judge's tokenizer) or {"tokens": [ids]}. */
export function readSamples(file: string, encode: () => Promise<(text: string) => number[]>): Promise<number[][]> {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  return (async () => {
    const out: number[][] = [];
    let enc: ((text: string) => number[]) | undefined;
    for (let i = 0; i < lines.length; i++) {
      if (!lines[i].trim()) continue;
      let row: { text?: unknown; tokens?: unknown };
      try {
        row = JSON.parse(lines[i]);
      } catch (e) {
        throw new Error(`${file}:${i + 1}: not JSON (${(e as Error).message})`);
      }
      if (Array.isArray(row.tokens) && row.tokens.every((t) => Number.isInteger(t))) out.push(row.tokens as number[]);
      else if (typeof row.text === 'string') out.push((enc ??= await encode())(row.text));
      else throw new Error(`${file}:${i + 1}: expected {"text": string} or {"tokens": [integers]}`);
    }
    return out;
  })();
}

async function genPplCommand(args: string[]): Promise<number> {
  const { values, positionals } = withUsage(GEN_PPL_USAGE, () =>
    parseArgs({
      args,
      options: { judge: { type: 'string' }, window: { type: 'string' }, stride: { type: 'string' }, 'max-length': { type: 'string' }, 'per-sample': { type: 'boolean' }, backend: { type: 'string' } },
      allowPositionals: true,
      strict: true,
    }),
  );
  const bad = (m: string) => new UsageError(`${m}\nusage: ${GEN_PPL_USAGE}`);
  if (!values.judge) throw bad('--judge DIR is required');
  if (positionals.length !== 1) throw bad('expected one samples file');
  const int = (v: string | undefined, flag: string) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw bad(`${flag} must be a positive integer, got '${v}'`);
    return n;
  };
  const opts = { window: int(values.window, '--window'), stride: int(values.stride, '--stride'), maxLength: int(values['max-length'], '--max-length') };
  if (values.backend !== undefined && !['native', 'wasm', 'ref'].includes(values.backend)) throw bad(`unknown backend '${values.backend}'`);
  const judge = await loadModel(values.judge, { backend: values.backend as BackendName | undefined });
  const samples = await readSamples(positionals[0], async () => {
    const tok = await loadTokenizer(values.judge!, judge.config);
    return (t) => tok.encode(t);
  });
  const report = genPPL(judge, samples, opts);
  const { perSample, ...summary } = report;
  process.stdout.write(JSON.stringify(values['per-sample'] ? report : summary) + '\n');
  process.stderr.write(
    `${report.samples} samples: gen PPL ${report.pooledPpl.toFixed(3)} pooled, ${report.meanPpl.toFixed(3)} mean of samples; ` +
      `entropy ${report.meanEntropy.toFixed(3)}; length mean ${report.length.mean.toFixed(1)}, median ${report.length.median}, max ${report.length.max}\n`,
  );
  void perSample;
  return 0;
}

const metrics: Record<string, (args: string[]) => Promise<number>> = { 'gen-ppl': genPplCommand };

export async function runEval(args: string[]): Promise<number> {
  const [metric, ...rest] = args;
  const run = metric ? metrics[metric] : undefined;
  if (!run) throw new UsageError(`${metric ? `unknown metric '${metric}'` : 'missing metric'}\nusage: ${EVAL_USAGE}`);
  return run(rest);
}
