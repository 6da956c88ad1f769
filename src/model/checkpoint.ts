/**
 * Checkpoint directories in the HF layout: `config.json` + `model.safetensors` (spec 8), read through
 * checkpoint-format.ts (shared with browsers), written atomically, summarised for `bd3lm info`.
 */
import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import { type ModelConfig, parseConfigText, toHfConfig } from './config.js';
import { CONFIG_FILE, WEIGHTS_FILE, checkTensors, quantizationOf, readCheckpoint, resolveConfig, type CheckpointContents } from './checkpoint-format.js';
import { expectedParams, numel, paramCount } from './params.js';
import { CheckpointError, type SaveDtype, type SaveTensor, atomicWrite, openSafetensors, saveSafetensors } from './safetensors.js';
import { quantizeRows } from '../tensor/int8.js';
import { INT8_CONFIG, INT8_SCHEME, scaleName } from './quantize.js';
import { isStoredWeight } from './weights.js';

export { CONFIG_FILE, WEIGHTS_FILE };

export interface LoadedCheckpoint extends CheckpointContents {
  dir: string;
}

function filesOf(dir: string): { configPath: string; weightsPath: string } {
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch {
    throw new CheckpointError(dir, 'checkpoint directory does not exist');
  }
  if (!st.isDirectory()) throw new CheckpointError(dir, `not a directory (expected a folder with ${CONFIG_FILE} and ${WEIGHTS_FILE})`);
  const weightsPath = nodePath.join(dir, WEIGHTS_FILE);
  if (!fs.existsSync(weightsPath)) {
    const other = fs.readdirSync(dir).find((f) => /\.(ckpt|bin|pt|pth)$/.test(f));
    const hint = other ? `; found ${other}: a Lightning checkpoint converts with bd3lm convert ${nodePath.join(dir, other)} --config config.json --out DIR` : '';
    throw new CheckpointError(weightsPath, `missing${hint}`);
  }
  return { configPath: nodePath.join(dir, CONFIG_FILE), weightsPath };
}

function readText(path: string): string {
  try {
    return fs.readFileSync(path, 'utf8');
  } catch (e) {
    throw new CheckpointError(path, `cannot read config: ${(e as Error).message}`);
  }
}

/** Reads and parses a config.json; every failure names the file. */
export function readConfigFile(path: string): ModelConfig {
  return parseConfigText(readText(path), path);
}

export function loadCheckpoint(
  dir: string,
  opts: { alloc?: (n: number) => Float32Array; allowNonFinite?: boolean } = {},
): LoadedCheckpoint {
  const { configPath, weightsPath } = filesOf(dir);
  const file = openSafetensors(weightsPath);
  try {
    return { ...readCheckpoint(readText(configPath), configPath, file, opts), dir };
  } finally {
    file.close();
  }
}

/**
 * Writes `config.json` and `model.safetensors` (each atomically; weights first so a crash never leaves a config
 * describing weights that were not written). `dtype` applies to trainable parameters only; buffers stay F32.
 * `quantization: 'int8'` stores the large matrices as I8 + row scales (quantize.ts) and says so in config.json.
 */
export function saveCheckpoint(
  dir: string,
  config: ModelConfig,
  tensors: Map<string, Float32Array>,
  opts: { dtype?: SaveDtype; quantization?: 'int8' } = {},
): void {
  const specs = expectedParams(config);
  const problems: string[] = [];
  const known = new Set(specs.map((s) => s.name));
  for (const s of specs) {
    const t = tensors.get(s.name);
    if (!t) problems.push(`missing tensor "${s.name}"`);
    else if (t.length !== numel(s.shape)) problems.push(`tensor "${s.name}" has ${t.length} values, shape [${s.shape.join(', ')}] needs ${numel(s.shape)}`);
  }
  for (const name of tensors.keys()) if (!known.has(name)) problems.push(`unexpected tensor "${name}"`);
  if (problems.length) throw new CheckpointError(dir, `cannot save checkpoint:\n  ${problems.join('\n  ')}`);
  fs.mkdirSync(dir, { recursive: true });
  const out: SaveTensor[] = [];
  for (const s of specs) {
    const t = tensors.get(s.name)!;
    if (opts.quantization && isStoredWeight(s.name)) {
      const [rows] = s.shape;
      const q = { data: new Int8Array(t.length), scales: new Float32Array(rows) };
      quantizeRows(t, rows, t.length / rows, q.data, q.scales);
      out.push({ name: s.name, shape: s.shape, data: q.data }, { name: scaleName(s.name), shape: [rows], data: q.scales });
    } else out.push({ name: s.name, shape: s.shape, data: t, dtype: s.kind === 'param' ? opts.dtype : 'F32' });
  }
  saveSafetensors(nodePath.join(dir, WEIGHTS_FILE), out, { format: 'pt' }); // transformers' from_pretrained refuses files without it
  const hf = toHfConfig(config);
  if (opts.quantization) hf.quantization_config = { ...INT8_CONFIG };
  const json = JSON.stringify(hf, null, 2) + '\n';
  atomicWrite(nodePath.join(dir, CONFIG_FILE), (write) => write(Buffer.from(json, 'utf8')));
}

