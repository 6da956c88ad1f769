/**
 * What a denoising rule is: the part of the block loop (block.ts) that differs between samplers. Each step the loop
 * counts the masks and hands the rule a StepContext; the rule sets each item's t (it conditions the model call),
 * asks for p(x0), chooses the positions to draw and draws them. The loop writes the tokens back, counts NFE, keeps
 * p(x0) while nothing changed and stores the finished block. Rules are registered in registry.ts.
 */
import type { RandomSource } from '../../tensor/sampling/random.js';
import type { CallSteps, LazyProbs, RowDraw } from '../window-model.js';

/**
 * DDPM time grid. 'reference': t_i = linspace(1, 0, T)[i] with s = t - 1/T (spacing 1/(T-1), and t = 0 at the
 * last step: masks still present there become token 0 — spec 5.3 gotcha, reproduced). 'exact': t_i = 1 - i/T, the
 * grid the posterior assumes (the last step has s = 0 and reveals every remaining mask).
 */
export type DdpmGrid = 'reference' | 'exact';

/** every rule's options (each rule reads and checks its own) */
export interface RuleOptions {
  /** 'threshold': tau in [0, 1] (1 = one token per step; default 0.9) */
  threshold?: number;
  /** 'entropy': gamma >= 0 in nats (0 = one token per step, Infinity = whole block; default 1) */
  entropyBound?: number;
  /** 'ddpm': the time grid */
  ddpmGrid?: DdpmGrid;
}

export interface StepContext {
  /** step index within the block, and steps per block */
  readonly i: number;
  readonly T: number;
  /** 1 / T */
  readonly dt: number;
  readonly batch: number;
  /** positions sampled per item, and vocabulary size */
  readonly active: number;
  readonly V: number;
  readonly maskId: number;
  readonly options: Required<Pick<RuleOptions, 'threshold' | 'entropyBound'>> & RuleOptions;
  /** per item: t of this step; starts at 1, the rule updates it before calling probs() */
  readonly t: Float64Array;
  /** per item: masks left in the window, and the active positions (0..active-1) still masked */
  readonly nMasked: Int32Array;
  readonly masked: readonly number[][];
  /** item b's random source (the shared one, or its own) */
  rnd(b: number): RandomSource;
  /** categorical noise for this step's draws (one draw from the sources: call once, after the rule's own draws) */
  noise(): (b: number, j: number) => RowDraw;
  /** p(x0) of the window at the current t: a model call, or the previous step's when nothing changed since */
  probs(): LazyProbs;
}

/** a step's draws (row = b * active + j) and the tokens drawn; a draw of the mask id leaves the position masked */
export interface StepDraws {
  draws: RowDraw[];
  tokens: Int32Array;
}

export interface DenoiseRule {
  /** the name users pass (`sampler`, `--sampler`, the server's `sampler` field) */
  readonly name: string;
  /** one line for help texts */
  readonly help: string;
  /** throws a clear error (naming the option) for bad options of this rule */
  validateOptions(o: RuleOptions): void;
  /** fewest steps per block that reveal `masks` masks */
  minSteps(masks: number): number;
  /** one step of the block loop (yields the model calls p(x0) needs) */
  step(s: StepContext): CallSteps<StepDraws>;
}
