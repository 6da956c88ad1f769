/**
 * WebAssembly backend: the C kernels (native/kernels) compiled to wasm SIMD (scripts/build-wasm.sh), with threads.
 *
 * Memory and threads: one shared WebAssembly.Memory (up to 4 GiB), created here and imported by the module's
 * instance on this thread and by one instance per worker (src/tensor/wasm-worker.ts). C globals live in that
 * memory, so the thread pool of native/wasm/runtime_wasm.c works as with pthreads; each worker gets its own stack
 * and TLS block from the heap. `alloc` returns views on the memory; views on a SharedArrayBuffer stay valid when
 * the memory grows (the grown memory just has a new buffer object, which is why `inMemory` keeps a set of them).
 *
 * Without SharedArrayBuffer (a browser page that is not cross-origin isolated) the single-thread build runs on a
 * plain memory. There, growing the memory DETACHES every view returned earlier (they read as length 0, and the
 * kernels throw if given one); pass `initialMemoryMB` large enough to avoid growth.
 *
 * Node-only modules are imported dynamically so that this file can be bundled for browsers.
 */
import { packageRoot } from './package-root.js';
import type { Backend, GemmArgs, SampleRowsArgs, StoredMatrix } from './backend.js';
import { WasmKernels, type WasmKernelExports } from './kernels.gen.js';
import { isStored } from './stored.js';

export interface WasmBackendOptions {
  /** threads including the caller; default $BD3LM_THREADS, else min(2, hardware concurrency) */
  threads?: number;
  /** use the relaxed-SIMD build; default: when the engine supports it */
  relaxed?: boolean;
  /** browser: folder URL holding the .wasm files (default: the package's wasm/ relative to this module) */
  wasmBase?: string | URL;
  /** browser: URL of the compiled wasm-worker.js (default: next to this module) */
  workerUrl?: string | URL;
  /** false forces the single-thread build on a non-shared memory (default: shared when SharedArrayBuffer works) */
  shared?: boolean;
  /** initial memory (default 16 MiB) and cap (default 4096 MiB) */
  initialMemoryMB?: number;
  maxMemoryMB?: number;
}

export interface WasmBackend extends Backend {
  readonly memory: WebAssembly.Memory;
  /** false: single-thread build on a non-shared memory (views detach when it grows) */
  readonly shared: boolean;
  /** Stop the workers; the backend must not be used afterwards. */
  dispose(): Promise<void>;
  /** Diagnostics for tests: run the pool's self-test kernel, and the heap's state. */
  parallelSelfTest(n: number, grain: number): { out: Int32Array; hits: Int32Array };
  heapStats(): { used: number; extent: number; blocks: number };
}

type Arr = Float32Array | Int32Array | Uint16Array | Int8Array | Float64Array;
type Ptr = number;

/** The module's exports: the kernels of native/kernels.def (src/tensor/kernels.gen.ts), plus the runtime's (native/wasm). */
interface Exports extends WasmKernelExports {
  __stack_pointer: WebAssembly.Global;
  __tls_size?: WebAssembly.Global;
  __tls_align?: WebAssembly.Global;
  alloc(bytes: number, zero: number): Ptr;
  free(p: Ptr): void;
  bd_set_threads(n: number, mainCanWait: number): void;
  bd_shutdown(): void;
  bd_heap_stats(out: Ptr): void;
  parallel_selftest(n: number, grain: number, out: Ptr, hits: Ptr): void;
}

/** Messages of the worker protocol (see wasm-worker.ts). */
export interface WorkerStart {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  tid: number;
  stackTop: number;
  tls: number;
}
export type WorkerReply = { ready: true } | { exited: true } | { error: string };

interface PoolWorker {
  post(m: WorkerStart): void;
  onReply(cb: (r: WorkerReply) => void): void;
  /** Node: let the process exit while the pool idles (after the listeners are attached, which re-ref it) */
  unref?(): void;
  ref?(): void;
  terminate(): void;
}

const PAGE = 65536;
/** BD_HALF_* of native/half.h */
const HALF_FMT = { bf16: 1, f16: 2 } as const;
const WORKER_STACK = 1 << 20;
const IS_NODE = typeof process !== 'undefined' && !!process.versions?.node;

