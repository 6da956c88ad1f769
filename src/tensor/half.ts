/**
 * Half precision (IEEE binary16 "f16", bfloat16 "bf16") <-> float32, as the checkpoint reader/writer and the
 * HalfMatrix weights use them. Narrowing rounds to nearest, ties to even; widening is exact (native/half.h agrees).
 */
import type { HalfDtype, HalfMatrix } from './backend.js';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Bits of the float32 nearest to `v` (as JS reads/writes Float32Array). */
export function f32Bits(v: number): number {
  f32[0] = v;
  return u32[0];
}

export function f16BitsToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24; // zero / subnormal
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

export function f32ToF16Bits(v: number): number {
  const x = f32Bits(v);
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // Inf, or a quiet NaN
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00; // overflow -> Inf
  if (e > 0) {
    const hm = mant >>> 13;
    const rem = mant & 0x1fff;
    // a carry out of the mantissa correctly bumps the exponent (up to Inf)
    const up = rem > 0x1000 || (rem === 0x1000 && hm & 1) ? 1 : 0;
    return (sign | (e << 10) | hm) + up;
  }
  // half subnormal: value = hm * 2^-24 with hm = (1.mant * 2^23) >> (126 - exp)
  const shift = 126 - exp;
  if (shift > 24) return sign;
  const m = mant | 0x800000;
  const hm = m >>> shift;
  const rem = m & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  return sign | (hm + (rem > half || (rem === half && hm & 1) ? 1 : 0));
}

export function bf16BitsToF32(b: number): number {
  u32[0] = (b & 0xffff) << 16;
  return f32[0];
}

export function f32ToBf16Bits(v: number): number {
  const x = f32Bits(v);
  if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) return (x >>> 16) | 0x40; // keep NaN a (quiet) NaN
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

let f16Table: Float32Array | null = null;
/** All 65536 F16 values as float32 (256 KiB, built on first use) for fast bulk decoding. */
export function f16Table32(): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) f16Table[i] = f16BitsToF32(i);
  }
  return f16Table;
}

/** out[i] = half bits of src[i] (round to nearest even); f16 overflow gives +-Inf, which callers check for. */
export function narrowToHalf(src: Float32Array, dtype: HalfDtype, out: Uint16Array): void {
  const f = dtype === 'bf16' ? f32ToBf16Bits : f32ToF16Bits;
  for (let i = 0; i < src.length; i++) out[i] = f(src[i]);
}

/** The fp32 values of a HalfMatrix (exact). */
export function widenHalf(h: HalfMatrix, out: Float32Array = new Float32Array(h.data.length)): Float32Array {
  const d = h.data;
  if (h.dtype === 'bf16') {
    const u = new Uint32Array(out.buffer, out.byteOffset, out.length);
    for (let i = 0; i < d.length; i++) u[i] = d[i] << 16;
  } else {
    const t = f16Table32();
    for (let i = 0; i < d.length; i++) out[i] = t[d[i]];
  }
  return out;
}
