/**
 * Generative perplexity of samples under an AR judge (spec 7.4): sliding windows of W tokens (1024, or the judge's
 * model length if smaller) with stride S = W/2; window 0 scores positions 1..end-1, window w >= 1 scores only the
 * positions the previous window did not reach ([start + W - S, end)); every EOS is excluded and position 0 is never
 * scored. Reported both ways the reference does: the pooled token-level perplexity (main.py) and the mean of the
 * per-sample perplexities (log_sample_stats.py, the paper's Table 7), plus unigram entropy and length statistics.
 * The judge's log-softmax leaves out the appended mask id (this project's AR models carry one; gpt2-large has none).
 */
import type { DiT } from '../model/dit.js';

export interface GenPplOptions {
  /** window W (default min(1024, judge model length)) */
  window?: number;
  /** stride S (default W / 2) */
  stride?: number;
  /** truncate each sample to this many tokens first (the reference truncates to the sampling length) */
  maxLength?: number;
  /** excluded token (default V - 2: 50256 for GPT-2 + mask) */
  eos?: number;
  /** id left out of the softmax (default V - 1, the mask; -1 = none) */
  maskId?: number;
}

export interface SampleScore {
  /** summed NLL (nats) over scored positions */
  nll: number;
  /** scored positions (non-EOS, position >= 1): the reference's "length" */
  count: number;
  /** exp(nll / count); NaN when nothing was scored */
  ppl: number;
  /** unigram entropy (nats) of the sample's tokens */
  entropy: number;
  /** tokens after truncation */
  tokens: number;
}

export interface GenPplReport {
  samples: number;
  /** exp(sum of NLLs / sum of counts) over all samples */
  pooledPpl: number;
  /** mean of the per-sample perplexities, NaN ones skipped */
  meanPpl: number;
  meanEntropy: number;
  length: { mean: number; median: number; min: number; max: number };
  window: number;
  stride: number;
  perSample: SampleScore[];
}

export function unigramEntropy(ids: ArrayLike<number>): number {
  const counts = new Map<number, number>();
  for (let i = 0; i < ids.length; i++) counts.set(ids[i], (counts.get(ids[i]) ?? 0) + 1);
  let h = 0;
  for (const c of counts.values()) h -= (c / ids.length) * Math.log(c / ids.length);
  return h;
}

/** The (start, end, first scored position) of every window of a sample of n tokens. */
export function scoringWindows(n: number, W: number, S: number): { start: number; end: number; from: number }[] {
  const count = Math.max(1, Math.ceil((n - W + S) / S));
  const out = [];
  for (let w = 0; w < count; w++) {
    const start = S * w;
    const end = Math.min(start + W, n);
    out.push({ start, end, from: w === 0 ? 1 : start + W - S });
  }
  return out;
}

function resolve(judge: DiT, o: GenPplOptions) {
  const cfg = judge.config;
  if (!cfg.causal) throw new Error(`the judge must be an AR (causal) model, got model type '${cfg.modelType}'`);
  const V = cfg.vocabSize;
  const W = o.window ?? Math.min(1024, cfg.modelLength);
  if (!Number.isInteger(W) || W < 2 || W > cfg.modelLength) throw new Error(`window must be an integer in 2..${cfg.modelLength} (the judge's length), got ${o.window}`);
  const S = o.stride ?? Math.floor(W / 2);
  if (!Number.isInteger(S) || S < 1 || S > W - 1) throw new Error(`stride must be an integer in 1..${W - 1}, got ${o.stride}`);
  return { V, W, S, eos: o.eos ?? V - 2, maskId: o.maskId ?? V - 1 };
}

export function scoreSample(judge: DiT, sample: ArrayLike<number>, o: GenPplOptions = {}): SampleScore {
  const { V, W, S, eos, maskId } = resolve(judge, o);
  const ids = Array.from(sample).slice(0, o.maxLength ?? Infinity);
  let nll = 0;
  let count = 0;
  for (const { start, end, from } of scoringWindows(ids.length, W, S)) {
    const targets: number[] = [];
    for (let p = Math.max(from, start + 1); p < end; p++) if (ids[p] !== eos) targets.push(p);
    if (targets.length === 0) continue;
    // row i of a causal forward predicts token i + 1
    const rows = targets.map((p) => p - 1 - start);
    const logits = judge.forward({ ids: ids.slice(start, end), batch: 1, seqLen: end - start, layout: 'causal', logitRows: rows }).logits;
    targets.forEach((p, r) => {
      const o = r * V;
      let m = -Infinity;
      for (let v = 0; v < V; v++) if (v !== maskId && logits[o + v] > m) m = logits[o + v];
      let s = 0;
      for (let v = 0; v < V; v++) if (v !== maskId) s += Math.exp(logits[o + v] - m);
      nll += m + Math.log(s) - logits[o + ids[p]];
      count++;
    });
  }
  return { nll, count, ppl: count ? Math.exp(nll / count) : NaN, entropy: unigramEntropy(ids), tokens: ids.length };
}

export function genPPL(judge: DiT, samples: ArrayLike<number>[], o: GenPplOptions = {}, onSample?: (i: number, s: SampleScore) => void): GenPplReport {
  const { W, S } = resolve(judge, o);
  if (samples.length === 0) throw new Error('no samples to score');
  const per = samples.map((s, i) => {
    const r = scoreSample(judge, s, o);
    onSample?.(i, r);
    return r;
  });
  const sum = (f: (s: SampleScore) => number, xs = per) => xs.reduce((a, s) => a + f(s), 0);
  const finite = per.filter((s) => !Number.isNaN(s.ppl));
  const lens = per.map((s) => s.count).sort((a, b) => a - b);
  const mid = lens.length >> 1;
  return {
    samples: per.length,
    pooledPpl: Math.exp(sum((s) => s.nll) / sum((s) => s.count)),
    meanPpl: finite.length ? sum((s) => s.ppl, finite) / finite.length : NaN,
    meanEntropy: sum((s) => s.entropy) / per.length,
    length: { mean: sum((s) => s.count) / per.length, median: lens.length % 2 ? lens[mid] : (lens[mid - 1] + lens[mid]) / 2, min: lens[0], max: lens[lens.length - 1] },
    window: W,
    stride: S,
    perSample: per,
  };
}