export interface TensorSummary {
  name: string;
  shape: number[];
  dtype: string;
  numel: number;
  /** scale: the row scales of an int8 matrix (whose own summary is of its int8 values) */
  kind: 'param' | 'buffer' | 'scale' | 'unexpected';
  /** over the finite values; NaN when there are none */
  min: number;
  max: number;
  mean: number;
  /** population standard deviation */
  std: number;
  nonFinite: number;
}

export interface CheckpointDescription {
  dir: string;
  config: ModelConfig;
  trainableParams: number;
  fileBytes: number;
  metadata: Record<string, string> | null;
  notes: string[];
  /** the weight storage config.json declares (quantization_config), null for float tensors */
  quantization: { method: 'int8'; scheme: string } | null;
  /** mismatches against the architecture (reported, not thrown, so `info` can show a broken checkpoint) */
  problems: string[];
  /** in file header order */
  tensors: TensorSummary[];
}

/** Data for `bd3lm info`: reads one tensor at a time, so memory stays at the largest tensor. */
export function describeCheckpoint(dir: string): CheckpointDescription {
  const { configPath, weightsPath } = filesOf(dir);
  const file = openSafetensors(weightsPath);
  try {
    const { header } = file;
    const notes: string[] = [];
    const configText = readText(configPath);
    const config = resolveConfig(configText, configPath, new Map(header.entries.map((e) => [e.name, e.shape])), notes);
    const specs = new Map(expectedParams(config).map((s) => [s.name, s]));
    const quantization = quantizationOf(configText, configPath);
    const { expected, problems } = checkTensors(config, quantization, header);
    const scaleNames = new Set(expected.filter((e) => !specs.has(e.name)).map((e) => e.name));
    const tensors: TensorSummary[] = [];
    for (const e of header.entries) {
      const n = numel(e.shape);
      const kind = specs.get(e.name)?.kind ?? (scaleNames.has(e.name) ? ('scale' as const) : ('unexpected' as const));
      const base = { name: e.name, shape: [...e.shape], dtype: e.dtype, numel: n, kind };
      const a = new Float32Array(n);
      try {
        file.readInto(e.name, a);
      } catch (err) {
        problems.push((err as Error).message);
        tensors.push({ ...base, min: NaN, max: NaN, mean: NaN, std: NaN, nonFinite: 0 });
        continue;
      }
      tensors.push({ ...base, ...stats(a) });
    }
    for (const t of tensors) if (t.nonFinite) problems.push(`tensor "${t.name}" has ${t.nonFinite} NaN/Inf value(s)`);
    return {
      dir, config, trainableParams: paramCount(config), fileBytes: header.fileSize, metadata: header.metadata,
      notes, quantization: quantization && { method: quantization, scheme: INT8_SCHEME }, problems, tensors,
    };
  } finally {
    file.close();
  }
}

function stats(a: Float32Array): { min: number; max: number; mean: number; std: number; nonFinite: number } {
  let min = Infinity, max = -Infinity, sum = 0, cnt = 0, nonFinite = 0;
  for (let i = 0; i < a.length; i++) {
    const v = a[i];
    if (v - v !== 0) { nonFinite++; continue; }
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
    cnt++;
  }
  if (!cnt) return { min: NaN, max: NaN, mean: NaN, std: NaN, nonFinite };
  const mean = sum / cnt;
  let ss = 0; // two-pass: numerically stable for large tensors
  for (let i = 0; i < a.length; i++) {
    const v = a[i];
    if (v - v === 0) ss += (v - mean) * (v - mean);
  }
  return { min, max, mean, std: Math.sqrt(ss / cnt), nonFinite };
}
