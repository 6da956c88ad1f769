/**
 * Training checkpoints. A run folder holds the published model in the HF layout (config.json + model.safetensors
 * with the EMA weights, spec 8) and, under train/, everything needed to resume: the raw weights, the Adam moments,
 * the EMA shadow and state.json (step, RNG, loader position, clip interval, options). Each save writes a new
 * train/step-N/ folder completely, then atomically replaces train/latest.json; only then are older step folders
 * removed. A crash or a full disk mid-save therefore leaves the previous checkpoint readable.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { saveSafetensors, loadSafetensors, atomicWrite } from '../model/safetensors.js';
import { expectedParams } from '../model/params.js';
import type { ModelConfig } from '../model/config.js';
import { readLatest, readTrainStateFile, stepDirName } from './state-schema.js';

export interface TrainState {
  step: number;
  /** training tokens consumed (x_0 tokens) */
  tokens: number;
  emaUpdates: number;
  rng: number[];
  loader: unknown;
  epsMin: number;
  epsMax: number;
  /** the options the run was started with (checked on resume) */
  options: Record<string, unknown>;
  /** bytes of metrics.jsonl written up to this checkpoint (resume truncates to it) */
  metricsBytes: number;
}

export interface TrainTensors {
  params: Map<string, Float32Array>;
  m: Map<string, Float32Array>;
  v: Map<string, Float32Array>;
  ema: Map<string, Float32Array>;
}

const trainDir = (run: string) => path.join(run, 'train');
const latestFile = (run: string) => path.join(trainDir(run), 'latest.json');

function saveMap(file: string, cfg: ModelConfig, map: Map<string, Float32Array>): void {
  const shapes = new Map(expectedParams(cfg).map((s) => [s.name, s.shape]));
  saveSafetensors(file, [...map].map(([name, data]) => ({ name, shape: shapes.get(name) ?? [data.length], data })));
}

export function saveTrainState(run: string, cfg: ModelConfig, state: TrainState, t: TrainTensors): void {
  const dirName = stepDirName(state.step);
  const dir = path.join(trainDir(run), dirName);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  saveMap(path.join(dir, 'params.safetensors'), cfg, t.params);
  saveMap(path.join(dir, 'adam_m.safetensors'), cfg, t.m);
  saveMap(path.join(dir, 'adam_v.safetensors'), cfg, t.v);
  saveMap(path.join(dir, 'ema.safetensors'), cfg, t.ema);
  atomicWrite(path.join(dir, 'state.json'), (w) => w(Buffer.from(JSON.stringify(state))));
  // the commit point: latest.json names the new folder
  atomicWrite(latestFile(run), (w) => w(Buffer.from(JSON.stringify({ step: state.step, dir: dirName }) + '\n')));
  for (const d of fs.readdirSync(trainDir(run))) {
    if (d.startsWith('step-') && d !== dirName) fs.rmSync(path.join(trainDir(run), d), { recursive: true, force: true });
  }
}

export function hasTrainState(run: string): boolean {
  return fs.existsSync(latestFile(run));
}

/**
 * Reads the latest complete checkpoint into `t` (arrays of the right sizes, e.g. the live model's) and returns its
 * state with the file it came from; latest.json and state.json are checked first (state-schema.ts).
 */
export function loadTrainState(run: string, cfg: ModelConfig, t: TrainTensors): { state: TrainState; file: string } {
  const latest = readLatest(run);
  const state = readTrainStateFile(latest, cfg) as unknown as TrainState;
  const dir = latest.path;
  const fill = (file: string, into: Map<string, Float32Array>) => {
    const loaded = loadSafetensors(path.join(dir, file), { alloc: (n) => new Float32Array(n) });
    for (const [name, dst] of into) {
      const src = loaded.tensors.get(name);
      if (!src || src.length !== dst.length) throw new Error(`${path.join(dir, file)}: tensor ${name} is missing or has another size`);
      dst.set(src);
    }
  };
  fill('params.safetensors', t.params);
  fill('adam_m.safetensors', t.m);
  fill('adam_v.safetensors', t.v);
  fill('ema.safetensors', t.ema);
  return { state, file: path.join(dir, 'state.json') };
}