/** f32x4.relaxed_madd over three v128 constants: validates only where relaxed SIMD is enabled. */
function relaxedProbe(): Uint8Array<ArrayBuffer> {
  const c = [0xfd, 0x0c, ...new Array<number>(16).fill(0)];
  const body = [0x00, ...c, ...c, ...c, 0xfd, 0x85, 0x02, 0x0b];
  const code = [0x01, body.length, ...body];
  return Uint8Array.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 5, 1, 0x60, 0, 1, 0x7b, 3, 2, 1, 0, 0x0a,
    code.length, ...code]);
}

async function relaxedSupported(): Promise<boolean> {
  if (IS_NODE) {
    // Node 20 ships relaxed SIMD behind a flag; it must be set before the module is compiled.
    const v8 = await import('node:v8');
    v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
  }
  return WebAssembly.validate(relaxedProbe());
}

async function loadModule(file: string, base?: string | URL): Promise<WebAssembly.Module> {
  if (IS_NODE && base === undefined) {
    const { readFile } = await import('node:fs/promises');
    const { join } = await import('node:path');
    const path = join(await packageRoot(), 'wasm', file);
    let bytes: Uint8Array<ArrayBuffer>;
    try {
      bytes = new Uint8Array(await readFile(path));
    } catch (e) {
      throw new Error(`cannot read ${path} (shipped with the package; \`npm run build:wasm\` rebuilds it): ${(e as Error).message}`);
    }
    return WebAssembly.compile(bytes);
  }
  // (vite-ignore: bundlers must not try to resolve these package-relative defaults; bundled pages pass wasmBase)
  const url = new URL(file, base ?? new URL(/* @vite-ignore */ '../../../wasm/', import.meta.url));
  const res = await fetch(url);
  if (!res.ok) throw new Error(`cannot fetch ${url}: HTTP ${res.status}`);
  return WebAssembly.compile(await res.arrayBuffer());
}

async function spawnWorker(workerUrl?: string | URL): Promise<PoolWorker> {
  const url = workerUrl ?? new URL(/* @vite-ignore */ './wasm-worker.js', import.meta.url); // bundles pass workerUrl
  if (IS_NODE) {
    const { Worker } = await import('node:worker_threads');
    const w = new Worker(url);
    return {
      post: (m) => w.postMessage(m),
      onReply: (cb) => {
        w.on('message', cb);
        w.on('error', (e) => cb({ error: String(e) }));
      },
      unref: () => w.unref(),
      ref: () => w.ref(),
      terminate: () => void w.terminate(),
    };
  }
  const w = new Worker(url, { type: 'module' });
  return {
    post: (m) => w.postMessage(m),
    onReply: (cb) => {
      w.addEventListener('message', (e) => cb(e.data as WorkerReply));
      w.addEventListener('error', (e) => cb({ error: e.message }));
    },
    terminate: () => w.terminate(),
  };
}

function defaultThreads(): number {
  const env = IS_NODE ? Number.parseInt(process.env.BD3LM_THREADS ?? '', 10) : NaN;
  if (env > 0) return env;
  const hw = typeof navigator !== 'undefined' && navigator.hardwareConcurrency ? navigator.hardwareConcurrency : 2;
  return Math.min(2, hw);
}

