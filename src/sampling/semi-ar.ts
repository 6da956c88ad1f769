/**
 * The semi-autoregressive block sampler of BD3-LM (spec 5.3-5.8): BOS first, blocks of L' masks denoised with T
 * steps each (first hitting or the DDPM caching update), with or without a KV cache, a block-aligned sliding
 * window past the model length, and the stop rules after every block.
 */
import type { DiT } from '../model/dit.js';
import { denoiseBlock, type DdpmGrid, type DenoiseMode, type StepTrace } from './block.js';
import { positiveInt, resolveIds, validateCommon, type CommonOptions, type ResolvedIds, type SampleResult } from './options.js';
import { checkStop } from './stop.js';
import { CachedWindowModel, UncachedWindowModel, type WindowModel } from './window-model.js';

export interface SemiAROptions extends CommonOptions {
  /** block size L' (default: the model's) */
  blockSize?: number;
  /** denoising steps per block, T (the reference's algo.T; 5000 in its scripts) */
  steps: number;
  /** default 'first-hitting' (the reference default) */
  mode?: DenoiseMode;
  ddpmGrid?: DdpmGrid;
  /** KV cache (default true); false re-runs the window with the block-causal mask */
  cache?: boolean;
  /** sliding-window length C, a multiple of L' (default: the largest multiple of L' <= the model length) */
  context?: number;
  onStep?: (s: StepTrace & { stride: number; windowStart: number }) => void;
}

/** One stride of a sampler: window x[start:end], of which the last `active` positions are denoised. */
export interface Stride {
  start: number;
  end: number;
  active: number;
}

/**
 * Runs the strides over x (pre-filled: BOS, then masks) with the per-block loop and the stop checks after every
 * stride (spec 5.3, 5.8). Shared by the BD3-LM and MDLM samplers.
 */
export function runStrides(
  wm: WindowModel,
  x: Int32Array,
  strides: Stride[],
  length: number,
  o: Pick<SemiAROptions, 'steps' | 'mode' | 'ddpmGrid' | 'random' | 'stop' | 'onStep' | 'topP' | 'includeCrossing' | 'temperature' | 'topK'>,
  ids: ResolvedIds,
): SampleResult {
  let nfe = 0;
  let calls = 0;
  let n = 0;
  const stopOpts = o.stop === false ? null : (o.stop ?? {});
  for (let s = 0; s < strides.length; s++) {
    const { start, end, active } = strides[s];
    const W = end - start;
    const r = denoiseBlock({
      wm, window: x.subarray(start, end), batch: 1, W, active, steps: o.steps, mode: o.mode ?? 'first-hitting',
      ddpmGrid: o.ddpmGrid, random: o.random, maskId: ids.maskId, filters: o,
      onStep: o.onStep && ((t) => o.onStep!({ ...t, stride: s, windowStart: start })),
    });
    if (!r.finished) throw new Error(`stride ${s} still has masks after ${o.steps} steps`);
    nfe += r.nfe;
    calls += r.modelCalls;
    n = end;
    if (stopOpts) {
      const c = checkStop(x, n, ids.eos, stopOpts);
      if (c.stop) {
        const cut = c.cut ?? n;
        return { tokens: x.slice(0, Math.min(cut, length)), nfe, modelCalls: calls, stopReason: c.reason!, rejected: !stopOpts.varLength };
      }
    }
  }
  return { tokens: x.slice(0, length), nfe, modelCalls: calls, stopReason: 'length', rejected: false };
}

/** Checks the options and returns (L', C, number of blocks). A length that is not a multiple of L' is rounded up to
 * whole blocks and the result trimmed to `length`. */
export function planSemiAR(model: DiT, o: SemiAROptions): { bs: number; C: number; nBlocks: number } {
  validateCommon(o);
  const bs = positiveInt('blockSize', o.blockSize ?? model.config.blockSize);
  positiveInt('steps', o.steps);
  const mode = o.mode ?? 'first-hitting';
  if (mode !== 'first-hitting' && mode !== 'ddpm') throw new Error(`unknown sampling mode '${String(mode)}' (expected 'first-hitting' or 'ddpm')`);
  if (o.ddpmGrid !== undefined && o.ddpmGrid !== 'reference' && o.ddpmGrid !== 'exact') throw new Error(`unknown ddpmGrid '${String(o.ddpmGrid)}'`);
  const maxC = Math.floor(model.config.modelLength / bs) * bs;
  if (maxC < bs) throw new Error(`blockSize ${bs} exceeds the model length ${model.config.modelLength}`);
  // first hitting reveals one token per step: fewer steps than masks would leave masks behind
  if (mode === 'first-hitting' && o.steps < bs) throw new Error(`first-hitting needs steps >= blockSize (${bs}) to unmask every block, got ${o.steps}`);
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
  const wm: WindowModel = (o.cache ?? true) ? new CachedWindowModel(model, 1, bs, C) : new UncachedWindowModel(model, 'block-causal', bs);
  try {
    return runStrides(wm, x, strides, o.length, o, ids);
  } finally {
    wm.dispose();
  }
}
