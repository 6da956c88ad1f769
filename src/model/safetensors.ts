/**
 * safetensors files in Node (spec 8.3 container; the format itself is read by safetensors-format.ts, which browsers
 * share). Reading streams each tensor from the file straight into its destination array (optionally placed by the
 * caller, e.g. in WebAssembly memory), so a 680 MB checkpoint is never held twice. Writing streams too and is
 * atomic: a temp file is fsync'ed and renamed over the target, so a failure leaves the old file untouched.
 */
import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import { bf16BitsToF32, f16BitsToF32, f16Table32, f32Bits, f32ToBf16Bits, f32ToF16Bits } from '../tensor/half.js';
import {
  CHUNK, CheckpointError, DTYPE_SIZE, findNonFinite, isIndex, numel, openSource, readTensors,
  type ByteSource, type LoadedSafetensors, type LoadOptions, type SafetensorsFile, type SafetensorsHeader,
} from './safetensors-format.js';

export {
  CheckpointError, compareToExpected, findNonFinite, type LoadedSafetensors, type LoadOptions, type SafetensorsFile,
  type SafetensorsHeader, type TensorEntry,
} from './safetensors-format.js';
export type SaveDtype = 'F32' | 'F16' | 'BF16';

/** The bytes of an open file descriptor (a regular file); read errors name the path. */
function fileSource(fd: number, path: string): ByteSource {
  const st = fs.fstatSync(fd);
  if (!st.isFile()) throw new CheckpointError(path, `not a regular file (${st.isDirectory() ? 'a directory' : 'a device, pipe or socket'})`);
  return {
    size: st.size,
    read(dst, pos) {
      let done = 0;
      while (done < dst.length) {
        let n: number;
        try {
          n = fs.readSync(fd, dst, done, dst.length - done, pos + done);
        } catch (e) {
          throw new CheckpointError(path, `cannot read at byte ${pos + done}: ${(e as Error).message}`);
        }
        if (n === 0) throw new CheckpointError(path, `unexpected end of file at byte ${pos + done} (file changed while reading?)`);
        done += n;
      }
    },
  };
}

function openOrThrow(path: string): number {
  try {
    return fs.openSync(path, 'r');
  } catch (e) {
    throw new CheckpointError(path, `cannot open: ${(e as Error).message}`);
  }
}

export function openSafetensors(path: string): SafetensorsFile {
  const fd = openOrThrow(path);
  try {
    return openSource(fileSource(fd, path), path, () => fs.closeSync(fd));
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
}

/** Reads and validates the header only (cheap: no tensor data is touched). */
export function readSafetensorsHeader(path: string): SafetensorsHeader {
  const file = openSafetensors(path);
  file.close();
  return file.header;
}

export function loadSafetensors(path: string, opts: LoadOptions = {}): LoadedSafetensors {
  const file = openSafetensors(path);
  try {
    return readTensors(file, opts);
  } finally {
    file.close();
  }
}

export interface SaveTensor {
  name: string;
  shape: readonly number[];
  /** an Int8Array is written as I8, as it is (dtype is ignored) */
  data: Float32Array | Int8Array;
  /** storage dtype of float data, default F32 (F16/BF16 round to nearest, ties to even) */
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
    const dtype = t.data instanceof Int8Array ? 'I8' : (t.dtype ?? 'F32');
    if (typeof t.name !== 'string' || !t.name || t.name === '__metadata__') problems.push(`invalid tensor name ${JSON.stringify(t.name)}`);
    else if (seen.has(t.name)) problems.push(`duplicate tensor name "${t.name}"`);
    seen.add(t.name);
    if (!Array.isArray(t.shape) || !t.shape.every(isIndex)) { problems.push(`tensor "${t.name}": bad shape ${JSON.stringify(t.shape)}`); continue; }
    if (!['F32', 'F16', 'BF16', 'I8'].includes(dtype)) { problems.push(`tensor "${t.name}": cannot write dtype ${dtype}`); continue; }
    const n = numel(t.shape);
    if (!(t.data instanceof Float32Array || t.data instanceof Int8Array) || t.data.length !== n)
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
  if (t.data instanceof Int8Array) {
    write(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.length));
    return;
  }
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
