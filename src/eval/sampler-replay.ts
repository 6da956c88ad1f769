/**
 * Replays one of the authors' logged sampler runs (sample_<mode>.json + sample_<mode>_rand_like.npy +
 * sample_<mode>_final.npy in a golden folder): every random draw is served from the log, and every update step
 * (window in/out, reuse of p(x0), t), the final sequence and the NFE count are compared (spec 5.3, 5.4).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DiT } from '../model/dit.js';
import { npyToFloat64, npyToInt32, readNpy } from '../model/npy.js';
import { ReplayRandom } from '../tensor/sampling/random.js';
import { sampleSemiAR } from '../sampling/semi-ar.js';
import type { StepTrace } from '../sampling/block.js';

export type TraceMode = 'first_hitting' | 'ddpm';

interface GoldenStep { t: number; dt: number; used_cache: boolean; x_in: number[]; x_out: number[] }
interface GoldenTrace {
  T: number; block_size: number; seqlen: number; nucleus_p: number; nfes: number;
  np_rand: number[]; randint: number[]; n_rand_like: number; steps: GoldenStep[]; final: number[];
}

export interface ReplayReport {
  ok: boolean;
  steps: number;
  expected_steps: number;
  /** first differences found (at most 5), empty when identical */
  mismatches: string[];
  nfe: number;
  expected_nfe: number;
  final_equal: boolean;
  /** every logged draw consumed, none left over */
  draws_consumed: boolean;
}

export function hasTrace(dir: string, mode: TraceMode): boolean {
  return fs.existsSync(path.join(dir, `sample_${mode}.json`));
}

export function replayTrace(model: DiT, dir: string, mode: TraceMode, o: { cache?: boolean; maskId: number; bos: number }): ReplayReport {
  const trace = JSON.parse(fs.readFileSync(path.join(dir, `sample_${mode}.json`), 'utf8')) as GoldenTrace;
  const randLike = readNpy(path.join(dir, `sample_${mode}_rand_like.npy`));
  const chunk = randLike.shape.slice(1).reduce((a, b) => a * b, 1);
  const final = npyToInt32(readNpy(path.join(dir, `sample_${mode}_final.npy`)));
  const random = new ReplayRandom({ uniform: trace.np_rand, randint: trace.randint, uniforms: npyToFloat64(randLike), chunk });
  const steps: StepTrace[] = [];
  const r = sampleSemiAR(model, {
    length: trace.seqlen, blockSize: trace.block_size, steps: trace.T, mode: mode === 'ddpm' ? 'ddpm' : 'first-hitting',
    topP: trace.nucleus_p, cache: o.cache ?? true, random, maskId: o.maskId, bos: o.bos, stop: false, onStep: (s) => steps.push(s),
  });
  const mismatches: string[] = [];
  const same = (a: ArrayLike<number>, b: number[]) => a.length === b.length && Array.from(a).every((v, i) => v === b[i]);
  for (let i = 0; i < Math.min(steps.length, trace.steps.length) && mismatches.length < 5; i++) {
    const a = steps[i];
    const e = trace.steps[i];
    if (!same(a.xIn, e.x_in)) mismatches.push(`step ${i}: x_in`);
    else if (!same(a.xOut, e.x_out)) mismatches.push(`step ${i}: x_out ${Array.from(a.xOut)} vs ${e.x_out}`);
    else if (a.usedCache !== e.used_cache) mismatches.push(`step ${i}: used_cache`);
    else if (Math.abs(a.t[0] - e.t) > 1e-6) mismatches.push(`step ${i}: t ${a.t[0]} vs ${e.t}`);
    else if (Math.abs(a.dt - e.dt) > 1e-12) mismatches.push(`step ${i}: dt`);
  }
  const c = random.consumed();
  const drawsConsumed = c.uniform === trace.np_rand.length && c.randint === trace.randint.length && c.uniforms === trace.n_rand_like;
  const finalEqual = same(r.tokens, Array.from(final));
  return {
    ok: mismatches.length === 0 && steps.length === trace.steps.length && finalEqual && r.nfe === trace.nfes && drawsConsumed,
    steps: steps.length, expected_steps: trace.steps.length, mismatches, nfe: r.nfe, expected_nfe: trace.nfes,
    final_equal: finalEqual, draws_consumed: drawsConsumed,
  };
}
