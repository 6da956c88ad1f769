/**
 * The semi-autoregressive block sampler of BD3-LM (spec 5.3-5.8): BOS first, blocks of L' masks denoised with T
 * steps each (first hitting or the DDPM caching update), with or without a KV cache, a block-aligned sliding
 * window past the model length, and the stop rules after every block.
 */
import type { DiT } from '../model/dit.js';
import { drain, type DdpmGrid, type DenoiseMode, type StepTrace } from './block.js';
import { resolveRule } from './rules/registry.js';
import { positiveInt, resolveIds, validateCommon, type CommonOptions, type ResolvedIds, type SampleResult } from './options.js';

export type { Stride } from './strides.js';
import { runStrideSteps, type Stride } from './strides.js';
import { CachedWindowModel, UncachedWindowModel, type WindowModel } from './window-model.js';

export interface SemiAROptions extends CommonOptions {
  /** block size L' (default: the model's) */
  blockSize?: number;
  /** denoising steps per block, T (the reference's algo.T; 5000 in its scripts) */
  steps: number;
  /** default 'first-hitting' (the reference default); 'threshold' / 'entropy' are parallel rules (block.ts) */
  mode?: DenoiseMode;
  /** 'threshold' mode: reveal masked positions whose top probability exceeds this (default 0.9) */
  threshold?: number;
  /** 'entropy' mode: summed-entropy bound per step in nats (default 1) */
  entropyBound?: number;
  ddpmGrid?: DdpmGrid;
  /** KV cache (default true); false re-runs the window with the block-causal mask */
  cache?: boolean;
  /** sliding-window length C, a multiple of L' (default: the largest multiple of L' <= the model length) */
  context?: number;
  onStep?: (s: StepTrace & { stride: number; windowStart: number }) => void;
}

/**
 * Runs the strides over x (pre-filled: BOS, then masks) with the per-block loop and the stop checks after every
 * stride (spec 5.3, 5.8), batch 1. Shared by the BD3-LM and MDLM samplers (the loop itself is strides.ts).
 */
export function runStrides(
  wm: WindowModel,
  x: Int32Array,
  strides: Stride[],
  length: number,
  o: Pick<SemiAROptions, 'steps' | 'mode' | 'ddpmGrid' | 'threshold' | 'entropyBound' | 'random' | 'stop' | 'onStep' | 'topP' | 'includeCrossing' | 'temperature' | 'topK'>,
  ids: ResolvedIds,
): SampleResult {
  const r = drain(runStrideSteps({
    wm, x, batch: 1, strides, length, steps: o.steps, mode: o.mode, ddpmGrid: o.ddpmGrid, threshold: o.threshold,
    entropyBound: o.entropyBound, filters: o, random: o.random, ids, stop: o.stop === false ? null : (o.stop ?? {}), onStep: o.onStep,
  }));
  const q = r.sequences[0];
  return { tokens: q.tokens, nfe: q.nfe, modelCalls: r.modelCalls, stopReason: q.stopReason, rejected: q.rejected };
}

/** Checks the options and returns (L', C, number of blocks). A length that is not a multiple of L' is rounded up to
 * whole blocks and the result trimmed to `length`. */
export function planSemiAR(model: DiT, o: SemiAROptions): { bs: number; C: number; nBlocks: number } {
  validateCommon(o);
  const bs = positiveInt('blockSize', o.blockSize ?? model.config.blockSize);
  positiveInt('steps', o.steps);
  const { rule } = resolveRule(o.mode ?? 'first-hitting', o, 'sampling mode');
  const maxC = Math.floor(model.config.modelLength / bs) * bs;
  if (maxC < bs) throw new Error(`blockSize ${bs} exceeds the model length ${model.config.modelLength}`);
  // e.g. first hitting reveals one token per step: fewer steps than masks would leave masks behind
  if (o.steps < rule.minSteps(bs)) throw new Error(`${rule.name} needs steps >= blockSize (${bs}) to unmask every block, got ${o.steps}`);
  const C = o.context ?? maxC;
  if (!Number.isInteger(C) || C < bs || C % bs !== 0 || C > maxC) throw new Error(`context must be a multiple of the block size ${bs} in ${bs}..${maxC}, got ${o.context}`);
  return { bs, C, nBlocks: Math.ceil(o.length / bs) };
}

export function sampleSemiAR(model: DiT, o: SemiAROptions): SampleResult {
  const { bs, C, nBlocks } = planSemiAR(model, o);
  const ids = resolveIds(model, o);
  const x = new Int32Array(nBlocks * bs).fill(ids.maskId);
  x[0] = ids.bos;
  const strides: Stride[] = [];
  for (let s = 0; s < nBlocks; s++) {
    const end = (s + 1) * bs;
    strides.push({ start: Math.max(end - C, 0), end, active: bs });
  }
  const wm: WindowModel = (o.cache ?? true) ? new CachedWindowModel(model, 1, bs, C, nBlocks * bs > C) : new UncachedWindowModel(model, 'block-causal', bs);
  try {
    return runStrides(wm, x, strides, o.length, o, ids);
  } finally {
    wm.dispose();
  }
}
