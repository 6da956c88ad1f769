/**
 * `bd3lm eval ppl|variance|gen-ppl`: likelihood and sample-quality evaluations, one subcommand each.
 */
import * as fs from 'node:fs';
import { loadModel, resolveModel } from '../model/load.js';
import type { DiT } from '../model/dit.js';
import { loadTokenizer } from '../data/load-tokenizer.js';
import { tokenByteLength } from '../data/tokenizer.js';
import { genPPL } from '../eval/genppl.js';
import { perplexity } from '../eval/ppl.js';
import { gradientVariance } from '../eval/variance.js';
import { Loader } from '../data/loader.js';
import { Wrapper } from '../data/wrap.js';
import { documents, listInputs } from '../data/corpus.js';
import * as path from 'node:path';
import type { BackendName } from '../tensor/backend.js';
import { numberFlag, type NumberRule } from './args.js';
import { BACKEND_OPTION, MODEL_OPTIONS } from './model-flags.js';
import type { WeightDtype } from '../model/storage.js';
import { defineCommand, parseCommand, usageError, type Command } from './options.js';

export const EVAL_PPL = defineCommand({
  name: 'eval ppl',
  summary: 'Test perplexity on a prepared dataset split, or zero-shot on text files: the NELBO bound for diffusion ' +
    "models, the exact NLL for AR and L' = 1 (JSON on stdout).",
  args: '[FILE...]',
  positionals: [0, Infinity],
  options: {
    model: { value: 'DIR', required: true, help: 'checkpoint folder' },
    data: { value: 'DATASET_DIR', help: 'a prepared split, or a folder holding valid/' },
    text: { help: 'zero-shot: the FILE arguments, wrapped to the model length' },
    'batch-size': { value: 'N', default: '8', help: 'sequences per batch' },
    'max-batches': { value: 'N', help: 'stop after N batches (default: all)' },
    seed: { value: 'S', default: '1', help: 'draws the noise levels t' },
    draws: { value: 'N', default: '1', help: 'average N independent draws of t (seeds S .. S+N-1): the NELBO is a Monte-Carlo estimate, noisy on small splits' },
    ...BACKEND_OPTION,
    weights: MODEL_OPTIONS.weights,
  },
});

export const EVAL_VARIANCE = defineCommand({
  name: 'eval variance',
  summary: 'The gradient-variance estimator of eq. 10 over validation batches, under a clip interval (JSON on stdout).',
  options: {
    model: { value: 'DIR', required: true, help: 'checkpoint folder' },
    data: { value: 'DATASET_DIR', required: true, help: 'a prepared split, or a folder holding valid/' },
    batches: { value: 'N', default: '8', help: 'batches (at least 2)' },
    'batch-size': { value: 'N', default: '8', help: 'sequences per batch' },
    'eps-min': { value: 'E', help: 'clip interval start, in (0, 1] (default 1e-3)' },
    'eps-max': { value: 'E', help: 'clip interval end, in (0, 1] (default 1)' },
    seed: { value: 'S', help: 'draws the noise levels t' },
    ...BACKEND_OPTION,
  },
});

export const EVAL_GEN_PPL = defineCommand({
  name: 'eval gen-ppl',
  summary: 'Generative perplexity of samples under an AR judge (1024-window / 512-stride, EOS excluded), entropy, ' +
    'lengths (JSON on stdout).',
  args: 'SAMPLES.jsonl',
  positionals: [1, 1],
  options: {
    judge: { value: 'DIR', required: true, help: 'the AR judge checkpoint' },
    window: { value: 'N', help: "tokens per window (default 1024, capped at the judge's length)" },
    stride: { value: 'N', help: 'window stride (default window / 2)' },
    'max-length': { value: 'N', help: 'truncate samples to N tokens' },
    'per-sample': { help: 'include the figures of every sample' },
    ...BACKEND_OPTION,
  },
});

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
  const parsed = parseCommand(EVAL_GEN_PPL, args);
  if (!parsed) return 0;
  const { values, positionals } = parsed;
  const int = (v: string | undefined, flag: string) => numberFlag(v, flag, { int: true, min: 1 }, (m) => usageError(EVAL_GEN_PPL, m));
  const opts = { window: int(values.window, '--window'), stride: int(values.stride, '--stride'), maxLength: int(values['max-length'], '--max-length') };
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
  const parsed = parseCommand(EVAL_PPL, args);
  if (!parsed) return 0;
  const { values, positionals } = parsed;
  const bad = (m: string) => usageError(EVAL_PPL, m);
  if (!values.data === !values.text) throw bad('give --data DATASET_DIR or --text FILE...');
  if (values.text && positionals.length === 0) throw bad('--text needs at least one file');
  if (values.data && positionals.length) throw bad(`unexpected arguments: ${positionals.join(' ')}`);
  const int = (v: string | undefined, flag: string, min: number) => numberFlag(v, flag, { int: true, min }, bad);
  const B = int(values['batch-size'], '--batch-size', 1)!;
  const maxBatches = int(values['max-batches'], '--max-batches', 1) ?? Infinity;
  const seed = int(values.seed, '--seed', 0)!;
  const draws = int(values.draws, '--draws', 1)!;
  const modelDir = await resolveModel(values.model); // a folder or a repo id
  const model = await loadModel(modelDir, { backend: values.backend as BackendName | undefined, weights: values.weights as WeightDtype | undefined });
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
  const report = perplexity(model, batches, { seed, draws, bytesOf: tokenByteLength(tok), onBatch: (n) => tty && process.stderr.write(`\reval: ${n} sequences`) });
  if (tty) process.stderr.write('\n');
  process.stdout.write(JSON.stringify({ model: values.model, data: source, ...report }) + '\n');
  return 0;
}

/** `eval variance`: the gradient-variance estimator of eq. 10 over validation batches. */
async function varianceCommand(args: string[]): Promise<number> {
  const parsed = parseCommand(EVAL_VARIANCE, args);
  if (!parsed) return 0;
  const { values } = parsed;
  const num = (v: string | undefined, flag: string, rule: NumberRule) => numberFlag(v, flag, rule, (m) => usageError(EVAL_VARIANCE, m));
  const M = num(values.batches, '--batches', { int: true, min: 2 })!;
  const B = num(values['batch-size'], '--batch-size', { int: true, min: 1 })!;
  const epsMin = num(values['eps-min'], '--eps-min', { gt: 0, max: 1 });
  const epsMax = num(values['eps-max'], '--eps-max', { gt: 0, max: 1 });
  if ((epsMin ?? 1e-3) > (epsMax ?? 1)) throw usageError(EVAL_VARIANCE, '--eps-min must not exceed --eps-max');
  // gradients need fp32 weights, whatever the file stores
  const model = await loadModel(values.model, { backend: values.backend as BackendName | undefined, weights: 'f32' });
  // full batches only: the estimator compares equally sized batches
  const { dir, batches } = splitBatches(values.data, model, B, M, true);
  const report = gradientVariance(model, batches, { epsMin, epsMax, seed: num(values.seed, '--seed', { int: true, min: 0 }) });
  process.stdout.write(JSON.stringify({ model: values.model, data: dir, ...report }) + '\n');
  return 0;
}

export const evalCommands: Command[] = [
  { spec: EVAL_PPL, run: pplCommand },
  { spec: EVAL_VARIANCE, run: varianceCommand },
  { spec: EVAL_GEN_PPL, run: genPplCommand },
];
