/**
 * Denoising of one window's active positions: the inner loop of the semi-AR sampler (spec 5.3) with the
 * reference's DDPM caching update, plus two parallel-decoding rules beyond the reference (confidence threshold,
 * entropy bound). Works on [batch][W] windows in place; the reference asserts batch 1 for first hitting, here each
 * item keeps its own t and draws its own position (batch 1 is the reference exactly). With `randoms` (one source
 * per item) every item draws only from its own source, in the order a batch-1 run would, so a batch equals
 * independent runs.
 *
 * `denoiseBlockSteps` is the loop as a generator that yields every model call it needs (see ModelCall: the driver
 * runs it, alone or batched with other runs', and may yield to the event loop); `denoiseBlock` runs it to the end.
 */
import type { ProbFilters } from '../tensor/sampling/filters.js';
import { categoricalNoise, type RandomSource, type RowNoise } from '../tensor/sampling/random.js';
import { ddpmFactors, linspaceF32, sigmaFromP } from '../diffusion/schedule.js';
import { LazyProbs, ProbsPool, runCalls, type CallSteps, type RowDraw, type WindowModel } from './window-model.js';

/**
 * 'first-hitting' / 'ddpm': the reference's two updates. 'threshold': reveal every masked position whose top
 * probability (after filters) exceeds `threshold`, at least the most confident one. 'entropy': reveal the
 * lowest-entropy masked positions while their summed entropy (nats) stays <= `entropyBound`, at least one.
 * Both parallel rules draw each revealed token from the filtered p(x0) and reveal at least ceil(masks / steps
 * left) per step, so a block always finishes within `steps`.
 */
export type DenoiseMode = 'first-hitting' | 'ddpm' | 'threshold' | 'entropy';
export const DENOISE_MODES: readonly DenoiseMode[] = ['first-hitting', 'ddpm', 'threshold', 'entropy'];
/** defaults of the parallel rules' knobs */
export const PARALLEL_DEFAULTS = { threshold: 0.9, entropyBound: 1 } as const;

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
  /** one source per item (overrides `random`): item b's draws come from randoms[b] only */
  randoms?: RandomSource[];
  maskId: number;
  filters: ProbFilters;
  /** 'threshold' mode: tau in [0, 1] (1 = one token per step; default 0.9) */
  threshold?: number;
  /** 'entropy' mode: gamma >= 0 in nats (0 = one token per step, Infinity = whole block; default 1) */
  entropyBound?: number;
  /** store the finished block (KV cache) once it has no mask left; default true */
  commit?: boolean;
  /**
   * p(x0) buffers to recycle: one pool for a whole run keeps them from block to block (fresh ones cost a page fault
   * per 4 KB when first written: about a tenth of the per-row sampling work at batch 16). Default: one per block.
   */
  pool?: ProbsPool;
  onStep?: (s: StepTrace) => void;
  /**
   * every revealed token: item b, active position j, the token and the filtered p(x0) row it was drawn from (DDPM:
   * the distribution of x0 before the posterior's choice to reveal; valid only during the call)
   */
  onReveal?: (b: number, j: number, token: number, probs: Float64Array) => void;
}

