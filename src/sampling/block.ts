/**
 * Denoising of one window's active positions: the inner loop of the semi-AR sampler (spec 5.3) with the
 * reference's DDPM caching update. Works on [batch][W] windows in place; the reference asserts batch 1 for
 * first hitting, here each item keeps its own t and draws its own position (batch 1 is the reference exactly).
 */
import { sampleCategorical } from './categorical.js';
import type { ProbFilters } from './filters.js';
import type { RandomSource } from './random.js';
import { ddpmPosterior, linspaceF32, sigmaFromP } from './schedule.js';
import { subsProbs, type WindowModel } from './window-model.js';

export type DenoiseMode = 'first-hitting' | 'ddpm';

/**
 * DDPM time grid. 'reference': t_i = linspace(1, 0, T)[i] with s = t - 1/T (spacing 1/(T-1), and t = 0 at the
 * last step: masks still present there become token 0 — spec 5.3 gotcha, reproduced). 'exact': t_i = 1 - i/T, the
 * grid the posterior assumes (the last step has s = 0 and reveals every remaining mask).
 */
export type DdpmGrid = 'reference' | 'exact';

export interface StepTrace {
  /** step index within the block loop */
  step: number;
  /** per item: the t passed to the update, rounded to float32 as the reference's `t * ones` */
  t: Float64Array;
  dt: number;
  /** whether the previous step's p(x0) was reused (nothing changed since the last model call) */
  usedCache: boolean;
  /** the window [batch][W] before and after the step (copies) */
  xIn: Int32Array;
  xOut: Int32Array;
}

export interface BlockOptions {
  wm: WindowModel;
  /** [batch][W], updated in place */
  window: Int32Array;
  batch: number;
  W: number;
  /** how many trailing positions of each window are sampled (L' for BD3-LM, the window for MDLM) */
  active: number;
  steps: number;
  mode: DenoiseMode;
  ddpmGrid?: DdpmGrid;
  random: RandomSource;
  maskId: number;
  filters: ProbFilters;
  /** store the finished block (KV cache) once it has no mask left; default true */
  commit?: boolean;
  onStep?: (s: StepTrace) => void;
}

export interface BlockResult {
  /** steps that changed the window (the reference's NFE count, spec 5.4) */
  nfe: number;
  /** denoiser calls actually made (excludes the KV-cache store pass) */
  modelCalls: number;
  /** loop iterations run */
  steps: number;
  /** no mask left in the windows */
  finished: boolean;
}

function countMasks(x: Int32Array, from: number, to: number, maskId: number): number {
  let n = 0;
  for (let i = from; i < to; i++) if (x[i] === maskId) n++;
  return n;
}

export function denoiseBlock(o: BlockOptions): BlockResult {
  const { wm, window: x, batch: B, W, active: A, steps: T, mode, random, maskId } = o;
  const V = wm.model.config.vocabSize;
  const timeCond = wm.model.config.timeConditioning;
  if (!Number.isInteger(T) || T < 1) throw new Error(`steps must be a positive integer, got ${T}`);
  if (!(A >= 1 && A <= W)) throw new Error(`active positions ${A} must be in 1..${W}`);
  if (x.length !== B * W) throw new Error(`window has ${x.length} tokens, expected ${B}x${W}`);
  const dt = 1 / T;
  const grid = mode === 'ddpm' ? ((o.ddpmGrid ?? 'reference') === 'reference' ? linspaceF32(1, 0, T) : Float64Array.from({ length: T }, (_, i) => 1 - i / T)) : null;
  const t = new Float64Array(B).fill(1);
  const nMasked = new Int32Array(B);
  let P: Float64Array | null = null;
  let sigma: Float32Array | undefined;
  let nfe = 0;
  let calls = 0;
  let i = 0;
  for (; i < T; i++) {
    let total = 0;
    for (let b = 0; b < B; b++) total += nMasked[b] = countMasks(x, b * W, (b + 1) * W, maskId);
    if (total === 0) break;
    if (grid) t.fill(grid[i]);
    else {
      // eq. 25 of the paper: t <- t * u^(1/n); without time conditioning t has no effect on the output (spec 5.3)
      for (let b = 0; b < B; b++) if (nMasked[b] > 0) t[b] *= random.uniform() ** (1 / nMasked[b]);
    }
    const tf = t.map(Math.fround);
    const xIn = o.onStep ? x.slice() : undefined;
    const usedCache = P !== null;
    if (!P) {
      sigma = timeCond ? Float32Array.from(tf, (v) => sigmaFromP(v)) : undefined;
      P = subsProbs(wm, x, B, W, A, maskId, o.filters, sigma);
      calls++;
    }
    let changed = false;
    if (mode === 'first-hitting') {
      const cand = sampleCategorical(P, B * A, V, random.uniforms(B * A * V));
      for (let b = 0; b < B; b++) {
        const base = b * W + W - A;
        const masked: number[] = [];
        for (let j = 0; j < A; j++) if (x[base + j] === maskId) masked.push(j);
        if (masked.length === 0) continue;
        const j = masked[random.randint(masked.length)];
        if (cand[b * A + j] !== maskId) changed = true;
        x[base + j] = cand[b * A + j];
      }
    } else {
      const Q = ddpmPosterior(P.slice(), B * A, V, tf[0], dt, maskId);
      const draw = sampleCategorical(Q, B * A, V, random.uniforms(B * A * V));
      for (let b = 0; b < B; b++) {
        const base = b * W + W - A;
        for (let j = 0; j < A; j++) {
          // carry-over: only masked positions take the new draw
          if (x[base + j] === maskId && draw[b * A + j] !== maskId) {
            x[base + j] = draw[b * A + j];
            changed = true;
          }
        }
      }
    }
    if (changed) {
      nfe++;
      P = null;
    }
    o.onStep?.({ step: i, t: tf, dt, usedCache, xIn: xIn!, xOut: x.slice() });
  }
  let left = 0;
  for (let b = 0; b < B; b++) left += countMasks(x, b * W, (b + 1) * W, maskId);
  const finished = left === 0;
  if (finished && (o.commit ?? true)) wm.commit(x, B, W, A, sigma);
  return { nfe, modelCalls: calls, steps: i, finished };
}
