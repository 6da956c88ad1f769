/** Shared test helpers: a seeded RNG, random arrays and closeness checks with explicit tolerances. */
import assert from 'node:assert/strict';
import { RefBackend, type Backend, type BackendName } from '../src/tensor/index.js';

/** mulberry32: small, fast, deterministic uniform [0, 1) generator. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Rng {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  uniform(lo = 0, hi = 1): number {
    return lo + (hi - lo) * this.next();
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo));
  }
  normal(): number {
    const u = 1 - this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }
  /** n floats ~ N(0, scale^2) */
  randn(n: number, scale = 1): Float32Array {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = this.normal() * scale;
    return a;
  }
  uniformArray(n: number, lo: number, hi: number): Float32Array {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = this.uniform(lo, hi);
    return a;
  }
}

/** max |x| over the finite entries (at least `floor`) */
export function scaleOf(x: ArrayLike<number>, floor = 1e-30): number {
  let m = floor;
  for (let i = 0; i < x.length; i++) if (Number.isFinite(x[i]) && Math.abs(x[i]) > m) m = Math.abs(x[i]);
  return m;
}

/**
 * Asserts |actual - expected| <= rel * scaleOf(expected) + abs elementwise. Equal infinities and NaN positions
 * must match exactly. The message names the first bad index.
 */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  opts: { rel?: number; abs?: number; label?: string } = {},
): void {
  const { rel = 1e-5, abs = 0, label = 'array' } = opts;
  assert.equal(actual.length, expected.length, `${label}: length`);
  const tol = rel * scaleOf(expected) + abs;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (Number.isNaN(e) || !Number.isFinite(e)) {
      assert.ok(Object.is(a, e) || (Number.isNaN(a) && Number.isNaN(e)), `${label}[${i}]: got ${a}, want ${e}`);
      continue;
    }
    if (!(Math.abs(a - e) <= tol)) {
      assert.fail(`${label}[${i}]: got ${a}, want ${e} (|diff| ${Math.abs(a - e)} > tol ${tol})`);
    }
  }
}

/** A copy of `src` in memory from `alloc` (so backends that read their own memory in place are exercised). */
export function place(alloc: (n: number) => Float32Array, src: ArrayLike<number>): Float32Array {
  const a = alloc(src.length);
  a.set(src);
  return a;
}

/** Spans records (see AttentionArgs): every query row attends all kLen keys. */
export function fullSpans(qLen: number, kLen: number): Int32Array {
  return Int32Array.from([0, qLen, 0, kLen, 0, 0]);
}

/** One record per row i: keys [0, i + 1 + offset) (causal; offset = keys already cached before row 0). */
export function causalSpans(qLen: number, offset = 0): Int32Array {
  const s: number[] = [];
  for (let i = 0; i < qLen; i++) s.push(i, i + 1, 0, i + offset + 1, 0, 0);
  return Int32Array.from(s);
}

/**
 * The BD3-LM training layout [x_t | x_0] of 2L rows, block size B: x_t block b attends its own block and the
 * x_0 blocks before it (two intervals); x_0 block b attends x_0 blocks 0..b (block-causal).
 */
export function blockDiffusionSpans(L: number, B: number): Int32Array {
  const s: number[] = [];
  for (let b = 0; b * B < L; b++) {
    const e = Math.min(L, (b + 1) * B);
    s.push(b * B, e, b * B, e, L, L + b * B);
  }
  for (let b = 0; b * B < L; b++) {
    const e = Math.min(L, (b + 1) * B);
    s.push(L + b * B, L + e, L, L + e, 0, 0);
  }
  return Int32Array.from(s);
}

/**
 * The backend of that name, or why it is unavailable (a string naming what to install: the test is skipped with it).
 * Loaded directly, not through createBackend, whose fallback would serve 'native' with wasm.
 */
export async function loadBackend(name: BackendName): Promise<Backend | string> {
  try {
    if (name === 'native') return (await import('../src/tensor/native.js')).createNativeBackend();
    if (name === 'wasm') return await (await import('../src/tensor/wasm.js')).createWasmBackend();
    return new RefBackend();
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}