export async function createWasmBackend(opts: WasmBackendOptions = {}): Promise<WasmBackend> {
  const canShare =
    opts.shared !== false &&
    typeof SharedArrayBuffer !== 'undefined' &&
    (IS_NODE || (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true) &&
    (IS_NODE || typeof Worker !== 'undefined');
  // relaxed: true where unsupported falls back to SIMD128 (`info` tells which build runs)
  const relaxed = canShare && opts.relaxed !== false && (await relaxedSupported());
  const file = !canShare ? 'bd3lm-simd-st.wasm' : relaxed ? 'bd3lm-relaxed.wasm' : 'bd3lm-simd.wasm';
  const module = await loadModule(file, opts.wasmBase);
  const maxPages = Math.min(65536, Math.ceil((opts.maxMemoryMB ?? 4096) * (2 ** 20 / PAGE)));
  const initPages = Math.max(256, Math.ceil((opts.initialMemoryMB ?? 16) * (2 ** 20 / PAGE)));
  const memory = new WebAssembly.Memory({ initial: initPages, maximum: maxPages, shared: canShare });
  const instance = await WebAssembly.instantiate(module, { env: { memory } });
  const ex = instance.exports as unknown as Exports;
  const threads = canShare ? Math.max(1, Math.min(64, Math.floor(opts.threads ?? defaultThreads()))) : 1;

  const workers: PoolWorker[] = [];
  const exited: Promise<void>[] = [];
  try {
    const ready: Promise<void>[] = [];
    for (let tid = 1; tid < threads; tid++) {
      const w = await spawnWorker(opts.workerUrl);
      workers.push(w);
      const stack = ex.alloc(WORKER_STACK, 0) >>> 0;
      const tls = ex.alloc(Math.max(1, Number(ex.__tls_size?.value ?? 0)), 0) >>> 0;
      if (!stack || !tls) throw new Error('wasm backend: out of memory for worker stacks');
      if (Number(ex.__tls_align?.value ?? 1) > 64) throw new Error('wasm backend: TLS alignment above 64');
      ready.push(new Promise((resolve, reject) => {
        let done: () => void = () => {};
        exited.push(new Promise((r) => (done = r)));
        w.onReply((r) => {
          if ('ready' in r) resolve();
          else if ('exited' in r) done();
          else reject(new Error(`wasm worker ${tid}: ${r.error}`));
        });
      }));
      w.post({ module, memory, tid, stackTop: stack + WORKER_STACK, tls });
    }
    await Promise.all(ready);
    for (const w of workers) w.unref?.();
  } catch (e) {
    for (const w of workers) w.terminate();
    throw e;
  }
  // Only now count the workers: kernels size per-thread scratch by bd_num_threads() and index it by tid.
  const mainCanWait = IS_NODE || typeof (globalThis as { window?: unknown }).window === 'undefined';
  ex.bd_set_threads(threads, mainCanWait ? 1 : 0);
  const info = `${relaxed ? 'relaxed-simd' : 'simd128'}, ${threads} thread${threads > 1 ? 's' : ''}` +
    (canShare ? '' : ', single-thread build (no SharedArrayBuffer)');
  return new WasmBackendImpl(ex, memory, canShare, threads, info, workers, exited);
}

/** The kernels native/kernels.def binds come from WasmKernels; here: memory, marshalling and the hand-written ones. */
class WasmBackendImpl extends WasmKernels implements WasmBackend {
  readonly name = 'wasm' as const;
  /** W8A8 products (native/kernels/w8a8.c: int16 dot products in SIMD128) */
  readonly w8a8 = true;
  private readonly bufs = new WeakSet<ArrayBufferLike>();
  private lastBuf: ArrayBufferLike | null = null;
  /** foreign arrays copied in for the current call: [array, ptr, copy back] */
  private readonly copies: [Arr, Ptr, boolean][] = [];
  /** pointers handed out by alloc/allocInt and not yet freed */
  private readonly live = new Set<Ptr>();
  private disposed = false;

  constructor(
    protected readonly ex: Exports,
    readonly memory: WebAssembly.Memory,
    readonly shared: boolean,
    readonly threads: number,
    readonly info: string,
    private readonly workers: PoolWorker[],
    private readonly exited: Promise<void>[],
  ) {
    super();
  }

  /** The current buffer of the memory, remembered so that views made before a growth are still recognised. */
  private buffer(): ArrayBufferLike {
    const b = this.memory.buffer;
    if (b !== this.lastBuf) {
      this.bufs.add(b);
      this.lastBuf = b;
    }
    return b;
  }

  private raw(bytes: number, zero = 0): Ptr {
    if (this.disposed) throw new Error('wasm backend: used after dispose()');
    const p = this.ex.alloc(bytes, zero) >>> 0; // i32 results: addresses above 2 GiB come back negative
    if (!p) throw new Error(`wasm backend: out of memory allocating ${bytes} bytes`);
    return p;
  }

  /** Zero-filled, like new Float32Array (freed blocks are reused). */
  alloc(n: number): Float32Array {
    const p = this.raw(n * 4, 1);
    this.live.add(p);
    return new Float32Array(this.buffer(), p, n);
  }
  allocInt(n: number): Int32Array {
    const p = this.raw(n * 4, 1);
    this.live.add(p);
    return new Int32Array(this.buffer(), p, n);
  }
  allocHalf(n: number): Uint16Array {
    const p = this.raw(Math.max(n * 2, 4), 1);
    this.live.add(p);
    return new Uint16Array(this.buffer(), p, n);
  }
  allocInt8(n: number): Int8Array {
    const p = this.raw(Math.max(n, 4), 1);
    this.live.add(p);
    return new Int8Array(this.buffer(), p, n);
  }
  free(a: Arr): void {
    this.buffer();
    // a subarray or a second free would corrupt the C heap's block headers
    if (!this.bufs.has(a.buffer) || !this.live.delete(a.byteOffset)) {
      throw new Error('wasm backend: free() of an array not returned by alloc() (or freed twice)');
    }
    this.ex.free(a.byteOffset);
  }

  /** Pointer to `a` in the wasm memory; a foreign array is copied into scratch (and back after the call if `out`). */
  protected p(a: Arr | null | undefined, out = false): Ptr {
    if (!a) return 0;
    if (this.bufs.has(a.buffer)) {
      if (a.buffer.byteLength === 0) {
        throw new Error('wasm backend: array detached by memory growth (single-thread build; raise initialMemoryMB)');
      }
      return a.byteOffset;
    }
    const p = this.raw(Math.max(a.byteLength, 4));
    new Uint8Array(this.buffer(), p, a.byteLength).set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
    this.copies.push([a, p, out]);
    return p;
  }

  /** Copy outputs back to foreign arrays and release the scratch. */
  private done(): void {
    if (this.copies.length === 0) return;
    const buf = this.buffer();
    for (const [a, p, out] of this.copies) {
      if (out) new Uint8Array(a.buffer, a.byteOffset, a.byteLength).set(new Uint8Array(buf, p, a.byteLength));
      this.ex.free(p);
    }
    this.copies.length = 0;
  }

  /** Refresh the known buffers, then marshal; on a throw, release any scratch already taken. */
  protected call(f: () => void): void {
    this.buffer();
    try {
      f();
    } finally {
      this.done();
    }
  }

  sgemm(g: GemmArgs): void {
    const b = g.b;
    if (isStored(b)) {
      if (!g.transB || (g.batch ?? 1) !== 1) throw new Error(`sgemm: a ${b.dtype} b needs transB and batch 1`);
      const tA = g.transA ? 1 : 0, alpha = g.alpha ?? 1, beta = g.beta ?? 0;
      this.call(() =>
        b.dtype === 'int8'
          ? (b.activations === 'int8' ? this.ex.sgemm_w8a8 : this.ex.sgemm_q8)(tA, g.m, g.n, g.k, alpha, this.p(g.a), g.lda, this.p(b.data), this.p(b.scales), g.ldb,
            beta, this.p(g.c, true), g.ldc, this.p(g.bias))
          : this.ex.sgemm_half(tA, g.m, g.n, g.k, alpha, this.p(g.a), g.lda, this.p(b.data), HALF_FMT[b.dtype], g.ldb,
            beta, this.p(g.c, true), g.ldc, this.p(g.bias)));
      return;
    }
    this.call(() => this.ex.sgemm(g.transA ? 1 : 0, g.transB ? 1 : 0, g.m, g.n, g.k, g.alpha ?? 1, this.p(g.a),
      g.lda, this.p(b), g.ldb, g.beta ?? 0, this.p(g.c, true), g.ldc, this.p(g.bias), g.batch ?? 1,
      g.strideA ?? 0, g.strideB ?? 0, g.strideC ?? 0));
  }
  embedding(table: Float32Array | StoredMatrix, ids: Int32Array, n: number, dim: number, out: Float32Array): void {
    this.call(() =>
      !isStored(table)
        ? this.ex.embedding(this.p(table), this.p(ids), n, dim, this.p(out, true))
        : table.dtype === 'int8'
          ? this.ex.embedding_q8(this.p(table.data), this.p(table.scales), this.p(ids), n, dim, this.p(out, true))
          : this.ex.embedding_half(this.p(table.data), HALF_FMT[table.dtype], this.p(ids), n, dim, this.p(out, true)));
  }
  sampleRows(a: SampleRowsArgs): void {
    // the C side trusts its arguments: a short array would be read or written past its end in the shared memory
    const { rows, V } = a;
    const f = a.filters ?? {};
    const draws = a.drawRow?.length ?? 0;
    const short = (x: { length: number } | null | undefined, n: number) => !x || x.length < n;
    if (!(Number.isInteger(rows) && rows >= 0 && Number.isInteger(V) && V >= 1)) throw new Error(`sampleRows: bad shape ${rows}x${V}`);
    if (short(a.probs, rows * V) || (a.logp && (short(a.logp, rows * V) || short(a.fallback, rows)))) {
      throw new Error('sampleRows: probs / logp / fallback shorter than rows x V / rows');
    }
    if (draws && (short(a.out, draws) || (a.noise ? short(a.noise, draws * V) : short(a.seeds, 3 * draws)))) {
      throw new Error('sampleRows: out / noise / seeds shorter than the draws need');
    }
    if (a.drawRow?.some((r) => !(r >= 0 && r < rows))) throw new Error(`sampleRows: a draw row is outside 0..${rows - 1}`);
    const q = a.posterior;
    if (q && !(q.maskId >= 0 && q.maskId < V)) throw new Error(`sampleRows: maskId ${q.maskId} outside 0..${V - 1}`);
    this.call(() => this.ex.sample_rows(rows, V, this.p(a.probs, !!a.logp), this.p(a.logp), f.temperature ?? 1,
      f.topK ?? 0, f.topP ?? 1, f.includeCrossing ? 1 : 0, this.p(a.fallback, true), draws, this.p(a.drawRow),
      this.p(a.noise), this.p(a.seeds), q ? q.maskId : -1, q ? q.keep : 1, q ? q.stay : 0, this.p(a.out, true)));
  }
  /**
   * Pointers for arrays that may be views of one buffer (packed dq/dk/dv, dx aliasing dout): foreign arrays that
   * share a buffer are copied in (and back, if `out`) once, as the byte range covering them all, so their relative
   * layout and any aliasing survive; separate copies would overwrite each other on the way back.
   */
  protected ptrs(arrs: Float32Array[], out: boolean): Ptr[] {
    const res: Ptr[] = new Array<Ptr>(arrs.length);
    const groups = new Map<ArrayBufferLike, number[]>();
    arrs.forEach((a, i) => {
      if (this.bufs.has(a.buffer)) res[i] = this.p(a, out);
      else groups.set(a.buffer, [...(groups.get(a.buffer) ?? []), i]);
    });
    for (const [buf, idx] of groups) {
      const lo = Math.min(...idx.map((i) => arrs[i]!.byteOffset));
      const hi = Math.max(...idx.map((i) => arrs[i]!.byteOffset + arrs[i]!.byteLength));
      const base = this.p(new Float32Array(buf, lo, (hi - lo) / 4), out);
      for (const i of idx) res[i] = base + arrs[i]!.byteOffset - lo;
    }
    return res;
  }

  parallelSelfTest(n: number, grain: number): { out: Int32Array; hits: Int32Array } {
    const out = new Int32Array(n);
    const hits = new Int32Array(64);
    this.call(() => this.ex.parallel_selftest(n, grain, this.p(out, true), this.p(hits, true)));
    return { out, hits };
  }
  heapStats(): { used: number; extent: number; blocks: number } {
    const p = this.raw(16);
    this.ex.bd_heap_stats(p);
    const [used, extent, blocks] = new Uint32Array(this.buffer(), p, 3);
    this.ex.free(p);
    return { used: used!, extent: extent!, blocks: blocks! };
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    if (this.workers.length) {
      for (const w of this.workers) w.ref?.(); // keep the process up until the replies arrive
      this.ex.bd_shutdown();
      // Workers leave bd_worker_main and report; terminate regardless after a grace period.
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([Promise.all(this.exited), new Promise((r) => (timer = setTimeout(r, 1000)))]);
      clearTimeout(timer);
      for (const w of this.workers) w.terminate();
    }
  }
}
