/** Weight matrices in a storage format (half precision, int8): telling them from fp32 arrays, widening them. */
import type { StoredMatrix } from './backend.js';
import { widenHalf } from './half.js';
import { dequantizeRows } from './int8.js';

/** Whether a weight operand is a StoredMatrix (not a typed array: the ref kernels also run on Float64Arrays in tests). */
export function isStored(x: ArrayBufferView | StoredMatrix): x is StoredMatrix {
  return !ArrayBuffer.isView(x);
}

/** The fp32 values of a StoredMatrix, as the kernels read them. */
export function widenStored(m: StoredMatrix): Float32Array {
  return m.dtype === 'int8' ? dequantizeRows(m) : widenHalf(m);
}
