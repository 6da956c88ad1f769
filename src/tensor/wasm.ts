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
import type {
  AdamWArgs,
  AttentionArgs,
  AttentionBackwardArgs,
  Backend,
  GatedResidualArgs,
  GatedResidualBackwardArgs,
  GemmArgs,
  LayerNormArgs,
  LayerNormBackwardArgs,
  RotaryArgs,
  SampleRowsArgs,
  StoredMatrix,
} from './backend.js';
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

/** The module's exports: one per line of native/kernels.def (its export name), plus the runtime's (native/wasm). */
interface Exports {
  __stack_pointer: WebAssembly.Global;
  __tls_size?: WebAssembly.Global;
  __tls_align?: WebAssembly.Global;
  alloc(bytes: number, zero: number): Ptr;
  free(p: Ptr): void;
  bd_set_threads(n: number, mainCanWait: number): void;
  bd_shutdown(): void;
  bd_heap_stats(out: Ptr): void;
  parallel_selftest(n: number, grain: number, out: Ptr, hits: Ptr): void;
  sgemm(tA: number, tB: number, m: number, n: number, k: number, alpha: number, a: Ptr, lda: number, b: Ptr,
    ldb: number, beta: number, c: Ptr, ldc: number, bias: Ptr, batch: number, sA: number, sB: number,
    sC: number): void;
  layernorm(x: Ptr, out: Ptr, rows: number, dim: number, w: Ptr, eps: number, shift: Ptr, scale: Ptr,
    modStride: number, rowsPerGroup: number, stats: Ptr): void;
  gated_residual(h: Ptr, y: Ptr, gate: Ptr, rows: number, dim: number, gateStride: number, rpg: number): void;
  gelu_tanh(x: Ptr, out: Ptr, n: number): void;
  softmax(x: Ptr, out: Ptr, rows: number, cols: number): void;
  log_softmax(x: Ptr, out: Ptr, rows: number, cols: number): void;
  logsumexp(x: Ptr, out: Ptr, rows: number, cols: number): void;
  rotary(x: Ptr, rows: number, rowStride: number, heads: number, headDim: number, cos: Ptr, sin: Ptr, pos0: number,
    seqLen: number): void;
  embedding(table: Ptr, ids: Ptr, n: number, dim: number, out: Ptr): void;
  sgemm_half(tA: number, m: number, n: number, k: number, alpha: number, a: Ptr, lda: number, b: Ptr, fmt: number,
    ldb: number, beta: number, c: Ptr, ldc: number, bias: Ptr): void;
  embedding_half(table: Ptr, fmt: number, ids: Ptr, n: number, dim: number, out: Ptr): void;
  sgemm_q8(tA: number, m: number, n: number, k: number, alpha: number, a: Ptr, lda: number, b: Ptr, scales: Ptr,
    ldb: number, beta: number, c: Ptr, ldc: number, bias: Ptr): void;
  sgemm_w8a8(tA: number, m: number, n: number, k: number, alpha: number, a: Ptr, lda: number, b: Ptr, scales: Ptr,
    ldb: number, beta: number, c: Ptr, ldc: number, bias: Ptr): void;
  embedding_q8(table: Ptr, scales: Ptr, ids: Ptr, n: number, dim: number, out: Ptr): void;
  sample_rows(rows: number, V: number, probs: Ptr, logp: Ptr, temperature: number, topK: number, topP: number,
    incl: number, fallback: Ptr, draws: number, drawRow: Ptr, noise: Ptr, seeds: Ptr, maskId: number, keep: number,
    stay: number, out: Ptr): void;
  attention(batch: number, heads: number, headDim: number, qLen: number, kLen: number, q: Ptr, k: Ptr, v: Ptr,
    out: Ptr, qRS: number, kRS: number, vRS: number, oRS: number, qBS: number, kBS: number, vBS: number,
    oBS: number, scale: number, spans: Ptr, nSpans: number, lse: Ptr): void;
  layernorm_backward(dout: Ptr, x: Ptr, stats: Ptr, rows: number, dim: number, w: Ptr, shift: Ptr, scale: Ptr,
    modStride: number, rowsPerGroup: number, dx: Ptr, dw: Ptr, dshift: Ptr, dscale: Ptr): void;
  gated_residual_backward(dh: Ptr, y: Ptr, gate: Ptr, rows: number, dim: number, gateStride: number, rpg: number,
    dy: Ptr, dgate: Ptr): void;
  gelu_tanh_backward(x: Ptr, dout: Ptr, dx: Ptr, n: number): void;
  attention_backward(batch: number, heads: number, headDim: number, qLen: number, kLen: number, q: Ptr, k: Ptr,
    v: Ptr, out: Ptr, qRS: number, kRS: number, vRS: number, oRS: number, qBS: number, kBS: number, vBS: number,
    oBS: number, scale: number, spans: Ptr, nSpans: number, lse: Ptr, dout: Ptr, dq: Ptr, dk: Ptr, dv: Ptr): void;
  embedding_backward(dout: Ptr, ids: Ptr, n: number, dim: number, dtable: Ptr): void;
  adamw(p: Ptr, g: Ptr, m: Ptr, v: Ptr, n: number, lr: number, b1: number, b2: number, eps: number, wd: number,
    step: number, gradScale: number): void;
  ema_update(shadow: Ptr, param: Ptr, n: number, decay: number): void;
  sum_squares(x: Ptr, n: number): number;
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

class WasmBackendImpl implements WasmBackend {
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
    private readonly ex: Exports,
    readonly memory: WebAssembly.Memory,
    readonly shared: boolean,
    readonly threads: number,
    readonly info: string,
    private readonly workers: PoolWorker[],
    private readonly exited: Promise<void>[],
  ) {}

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
  private p(a: Arr | null | undefined, out = false): Ptr {
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
  private call(f: () => void): void {
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
  layerNorm(l: LayerNormArgs): void {
    this.call(() => this.ex.layernorm(this.p(l.x), this.p(l.out, true), l.rows, l.dim, this.p(l.weight),
      l.eps ?? 1e-5, this.p(l.shift), this.p(l.scale), l.modStride ?? 0, l.rowsPerGroup ?? l.rows,
      this.p(l.stats, true)));
  }
  gatedResidual(g: GatedResidualArgs): void {
    this.call(() => this.ex.gated_residual(this.p(g.h, true), this.p(g.y), this.p(g.gate), g.rows, g.dim,
      g.gateStride ?? 0, g.rowsPerGroup ?? g.rows));
  }
  geluTanh(x: Float32Array, out: Float32Array, n: number): void {
    this.call(() => this.ex.gelu_tanh(this.p(x), this.p(out, true), n));
  }
  softmax(x: Float32Array, out: Float32Array, rows: number, cols: number): void {
    this.call(() => this.ex.softmax(this.p(x), this.p(out, true), rows, cols));
  }
  logSoftmax(x: Float32Array, out: Float32Array, rows: number, cols: number): void {
    this.call(() => this.ex.log_softmax(this.p(x), this.p(out, true), rows, cols));
  }
  logsumexp(x: Float32Array, out: Float32Array, rows: number, cols: number): void {
    this.call(() => this.ex.logsumexp(this.p(x), this.p(out, true), rows, cols));
  }
  rotary(r: RotaryArgs): void {
    this.call(() => this.ex.rotary(this.p(r.x, true), r.rows, r.rowStride, r.heads, r.headDim, this.p(r.cos),
      this.p(r.sin), r.pos0, r.seqLen));
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
  attention(a: AttentionArgs): void {
    this.call(() => this.ex.attention(a.batch, a.heads, a.headDim, a.qLen, a.kLen, this.p(a.q), this.p(a.k),
      this.p(a.v), this.p(a.out, true), a.qRowStride, a.kRowStride, a.vRowStride, a.outRowStride, a.qBatchStride,
      a.kBatchStride, a.vBatchStride, a.outBatchStride, a.scale, this.p(a.spans), Math.floor(a.spans.length / 6),
      this.p(a.lse, true)));
  }

  /**
   * Pointers for arrays that may be views of one buffer (packed dq/dk/dv, dx aliasing dout): foreign arrays that
   * share a buffer are copied in (and back, if `out`) once, as the byte range covering them all, so their relative
   * layout and any aliasing survive; separate copies would overwrite each other on the way back.
   */
  private ptrs(arrs: Float32Array[], out: boolean): Ptr[] {
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

  layerNormBackward(l: LayerNormBackwardArgs): void {
    this.call(() => {
      const [dout, dx] = this.ptrs([l.dout, l.dx], true) as [Ptr, Ptr];
      this.ex.layernorm_backward(dout, this.p(l.x), this.p(l.stats), l.rows, l.dim, this.p(l.weight),
        this.p(l.shift), this.p(l.scale), l.modStride ?? 0, l.rowsPerGroup ?? l.rows, dx, this.p(l.dweight, true),
        this.p(l.dshift, true), this.p(l.dscale, true));
    });
  }
  gatedResidualBackward(g: GatedResidualBackwardArgs): void {
    this.call(() => {
      const [dh, dy] = this.ptrs([g.dh, g.dy], true) as [Ptr, Ptr];
      this.ex.gated_residual_backward(dh, this.p(g.y), this.p(g.gate), g.rows, g.dim, g.gateStride ?? 0,
        g.rowsPerGroup ?? g.rows, dy, this.p(g.dgate, true));
    });
  }
  geluTanhBackward(x: Float32Array, dout: Float32Array, dx: Float32Array, n: number): void {
    this.call(() => {
      const [d, o] = this.ptrs([dout, dx], true) as [Ptr, Ptr];
      this.ex.gelu_tanh_backward(this.p(x), d, o, n);
    });
  }
  attentionBackward(a: AttentionBackwardArgs): void {
    this.call(() => {
      const [q, k, v] = this.ptrs([a.q, a.k, a.v], false) as [Ptr, Ptr, Ptr];
      const [dq, dk, dv] = this.ptrs([a.dq, a.dk, a.dv], true) as [Ptr, Ptr, Ptr];
      this.ex.attention_backward(a.batch, a.heads, a.headDim, a.qLen, a.kLen, q, k, v, this.p(a.out), a.qRowStride,
        a.kRowStride, a.vRowStride, a.outRowStride, a.qBatchStride, a.kBatchStride, a.vBatchStride,
        a.outBatchStride, a.scale, this.p(a.spans), Math.floor(a.spans.length / 6), this.p(a.lse), this.p(a.dout),
        dq, dk, dv);
    });
  }
  embeddingBackward(dout: Float32Array, ids: Int32Array, n: number, dim: number, dtable: Float32Array): void {
    this.call(() => this.ex.embedding_backward(this.p(dout), this.p(ids), n, dim, this.p(dtable, true)));
  }
  adamw(o: AdamWArgs): void {
    this.call(() => this.ex.adamw(this.p(o.param, true), this.p(o.grad), this.p(o.m, true), this.p(o.v, true), o.n,
      o.lr, o.beta1, o.beta2, o.eps, o.weightDecay, o.step, o.gradScale));
  }
  emaUpdate(shadow: Float32Array, param: Float32Array, n: number, decay: number): void {
    this.call(() => this.ex.ema_update(this.p(shadow, true), this.p(param), n, decay));
  }
  sumSquares(x: Float32Array, n: number): number {
    let r = 0;
    this.call(() => (r = this.ex.sum_squares(this.p(x), n)));
    return r;
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
