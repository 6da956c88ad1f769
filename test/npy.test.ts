import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readNpy, parseNpy, encodeNpy, writeNpy, npyToInt32, npyToFloat64, npyToFloat32, NpyError, type NpyArray } from '../src/model/npy.js';
import { CheckpointError } from '../src/model/safetensors.js';

const GOLDEN = fileURLToPath(new URL('../../test/fixtures/bs4/', import.meta.url));
const manifest = JSON.parse(fs.readFileSync(path.join(GOLDEN, 'manifest.json'), 'utf8')) as Record<string, { dtype: string; shape: number[] }>;
const meta = JSON.parse(fs.readFileSync(path.join(GOLDEN, 'meta.json'), 'utf8'));

test('every golden .npy matches its manifest dtype and shape', () => {
  const files = fs.readdirSync(GOLDEN).filter((f) => f.endsWith('.npy'));
  assert.equal(files.length, Object.keys(manifest).length);
  for (const f of files) {
    const a = readNpy(path.join(GOLDEN, f));
    assert.equal(a.dtype, manifest[f].dtype, f);
    assert.deepEqual(a.shape, manifest[f].shape, f);
    assert.equal(a.data.length, a.shape.reduce((x, y) => x * y, 1), f);
    if (a.dtype === 'float32' || a.dtype === 'float64') {
      // sample_ddpm is allowed NaN-free only in its inputs; all golden floats are finite
      for (const v of a.data as Float32Array) assert.ok(Number.isFinite(v) || v === -Infinity || v === Infinity, f);
    }
  }
});

test('golden token arrays: int64 -> int32, contents match meta.json', () => {
  const x0 = npyToInt32(readNpy(path.join(GOLDEN, 'x0.npy')));
  assert.deepEqual([...x0], meta.x0.flat());
  const xt = npyToInt32(readNpy(path.join(GOLDEN, 'xt.npy')));
  assert.deepEqual([...xt], meta.xt.flat());
  assert.equal(x0[0], 255);
  const xin = npyToInt32(readNpy(path.join(GOLDEN, 'x_input.npy')));
  for (let b = 0; b < 2; b++)
    for (let i = 0; i < 32; i++) {
      assert.equal(xin[b * 64 + i], xt[b * 32 + i]);
      assert.equal(xin[b * 64 + 32 + i], x0[b * 32 + i]);
    }
  const mask = readNpy(path.join(GOLDEN, 'block_diff_mask.npy'));
  assert.ok((mask.data as Uint8Array).every((v) => v === 0 || v === 1));
  const t = readNpy(path.join(GOLDEN, 't.npy'));
  assert.ok(t.data instanceof Float32Array);
  assert.ok(Math.abs((t.data as Float32Array)[1] - meta.t_per_block[0][0]) < 1e-7);
  const nuc = npyToFloat64(readNpy(path.join(GOLDEN, 'nucleus_in.npy')));
  let s = 0;
  for (let i = 0; i < 257; i++) s += nuc[i];
  assert.ok(Math.abs(s - 1) < 1e-5, `row sums to ${s}`);
});

test('write/read round trip for every dtype and shape form', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bd3lm-npy-'));
  try {
    const arrays: NpyArray[] = [
      { dtype: 'float32', shape: [2, 3], data: Float32Array.of(1, 2, 3, -4, 0.5, 1e-30) },
      { dtype: 'float64', shape: [3], data: Float64Array.of(Math.PI, -1, 1e300) },
      { dtype: 'int64', shape: [1, 2, 1], data: BigInt64Array.of(-1n, 1n << 40n) },
      { dtype: 'int32', shape: [], data: Int32Array.of(-7) },
      { dtype: 'uint8', shape: [4], data: Uint8Array.of(0, 1, 254, 255) },
      { dtype: 'bool', shape: [2, 0], data: new Uint8Array(0) },
    ];
    for (const a of arrays) {
      const f = path.join(dir, `${a.dtype}.npy`);
      writeNpy(f, a);
      const raw = fs.readFileSync(f);
      assert.equal((10 + raw.readUInt16LE(8)) % 64, 0, 'data 64-byte aligned');
      assert.deepEqual(readNpy(f), a);
    }
    assert.match(encodeNpy(arrays[1]).toString('latin1'), /'shape': \(3,\), }/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('version 2.0 headers and unaligned data are read', () => {
  const h = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n";
  const head = Buffer.alloc(12);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 2, 0]).copy(head);
  head.writeUInt32LE(h.length, 8);
  const data = Buffer.alloc(8);
  data.writeFloatLE(1.5, 0);
  data.writeFloatLE(-2, 4);
  const a = parseNpy(Buffer.concat([head, Buffer.from(h), data]), 'v2.npy');
  assert.deepEqual([...(a.data as Float32Array)], [1.5, -2]);
});

