/**
 * Native backend: thin wrapper over the N-API addon build/Release/bd3lm.node (native/addon.c registers the entry
 * points of native/kernels.def). The addon reads the typed arrays in place and validates shapes; this file only
 * fills the documented defaults.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Backend, GemmArgs, SampleRowsArgs } from './backend.js';
import { type AddonKernels, nativeKernels } from './kernels.gen.js';
import { isStored } from './stored.js';

/** The addon: the kernels of native/kernels.def (positional, src/tensor/kernels.gen.ts), plus threads and info. */
interface Addon extends AddonKernels {
  threads(): number;
  /** w8a8: the W8A8 dot-product loop (absent from an addon built before it) */
  info(): { openblas: boolean; openblasCore: string | null; simd: string; w8a8?: string; threads: number };
}

/** The package root: the nearest ancestor of this file holding package.json (works from src/ and dist/src/). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

/**
 * The OpenBLAS kernels to ask for, when its own CPU detection is known to fall short: Debian's OpenBLAS (0.3.21)
 * runs its AVX2 (Haswell) kernels on AMD CPUs with AVX-512 (Zen 4, Zen 5), where its AVX-512 (SkylakeX) kernels
 * do twice the multiply-adds per cycle (sgemm 1024x768x3072: 195 -> 355 GFLOP/s on a 2-core Zen 5). Linux only
 * (reads /proc/cpuinfo). A user's OPENBLAS_CORETYPE wins: this project's benchmark machines pin Haswell, the
 * kernels the reference's figures were measured with.
 */
export function openblasCoreType(cpuinfo?: string): string | undefined {
  let text = cpuinfo;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/cpuinfo', 'utf8');
    } catch {
      return undefined;
    }
  }
  const vendor = /^vendor_id\s*:\s*(\S+)/m.exec(text)?.[1];
  const flags = new Set(/^flags\s*:(.*)$/m.exec(text)?.[1].trim().split(/\s+/) ?? []);
  const skx = ['avx512f', 'avx512cd', 'avx512bw', 'avx512dq', 'avx512vl'].every((f) => flags.has(f));
  return vendor === 'AuthenticAMD' && skx ? 'SkylakeX' : undefined;
}

/** Where `npm run build:native` (node-gyp) puts the addon. */
export const addonPath = (): string => join(packageRoot(), 'build', 'Release', 'bd3lm.node');

export function loadAddon(): Addon {
  let path = '(package root not found)';
  try {
    path = addonPath();
    if (!existsSync(path)) {
      throw new Error('not built: it needs a C toolchain (apt-get install python3 make g++, and libopenblas-dev for the fast sgemm), then `npm run build:native`', { cause: 'missing' });
    }
    // OpenBLAS's idle threads spin ~2^28 cycles after each product by default, stealing the cores from our own
    // kernels (attention, layernorm) that run next; 2^4 makes them sleep at once. Read when the library loads.
    process.env.OPENBLAS_THREAD_TIMEOUT ??= '4';
    const core = openblasCoreType();
    if (core) process.env.OPENBLAS_CORETYPE ??= core;
    return createRequire(import.meta.url)(path) as Addon;
  } catch (e) {
    const cause = e instanceof Error ? e.message : String(e);
    const rebuild = e instanceof Error && e.cause === 'missing' ? '' : ' (rebuild it with `npm run build:native`)';
    throw new Error(`cannot load the native addon ${path}${rebuild}: ${cause}`, { cause: e });
  }
}

/** the addon's W8A8 product, or an error saying that this addon predates it */
function w8a8Kernel(n: Addon): NonNullable<Addon['sgemmW8A8']> {
  if (!n.sgemmW8A8) throw new Error("sgemm: int8 activations (weights 'w8a8') need an addon with the W8A8 kernel: npm run build:native");
  return n.sgemmW8A8;
}

export function createNativeBackend(): Backend {
  const n = loadAddon();
  const meta = n.info();
  // int8 kernels: missing from an addon built before them (allocInt8 then stays absent: loading refuses int8)
  const q8 = n.sgemmQ8 && n.embeddingQ8 ? { sgemm: n.sgemmQ8, embedding: n.embeddingQ8 } : null;
  return {
    name: 'native',
    threads: n.threads(),
    info: `${meta.openblas ? `OpenBLAS sgemm${meta.openblasCore ? ` (${meta.openblasCore} kernels)` : ''}` : 'own sgemm'}, ${meta.simd}${meta.w8a8 ? ` (w8a8: ${meta.w8a8})` : ''}, ${meta.threads} threads`,
    alloc: (len) => new Float32Array(len),
    allocInt: (len) => new Int32Array(len),
    allocHalf: (len) => new Uint16Array(len),
    ...(q8 && { allocInt8: (len: number) => new Int8Array(len) }),
    w8a8: !!(q8 && n.sgemmW8A8),
    free: () => {},
    ...nativeKernels(n),
    sgemm: (g: GemmArgs) => {
      const b = g.b;
      if (!isStored(b)) {
        n.sgemm(!!g.transA, !!g.transB, g.m, g.n, g.k, g.alpha ?? 1, g.a, g.lda, b, g.ldb, g.beta ?? 0, g.c, g.ldc,
          g.bias ?? null, g.batch ?? 1, g.strideA ?? 0, g.strideB ?? 0, g.strideC ?? 0);
        return;
      }
      if (!g.transB || (g.batch ?? 1) !== 1) throw new Error(`sgemm: a ${b.dtype} b needs transB and batch 1`);
      if (b.dtype === 'int8')
        (b.activations === 'int8' ? w8a8Kernel(n) : q8!.sgemm)(!!g.transA, g.m, g.n, g.k, g.alpha ?? 1, g.a, g.lda, b.data, b.scales, g.ldb, g.beta ?? 0, g.c,
          g.ldc, g.bias ?? null);
      else
        n.sgemmHalf(!!g.transA, g.m, g.n, g.k, g.alpha ?? 1, g.a, g.lda, b.data, b.dtype, g.ldb, g.beta ?? 0, g.c,
          g.ldc, g.bias ?? null);
    },
    embedding: (table, ids, len, dim, out) =>
      !isStored(table)
        ? n.embedding(table, ids, len, dim, out)
        : table.dtype === 'int8'
          ? q8!.embedding(table.data, table.scales, ids, len, dim, out)
          : n.embeddingHalf(table.data, table.dtype, ids, len, dim, out),
    sampleRows: (a: SampleRowsArgs) => {
      const f = a.filters ?? {};
      const q = a.posterior;
      n.sampleRows(a.rows, a.V, a.probs, a.logp ?? null, f.temperature ?? 1, f.topK ?? 0, f.topP ?? 1,
        !!f.includeCrossing, a.fallback ?? null, a.drawRow ?? null, a.noise ?? null, a.seeds ?? null, q ? q.maskId : -1,
        q ? q.keep : 1, q ? q.stay : 0, a.out ?? null);
    },
  };
}
