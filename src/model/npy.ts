/**
 * NumPy .npy reader/writer (format versions 1.0/2.0/3.0, little-endian, C order) for the golden test vectors
 * and for dumping arrays to compare with the Python reference. Arrays are small, so files are read whole.
 */
import * as fs from 'node:fs';
import { CheckpointError } from './safetensors.js';

/** A malformed or unsupported .npy file (a CheckpointError, so one catch handles every file-format problem). */
export class NpyError extends CheckpointError {
  constructor(file: string, problem: string) {
    super(file, problem);
    this.name = 'NpyError';
  }
}

export type NpyDtype = 'float32' | 'float64' | 'int64' | 'int32' | 'uint8' | 'bool';
export type NpyData = Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array;

export interface NpyArray {
  dtype: NpyDtype;
  shape: number[];
  /** C-order values; bool is a Uint8Array of 0/1 */
  data: NpyData;
}

const DESCR: Record<string, NpyDtype> = {
  '<f4': 'float32', '<f8': 'float64', '<i8': 'int64', '<i4': 'int32',
  '|u1': 'uint8', '<u1': 'uint8', '|b1': 'bool',
};
const TO_DESCR: Record<NpyDtype, string> = {
  float32: '<f4', float64: '<f8', int64: '<i8', int32: '<i4', uint8: '|u1', bool: '|b1',
};
const SIZE: Record<NpyDtype, number> = { float32: 4, float64: 8, int64: 8, int32: 4, uint8: 1, bool: 1 };
const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY

export function readNpy(path: string): NpyArray {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(path);
  } catch (e) {
    throw new NpyError(path, `cannot read: ${(e as Error).message}`);
  }
  return parseNpy(buf, path);
}

export function parseNpy(buf: Uint8Array, source: string): NpyArray {
  const fail = (msg: string): never => {
    throw new NpyError(source, msg);
  };
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length < 10 || !b.subarray(0, 6).equals(MAGIC)) fail('not a .npy file (bad magic or truncated)');
  const major = b[6];
  if (major < 1 || major > 3) fail(`unsupported .npy format version ${major}.${b[7]}`);
  const lenSize = major === 1 ? 2 : 4;
  if (b.length < 8 + lenSize) fail('truncated header');
  const hlen = major === 1 ? b.readUInt16LE(8) : b.readUInt32LE(8);
  const start = 8 + lenSize;
  if (start + hlen > b.length) fail(`header length ${hlen} runs past the end of the file (truncated?)`);
  const text = b.subarray(start, start + hlen).toString(major === 3 ? 'utf8' : 'latin1');

  let dict: Map<string, PyValue>;
  try {
    dict = parsePyDict(text);
  } catch (e) {
    return fail(`cannot parse header ${JSON.stringify(text.trim())}: ${(e as Error).message}`);
  }
  const descr = dict.get('descr');
  const fortran = dict.get('fortran_order');
  const shape = dict.get('shape');
  if (typeof descr !== 'string') return fail(`header has no dtype string (descr = ${JSON.stringify(descr)})`);
  if (descr.startsWith('>')) fail(`big-endian dtype ${descr} is not supported`);
  const dtype = DESCR[descr];
  if (!dtype) fail(`unsupported dtype ${descr} (supported: float32, float64, int64, int32, uint8, bool)`);
  if (typeof fortran !== 'boolean') fail('header has no fortran_order flag');
  if (fortran) fail('Fortran-order arrays are not supported (save with C order)');
  if (!Array.isArray(shape)) return fail('header has no shape tuple');

  const n = shape.reduce((a, d) => a * d, 1);
  const bytes = n * SIZE[dtype];
  const have = b.length - start - hlen;
  if (have < bytes) fail(`data is ${have} bytes, ${dtype} shape (${shape.join(', ')}) needs ${bytes} (truncated?)`);
  if (have > bytes) fail(`${have - bytes} unexpected bytes after the data`);
  // copy: the data offset inside the file need not be aligned for a typed-array view
  const raw = new Uint8Array(bytes);
  raw.set(b.subarray(start + hlen, start + hlen + bytes));
  const data = view(dtype, raw.buffer, n);
  if (dtype === 'bool' && (data as Uint8Array).some((v) => v > 1)) fail('bool array holds values other than 0/1');
  return { dtype, shape, data };
}

function view(dtype: NpyDtype, ab: ArrayBuffer, n: number): NpyData {
  switch (dtype) {
    case 'float32': return new Float32Array(ab, 0, n);
    case 'float64': return new Float64Array(ab, 0, n);
    case 'int64': return new BigInt64Array(ab, 0, n);
    case 'int32': return new Int32Array(ab, 0, n);
    default: return new Uint8Array(ab, 0, n);
  }
}

type PyValue = string | boolean | number[] | null;

