/**
 * Data-driven clip search (spec 4.10): candidate intervals [beta, omega] and the variance-of-block-losses statistic
 * S(beta, omega) = sum over validation batches of the unbiased variance of the per-(sequence, block) mean losses.
 * The training loop evaluates each candidate with `nelboEval` (resample on, ignore_bos) and feeds `blockLosses` here.
 */
const f32 = Math.fround;

export interface ClipInterval {
  epsMin: number;
  epsMax: number;
}

/**
 * The candidate grid. Block size 1: (1e-3, 1) and full masking (1, 1). Otherwise (1e-3, 1) plus, per width w, the
 * float32 arange i = 0, delta, ... below 1 - w + delta (element count ceil((end - 0)/delta) in float64, values
 * i*delta in float32, like torch.arange) giving (max(i, 1e-3), max(i + w, 1e-3)) in float32. The bounds are the
 * float32 values as float64 numbers — 0.0010000000474974513, not 1e-3 — which is why the resample shortcut for
 * beta == 1e-3 does not fire during the search (spec 4.10 float detail; see qxt.ts). Widths [0.5..0.9] with
 * delta 0.05 give 36 intervals.
 */
export function clipCandidates(blockSize: number, widths: readonly number[] = [], delta = 0.05): ClipInterval[] {
  if (blockSize === 1) return [{ epsMin: 1e-3, epsMax: 1 }, { epsMin: 1, epsMax: 1 }];
  const out: ClipInterval[] = [{ epsMin: 1e-3, epsMax: 1 }];
  const step = f32(delta);
  for (const w of widths) {
    const end = 1 - w + delta;
    const n = Math.max(0, Math.ceil(end / delta));
    for (let k = 0; k < n; k++) {
      const i = f32(k * step);
      out.push({ epsMin: f32(Math.max(i, f32(1e-3))), epsMax: f32(Math.max(f32(i + w), f32(1e-3))) });
    }
  }
  return out;
}

/** Unbiased variance (n - 1 denominator) of the entries; 0 for fewer than 2. */
export function unbiasedVariance(x: ArrayLike<number>): number {
  const n = x.length;
  if (n < 2) return 0;
  let m = 0;
  for (let i = 0; i < n; i++) m += x[i];
  m /= n;
  let s = 0;
  for (let i = 0; i < n; i++) s += (x[i] - m) ** 2;
  return s / (n - 1);
}

/** Accumulates S per candidate over validation batches and picks the argmin. */
export class ClipSearch {
  readonly candidates: ClipInterval[];
  readonly sums: Float64Array;
  readonly batches: Int32Array;

  constructor(candidates: ClipInterval[]) {
    this.candidates = candidates;
    this.sums = new Float64Array(candidates.length);
    this.batches = new Int32Array(candidates.length);
  }

  /** One validation batch's per-(sequence, block) mean losses [B][nb] for candidate `i`. */
  record(i: number, blockLosses: ArrayLike<number>): void {
    this.sums[i] += unbiasedVariance(blockLosses);
    this.batches[i]++;
  }

  /** The interval with the smallest summed variance (first on ties, so (1e-3, 1) wins a tie). */
  best(): { interval: ClipInterval; index: number; variance: number } {
    let k = 0;
    for (let i = 1; i < this.sums.length; i++) if (this.sums[i] < this.sums[k]) k = i;
    return { interval: this.candidates[k], index: k, variance: this.sums[k] };
  }

  /** "valid_var_{beta}-{omega}" = S / #batches, for logging */
  report(): { epsMin: number; epsMax: number; variance: number }[] {
    return this.candidates.map((c, i) => ({ ...c, variance: this.batches[i] ? this.sums[i] / this.batches[i] : NaN }));
  }
}