export interface BlockResult {
  /** steps that changed the window (the reference's NFE count, spec 5.4) */
  nfe: number;
  /** per item: steps that changed that item's window (= nfe for batch 1) */
  nfePerItem: Int32Array;
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

export function validateParallel(mode: DenoiseMode, threshold?: number, entropyBound?: number): void {
  if (!DENOISE_MODES.includes(mode)) throw new Error(`unknown sampling mode '${String(mode)}' (expected ${DENOISE_MODES.join(', ')})`);
  if (mode === 'threshold' && !(typeof threshold === 'number' && threshold >= 0 && threshold <= 1)) {
    throw new Error(`threshold must be a number in [0, 1], got ${threshold}`);
  }
  if (mode === 'entropy' && !(typeof entropyBound === 'number' && entropyBound >= 0)) {
    throw new Error(`entropyBound must be a number >= 0 (nats), got ${entropyBound}`);
  }
}

/** Score per row for the parallel rules: higher = reveal first (top probability, or minus the entropy). */
function rowScore(P: Float64Array, V: number, mode: 'threshold' | 'entropy'): number {
  if (mode === 'threshold') {
    let m = 0;
    for (let v = 0; v < V; v++) if (P[v] > m) m = P[v];
    return m;
  }
  let h = 0;
  for (let v = 0; v < V; v++) {
    const p = P[v];
    if (p > 0) h -= p * Math.log(p);
  }
  return -h;
}

/** Positions (indices into `masked`) a parallel rule reveals this step. */
function parallelPick(scores: number[], mode: 'threshold' | 'entropy', tau: number, gamma: number, minReveal: number): number[] {
  // stable order: best score first, ties by position
  const order = scores.map((_, i) => i).sort((a, b) => scores[b] - scores[a] || a - b);
  const pick: number[] = [];
  let budget = 0;
  for (const i of order) {
    let take: boolean;
    if (mode === 'threshold') take = scores[i] > tau;
    else {
      take = budget - scores[i] <= gamma;
      if (take) budget -= scores[i];
    }
    if (!take && pick.length >= minReveal) break;
    pick.push(i);
  }
  return pick;
}

export function* denoiseBlockSteps(o: BlockOptions): CallSteps<BlockResult> {
  const { wm, window: x, batch: B, W, active: A, steps: T, mode, maskId } = o;
  const V = wm.model.config.vocabSize;
  const timeCond = wm.model.config.timeConditioning;
  if (!Number.isInteger(T) || T < 1) throw new Error(`steps must be a positive integer, got ${T}`);
  if (!(A >= 1 && A <= W)) throw new Error(`active positions ${A} must be in 1..${W}`);
  if (x.length !== B * W) throw new Error(`window has ${x.length} tokens, expected ${B}x${W}`);
  if (o.randoms && o.randoms.length !== B) throw new Error(`randoms has ${o.randoms.length} sources for a batch of ${B}`);
  const tau = o.threshold ?? PARALLEL_DEFAULTS.threshold;
  const gamma = o.entropyBound ?? PARALLEL_DEFAULTS.entropyBound;
  validateParallel(mode, tau, gamma);
  const rnd = (b: number): RandomSource => (o.randoms ? o.randoms[b] : o.random);
  const dt = 1 / T;
  const grid = mode === 'ddpm' ? ((o.ddpmGrid ?? 'reference') === 'reference' ? linspaceF32(1, 0, T) : Float64Array.from({ length: T }, (_, i) => 1 - i / T)) : null;
  const t = new Float64Array(B).fill(1);
  const nMasked = new Int32Array(B);
  const nfePerItem = new Int32Array(B);
  // p(x0) of the last model call, row by row; kept while nothing changes (the reference's DDPM caching)
  let P: LazyProbs | null = null;
  const pool = o.pool ?? new ProbsPool();
  let sigma: Float32Array | undefined;
  let nfe = 0;
  let calls = 0;
  let i = 0;
  // Only the rows whose draw is used get probabilities and noise: first hitting samples one position per item
  // (chosen first: randint is its own stream), DDPM the masked rows, the parallel rules score the masked rows and
  // sample the picked ones. The categorical noise [B][A][V] is one draw for the batch (shared source), or one per
  // item that still has masks, served per row. All draws of a step go to the backend together (rows in parallel).
  const noise = (): ((b: number, j: number) => RowDraw) => {
    if (!o.randoms) {
      const u = categoricalNoise(o.random, B * A, V);
      return (b, j) => ({ row: b * A + j, noise: u, r: b * A + j });
    }
    const us: (RowNoise | null)[] = [];
    for (let b = 0; b < B; b++) us.push(nMasked[b] > 0 ? categoricalNoise(o.randoms[b], A, V) : null);
    return (b, j) => ({ row: b * A + j, noise: us[b]!, r: j });
  };
  const maskedOf = (b: number): number[] => {
    const base = b * W + W - A;
    const m: number[] = [];
    for (let j = 0; j < A; j++) if (x[base + j] === maskId) m.push(j);
    return m;
  };
  for (; i < T; i++) {
    let total = 0;
    for (let b = 0; b < B; b++) total += nMasked[b] = countMasks(x, b * W, (b + 1) * W, maskId);
    if (total === 0) break;
    if (grid) t.fill(grid[i]);
    else if (mode === 'first-hitting') {
      // eq. 25 of the paper: t <- t * u^(1/n); without time conditioning t has no effect on the output (spec 5.3)
      for (let b = 0; b < B; b++) if (nMasked[b] > 0) t[b] *= rnd(b).uniform() ** (1 / nMasked[b]);
    } else {
      // parallel rules: t = fraction still masked (only matters with time conditioning)
      for (let b = 0; b < B; b++) t[b] = nMasked[b] / A;
    }
    const tf = t.map(Math.fround);
    const xIn = o.onStep ? x.slice() : undefined;
    const masked = Array.from({ length: B }, (_, b) => maskedOf(b));
    // first hitting: the position of each item with masks (-1: none)
    const pick = mode === 'first-hitting' ? masked.map((m, b) => (m.length ? m[rnd(b).randint(m.length)] : -1)) : null;
    const usedCache = P !== null;
    // a new p(x0) is one model call; a reused one may still compute a row first needed now (same window and
    // sigma), which is not counted
    if (!P) {
      sigma = timeCond ? Float32Array.from(tf, (v) => sigmaFromP(v)) : undefined;
      P = new LazyProbs(wm, x, B, W, A, maskId, o.filters, sigma, pool);
      calls++;
    }
    const draws: RowDraw[] = [];
    let tokens: Int32Array;
    if (mode === 'first-hitting' || mode === 'ddpm') {
      const u = noise();
      for (let b = 0; b < B; b++) {
        if (pick) {
          if (pick[b] >= 0) draws.push(u(b, pick[b]));
        } else for (const j of masked[b]) draws.push(u(b, j));
      }
      tokens = yield* P.sample([], draws, mode === 'ddpm' ? { ...ddpmFactors(tf[0], dt), maskId } : null);
    } else {
      yield* P.sample(masked.flatMap((m, b) => m.map((j) => b * A + j)), []); // every masked row is scored
      const u = noise();
      for (let b = 0; b < B; b++) {
        const m = masked[b];
        if (m.length === 0) continue;
        const minReveal = Math.max(1, Math.ceil(m.length / (T - i)));
        const scores = m.map((j) => rowScore(P!.row(b * A + j), V, mode));
        for (const k of parallelPick(scores, mode, tau, gamma, minReveal)) draws.push(u(b, m[k]));
      }
      tokens = yield* P.sample([], draws);
    }
    // every drawn position is masked: DDPM's carry-over keeps it masked when the draw is the mask itself
    const changedItem = new Uint8Array(B);
    draws.forEach((d, k) => {
      const b = Math.floor(d.row / A);
      x[b * W + W - A + (d.row % A)] = tokens[k];
      if (tokens[k] !== maskId) {
        changedItem[b] = 1;
        o.onReveal?.(b, d.row % A, tokens[k], P!.row(d.row));
      }
    });
    let changed = false;
    for (let b = 0; b < B; b++) {
      if (changedItem[b]) {
        nfePerItem[b]++;
        changed = true;
      }
    }
    if (changed) {
      nfe++;
      P.release();
      P = null;
    }
    o.onStep?.({ step: i, t: tf, dt, usedCache, xIn: xIn!, xOut: x.slice() });
  }
  let left = 0;
  for (let b = 0; b < B; b++) left += countMasks(x, b * W, (b + 1) * W, maskId);
  const finished = left === 0;
  if (finished && (o.commit ?? true)) wm.commit(x, B, W, A, sigma);
  return { nfe, nfePerItem, modelCalls: calls, steps: i, finished };
}

/** Runs a sampler generator to its end, making each model call it asks for at once; returns its value. */
export const drain = runCalls;

export function denoiseBlock(o: BlockOptions): BlockResult {
  return drain(denoiseBlockSteps(o));
}
