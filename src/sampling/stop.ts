/**
 * Stop rules of spec 5.8: low entropy of the last 256 tokens (natural log, < 4 nats) and, for variable-length
 * generation, the first generated EOS. Checked only once the sequence is longer than the entropy window.
 */

export interface StopOptions {
  /** entropy threshold in nats (reference 4) */
  minEntropy?: number;
  /** tokens the entropy looks at; also the length below which nothing is checked (reference 256) */
  window?: number;
  /** variable-length generation: cut after the first generated EOS, or drop the last `window` tokens on low entropy */
  varLength?: boolean;
}

/** 'halted': the caller ended the sequence (`Generation.halt`, e.g. a stop string in its text) */
export type StopReason = 'length' | 'eos' | 'low-entropy' | 'halted';

export interface StopCheck {
  stop: boolean;
  reason?: 'eos' | 'low-entropy';
  /** var-length only: the sequence is cut to this length */
  cut?: number;
}

/** Entropy (nats) of the empirical token distribution of x[from:to]. */
export function windowEntropy(x: ArrayLike<number>, from: number, to: number): number {
  const counts = new Map<number, number>();
  for (let i = from; i < to; i++) counts.set(x[i], (counts.get(x[i]) ?? 0) + 1);
  const n = to - from;
  let h = 0;
  for (const c of counts.values()) h -= (c / n) * Math.log(c / n);
  return h;
}

export function validateStop(s: StopOptions): void {
  const w = s.window ?? 256;
  if (!Number.isInteger(w) || w < 1) throw new Error(`stop window must be a positive integer, got ${s.window}`);
  if (s.minEntropy !== undefined && !Number.isFinite(s.minEntropy)) throw new Error(`minEntropy must be finite, got ${s.minEntropy}`);
}

/**
 * The reference's `_check_stop_conds` on x[0:n] (batch 1). `eos` positions before `generatedFrom` are the prompt
 * (the reference counts the BOS at 0 as the first EOS and cuts after the second; same thing with BOS = EOS).
 * Low entropy overrides the EOS cut. Returns stop = false when n <= window (the reference only checks longer ones).
 */
export function checkStop(x: ArrayLike<number>, n: number, eos: number, s: StopOptions, generatedFrom = 1): StopCheck {
  const w = s.window ?? 256;
  if (n <= w) return { stop: false };
  const low = windowEntropy(x, n - w, n) < (s.minEntropy ?? 4);
  if (!s.varLength) return low ? { stop: true, reason: 'low-entropy' } : { stop: false };
  if (low) return { stop: true, reason: 'low-entropy', cut: n - w };
  for (let i = generatedFrom; i < n; i++) if (x[i] === eos) return { stop: true, reason: 'eos', cut: i + 1 };
  return { stop: false };
}
