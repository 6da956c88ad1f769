/**
 * On-disk token dataset: a folder with `tokens.bin` (row-major [count][L], little-endian uint16 when the vocabulary
 * fits 65536 ids, else uint32) and `meta.json` (describes the rows; a folder without it is not a dataset).
 *
 * Writing is atomic per folder: tokens go to a temp file (hashed while written), then the old meta.json is removed,
 * the temp file renamed over tokens.bin and the new meta.json written via temp + rename. A crash leaves either the
 * old dataset or a folder without meta.json, never a meta.json describing other tokens.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash, type Hash } from 'node:crypto';

export const TOKENS_FILE = 'tokens.bin';
export const META_FILE = 'meta.json';
export const FORMAT = 'bd3lm-tokens/1';

export type TokenDtype = 'uint16' | 'uint32';

/** what the writer needs up front */
export interface DatasetHeader {
  tokenizer: string;
  vocabSize: number;
  bos: number;
  eos: number;
  /** sequence length (tokens per row) */
  L: number;
  insertEos: boolean;
  insertSpecial: boolean;
}

export interface DatasetMeta extends DatasetHeader {
  format: string;
  /** number of rows */
  count: number;
  dtype: TokenDtype;
  byteOrder: 'little';
  sha256: string;
  /** free-form provenance written by the producer (split, source files, documents, dropped tokens, seed…) */
  [key: string]: unknown;
}

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new Error('bd3lm datasets need a little-endian host');

export const dtypeFor = (vocabSize: number): TokenDtype => (vocabSize <= 65536 ? 'uint16' : 'uint32');
export const bytesOf = (d: TokenDtype) => (d === 'uint16' ? 2 : 4);

const FLUSH_BYTES = 4 << 20;

export class DatasetWriter {
  readonly dtype: TokenDtype;
  private readonly tmp: string;
  private fd: number;
  private readonly hash: Hash = createHash('sha256');
  private buf: Uint16Array | Uint32Array;
  private used = 0;
  count = 0;

  constructor(
    readonly dir: string,
    private readonly header: DatasetHeader,
  ) {
    this.dtype = dtypeFor(header.vocabSize);
    fs.mkdirSync(dir, { recursive: true });
    this.tmp = path.join(dir, `.${TOKENS_FILE}.${process.pid}.tmp`);
    this.fd = fs.openSync(this.tmp, 'w');
    const rowsPerFlush = Math.max(1, Math.floor(FLUSH_BYTES / (header.L * bytesOf(this.dtype))));
    const n = rowsPerFlush * header.L;
    this.buf = this.dtype === 'uint16' ? new Uint16Array(n) : new Uint32Array(n);
  }

  /** appends one row of L ids (checked against the vocabulary) */
  write(row: ArrayLike<number>): void {
    const { L, vocabSize } = this.header;
    if (row.length !== L) throw new Error(`row of ${row.length} tokens, expected ${L}`);
    for (let i = 0; i < L; i++) {
      const t = row[i];
      if (!(t >= 0 && t < vocabSize)) throw new Error(`token id ${t} outside the vocabulary 0..${vocabSize - 1}`);
      this.buf[this.used + i] = t;
    }
    this.used += L;
    this.count++;
    if (this.used === this.buf.length) this.flush();
  }

  private flush(): void {
    if (this.used === 0) return;
    const bytes = new Uint8Array(this.buf.buffer, 0, this.used * this.buf.BYTES_PER_ELEMENT);
    this.hash.update(bytes);
    let off = 0;
    while (off < bytes.length) off += fs.writeSync(this.fd, bytes, off, bytes.length - off);
    this.used = 0;
  }

  /** flushes, syncs and publishes the folder; `extra` lands in meta.json */
  finish(extra: Record<string, unknown> = {}): DatasetMeta {
    this.flush();
    fs.fsyncSync(this.fd);
    fs.closeSync(this.fd);
    this.fd = -1;
    const meta: DatasetMeta = {
      format: FORMAT,
      ...this.header,
      count: this.count,
      dtype: this.dtype,
      byteOrder: 'little',
      ...extra,
      sha256: this.hash.digest('hex'),
    };
    const metaPath = path.join(this.dir, META_FILE);
    fs.rmSync(metaPath, { force: true });
    fs.renameSync(this.tmp, path.join(this.dir, TOKENS_FILE));
    const metaTmp = path.join(this.dir, `.${META_FILE}.${process.pid}.tmp`);
    fs.writeFileSync(metaTmp, JSON.stringify(meta, null, 2) + '\n');
    fs.renameSync(metaTmp, metaPath);
    return meta;
  }