/** Parses the Python dict literal of a .npy header (only the forms numpy writes: str, bool, int tuples). */
function parsePyDict(s: string): Map<string, PyValue> {
  let i = 0;
  const ws = (): void => { while (i < s.length && /\s/.test(s[i])) i++; };
  const expect = (c: string): void => {
    ws();
    if (s[i] !== c) throw new Error(`expected '${c}' at ${i}`);
    i++;
  };
  const str = (): string => {
    ws();
    const q = s[i];
    if (q !== "'" && q !== '"') throw new Error(`expected a string at ${i}`);
    const end = s.indexOf(q, i + 1);
    if (end < 0) throw new Error('unterminated string');
    const v = s.slice(i + 1, end);
    i = end + 1;
    return v;
  };
  const value = (): PyValue => {
    ws();
    if (s[i] === "'" || s[i] === '"') return str();
    if (s.startsWith('True', i)) { i += 4; return true; }
    if (s.startsWith('False', i)) { i += 5; return false; }
    if (s.startsWith('None', i)) { i += 4; return null; }
    if (s[i] !== '(') throw new Error(`unsupported value at ${i} (structured dtypes are not supported)`);
    i++;
    const dims: number[] = [];
    for (;;) {
      ws();
      if (s[i] === ')') { i++; return dims; }
      const m = /^(\d+)L?/.exec(s.slice(i));
      if (!m) throw new Error(`bad shape entry at ${i}`);
      const d = Number(m[1]);
      if (!Number.isSafeInteger(d)) throw new Error(`shape entry ${m[1]} too large`);
      dims.push(d);
      i += m[0].length;
      ws();
      if (s[i] === ',') i++;
      else if (s[i] !== ')') throw new Error(`expected ',' or ')' at ${i}`);
    }
  };
  const out = new Map<string, PyValue>();
  expect('{');
  for (;;) {
    ws();
    if (s[i] === '}') { i++; break; }
    const k = str();
    expect(':');
    out.set(k, value());
    ws();
    if (s[i] === ',') i++;
    else if (s[i] !== '}') throw new Error(`expected ',' or '}' at ${i}`);
  }
  ws();
  if (i !== s.length) throw new Error('trailing characters after the dict');
  return out;
}

/** Encodes a .npy file (version 1.0 unless the header needs 2.0), header padded to a 64-byte boundary. */
export function encodeNpy(arr: NpyArray): Buffer {
  const n = arr.shape.reduce((a, d) => a * d, 1);
  if (arr.data.length !== n) throw new Error(`npy: data has ${arr.data.length} values, shape (${arr.shape.join(', ')}) needs ${n}`);
  const shape = arr.shape.length === 1 ? `(${arr.shape[0]},)` : `(${arr.shape.join(', ')})`;
  let h = `{'descr': '${TO_DESCR[arr.dtype]}', 'fortran_order': False, 'shape': ${shape}, }`;
  const v1 = h.length + 11 <= 0xffff;
  const pre = v1 ? 10 : 12;
  h += ' '.repeat((64 - ((pre + h.length + 1) % 64)) % 64) + '\n';
  const head = Buffer.alloc(pre);
  MAGIC.copy(head);
  head[6] = v1 ? 1 : 2;
  head[7] = 0;
  if (v1) head.writeUInt16LE(h.length, 8);
  else head.writeUInt32LE(h.length, 8);
  const d = arr.data;
  return Buffer.concat([head, Buffer.from(h, 'latin1'), Buffer.from(d.buffer, d.byteOffset, d.byteLength)]);
}

export function writeNpy(path: string, arr: NpyArray): void {
  fs.writeFileSync(path, encodeNpy(arr));
}

/** Integer array as Int32Array (token ids); throws if a value does not fit or the dtype is not integral. */
export function npyToInt32(arr: NpyArray, source = 'npy array'): Int32Array {
  if (arr.dtype === 'int32') return arr.data as Int32Array;
  if (arr.dtype === 'float32' || arr.dtype === 'float64') throw new NpyError(source, `expected an integer array, got ${arr.dtype}`);
  const out = new Int32Array(arr.data.length);
  const d = arr.data;
  for (let i = 0; i < d.length; i++) {
    const v = Number(d[i]);
    if (v < -0x80000000 || v > 0x7fffffff) throw new NpyError(source, `value ${d[i]} at flat index ${i} does not fit in int32`);
    out[i] = v;
  }
  return out;
}

/** Any numeric array as Float64Array; int64 values beyond 2^53 are rejected (not exact). */
export function npyToFloat64(arr: NpyArray, source = 'npy array'): Float64Array {
  if (arr.dtype === 'float64') return arr.data as Float64Array;
  const d = arr.data;
  const out = new Float64Array(d.length);
  for (let i = 0; i < d.length; i++) {
    const v = Number(d[i]);
    if (arr.dtype === 'int64' && !Number.isSafeInteger(v)) throw new NpyError(source, `int64 value ${d[i]} at flat index ${i} is not exact as float64`);
    out[i] = v;
  }
  return out;
}

/** Any numeric array as Float32Array (float64 rounds to nearest float32). */
export function npyToFloat32(arr: NpyArray): Float32Array {
  if (arr.dtype === 'float32') return arr.data as Float32Array;
  const d = arr.data;
  const out = new Float32Array(d.length);
  for (let i = 0; i < d.length; i++) out[i] = Number(d[i]);
  return out;
}
