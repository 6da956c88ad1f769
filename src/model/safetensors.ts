/**
 * safetensors reader/writer (spec 8.3 container: u64 LE header length, JSON header, raw LE row-major data).
 * Reading streams each tensor from the file straight into its destination array (optionally placed by the
 * caller, e.g. in WebAssembly memory), so a 680 MB checkpoint is never held twice. Writing streams too and is
 * atomic: a temp file is fsync'ed and renamed over the target, so a failure leaves the old file untouched.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as nodePath from 'node:path';
import { bf16BitsToF32, f16BitsToF32, f16Table32, f32Bits, f32ToBf16Bits, f32ToF16Bits } from '../tensor/half.js';

/** A bad checkpoint/array file; the message starts with the file path. */
export class CheckpointError extends Error {
  readonly file: string;
  readonly problem: string;
  constructor(file: string, problem: string) {
    super(`${file}: ${problem}`);
    this.name = 'CheckpointError';
    this.file = file;
    this.problem = problem;
  }
}

/** Element sizes of every dtype the safetensors format defines (needed to validate offsets). */
const DTYPE_SIZE: Record<string, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1,
  U64: 8, U32: 4, U16: 2, U8: 1, BOOL: 1, F8_E4M3: 1, F8_E5M2: 1,
};
/** dtypes converted to float32 on load (integers only when exactly representable). */
const READABLE = new Set(['F32', 'F16', 'BF16', 'F64', 'I64', 'I32']);
export type SaveDtype = 'F32' | 'F16' | 'BF16';

/** Header lengths above this are corrupt, not real (the Rust reference uses the same 100 MB cap). */
const MAX_HEADER = 100_000_000;
/** I/O chunk: large enough for throughput, small enough that conversion buffers stay cheap. */
const CHUNK = 8 << 20;

if (os.endianness() !== 'LE') throw new Error('bd3lm: safetensors I/O assumes a little-endian host');

export interface TensorEntry {
  name: string;
  dtype: string;
  shape: number[];
  /** byte offsets relative to the start of the data section */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  path: string;
  fileSize: number;
  /** absolute file offset of the data section (8 + header length) */
  dataStart: number;
  /** in header (JSON key) order */
  entries: TensorEntry[];
  byName: Map<string, TensorEntry>;
  metadata: Record<string, string> | null;
}

const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
const isIndex = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

function readFully(fd: number, dst: Uint8Array, pos: number, path: string): void {
  let done = 0;
  while (done < dst.length) {
    const n = fs.readSync(fd, dst, done, dst.length - done, pos + done);
    if (n === 0) throw new CheckpointError(path, `unexpected end of file at byte ${pos + done} (file changed while reading?)`);
    done += n;
  }
}

