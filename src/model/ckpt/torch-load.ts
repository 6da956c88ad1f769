/**
 * `torch.load` for the zip files `torch.save` writes (PyTorch >= 1.6, Lightning `.ckpt`): `ARCHIVE/data.pkl` is a
 * pickle whose tensors point, through persistent ids, at raw little-endian storages `ARCHIVE/data/KEY`. Tensors come
 * back as `TensorRef`s and are read only when asked for (`readFloat32`), so optimizer states are never loaded.
 */
import { ZipError, ZipReader } from './zip.js';
import { PickleError, PyGlobal, unpickle } from './pickle.js';
import { numel } from '../params.js';

export type StorageDtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

const STORAGE_DTYPES: Record<string, StorageDtype> = {
  DoubleStorage: 'F64', FloatStorage: 'F32', HalfStorage: 'F16', BFloat16Storage: 'BF16', LongStorage: 'I64',
  IntStorage: 'I32', ShortStorage: 'I16', CharStorage: 'I8', ByteStorage: 'U8', BoolStorage: 'BOOL',
};
const TORCH_DTYPES: Record<string, StorageDtype> = {
  float64: 'F64', double: 'F64', float32: 'F32', float: 'F32', float16: 'F16', half: 'F16', bfloat16: 'BF16',
  int64: 'I64', long: 'I64', int32: 'I32', int: 'I32', int16: 'I16', int8: 'I8', uint8: 'U8', bool: 'BOOL',
};
const ITEM_SIZE: Record<StorageDtype, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

export class TorchLoadError extends Error {
  constructor(readonly path: string, message: string) {
    super(`${path}: ${message}`);
    this.name = 'TorchLoadError';
  }
}

export interface StorageRef {
  key: string;
  dtype: StorageDtype;
  numel: number;
}

export class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}
  get dtype(): StorageDtype {
    return this.storage.dtype;
  }
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

export class TorchCheckpoint {
  readonly root: unknown;
  private prefix: string;

  private constructor(readonly path: string, private zip: ZipReader) {
    const pkl = [...zip.entries.keys()].find((n) => /^[^/]+\/data\.pkl$/.test(n));
    if (!pkl) throw new TorchLoadError(path, 'a zip without ARCHIVE/data.pkl: not a file written by torch.save');
    this.prefix = pkl.slice(0, -'data.pkl'.length);
    const order = zip.entries.get(`${this.prefix}byteorder`);
    if (order && zip.readEntry(order.name).toString() !== 'little') throw new TorchLoadError(path, 'big-endian storages are not supported');
    const storages = new Map<string, StorageRef>();
    const rebuild = (a: unknown[], dtype?: StorageDtype) => {
      const [storage, offset, size, stride] = a as [StorageRef, number, number[], number[]];
      const st = dtype && storage.dtype === 'U8' ? { ...storage, dtype, numel: storage.numel / ITEM_SIZE[dtype] } : storage;
      return new TensorRef(st, offset, [...size], [...stride]);
    };
    this.root = unpickle(zip.readEntry(pkl), {
      persistentLoad: (pid) => {
        const [tag, type, key, , n] = pid as [string, PyGlobal, string, string, number];
        if (tag !== 'storage') throw new PickleError(`unknown persistent id ${String(tag)}`);
        const dtype = type instanceof PyGlobal ? STORAGE_DTYPES[type.name] ?? (type.name === 'UntypedStorage' ? 'U8' : undefined) : undefined;
        if (!dtype) throw new PickleError(`unsupported storage type ${type instanceof PyGlobal ? type.qualified : String(type)}`);
        const id = String(key);
        if (!storages.has(id)) storages.set(id, { key: id, dtype, numel: Number(n) });
        return storages.get(id);
      },
      calls: {
        'torch._utils._rebuild_tensor_v2': (a) => rebuild(a),
        'torch._utils._rebuild_tensor_v3': (a) => {
          const dt = a[6] instanceof PyGlobal ? TORCH_DTYPES[a[6].name] : undefined;
          return rebuild(a, dt);
        },
        'torch._utils._rebuild_parameter': (a) => a[0],
        'torch._utils._rebuild_parameter_with_state': (a) => a[0],
        'collections.OrderedDict': () => new Map(),
        // protocol 2 spells bytes and sets as calls; these two are plain data
        '_codecs.encode': (a) => Uint8Array.from(String(a[0]), (c) => c.charCodeAt(0) & 0xff),
        'builtins.set': (a) => new Set(Array.isArray(a[0]) ? a[0] : []),
        '__builtin__.set': (a) => new Set(Array.isArray(a[0]) ? a[0] : []),
      },
    });
  }

