/** Options and results shared by the samplers, with the checks that give clear errors for bad settings. */
import type { DiT } from '../model/dit.js';
import { validateFilters, type ProbFilters } from '../tensor/sampling/filters.js';
import type { RandomSource } from '../tensor/sampling/random.js';
import { validateStop, type StopOptions, type StopReason } from './stop.js';

export interface TokenIds {
  /** mask token (default V - 1: 50257 for GPT-2, 256 for the golden model) */
  maskId?: number;
  /** BOS written at position 0 (default V - 2: 50256 for GPT-2) */
  bos?: number;
  /** EOS for the var-length cut (default = bos, as with GPT-2) */
  eos?: number;
}

export interface CommonOptions extends ProbFilters, TokenIds {
  /** tokens to generate, BOS included */
  length: number;
  random: RandomSource;
  /** stop rules of spec 5.8 (default on, fixed length); false disables them */
  stop?: StopOptions | false;
}

export interface SampleResult {
  /** the sample, BOS first; shorter than `length` only after a var-length cut */
  tokens: Int32Array;
  /** the reference's NFE count (spec 5.4) */
  nfe: number;
  /** denoiser calls actually made (KV-cache store passes excluded) */
  modelCalls: number;
  stopReason: StopReason;
  /** a low-entropy stop without var-length: the reference discards such a sample and redraws (spec 5.7) */
  rejected: boolean;
}

export interface ResolvedIds {
  maskId: number;
  bos: number;
  eos: number;
}

export function resolveIds(model: DiT, o: TokenIds): ResolvedIds {
  const V = model.config.vocabSize;
  const maskId = o.maskId ?? V - 1;
  const bos = o.bos ?? V - 2;
  const eos = o.eos ?? bos;
  for (const [k, v] of Object.entries({ maskId, bos, eos })) {
    if (!Number.isInteger(v) || v < 0 || v >= V) throw new Error(`${k} ${v} is outside the vocabulary 0..${V - 1}`);
  }
  return { maskId, bos, eos };
}

export function validateCommon(o: CommonOptions): void {
  if (!Number.isInteger(o.length) || o.length < 1) throw new Error(`length must be a positive integer, got ${o.length}`);
  if (!o.random) throw new Error('a random source is required (SeededRandom or ReplayRandom)');
  validateFilters(o);
  if (o.stop) validateStop(o.stop);
}

export function positiveInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be a positive integer, got ${v}`);
  return v;
}
