/**
 * The schema of the resume files: train/latest.json (which checkpoint folder is current) and that folder's
 * state.json (step, generator, loader position, clip interval, options). Resume reads them from disk, so they are
 * checked like any input: the folder must be a step folder inside the run's train/ (not a path that leaves it), the
 * generator state must be well-formed and not all zero (xoshiro's fixed point: every "random" number would be 0),
 * the options must describe the model in config.json. Every error names the file and the field.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ModelConfig } from '../model/config.js';

export interface Latest {
  step: number;
  /** the step folder's name under train/ */
  dir: string;
}

/** A resume file that is missing, unreadable or malformed. */
export class ResumeFileError extends Error {}

type Json = Record<string, unknown>;

/** The name of the step folder of `step` (what saveTrainState writes and latest.json must name). */
export const stepDirName = (step: number) => `step-${String(step).padStart(8, '0')}`;

function readJsonObject(file: string): Json {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ResumeFileError(`${file}: cannot read (${(e as Error).message})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ResumeFileError(`${file}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new ResumeFileError(`${file}: must be a JSON object`);
  return json as Json;
}

function fieldChecker(file: string, o: Json) {
  const fail = (field: string, what: string): never => {
    throw new ResumeFileError(`${file}: field "${field}" ${what}, got ${JSON.stringify(o[field]) ?? 'nothing'}`);
  };
  return {
    fail,
    count: (field: string): number => {
      const v = o[field];
      return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : fail(field, 'must be an integer >= 0');
    },
    object: (field: string): Json => {
      const v = o[field];
      return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : fail(field, 'must be an object');
    },
  };
}

/** train/latest.json of run folder `run`: its step and the checkpoint folder it names (checked to be inside train/). */
export function readLatest(run: string): Latest & { path: string } {
  const trainDir = path.join(run, 'train');
  const file = path.join(trainDir, 'latest.json');
  const o = readJsonObject(file);
  const { count, fail } = fieldChecker(file, o);
  const step = count('step');
  if (o.dir !== stepDirName(step)) fail('dir', `must be the step folder "${stepDirName(step)}" inside ${trainDir}`);
  const dir = path.join(trainDir, stepDirName(step));
  let real: string;
  try {
    real = fs.realpathSync(dir);
  } catch (e) {
    throw new ResumeFileError(`${file}: field "dir" names ${dir}, which cannot be opened (${(e as Error).message})`);
  }
  if (path.dirname(real) !== fs.realpathSync(trainDir)) fail('dir', `must be a folder inside ${trainDir}, not a link to ${real}`);
  return { step, dir: stepDirName(step), path: dir };
}

const ALGO_MODEL: Record<string, ModelConfig['modelType']> = { bd3lm: 'bd3lm', mdlm: 'mdlm', sedd: 'mdlm', ar: 'ar' };

/** Fields of a state.json checked against its schema, `latest` and the run's model config. */
export function checkTrainState(file: string, o: Json, latest: Latest, cfg: ModelConfig): void {
  const { count, object, fail } = fieldChecker(file, o);
  if (count('step') !== latest.step) fail('step', `must be ${latest.step}, the step of latest.json`);
  count('tokens');
  count('emaUpdates');
  count('metricsBytes');
  object('loader');
  const rng = o.rng;
  const word = (w: unknown) => typeof w === 'number' && Number.isInteger(w) && w >= 0 && w < 2 ** 32;
  if (!Array.isArray(rng) || rng.length !== 5 || !rng.slice(0, 4).every(word) || !(rng[4] === null || Number.isFinite(rng[4])))
    fail('rng', 'must be four 32-bit unsigned words and a spare normal (a number or null)');
  if ((rng as number[]).slice(0, 4).every((w) => w === 0)) fail('rng', 'is all zero (not a generator state: every draw would be 0)');
  const eps = (field: string) => (typeof o[field] === 'number' && o[field] >= 0 && o[field] <= 1 ? (o[field] as number) : fail(field, 'must be a number in [0, 1]'));
  if (eps('epsMin') > eps('epsMax')) fail('epsMin', `must be at most epsMax (${o.epsMax})`);
  const options = object('options');
  const algo = options.algo;
  if (typeof algo !== 'string' || !(algo in ALGO_MODEL)) fail('options', `must name the algorithm (algo ${Object.keys(ALGO_MODEL).join(' / ')})`);
  const want = ALGO_MODEL[algo as string];
  if (cfg.modelType !== want || (algo === 'sedd') !== (cfg.modelType === 'mdlm' && cfg.timeConditioning))
    fail('options', `says algo ${algo}, but the run's config.json describes a ${cfg.modelType} model${cfg.timeConditioning ? ' with time conditioning' : ''}`);
  if (algo === 'bd3lm' && options.blockSize !== null && options.blockSize !== undefined && options.blockSize !== cfg.blockSize)
    fail('options', `says block size ${JSON.stringify(options.blockSize)}, but the run's config.json has block_size ${cfg.blockSize}`);
}

/** state.json of the checkpoint folder `latest` names, parsed and checked. */
export function readTrainStateFile(latest: Latest & { path: string }, cfg: ModelConfig): Json {
  const file = path.join(latest.path, 'state.json');
  const o = readJsonObject(file);
  checkTrainState(file, o, latest, cfg);
  return o;
}
