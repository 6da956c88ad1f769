/**
 * The absorbing forward process q(x_t | x_0) for training batches (spec 4.1, 4.6, 4.5): each token is replaced by
 * the mask independently with probability p = t of its block; optionally offending blocks are redrawn so the realised
 * masked fraction respects the clip interval; with ignore_bos position 0 is restored afterwards.
 */
const f32 = Math.fround;

export interface QxtOptions {
  maskId: number;
  blockSize: number;
  /**
   * Clip interval (beta, omega) for the resample rule. beta is compared with 1e-3 as given (float64), like the
   * reference's Python-level check: pass 1e-3 for the training buffer (a float32 buffer equals 1e-3 there), and the
   * float32-rounded grid values during the clip search, where the shortcut then does not fire (spec 4.10 quirk).
   */
  epsMin: number;
  epsMax: number;
  resample: boolean;
  ignoreBos: boolean;
  random: () => number;
  /** safety net for impossible intervals (e.g. L' = 1 with both bounds active); the reference would spin forever */
  maxRedraws?: number;
}

/** Which realised-fraction bounds force a redraw (spec 4.6); null when resampling is skipped. */
export function resampleBounds(epsMin: number, epsMax: number): { low: boolean; high: boolean } | null {
  // skipped when (beta, omega) == (1e-3, 1), compared in the tensors' float32
  if (f32(epsMin) === f32(1e-3) && f32(epsMax) === 1) return null;
  const lowIsDefault = epsMin === 1e-3;
  const highIsDefault = epsMax === 1;
  if (lowIsDefault && !highIsDefault) return { low: false, high: true };
  if (!lowIsDefault && highIsDefault) return { low: true, high: false };
  return { low: true, high: true };
}

/** x_t [B][L] from x_0 and per-token times t [B][L]. */
export function sampleXt(x0: ArrayLike<number>, t: Float32Array, B: number, L: number, o: QxtOptions): Int32Array {
  if (x0.length !== B * L || t.length !== B * L) throw new Error(`x0 and t need B*L = ${B * L} entries`);
  const bs = o.blockSize;
  if (L % bs !== 0) throw new Error(`block size ${bs} does not divide the length ${L}`);
  const xt = new Int32Array(B * L);
  const draw = (i: number) => {
    // torch: rand <= p masks (float32 uniforms)
    xt[i] = f32(o.random()) <= t[i] ? o.maskId : x0[i];
  };
  for (let i = 0; i < B * L; i++) draw(i);
  const rule = o.resample ? resampleBounds(o.epsMin, o.epsMax) : null;
  if (rule) {
    const lo = f32(o.epsMin);
    const hi = f32(o.epsMax);
    const max = o.maxRedraws ?? 100000;
    for (let s = 0; s < B * L; s += bs) {
      for (let tries = 0; ; tries++) {
        let n = 0;
        for (let i = s; i < s + bs; i++) if (xt[i] === o.maskId) n++;
        const f = f32(n / bs);
        if (!((rule.low && f < lo) || (rule.high && f > hi))) break;
        if (tries >= max) throw new Error(`resampling block at ${s} found no masked fraction in [${o.epsMin}, ${o.epsMax}] after ${max} redraws (block size ${bs})`);
        for (let i = s; i < s + bs; i++) draw(i);
      }
    }
  }
  if (o.ignoreBos) for (let b = 0; b < B; b++) xt[b * L] = x0[b * L];
  return xt;
}
