/**
 * Figures inside README's and the model card's prose (`<!-- v:NAME -->…<!-- /v -->`), each computed from a recorded
 * run in results/ or models/default, or from a model's shape (parameter counts, file and cache sizes). Nothing here
 * is typed by hand: a figure that no file gives is not a value.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseHfConfig, PRESETS, type ModelConfig } from '../../src/model/config.js';
import { expectedParams, numel, paramCount } from '../../src/model/params.js';
import { kvCacheBytes } from '../../src/model/kvcache.js';
import { isStoredWeight } from '../../src/model/weights.js';
import { latestSession, readJsonFile, readJsonl, type Rec } from './runs.js';

export const WEIGHTS_LOGITS = 'results/weights-logits.jsonl';

const readJson = (root: string, file: string): Rec => {
  const rec = readJsonFile(path.join(root, file));
  if (!rec) throw new Error(`${file}: missing (a value of the report reads it)`);
  return rec;
};
const defaultConfig = (root: string): ModelConfig =>
  parseHfConfig(JSON.parse(fs.readFileSync(path.join(root, 'models/default/config.json'), 'utf8')), 'models/default/config.json');

/**
 * bytes of a model's parameters with its large matrices stored in `dtype` (int8: plus one fp32 scale per row), the
 * rest fp32, as `loadModel(…, { weights })` holds them and `bd3lm export --dtype int8` writes them; `all`: every
 * tensor in half precision, as `bd3lm export --dtype bf16|f16` writes them.
 */
export function storedBytes(cfg: ModelConfig, dtype: 'f32' | 'half' | 'int8', all = false): number {
  let n = 0;
  for (const s of expectedParams(cfg)) {
    const k = numel(s.shape);
    if (dtype === 'half' && all) n += 2 * k;
    else if (!isStoredWeight(s.name) || dtype === 'f32') n += 4 * k;
    else n += dtype === 'half' ? 2 * k : k + 4 * s.shape[0];
  }
  return n;
}

/** the bytes a model call multiplies: every stored matrix but the embedding table (looked up, not multiplied) */
function matmulBytes(cfg: ModelConfig): number {
  return expectedParams(cfg).filter((s) => isStoredWeight(s.name) && !s.name.includes('vocab_embed')).reduce((n, s) => n + 4 * numel(s.shape), 0);
}


const mb = (bytes: number, digits = 0) => `${(bytes / 1e6).toFixed(digits)} MB`;
const mib = (bytes: number) => `${Math.round(bytes / 2 ** 20)} MiB`;
const pct = (x: number, digits = 1) => `${(100 * x).toFixed(digits)} %`;
const millions = (n: number) => `${(n / 1e6).toFixed(1)}M`;

/** the latest session's weights-vs-fp32 logit records of `bench.js --only logits` */
export function weightLogits(root: string): Rec[] {
  return latestSession(readJsonl(path.join(root, WEIGHTS_LOGITS)), (r) => r.bench === 'logits');
}
const logitsOf = (root: string, model: string, weights: string, backend = 'native'): Rec => {
  const r = weightLogits(root).find((x) => x.model === model && x.weights === weights && x.backend === backend);
  if (!r) throw new Error(`${WEIGHTS_LOGITS}: no ${backend} ${model} ${weights} record in the latest session`);
  return r;
};

/** the sweep run named `run` (results/default-sweep.jsonl) */
const sweepRun = (root: string, run: string): Rec => {
  const r = readJsonl(path.join(root, 'results/default-sweep.jsonl')).find((x) => x.run === run);
  if (!r) throw new Error(`results/default-sweep.jsonl: no run '${run}'`);
  return r;
};

/** int8 scale granularity (per row vs per block of k) on the previous byte-level default model: one recorded comparison */
const granularity = (root: string): Rec => {
  const r = readJsonl(path.join(root, 'results/int8-accuracy.jsonl')).find((x) => x.bench === 'int8-granularity');
  if (!r) throw new Error('results/int8-accuracy.jsonl: no int8-granularity record');
  return r;
};

type Value = (root: string) => string;

