/**
 * Reading the safetensors container (spec 8.3: u64 LE header length, JSON header, raw LE row-major data) from any
 * random-access byte source: a file in Node (safetensors.ts), an in-memory download in browsers. No Node imports, so
 * browser bundles can load checkpoints through the same validation as `loadSafetensors`.
 */
import { f16Table32 } from '../tensor/half.js';

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
export const DTYPE_SIZE: Record<string, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1,
  U64: 8, U32: 4, U16: 2, U8: 1, BOOL: 1, F8_E4M3: 1, F8_E5M2: 1,
};
/** dtypes converted to float32 on load (integers only when exactly representable). */
const READABLE = new Set(['F32', 'F16', 'BF16', 'F64', 'I64', 'I32', 'I8']);

/** Header lengths above this are corrupt, not real (the Rust reference uses the same 100 MB cap). */
const MAX_HEADER = 100_000_000;
/** Conversion chunk: large enough for throughput, small enough that conversion buffers stay cheap. */
export const CHUNK = 8 << 20;

if (new Uint8Array(Uint16Array.of(1).buffer)[0] !== 1) throw new Error('bd3lm: safetensors I/O assumes a little-endian host');

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

/** Random access to a file's bytes; `read` fills `dst` completely from byte `pos` or throws a CheckpointError. */
export interface ByteSource {
  readonly size: number;
  read(dst: Uint8Array, pos: number): void;
}

/** A ByteSource over bytes already in memory (a fetched checkpoint). */
export function bytesSource(bytes: Uint8Array, path: string): ByteSource {
  return {
    size: bytes.length,
    read(dst, pos) {
      if (pos + dst.length > bytes.length)
        throw new CheckpointError(path, `unexpected end of file at byte ${bytes.length} (truncated?)`);
      dst.set(bytes.subarray(pos, pos + dst.length));
    },
  };
}

export const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
export const isIndex = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** Reads and validates the header (every problem is collected into one error). */
export function parseHeader(src: ByteSource, path: string): SafetensorsHeader {
  const fileSize = src.size;
  if (fileSize < 8) throw new CheckpointError(path, `file is ${fileSize} bytes, too short for a safetensors header (truncated?)`);
  const lenBuf = new Uint8Array(8);
  src.read(lenBuf, 0);
  const len64 = new DataView(lenBuf.buffer).getBigUint64(0, true);
  if (len64 > BigInt(fileSize - 8))
    throw new CheckpointError(path, `header length ${len64} is beyond the end of the file (${fileSize} bytes; truncated or not a safetensors file)`);
  const headerLen = Number(len64);
  if (headerLen > MAX_HEADER) throw new CheckpointError(path, `header length ${headerLen} is implausibly large`);
  const hb = new Uint8Array(headerLen);
  src.read(hb, 8);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(hb));
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

/** An open safetensors file whose tensors can be read one at a time. */
export interface SafetensorsFile {
  header: SafetensorsHeader;
  /** Converts tensor `name` to float32 into `dst` (length must equal the element count). */
  readInto(name: string, dst: Float32Array): void;
  /** Copies I8 tensor `name` as it is into `dst` (length must equal the element count). */
  readInt8Into(name: string, dst: Int8Array): void;
  close(): void;
}

/** Parses the header of `src` and reads tensors from it on demand; `close` releases the source (a no-op default). */
export function openSource(src: ByteSource, path: string, close: () => void = () => {}): SafetensorsFile {
  const header = parseHeader(src, path);
  let chunk: Uint8Array | null = null;
  const scratch = (): Uint8Array => (chunk ??= new Uint8Array(CHUNK)); // own ArrayBuffer: aligned views
  const entry = (name: string, dstLength: number): TensorEntry => {
    const e = header.byName.get(name);
    if (!e) throw new CheckpointError(path, `no tensor named "${name}"`);
    const n = numel(e.shape);
    if (dstLength !== n) throw new CheckpointError(path, `tensor "${name}": destination holds ${dstLength} values, needs ${n}`);
    return e;
  };
  return {
    header,
    close,
    readInt8Into(name, dst) {
      const e = entry(name, dst.length);
      if (e.dtype !== 'I8') throw new CheckpointError(path, `tensor "${name}": dtype ${e.dtype}, expected I8`);
      const bytes = new Uint8Array(dst.buffer, dst.byteOffset, dst.length);
      for (let o = 0; o < bytes.length; o += CHUNK) src.read(bytes.subarray(o, Math.min(o + CHUNK, bytes.length)), header.dataStart + e.begin + o);
    },
    readInto(name, dst) {
      const e = entry(name, dst.length);
      const n = dst.length;
      if (!READABLE.has(e.dtype)) throw new CheckpointError(path, `tensor "${name}": dtype ${e.dtype} is not supported (F32, F16, BF16, F64, I64, I32, I8 are)`);
      const pos = header.dataStart + e.begin;
      if (e.dtype === 'F32') {
        // straight into the destination bytes, chunk by chunk
        const bytes = new Uint8Array(dst.buffer, dst.byteOffset, n * 4);
        for (let o = 0; o < bytes.length; o += CHUNK) src.read(bytes.subarray(o, Math.min(o + CHUNK, bytes.length)), pos + o);
        return;
      }
      const size = DTYPE_SIZE[e.dtype];
      const per = CHUNK / size;
      const buf = scratch();
      for (let i0 = 0; i0 < n; i0 += per) {
        const m = Math.min(per, n - i0);
        src.read(buf.subarray(0, m * size), pos + i0 * size);
        convertChunk(e, buf, m, dst, i0, path);
      }
    },
  };
}

function convertChunk(e: TensorEntry, buf: Uint8Array, m: number, dst: Float32Array, at: number, path: string): void {
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
    case 'I8': {
      const src = new Int8Array(ab, 0, m);
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
  /** tensors left out (the caller reads them its own way, e.g. int8 matrices) */
  skip?: ReadonlySet<string>;
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

/** Every tensor of an open file as float32 (checked against `opts.expected`). */
export function readTensors(file: SafetensorsFile, opts: LoadOptions = {}): LoadedSafetensors {
  const { header } = file;
  const { path } = header;
  if (opts.expected) {
    const problems = compareToExpected(header, opts.expected);
    if (problems.length)
      throw new CheckpointError(path, `tensors do not match the model (${problems.length} problem(s)):\n  ${problems.join('\n  ')}`);
  }
  const alloc = opts.alloc ?? ((n: number) => new Float32Array(n));
  const data = new Map<string, Float32Array>();
  const bad: string[] = [];
  // read in file order (sequential I/O), publish in the preferred order below
  const skip = opts.skip ?? new Set<string>();
  for (const e of [...header.entries].sort((a, b) => a.begin - b.begin)) {
    if (skip.has(e.name)) continue;
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
    if (skip.has(name)) continue;
    const e = header.byName.get(name)!;
    tensors.set(name, data.get(name)!);
    shapes.set(name, [...e.shape]);
    dtypes.set(name, e.dtype);
  }
  return { tensors, shapes, dtypes, metadata: header.metadata };
}
