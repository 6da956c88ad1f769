/**
 * Half-precision storage of the large weight matrices ('bf16' / 'f16' of storage.ts): half bits in backend memory,
 * widened to fp32 inside the kernels, halving the bytes a batch-1 model call streams.
 */
import type { Backend, HalfDtype, HalfMatrix } from '../tensor/backend.js';
import { narrowToHalf } from '../tensor/half.js';
import { isStoredWeight } from './weights.js';

/**
 * Moves the half-precision candidates out of `tensors` (freeing their fp32 arrays) into half matrices on `be`.
 * Throws when an f16 conversion overflows (a weight beyond +-65504).
 */
export function halveWeights(tensors: Map<string, Float32Array>, dtype: HalfDtype, be: Backend): Map<string, HalfMatrix> {
  const halves = new Map<string, HalfMatrix>();
  for (const [name, t] of [...tensors]) {
    if (!isStoredWeight(name)) continue;
    const data = be.allocHalf(t.length);
    narrowToHalf(t, dtype, data);
    if (dtype === 'f16') {
      const bad = data.findIndex((h) => (h & 0x7fff) === 0x7c00);
      if (bad >= 0) throw new Error(`tensor ${name}: value ${t[bad]} at flat index ${bad} overflows f16 (use bf16)`);
    }
    halves.set(name, { data, dtype });
    tensors.delete(name);
    be.free(t);
  }
  return halves;
}
