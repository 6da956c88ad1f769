/**
 * `bd3lm eval <metric>`: sample-quality and likelihood evaluations, one subcommand each (gen-ppl for now).
 */
import * as fs from 'node:fs';
import { parseArgs } from 'node:util';
import { loadModel, resolveModel } from '../model/load.js';
import type { DiT } from '../model/dit.js';
import { loadTokenizer } from '../data/load-tokenizer.js';
import { genPPL } from '../eval/genppl.js';
import { perplexity } from '../eval/ppl.js';
import { gradientVariance } from '../eval/variance.js';
import { Loader } from '../data/loader.js';
import { Wrapper } from '../data/wrap.js';
import { documents, listInputs } from '../data/corpus.js';
import * as path from 'node:path';
import type { BackendName } from '../tensor/backend.js';
import { UsageError, withUsage } from './args.js';

const PPL_USAGE = 'bd3lm eval ppl --model DIR (--data DATASET_DIR | --text FILE...) [--batch-size 8] [--max-batches N] [--seed 1] [--backend native|wasm|ref]';
const VARIANCE_USAGE = 'bd3lm eval variance --model DIR --data DATASET_DIR [--batches 8] [--batch-size 8] [--eps-min 1e-3] [--eps-max 1] [--seed 1] [--backend native|wasm|ref]';
const GEN_PPL_USAGE = 'bd3lm eval gen-ppl --judge DIR SAMPLES.jsonl [--window 1024] [--stride W/2] [--max-length N] [--per-sample] [--backend native|wasm|ref]';
export const EVAL_USAGE = `bd3lm eval <metric> ...\n  ${PPL_USAGE}\n  ${VARIANCE_USAGE}\n  ${GEN_PPL_USAGE}`;

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
  const judgeDir = await resolveModel(values.judge); // a folder or a repo id
  const judge = await loadModel(judgeDir, { backend: values.backend as BackendName | undefined });
  const samples = await readSamples(positionals[0], async () => {
    const tok = await loadTokenizer(judgeDir, judge.config);
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

/**
 * The first `max` batches, in file order, of a dataset split: DIR itself, or DIR/valid when DIR holds the splits.
 * The loader closes once the batches are consumed.
 */
function splitBatches(data: string, model: DiT, B: number, max: number, dropLast: boolean): { dir: string; batches: Iterable<{ ids: Int32Array; rows: number }> } {
  const dir = fs.existsSync(path.join(data, 'meta.json')) ? data : path.join(data, 'valid');
  const loader = new Loader(dir, { batchSize: B, shuffle: false, dropLast, expect: { L: model.config.modelLength, vocabSize: model.config.vocabSize } });
  const n = Math.min(max, loader.batchesPerEpoch);
  const batches = (function* () {
    for (let i = 0; i < n; i++) yield loader.next();
    loader.close();
  })();
  return { dir, batches };
}

/**
 * `eval ppl`: test perplexity on a prepared dataset split, or zero-shot on text files (spec 7.3: documents wrapped to
 * the model length as [BOS] + chunk + [EOS], no EOS between documents).
 */
async function pplCommand(args: string[]): Promise<number> {
  const { values, positionals } = withUsage(PPL_USAGE, () =>
    parseArgs({
      args,
      options: {
        model: { type: 'string' }, data: { type: 'string' }, text: { type: 'boolean' }, 'batch-size': { type: 'string' },
        'max-batches': { type: 'string' }, seed: { type: 'string' }, backend: { type: 'string' },
      },
      allowPositionals: true,
      strict: true,
    }),
  );
  const bad = (m: string) => new UsageError(`${m}\nusage: ${PPL_USAGE}`);
  if (!values.model) throw bad('--model DIR is required');
  if (!values.data === !values.text) throw bad('give --data DATASET_DIR or --text FILE...');
  if (values.text && positionals.length === 0) throw bad('--text needs at least one file');
  if (values.data && positionals.length) throw bad(`unexpected arguments: ${positionals.join(' ')}`);
  const int = (v: string | undefined, flag: string, min: number) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw bad(`${flag} must be an integer >= ${min}, got '${v}'`);
    return n;
  };
  const B = int(values['batch-size'], '--batch-size', 1) ?? 8;
  const maxBatches = int(values['max-batches'], '--max-batches', 1) ?? Infinity;
  const seed = int(values.seed, '--seed', 0) ?? 1;
  if (values.backend !== undefined && !['native', 'wasm', 'ref'].includes(values.backend)) throw bad(`unknown backend '${values.backend}'`);
  const modelDir = await resolveModel(values.model); // a folder or a repo id
  const model = await loadModel(modelDir, { backend: values.backend as BackendName | undefined });
  const L = model.config.modelLength;
  let batches: Iterable<{ ids: Int32Array; rows: number }>;
  let source: string;
  const tok = await loadTokenizer(modelDir, model.config);
  if (values.data) {
    ({ dir: source, batches } = splitBatches(values.data, model, B, maxBatches, false));
  } else {
    const rows: Int32Array[] = [];
    const w = new Wrapper({ L, insertEos: false, insertSpecial: true, bos: tok.bos, eos: tok.eos }, (r) => rows.push(Int32Array.from(r)));
    const files = listInputs(positionals, (file, why) => process.stderr.write(`bd3lm eval: skipping ${file}: ${why}\n`));
    for (const d of documents(files)) w.push(tok.encode(d.text));
    if (rows.length === 0) throw new Error(`the text is shorter than one sequence of ${L} tokens`);
    batches = (function* () {
      for (let i = 0; i < rows.length && i / B < maxBatches; i += B) {
        const part = rows.slice(i, i + B);
        const ids = new Int32Array(part.length * L);
        part.forEach((r, j) => ids.set(r, j * L));
        yield { ids, rows: part.length };
      }
    })();
    source = positionals.join(' ');
  }
  const tty = process.stderr.isTTY === true;
  // special tokens (BOS/EOS, mask) stand for no text: 0 bytes
  const bytesOf = (id: number) => (id === tok.eos || id === tok.bos || id === tok.mask ? 0 : tok.tokenBytes(id).length);
  const report = perplexity(model, batches, { seed, bytesOf, onBatch: (n) => tty && process.stderr.write(`\reval: ${n} sequences`) });
  if (tty) process.stderr.write('\n');
  process.stdout.write(JSON.stringify({ model: values.model, data: source, ...report }) + '\n');
  return 0;
}

/** `eval variance`: the gradient-variance estimator of eq. 10 over validation batches. */
async function varianceCommand(args: string[]): Promise<number> {
  const { values } = withUsage(VARIANCE_USAGE, () =>
    parseArgs({
      args,
      options: {
        model: { type: 'string' }, data: { type: 'string' }, batches: { type: 'string' }, 'batch-size': { type: 'string' },
        'eps-min': { type: 'string' }, 'eps-max': { type: 'string' }, seed: { type: 'string' }, backend: { type: 'string' },
      },
      strict: true,
    }),
  );
  const bad = (m: string) => new UsageError(`${m}\nusage: ${VARIANCE_USAGE}`);
  if (!values.model || !values.data) throw bad('--model and --data are required');
  const num = (v: string | undefined, flag: string, ok: (n: number) => boolean) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (v.trim() === '' || !ok(n)) throw bad(`${flag} got '${v}'`);
    return n;
  };
  const M = num(values.batches, '--batches', (n) => Number.isInteger(n) && n >= 2) ?? 8;
  const B = num(values['batch-size'], '--batch-size', (n) => Number.isInteger(n) && n >= 1) ?? 8;
  const epsMin = num(values['eps-min'], '--eps-min', (n) => n > 0 && n <= 1);
  const epsMax = num(values['eps-max'], '--eps-max', (n) => n > 0 && n <= 1);
  if ((epsMin ?? 1e-3) > (epsMax ?? 1)) throw bad('--eps-min must not exceed --eps-max');
  if (values.backend !== undefined && !['native', 'wasm', 'ref'].includes(values.backend)) throw bad(`unknown backend '${values.backend}'`);
  const model = await loadModel(values.model, { backend: values.backend as BackendName | undefined });
  // full batches only: the estimator compares equally sized batches
  const { dir, batches } = splitBatches(values.data, model, B, M, true);
  const report = gradientVariance(model, batches, { epsMin, epsMax, seed: num(values.seed, '--seed', (x) => Number.isInteger(x) && x >= 0) });
  process.stdout.write(JSON.stringify({ model: values.model, data: dir, ...report }) + '\n');
  return 0;
}

const metrics: Record<string, (args: string[]) => Promise<number>> = { ppl: pplCommand, variance: varianceCommand, 'gen-ppl': genPplCommand };

export async function runEval(args: string[]): Promise<number> {
  const [metric, ...rest] = args;
  const run = metric ? metrics[metric] : undefined;
  if (!run) throw new UsageError(`${metric ? `unknown metric '${metric}'` : 'missing metric'}\nusage: ${EVAL_USAGE}`);
  return run(rest);
}
