/**
 * Just enough of the ZIP format to read what `torch.save` writes: stored (uncompressed) entries, ZIP64 for files
 * over 4 GB, read on demand from a file descriptor so a multi-GB checkpoint is never held whole in memory.
 */
import * as fs from 'node:fs';

export interface ZipEntry {
  name: string;
  size: number;
  method: number;
  /** offset of the entry's local header */
  localOffset: number;
}

export class ZipError extends Error {}

const u16 = (b: Buffer, o: number) => b.readUInt16LE(o);
const u32 = (b: Buffer, o: number) => b.readUInt32LE(o);
const u64 = (b: Buffer, o: number) => {
  const v = b.readBigUInt64LE(o);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ZipError('a ZIP64 offset is beyond 2^53');
  return Number(v);
};

export class ZipReader {
  readonly entries = new Map<string, ZipEntry>();
  private fd: number;
  readonly size: number;

  constructor(readonly path: string) {
    this.fd = fs.openSync(path, 'r');
    try {
      this.size = fs.fstatSync(this.fd).size;
      this.readDirectory();
    } catch (e) {
      fs.closeSync(this.fd);
      throw e;
    }
  }

  close(): void {
    fs.closeSync(this.fd);
  }

  private read(offset: number, length: number): Buffer {
    const b = Buffer.allocUnsafe(length);
    let got = 0;
    while (got < length) {
      const n = fs.readSync(this.fd, b, got, length - got, offset + got);
      if (n === 0) throw new ZipError(`truncated: wanted ${length} bytes at offset ${offset}, the file has ${this.size}`);
      got += n;
    }
    return b;
  }

  private readDirectory(): void {
    const tailLen = Math.min(this.size, 65557);
    const tail = this.read(this.size - tailLen, tailLen);
    let eocd = -1;
    for (let i = tailLen - 22; i >= 0; i--) if (u32(tail, i) === 0x06054b50) { eocd = i; break; }
    if (eocd < 0) throw new ZipError('no ZIP end-of-central-directory record (not a zip file)');
    let count = u16(tail, eocd + 10);
    let cdSize = u32(tail, eocd + 12);
    let cdOffset = u32(tail, eocd + 16);
    if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      const loc = eocd - 20;
      if (loc < 0 || u32(tail, loc) !== 0x07064b50) throw new ZipError('ZIP64 locator missing');
      const rec = this.read(u64(tail, loc + 8), 56);
      if (u32(rec, 0) !== 0x06064b50) throw new ZipError('ZIP64 end-of-central-directory record missing');
      count = u64(rec, 32);
      cdSize = u64(rec, 40);
      cdOffset = u64(rec, 48);
    }
    const cd = this.read(cdOffset, cdSize);
    let p = 0;
    for (let k = 0; k < count; k++) {
      if (u32(cd, p) !== 0x02014b50) throw new ZipError(`bad central directory entry ${k}`);
      const method = u16(cd, p + 10);
      let size = u32(cd, p + 24);
      let compSize = u32(cd, p + 20);
      const nameLen = u16(cd, p + 28), extraLen = u16(cd, p + 30), commentLen = u16(cd, p + 32);
      let localOffset = u32(cd, p + 42);
      const name = cd.toString('utf8', p + 46, p + 46 + nameLen);
      for (let e = p + 46 + nameLen; e < p + 46 + nameLen + extraLen; ) {
        const id = u16(cd, e), len = u16(cd, e + 2);
        if (id === 0x0001) {
          let q = e + 4;
          if (size === 0xffffffff) { size = u64(cd, q); q += 8; }
          if (compSize === 0xffffffff) { compSize = u64(cd, q); q += 8; }
          if (localOffset === 0xffffffff) localOffset = u64(cd, q);
        }
        e += 4 + len;
      }
      if (method === 0 && compSize !== size) throw new ZipError(`entry ${name}: stored size ${compSize} differs from ${size}`);
      this.entries.set(name, { name, size, method, localOffset });
      p += 46 + nameLen + extraLen + commentLen;
    }
  }

  /** The bytes of a stored entry. */
  readEntry(name: string): Buffer {
    const e = this.entries.get(name);
    if (!e) throw new ZipError(`no entry ${name}`);
    if (e.method !== 0) throw new ZipError(`entry ${name} is compressed (method ${e.method}); torch.save writes stored entries only`);
    const h = this.read(e.localOffset, 30);
    if (u32(h, 0) !== 0x04034b50) throw new ZipError(`entry ${name}: bad local header`);
    return this.read(e.localOffset + 30 + u16(h, 26) + u16(h, 28), e.size);
  }
}
