/**
 * MDLM sampling (spec 6.2, 5.6): the semi-AR loop with one block L' = the whole window, full attention, no KV
 * cache (the reference allows the cache only for AR and BD3-LM). Up to the model length L, one window of `length`
 * tokens. Longer: the reference's strided mode — the first stride samples L tokens, each further stride appends
 * L/2 masks and denoises the window of the last L tokens (L/2 old + L/2 new). The reference hard-codes a stride of
 * 512 for L = 1024; L/2 generalises it. `length` is rounded up to whole strides and the result trimmed.
 */
import type { DiT } from '../model/dit.js';
import type { DdpmGrid, DenoiseMode, StepTrace } from './block.js';
import type { RuleOptions } from './rules/rule.js';
import { resolveRule } from './rules/registry.js';
import { positiveInt, resolveIds, validateCommon, type CommonOptions, type SampleResult } from './options.js';
import { runStrides, type Stride } from './semi-ar.js';
import { UncachedWindowModel } from './window-model.js';

export interface MDLMOptions extends CommonOptions, RuleOptions {
  steps: number;
  mode?: DenoiseMode;
  ddpmGrid?: DdpmGrid;
  onStep?: (s: StepTrace & { stride: number; windowStart: number }) => void;
}

export function mdlmStrides(length: number, L: number): { strides: Stride[]; total: number } {
  if (length <= L) return { strides: [{ start: 0, end: length, active: length }], total: length };
  if (L % 2 !== 0) throw new Error(`strided MDLM sampling needs an even model length, got ${L}`);
  const S = L / 2;
  const n = Math.ceil((length - L) / S);
  const strides: Stride[] = [{ start: 0, end: L, active: L }];
  for (let s = 1; s <= n; s++) strides.push({ start: S * s, end: S * s + L, active: L });
  return { strides, total: L + n * S };
}

export function sampleMDLM(model: DiT, o: MDLMOptions): SampleResult {
  validateCommon(o);
  positiveInt('steps', o.steps);
  const { rule } = resolveRule(o.mode ?? 'first-hitting', o, 'sampling mode');
  if (model.config.causal) throw new Error('MDLM sampling needs a non-causal (diffusion) model');
  const ids = resolveIds(model, o);
  const { strides, total } = mdlmStrides(o.length, model.config.modelLength);
  const maxMasks = Math.max(...strides.map((s, i) => (i === 0 ? s.active - 1 : s.end - strides[i - 1].end)));
  if (o.steps < rule.minSteps(maxMasks)) throw new Error(`${rule.name} needs steps >= ${rule.minSteps(maxMasks)} (masks per stride), got ${o.steps}`);
  const x = new Int32Array(total).fill(ids.maskId);
  x[0] = ids.bos;
  const wm = new UncachedWindowModel(model, 'bidirectional', model.config.modelLength);
  return runStrides(wm, x, strides, o.length, o, ids);
}