function header(dict: string, data: Uint8Array = new Uint8Array(0)): Buffer {
  const pre = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 0, 0]);
  pre.writeUInt16LE(dict.length + 1, 8);
  return Buffer.concat([pre, Buffer.from(dict + '\n'), data]);
}

function throwsNpy(buf: Uint8Array, re: RegExp): void {
  assert.throws(() => parseNpy(buf, 'bad.npy'), (e: unknown) => {
    assert.ok(e instanceof NpyError && e instanceof CheckpointError);
    assert.match(e.message, /^bad\.npy: /);
    assert.match(e.message, re);
    return true;
  });
}

test('npy errors: magic, version, dtype, order, truncation', () => {
  throwsNpy(Buffer.from('PK\x03\x04 not npy'), /not a \.npy file/);
  throwsNpy(Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 9, 0, 0, 0]), /unsupported \.npy format version 9\.0/);
  throwsNpy(header("{'descr': '<f2', 'fortran_order': False, 'shape': (1,), }", new Uint8Array(2)), /unsupported dtype <f2/);
  throwsNpy(header("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", new Uint8Array(4)), /big-endian/);
  throwsNpy(header("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", new Uint8Array(16)), /Fortran-order/);
  throwsNpy(header("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", new Uint8Array(4)), /structured/);
  throwsNpy(header("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", new Uint8Array(20)), /data is 20 bytes, float32 shape \(2, 3\) needs 24 \(truncated/);
  throwsNpy(header("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", new Uint8Array(8)), /4 unexpected bytes/);
  throwsNpy(header("{'descr': '|b1', 'fortran_order': False, 'shape': (1,), }", Uint8Array.of(7)), /bool array holds values/);
  const good = fs.readFileSync(path.join(GOLDEN, 'x0.npy'));
  throwsNpy(good.subarray(0, 60), /header length 118 runs past the end/);
  throwsNpy(good.subarray(0, good.length - 8), /needs 512 \(truncated/);
  assert.throws(() => readNpy(path.join(GOLDEN, 'nope.npy')), /nope\.npy: cannot read/);
});

test('conversion helpers check ranges', () => {
  const big: NpyArray = { dtype: 'int64', shape: [2], data: BigInt64Array.of(1n, 1n << 33n) };
  assert.throws(() => npyToInt32(big, 'ids'), /ids: value 8589934592 at flat index 1 does not fit in int32/);
  assert.throws(() => npyToInt32({ dtype: 'float32', shape: [1], data: Float32Array.of(1) }), /expected an integer array/);
  assert.deepEqual([...npyToFloat64(big)], [1, 2 ** 33]);
  assert.throws(() => npyToFloat64({ dtype: 'int64', shape: [1], data: BigInt64Array.of(1n << 60n) }), /not exact as float64/);
  assert.deepEqual([...npyToFloat32({ dtype: 'float64', shape: [1], data: Float64Array.of(0.1) })], [Math.fround(0.1)]);
  assert.deepEqual([...npyToInt32({ dtype: 'uint8', shape: [2], data: Uint8Array.of(3, 255) })], [3, 255]);
});
