/**
 * Test perplexity (spec 4.9, 7.2, 7.3): the per-token NELBO bound for BD3-LM / MDLM / SEDD (one Monte-Carlo t per
 * block, (beta, omega) = (1e-3, 1); position 0 excluded as with the reference's ignore_bos) and the exact NLL for AR
 * (and for BD3-LM with L' = 1, whose full-masking loss is the AR NLL, spec 4.8). Aggregated as the reference does:
 * sum of nll / sum of counted tokens over the whole split; ppl = exp of it; bits per token = nll / ln 2.
 * Bits per byte (when the tokenizer's byte lengths are given): the same summed nll over the UTF-8 bytes of the counted
 * tokens (positions 1..L-1; special tokens count 0 bytes, their nll still counts), so models with different
 * tokenizers compare.
 * The bound is a Monte-Carlo estimate (one t per block, weights up to 1/eps_min): on a small split one draw can miss
 * by several percent, so `draws` averages independent draws (draw d uses seed + d: it equals a run with that seed).
 */
import type { DiT } from '../model/dit.js';
import { modelFamily } from '../model/config.js';
import { Rng } from '../tensor/rng.js';
import { nelboEval, type Algo } from '../training/objective.js';

export interface PplReport {
  algo: Algo;
  /** true when the figure is an upper bound (NELBO) rather than an exact NLL */
  bound: boolean;
  nll: number;
  ppl: number;
  bits_per_token: number;
  tokens: number;
  sequences: number;
  /** UTF-8 bytes of the counted tokens and the summed nll over them in bits (with `bytesOf`) */
  bytes?: number;
  bits_per_byte?: number;
  /** Monte-Carlo draws averaged (seeds seed .. seed + draws - 1); with more than one, each draw's nll */
  draws: number;
  nll_draws?: number[];
}

/** The objective a checkpoint was trained with, from its config. */
export function algoOf(model: DiT): Algo {
  return modelFamily(model.config);
}

export interface PplOptions {
  /** fixes the Monte-Carlo draws of t and x_t (default 1) */
  seed?: number;
  /** independent draws averaged, seeds seed, seed + 1, ... (default 1) */
  draws?: number;
  onBatch?: (done: number) => void;
  bytesOf?: (id: number) => number;
}

/** Evaluates batches of clean rows [B][L] (read once, whatever the number of draws). */
export function perplexity(model: DiT, batches: Iterable<{ ids: Int32Array; rows: number }>, opts: PplOptions = {}): PplReport {
  const algo = algoOf(model);
  const L = model.config.modelLength;
  const full = algo === 'bd3lm' && model.config.blockSize === 1;
  const draws = opts.draws ?? 1;
  if (!Number.isInteger(draws) || draws < 1) throw new Error(`draws must be a positive integer, got ${draws}`);
  const seed = opts.seed ?? 1;
  const rngs = Array.from({ length: draws }, (_, d) => new Rng(seed + d));
  const sums = new Array<number>(draws).fill(0);
  let tokens = 0;
  let sequences = 0;
  let bytes = 0;
  for (const b of batches) {
    if (opts.bytesOf) for (let r = 0; r < b.rows; r++) for (let j = 1; j < L; j++) bytes += opts.bytesOf(b.ids[r * L + j]);
    let counted = 0;
    rngs.forEach((rng, d) => {
      const r = nelboEval(model, { x0: b.ids, B: b.rows, L }, {
        algo, blockSize: model.config.blockSize, epsMin: full ? 1 : 1e-3, epsMax: 1, antithetic: true, ignoreBos: true,
        random: () => rng.uniform(),
      });
      sums[d] += r.loss * r.tokens;
      counted = r.tokens;
    });
    tokens += counted;
    sequences += b.rows;
    opts.onBatch?.(sequences);
  }
  if (tokens === 0) throw new Error('no sequences to evaluate');
  const sum = sums.reduce((a, b) => a + b, 0) / draws;
  const nll = sum / tokens;
  const report: PplReport = { algo, bound: algo !== 'ar' && !full, nll, ppl: Math.exp(nll), bits_per_token: nll / Math.LN2, tokens, sequences, draws };
  if (draws > 1) report.nll_draws = sums.map((s) => s / tokens);
  if (opts.bytesOf) {
    if (bytes === 0) throw new Error('the evaluated tokens hold no bytes: bits per byte is undefined');
    report.bytes = bytes;
    report.bits_per_byte = sum / Math.LN2 / bytes;
  }
  return report;
}