  /** Opens a torch zip; a file that is no zip, or no torch zip, fails with a TorchLoadError naming it. */
  static open(path: string): TorchCheckpoint {
    let zip: ZipReader;
    try {
      zip = new ZipReader(path);
    } catch (e) {
      if (e instanceof ZipError) {
        throw new TorchLoadError(path, `not a PyTorch zip checkpoint (${e.message}); files from torch.save before PyTorch 1.6 must be re-saved with a newer PyTorch`);
      }
      throw new TorchLoadError(path, `cannot read: ${(e as Error).message}`);
    }
    try {
      return new TorchCheckpoint(path, zip);
    } catch (e) {
      zip.close();
      if (e instanceof TorchLoadError) throw e;
      throw new TorchLoadError(path, `cannot unpickle data.pkl: ${(e as Error).message}`);
    }
  }

  close(): void {
    this.zip.close();
  }

  /** A floating-point tensor's values as float32 (row-major, strides applied). */
  readFloat32(t: TensorRef, what: string): Float32Array {
    const { dtype } = t;
    if (!['F32', 'F16', 'BF16', 'F64'].includes(dtype)) throw new TorchLoadError(this.path, `${what} has dtype ${dtype}, not a floating-point type`);
    const item = ITEM_SIZE[dtype];
    let raw: Buffer;
    try {
      raw = this.zip.readEntry(`${this.prefix}data/${t.storage.key}`);
    } catch (e) {
      throw new TorchLoadError(this.path, `${what}: storage ${t.storage.key}: ${(e as Error).message}`);
    }
    const n = numel(t.shape);
    let maxIndex = t.offset;
    for (let d = 0; d < t.shape.length; d++) if (t.shape[d] > 0) maxIndex += (t.shape[d] - 1) * t.stride[d];
    if (n > 0 && (maxIndex + 1) * item > raw.length)
      throw new TorchLoadError(this.path, `${what}: shape [${t.shape}] with strides [${t.stride}] reaches past its storage of ${raw.length} bytes`);
    const out = new Float32Array(n);
    let contiguous = true;
    for (let d = t.shape.length - 1, step = 1; d >= 0; step *= t.shape[d], d--) if (t.shape[d] > 1 && t.stride[d] !== step) contiguous = false;
    if (contiguous && dtype === 'F32') {
      new Uint8Array(out.buffer).set(raw.subarray(t.offset * 4, (t.offset + n) * 4)); // little-endian on every platform Node runs on
      return out;
    }
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const bits = new Uint32Array(1);
    const asFloat = new Float32Array(bits.buffer);
    const get = (i: number): number => {
      const o = i * item;
      if (dtype === 'F32') return view.getFloat32(o, true);
      if (dtype === 'F64') return view.getFloat64(o, true);
      if (dtype === 'F16') return halfToFloat(view.getUint16(o, true));
      bits[0] = view.getUint16(o, true) << 16; // bf16: the high half of a float32
      return asFloat[0];
    };
    if (contiguous) {
      for (let k = 0; k < n; k++) out[k] = get(t.offset + k);
      return out;
    }
    const idx = new Array<number>(t.shape.length).fill(0);
    for (let k = 0; k < n; k++) {
      let src = t.offset;
      for (let d = 0; d < idx.length; d++) src += idx[d] * t.stride[d];
      out[k] = get(src);
      for (let d = idx.length - 1; d >= 0; d--) {
        if (++idx[d] < t.shape[d]) break;
        idx[d] = 0;
      }
    }
    return out;
  }
}
