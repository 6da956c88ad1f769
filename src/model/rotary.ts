/**
 * Rotary tables as the reference computes them (spec 2.3): freqs = float32(p * inv_freq[j]), then cos/sin in
 * float32. Tables are [maxPos][headDim/2]; the kernel pairs dims j and j + headDim/2 (half-split layout).
 */
export interface RotaryTables {
  cos: Float32Array;
  sin: Float32Array;
  maxPos: number;
  half: number;
}

/** inv_freq exactly as `1 / base ** (arange(0, d, 2).float() / d)` in float32. */
export function defaultInvFreq(headDim: number, base = 10000): Float32Array {
  const f = new Float32Array(headDim / 2);
  for (let j = 0; j < f.length; j++) {
    const expo = Math.fround((2 * j) / headDim);
    f[j] = Math.fround(1 / Math.fround(Math.pow(base, expo)));
  }
  return f;
}

export function rotaryTables(invFreq: Float32Array, maxPos: number, alloc: (n: number) => Float32Array): RotaryTables {
  const half = invFreq.length;
  const cos = alloc(maxPos * half);
  const sin = alloc(maxPos * half);
  for (let p = 0; p < maxPos; p++) {
    for (let j = 0; j < half; j++) {
      const a = Math.fround(p * invFreq[j]);
      cos[p * half + j] = Math.cos(a);
      sin[p * half + j] = Math.sin(a);
    }
  }
  return { cos, sin, maxPos, half };
}