function parseHeader(fd: number, path: string): SafetensorsHeader {
  const fileSize = fs.fstatSync(fd).size;
  if (fileSize < 8) throw new CheckpointError(path, `file is ${fileSize} bytes, too short for a safetensors header (truncated?)`);
  const lenBuf = Buffer.alloc(8);
  readFully(fd, lenBuf, 0, path);
  const len64 = lenBuf.readBigUInt64LE(0);
  if (len64 > BigInt(fileSize - 8))
    throw new CheckpointError(path, `header length ${len64} is beyond the end of the file (${fileSize} bytes; truncated or not a safetensors file)`);
  const headerLen = Number(len64);
  if (headerLen > MAX_HEADER) throw new CheckpointError(path, `header length ${headerLen} is implausibly large`);
  const hb = Buffer.alloc(headerLen);
  readFully(fd, hb, 8, path);
  let json: unknown;
  try {
    json = JSON.parse(hb.toString('utf8'));
  } catch (e) {
    throw new CheckpointError(path, `header is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new CheckpointError(path, 'header is not a JSON object');

  const dataStart = 8 + headerLen;
  const dataLen = fileSize - dataStart;
  const problems: string[] = [];
  const entries: TensorEntry[] = [];
  let metadata: Record<string, string> | null = null;
  for (const [name, raw] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      const ok = typeof raw === 'object' && raw !== null && !Array.isArray(raw) &&
        Object.values(raw).every((v) => typeof v === 'string');
      if (!ok) problems.push('__metadata__ must be an object of strings');
      else metadata = raw as Record<string, string>;
      continue;
    }
    const bad = (why: string): void => void problems.push(`tensor "${name}": ${why}`);
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) { bad('entry is not an object'); continue; }
    const { dtype, shape, data_offsets: offs } = raw as Record<string, unknown>;
    if (typeof dtype !== 'string' || !(dtype in DTYPE_SIZE)) { bad(`unknown dtype ${JSON.stringify(dtype)}`); continue; }
    if (!Array.isArray(shape) || !shape.every(isIndex)) { bad(`bad shape ${JSON.stringify(shape)}`); continue; }
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every(isIndex) || offs[0] > offs[1]) {
      bad(`bad data_offsets ${JSON.stringify(offs)}`);
      continue;
    }
    const [begin, end] = offs as number[];
    const want = numel(shape) * DTYPE_SIZE[dtype];
    if (end - begin !== want) {
      bad(`data_offsets [${begin}, ${end}] span ${end - begin} bytes but ${dtype} shape [${shape.join(', ')}] needs ${want}`);
      continue;
    }
    if (end > dataLen) {
      bad(`data_offsets [${begin}, ${end}] run past the end of the file (data section is ${dataLen} bytes; truncated?)`);
      continue;
    }
    entries.push({ name, dtype, shape: shape as number[], begin, end });
  }
  const sorted = entries.filter((e) => e.end > e.begin).sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < sorted.length; i++) {
    const [a, b] = [sorted[i - 1], sorted[i]];
    if (a.end > b.begin)
      problems.push(`tensors "${a.name}" [${a.begin}, ${a.end}] and "${b.name}" [${b.begin}, ${b.end}] overlap`);
  }
  if (problems.length) throw new CheckpointError(path, `invalid safetensors header:\n  ${problems.join('\n  ')}`);
  return { path, fileSize, dataStart, entries, byName: new Map(entries.map((e) => [e.name, e])), metadata };
}

/** Reads and validates the header only (cheap: no tensor data is touched). */
export function readSafetensorsHeader(path: string): SafetensorsHeader {
  const fd = openOrThrow(path);
  try {
    return parseHeader(fd, path);
  } finally {
    fs.closeSync(fd);
  }
}

function openOrThrow(path: string): number {
  try {
    return fs.openSync(path, 'r');
  } catch (e) {
    throw new CheckpointError(path, `cannot open: ${(e as Error).message}`);
  }
}

/** An open safetensors file whose tensors can be read one at a time. */
export interface SafetensorsFile {
  header: SafetensorsHeader;
  /** Converts tensor `name` to float32 into `dst` (length must equal the element count). */
  readInto(name: string, dst: Float32Array): void;
  close(): void;
}

export function openSafetensors(path: string): SafetensorsFile {
  const fd = openOrThrow(path);
  let header: SafetensorsHeader;
  try {
    header = parseHeader(fd, path);
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
  let chunk: Buffer | null = null;
  const scratch = (): Buffer => (chunk ??= Buffer.allocUnsafeSlow(CHUNK)); // own ArrayBuffer: aligned views
  return {
    header,
    close: () => fs.closeSync(fd),
    readInto(name, dst) {
      const e = header.byName.get(name);
      if (!e) throw new CheckpointError(path, `no tensor named "${name}"`);
      const n = numel(e.shape);
      if (dst.length !== n) throw new CheckpointError(path, `tensor "${name}": destination holds ${dst.length} values, needs ${n}`);
      if (!READABLE.has(e.dtype)) throw new CheckpointError(path, `tensor "${name}": dtype ${e.dtype} is not supported (F32, F16, BF16, F64, I64, I32 are)`);
      const pos = header.dataStart + e.begin;
      if (e.dtype === 'F32') {
        // straight into the destination bytes, chunk by chunk
        const bytes = new Uint8Array(dst.buffer, dst.byteOffset, n * 4);
        for (let o = 0; o < bytes.length; o += CHUNK) readFully(fd, bytes.subarray(o, Math.min(o + CHUNK, bytes.length)), pos + o, path);
        return;
      }
      const size = DTYPE_SIZE[e.dtype];
      const per = CHUNK / size;
      const buf = scratch();
      for (let i0 = 0; i0 < n; i0 += per) {
        const m = Math.min(per, n - i0);
        readFully(fd, buf.subarray(0, m * size), pos + i0 * size, path);
        convertChunk(e, buf, m, dst, i0, path);
      }
    },
  };
}

function convertChunk(e: TensorEntry, buf: Buffer, m: number, dst: Float32Array, at: number, path: string): void {
  const ab = buf.buffer;
  switch (e.dtype) {
    case 'F16': {
      const src = new Uint16Array(ab, 0, m);
      const t = f16Table32();
      for (let i = 0; i < m; i++) dst[at + i] = t[src[i]];
      return;
    }
    case 'BF16': {
      const src = new Uint16Array(ab, 0, m);
      const d = new Uint32Array(dst.buffer, dst.byteOffset, dst.length);
      for (let i = 0; i < m; i++) d[at + i] = src[i] << 16; // bf16 is the top half of a float32
      return;
    }
    case 'F64': {
      const src = new Float64Array(ab, 0, m);
      for (let i = 0; i < m; i++) dst[at + i] = src[i];
      return;
    }
    default: {
      const src = e.dtype === 'I64' ? new BigInt64Array(ab, 0, m) : new Int32Array(ab, 0, m);
      for (let i = 0; i < m; i++) {
        const v = Number(src[i]);
        if (Math.fround(v) !== v)
          throw new CheckpointError(path, `tensor "${e.name}": ${e.dtype} value ${src[i]} at index ${at + i} is not exactly representable as float32`);
        dst[at + i] = v;
      }
    }
  }
}

export interface LoadOptions {
  /** where to put each tensor (e.g. backend/WebAssembly memory); default `new Float32Array(n)` */
  alloc?: (n: number) => Float32Array;
  /** exact set of names and shapes the file must hold; every mismatch is reported */
  expected?: readonly { name: string; shape: readonly number[] }[];
  /** skip the NaN/Inf scan (default: non-finite values are an error) */
  allowNonFinite?: boolean;
}

export interface LoadedSafetensors {
  /** in `expected` order when given, else header order */
  tensors: Map<string, Float32Array>;
  shapes: Map<string, number[]>;
  /** dtype as stored in the file */
  dtypes: Map<string, string>;
  metadata: Record<string, string> | null;
}

/** Problems of a header against an expected name/shape list (empty when it matches). */
export function compareToExpected(
  header: SafetensorsHeader,
  expected: readonly { name: string; shape: readonly number[] }[],
): string[] {
  const problems: string[] = [];
  const want = new Map(expected.map((x) => [x.name, x.shape]));
  for (const x of expected) {
    const e = header.byName.get(x.name);
    if (!e) problems.push(`missing tensor "${x.name}" [${x.shape.join(', ')}]`);
    else if (e.shape.length !== x.shape.length || e.shape.some((d, i) => d !== x.shape[i]))
      problems.push(`tensor "${x.name}" has shape [${e.shape.join(', ')}], expected [${x.shape.join(', ')}]`);
  }
  for (const e of header.entries) if (!want.has(e.name)) problems.push(`unexpected tensor "${e.name}" [${e.shape.join(', ')}]`);
  return problems;
}

/** First index of a NaN/Inf and how many there are (-1 / 0 when all finite). */
export function findNonFinite(a: Float32Array): { first: number; count: number } {
  const u = new Uint32Array(a.buffer, a.byteOffset, a.length);
  let first = -1;
  let count = 0;
  for (let i = 0; i < u.length; i++) {
    if ((u[i] & 0x7f800000) === 0x7f800000) { // all-ones exponent: NaN or +-Inf
      if (first < 0) first = i;
      count++;
    }
  }
  return { first, count };
}

export function loadSafetensors(path: string, opts: LoadOptions = {}): LoadedSafetensors {
  const file = openSafetensors(path);
  try {
    const { header } = file;
    if (opts.expected) {
      const problems = compareToExpected(header, opts.expected);
      if (problems.length)
        throw new CheckpointError(path, `tensors do not match the model (${problems.length} problem(s)):\n  ${problems.join('\n  ')}`);
    }
    const alloc = opts.alloc ?? ((n: number) => new Float32Array(n));
    const data = new Map<string, Float32Array>();
    const bad: string[] = [];
    // read in file order (sequential I/O), publish in the preferred order below
    for (const e of [...header.entries].sort((a, b) => a.begin - b.begin)) {
      const n = numel(e.shape);
      const dst = alloc(n);
      if (!(dst instanceof Float32Array) || dst.length !== n)
        throw new CheckpointError(path, `alloc(${n}) for "${e.name}" returned an array of the wrong type or length`);
      file.readInto(e.name, dst);
      if (!opts.allowNonFinite) {
        const nf = findNonFinite(dst);
        if (nf.count) bad.push(`"${e.name}": ${nf.count} NaN/Inf value(s), first at flat index ${nf.first}`);
      }
      data.set(e.name, dst);
    }
    if (bad.length) throw new CheckpointError(path, `non-finite values in ${bad.length} tensor(s):\n  ${bad.join('\n  ')}`);
    const order = opts.expected ? opts.expected.map((x) => x.name) : header.entries.map((e) => e.name);
    const tensors = new Map<string, Float32Array>();
    const shapes = new Map<string, number[]>();
    const dtypes = new Map<string, string>();
    for (const name of order) {
      const e = header.byName.get(name)!;
      tensors.set(name, data.get(name)!);
      shapes.set(name, [...e.shape]);
      dtypes.set(name, e.dtype);
    }
    return { tensors, shapes, dtypes, metadata: header.metadata };
  } finally {
    file.close();
  }
}

export interface SaveTensor {
  name: string;
  shape: readonly number[];
  data: Float32Array;
  /** storage dtype, default F32 (F16/BF16 round to nearest, ties to even) */
  dtype?: SaveDtype;
}

/** Writes a safetensors file atomically (temp file + fsync + rename), streaming tensor by tensor. */
export function saveSafetensors(path: string, tensors: readonly SaveTensor[], metadata?: Record<string, string>): void {
  const problems: string[] = [];
  const seen = new Set<string>();
  const header: Record<string, unknown> = {};
  if (metadata) {
    if (!Object.values(metadata).every((v) => typeof v === 'string')) problems.push('metadata values must be strings');
    header.__metadata__ = metadata;
  }
  let off = 0;
  for (const t of tensors) {
    const dtype = t.dtype ?? 'F32';
    if (typeof t.name !== 'string' || !t.name || t.name === '__metadata__') problems.push(`invalid tensor name ${JSON.stringify(t.name)}`);
    else if (seen.has(t.name)) problems.push(`duplicate tensor name "${t.name}"`);
    seen.add(t.name);
    if (!Array.isArray(t.shape) || !t.shape.every(isIndex)) { problems.push(`tensor "${t.name}": bad shape ${JSON.stringify(t.shape)}`); continue; }
    if (dtype !== 'F32' && dtype !== 'F16' && dtype !== 'BF16') { problems.push(`tensor "${t.name}": cannot write dtype ${dtype}`); continue; }
    const n = numel(t.shape);
    if (!(t.data instanceof Float32Array) || t.data.length !== n)
      problems.push(`tensor "${t.name}": data has ${t.data?.length} values, shape [${t.shape.join(', ')}] needs ${n}`);
    const bytes = n * DTYPE_SIZE[dtype];
    header[t.name] = { dtype, shape: [...t.shape], data_offsets: [off, off + bytes] };
    off += bytes;
  }
  if (problems.length) throw new CheckpointError(path, `cannot save:\n  ${problems.join('\n  ')}`);

  let json = JSON.stringify(header);
  const pad = (8 - (Buffer.byteLength(json) % 8)) % 8; // data section starts 8-aligned
  json += ' '.repeat(pad);
  const hb = Buffer.from(json, 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(hb.length));

  atomicWrite(path, (write) => {
    write(prefix);
    write(hb);
    for (const t of tensors) writeTensor(path, t, write);
  });
}

/** Streams `body`'s writes into `path.tmp-<pid>`, fsyncs and renames it over `path`; removes the temp file on failure. */
export function atomicWrite(path: string, body: (write: (b: Uint8Array) => void) => void): void {
  const tmp = `${path}.tmp-${process.pid}`;
  let fd: number;
  try {
    fd = fs.openSync(tmp, 'w');
  } catch (e) {
    throw new CheckpointError(path, `cannot create ${tmp}: ${(e as Error).message}`);
  }
  try {
    body((b) => {
      for (let done = 0; done < b.length; ) done += fs.writeSync(fd, b, done, b.length - done);
    });
    fs.fsyncSync(fd);
    fs.closeSync(fd);
  } catch (e) {
    try { fs.closeSync(fd); } catch { /* already closed */ }
    try { fs.unlinkSync(tmp); } catch { /* best effort */ }
    throw e;
  }
  fs.renameSync(tmp, path);
  try {
    // persist the rename itself; not possible on every platform, hence best effort
    const dfd = fs.openSync(nodePath.dirname(path), 'r');
    try { fs.fsyncSync(dfd); } finally { fs.closeSync(dfd); }
  } catch { /* ignore */ }
}

function writeTensor(path: string, t: SaveTensor, write: (b: Uint8Array) => void): void {
  const dtype = t.dtype ?? 'F32';
  const src = t.data;
  const per = CHUNK / 4;
  let conv: Uint16Array | null = null;
  for (let i0 = 0; i0 < src.length; i0 += per) {
    const part = src.subarray(i0, Math.min(i0 + per, src.length));
    // refuse NaN/Inf: the loader would reject the file anyway
    const nf = findNonFinite(part);
    if (nf.count) throw new CheckpointError(path, `tensor "${t.name}": non-finite value at flat index ${i0 + nf.first}`);
    if (dtype === 'F32') {
      write(new Uint8Array(part.buffer, part.byteOffset, part.byteLength));
      continue;
    }
    conv ??= new Uint16Array(Math.min(per, src.length));
    const c = conv.subarray(0, part.length);
    const f = dtype === 'F16' ? f32ToF16Bits : f32ToBf16Bits;
    for (let i = 0; i < part.length; i++) {
      c[i] = f(part[i]);
      if ((c[i] & 0x7fff) === 0x7c00 && dtype === 'F16')
        throw new CheckpointError(path, `tensor "${t.name}": value ${part[i]} at flat index ${i0 + i} overflows F16`);
    }
    write(new Uint8Array(c.buffer, 0, c.byteLength));
  }
}

// half precision <-> float32 lives with the kernels' HalfMatrix (src/tensor/half.ts); re-exported for the checkpoint API
export { bf16BitsToF32, f16BitsToF32, f16Table32, f32Bits, f32ToBf16Bits, f32ToF16Bits };