  /** drops the temp file (on error); the previous dataset, if any, is untouched */
  abort(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
    fs.rmSync(this.tmp, { force: true });
  }
}

/** Reads meta.json and checks it against tokens.bin's size. */
export function readMeta(dir: string): DatasetMeta {
  const metaPath = path.join(dir, META_FILE);
  let meta: DatasetMeta;
  try {
    meta = JSON.parse(fs.readFileSync(metaPath, 'utf8')) as DatasetMeta;
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : `unreadable (${(e as Error).message})`;
    throw new Error(`${dir} is not a bd3lm dataset: ${META_FILE} ${why} (run 'bd3lm prepare')`);
  }
  if (meta.format !== FORMAT) throw new Error(`${metaPath}: unknown format '${meta.format}' (expected ${FORMAT})`);
  if (meta.dtype !== 'uint16' && meta.dtype !== 'uint32') throw new Error(`${metaPath}: unknown dtype '${meta.dtype}'`);
  const want = meta.count * meta.L * bytesOf(meta.dtype);
  let size: number;
  try {
    size = fs.statSync(path.join(dir, TOKENS_FILE)).size;
  } catch {
    throw new Error(`${dir}: ${TOKENS_FILE} missing`);
  }
  if (size !== want) throw new Error(`${dir}: ${TOKENS_FILE} has ${size} bytes, meta.json describes ${meta.count} × ${meta.L} ${meta.dtype} = ${want}`);
  return meta;
}

/** Random access to rows without loading the file: each read is one pread of the rows asked for. */
export class Dataset {
  readonly meta: DatasetMeta;
  private fd: number;
  private readonly rowBytes: number;
  private scratch: Buffer = Buffer.alloc(0);

  constructor(readonly dir: string) {
    this.meta = readMeta(dir);
    this.rowBytes = this.meta.L * bytesOf(this.meta.dtype);
    this.fd = fs.openSync(path.join(dir, TOKENS_FILE), 'r');
  }

  get count(): number {
    return this.meta.count;
  }
  get L(): number {
    return this.meta.L;
  }

  /** copies rows [start, start+n) into `out` at element offset `at` (out must hold n*L ids from there) */
  readRows(start: number, n: number, out: Int32Array, at = 0): void {
    if (!(Number.isInteger(start) && Number.isInteger(n) && start >= 0 && n >= 0 && start + n <= this.meta.count)) {
      throw new Error(`rows ${start}..${start + n} outside 0..${this.meta.count}`);
    }
    const bytes = n * this.rowBytes;
    if (this.scratch.length < bytes) this.scratch = Buffer.alloc(bytes);
    let got = 0;
    while (got < bytes) {
      const r = fs.readSync(this.fd, this.scratch, got, bytes - got, start * this.rowBytes + got);
      if (r === 0) throw new Error(`${this.dir}: ${TOKENS_FILE} ended early (truncated?)`);
      got += r;
    }
    const b = this.scratch;
    const src =
      this.meta.dtype === 'uint16' ? new Uint16Array(b.buffer, b.byteOffset, bytes / 2) : new Uint32Array(b.buffer, b.byteOffset, bytes / 4);
    const V = this.meta.vocabSize;
    for (let i = 0; i < src.length; i++) {
      const t = src[i];
      if (t >= V) throw new Error(`${this.dir}: token id ${t} in row ${start + Math.floor(i / this.meta.L)} is outside the vocabulary (corrupt file?)`);
      out[at + i] = t;
    }
  }

  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
  }
}

/** Recomputes tokens.bin's sha256 (streamed) and compares it with meta.json. */
export function verifyDataset(dir: string): boolean {
  const meta = readMeta(dir);
  const h = createHash('sha256');
  const fd = fs.openSync(path.join(dir, TOKENS_FILE), 'r');
  const buf = Buffer.allocUnsafe(1 << 20);
  try {
    for (let r; (r = fs.readSync(fd, buf, 0, buf.length, null)) > 0; ) h.update(buf.subarray(0, r));
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex') === meta.sha256;
}