const fixed: Record<string, Value> = {
  // the embedded default model (models/default)
  'default.params': (root) => paramCount(defaultConfig(root)).toLocaleString('en-US'),
  'default.params-m': (root) => millions(paramCount(defaultConfig(root))),
  'default.file-mb': (root) => mb(fs.statSync(path.join(root, 'models/default/model.safetensors')).size, 1),
  'default.int8-mb': (root) => mb(storedBytes(defaultConfig(root), 'int8'), 1),
  'default.matmul-mb': (root) => mb(matmulBytes(defaultConfig(root))),
  'default.bpb': (root) => Number(readJson(root, 'models/default/valid-ppl.json').bits_per_byte).toFixed(2),
  'default.chars-per-token': (root) => {
    const ev = readJson(root, 'models/default/valid-ppl.json');
    return (Number(ev.bytes) / Number(ev.tokens)).toFixed(1);
  },
  'default.context-chars': (root) => {
    const ev = readJson(root, 'models/default/valid-ppl.json');
    return (Math.round((defaultConfig(root).modelLength * Number(ev.bytes)) / Number(ev.tokens) / 10) * 10).toLocaleString('en-US');
  },
  'default.english': (root) => pct(Number(readJson(root, 'models/default/english.json').share), 0),
  // the released models' shape (the small preset)
  'small.params-m': () => millions(paramCount(PRESETS.small)),
  'small.f32-mb': () => mb(storedBytes(PRESETS.small, 'f32')),
  'small.f32-mb-1': () => mb(storedBytes(PRESETS.small, 'f32'), 1),
  'small.f32-mib': () => mib(storedBytes(PRESETS.small, 'f32')),
  'small.half-mb': () => mb(storedBytes(PRESETS.small, 'half')),
  'small.half-file-mb': () => mb(storedBytes(PRESETS.small, 'half', true)),
  'small.int8-mb': () => mb(storedBytes(PRESETS.small, 'int8')),
  'small.kv-mb': () => mb(kvCacheBytes(PRESETS.small, 1, PRESETS.small.modelLength, true)),
  // weight storage against fp32 (bench.js --only logits)
  'half.bf16-max': (root) => Math.max(...weightLogits(root).filter((r) => r.weights === 'bf16').map((r) => Number(r.max_rel_diff))).toExponential(1),
  'int8.default-rel': (root) => pct(Number(logitsOf(root, 'default', 'int8').max_rel_diff), 2),
  'int8.granularity.default-row': (root) => pct(Number((granularity(root).default as Rec).row), 2),
  'int8.granularity.default-block32': (root) => pct(Number((granularity(root).default as Rec).block32), 2),
  'int8.granularity.golden-row': (root) => pct(Number((granularity(root).golden as Rec).row), 2),
  'int8.granularity.golden-block32': (root) => pct(Number((granularity(root).golden as Rec).block32), 2),
  // the sweep that chose the default model (results/default-sweep.jsonl)
  'sweep.time-8k-vs-4k': (root) => pct(Number(sweepRun(root, 'bpe8k-kjv').train_seconds) / Number(sweepRun(root, 'bpe4k-kjv').train_seconds) - 1, 0),
  'sweep.bpe8k-kjv-w384.f16-mb': (root) => mb(2 * Number(sweepRun(root, 'bpe8k-kjv-w384').parameters)),
  'sweep.draw-spread': (root) => {
    // the largest distance of one draw from its run's mean, over every run
    let worst = 0;
    for (const r of readJsonl(path.join(root, 'results/default-sweep.jsonl'))) {
      const p = r.ppl as Rec;
      const draws = p.nll_draws as number[];
      for (const d of draws) worst = Math.max(worst, Math.abs(d - Number(p.nll)) / Number(p.nll));
    }
    return `±${pct(worst, 0)}`;
  },
};

/** per sweep run: held-out bits per byte (mean of the draws, and the one-draw figure it first reported), dictionary words */
function sweepValue(root: string, name: string): string | undefined {
  const m = /^sweep\.([a-z0-9-]+)\.(bpb|bpb1|words)$/.exec(name);
  if (!m) return undefined;
  const r = sweepRun(root, m[1]);
  if (m[2] === 'bpb') return Number((r.ppl as Rec).bits_per_byte).toFixed(3);
  if (m[2] === 'bpb1') return Number((r.ppl_one_draw as Rec).bits_per_byte).toFixed(3);
  return pct(Number((r.english as Rec).share));
}

/** the value called `name`, or undefined when there is none */
export function value(root: string, name: string): string | undefined {
  const f = fixed[name];
  return f ? f(root) : sweepValue(root, name);
}
