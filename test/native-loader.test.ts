import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openblasCoreType } from '../src/tensor/native.js';

const cpuinfo = (vendor: string, flags: string) => `processor\t: 0\nvendor_id\t: ${vendor}\ncpu family\t: 26\nflags\t\t: ${flags}\n\nprocessor\t: 1\n`;
const AVX512 = 'fpu sse2 avx avx2 fma avx512f avx512dq avx512cd avx512bw avx512vl';

test('OpenBLAS core type: AVX-512 kernels on AMD CPUs with the Skylake-X feature set, else its own detection', () => {
  assert.equal(openblasCoreType(cpuinfo('AuthenticAMD', AVX512)), 'SkylakeX');
  // Intel CPUs are known to OpenBLAS by model; an AVX2-only AMD CPU keeps the Haswell kernels
  assert.equal(openblasCoreType(cpuinfo('GenuineIntel', AVX512)), undefined);
  assert.equal(openblasCoreType(cpuinfo('AuthenticAMD', 'fpu sse2 avx avx2 fma')), undefined);
  // every flag of the set is needed (Skylake-X kernels use AVX-512 BW/DQ/VL)
  assert.equal(openblasCoreType(cpuinfo('AuthenticAMD', AVX512.replace(' avx512bw', ''))), undefined);
  assert.equal(openblasCoreType(''), undefined);
});
