/**
 * Injectable randomness for every sampler. The reference draws from three streams (spec 5.1, 5.3): numpy's
 * `np.random.rand()` for the first-hitting time recursion, `torch.rand_like` for each categorical draw and
 * `torch.randint` for the first-hitting position. A `RandomSource` serves the same three kinds of draw, so the golden
 * traces can be replayed draw for draw (`ReplayRandom`) and normal runs use a seeded generator (`SeededRandom`).
 */
import { Rng } from '../rng.js';

export interface RandomSource {
  /** one float64 in [0, 1): the first-hitting `t *= u^(1/n)` draw (np.random.rand) */
  uniform(): number;
  /** n float64 in [0, 1): the noise of one categorical draw over [rows][V] (torch.rand_like) */
  uniforms(n: number): Float64Array;
  /** an integer in [0, n): the first-hitting choice among the n masked positions (torch.randint(0, n)) */
  randint(n: number): number;
  /**
   * One categorical draw over [rows][V] whose rows are served on demand, so a sampler generates noise only for the
   * rows it samples. Optional: without it the whole draw comes from `uniforms(rows * V)` (see `categoricalNoise`).
   */
  categorical?(rows: number, V: number): RowNoise;
}

/** The noise of one categorical draw, row by row: row(r) is V uniforms in [0, 1) (do not modify it). */
export interface RowNoise {
  row(r: number): Float64Array;
  /**
   * A seeded draw's two words: row(r) is seededRow(seed[0], seed[1], r, V), which a backend kernel regenerates
   * itself, so the sampler never materialises the noise (V float64 per row).
   */
  readonly seed?: readonly [number, number];
}

/** Row views of one flat rand_like draw. */
function rowViews(u: Float64Array, rows: number, V: number): RowNoise {
  return {
    row: (r) => {
      if (!(r >= 0 && r < rows)) throw new Error(`noise row ${r} outside 0..${rows - 1}`);
      return u.subarray(r * V, (r + 1) * V);
    },
  };
}

/** One categorical draw from any source: its lazy rows if it has them, else one `uniforms` call. */
export function categoricalNoise(src: RandomSource, rows: number, V: number): RowNoise {
  return src.categorical ? src.categorical(rows, V) : rowViews(src.uniforms(rows * V), rows, V);
}

/**
 * V uniforms of row r of a seeded categorical draw: xoshiro128** (as Rng) seeded from the draw's base words and
 * the row index, so a row's values do not depend on which other rows were requested (batch == independent runs).
 */
export function seededRow(b0: number, b1: number, r: number, V: number): Float64Array {
  // splitmix32 over (b0, b1, r) -> four state words
  let x = (b0 ^ Math.imul(r + 1, 0x9e3779b9)) >>> 0;
  const w = [0, 0, 0, 0];
  for (let i = 0; i < 4; i++) {
    x = (x + 0x9e3779b9 + (i === 2 ? b1 : 0)) >>> 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    w[i] = (z ^ (z >>> 16)) >>> 0;
  }
  let [s0, s1, s2, s3] = w;
  if ((s0 | s1 | s2 | s3) === 0) s0 = 1; // xoshiro's all-zero state is a fixed point
  const out = new Float64Array(V);
  // inlined xoshiro128** (Rng.nextU32), two words per 53-bit uniform (Rng.uniform)
  const next = (): number => {
    const m = Math.imul(s1, 5);
    const res = Math.imul((m << 7) | (m >>> 25), 9) >>> 0;
    const t = s1 << 9;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = (s3 << 11) | (s3 >>> 21);
    return res;
  };
  for (let v = 0; v < V; v++) {
    const hi = next() >>> 5;
    const lo = next() >>> 6;
    out[v] = (hi * 67108864 + lo) / 9007199254740992;
  }
  return out;
}

/** Seeded draws from the project's xoshiro generator (not torch's stream; deterministic per seed). */
export class SeededRandom implements RandomSource {
  readonly rng: Rng;
  constructor(seed: number | Rng) {
    this.rng = typeof seed === 'number' ? new Rng(seed) : seed;
  }
  uniform(): number {
    return this.rng.uniform();
  }
  uniforms(n: number): Float64Array {
    const u = new Float64Array(n);
    for (let i = 0; i < n; i++) u[i] = this.rng.uniform();
    return u;
  }
  randint(n: number): number {
    if (!Number.isInteger(n) || n < 1) throw new Error(`randint needs a positive integer bound, got ${n}`);
    return Math.min(n - 1, Math.floor(this.rng.uniform() * n));
  }
  /**
   * Two words of the generator per draw; each row's noise is derived from them and the row index. (Before the lazy
   * rows, block samplers drew rows * V values from the stream itself: seeded samples changed then; no golden
   * depends on the seeded stream.)
   */
  categorical(rows: number, V: number): RowNoise {
    const b0 = this.rng.nextU32();
    const b1 = this.rng.nextU32();
    return {
      row: (r) => {
        if (!(r >= 0 && r < rows)) throw new Error(`noise row ${r} outside 0..${rows - 1}`);
        return seededRow(b0, b1, r, V);
      },
      seed: [b0, b1],
    };
  }
}

export interface ReplayDraws {
  /** np.random.rand() values, in order */
  uniform?: ArrayLike<number>;
  /** torch.randint results, in order */
  randint?: ArrayLike<number>;
  /** every torch.rand_like draw concatenated, each `chunk` values long */
  uniforms?: Float64Array;
  /** size of one rand_like draw (e.g. L' * V); calls asking for another count fail */
  chunk?: number;
}

/**
 * Serves logged draws in call order. Throws when a stream is exhausted, when a categorical draw of the wrong size
 * is requested, or when a logged randint is outside the requested bound — each means the sampler diverged.
 */
export class ReplayRandom implements RandomSource {
  private iu = 0;
  private ir = 0;
  private ic = 0;
  private readonly d: ReplayDraws;
  constructor(draws: ReplayDraws) {
    this.d = draws;
    if (draws.uniforms && draws.chunk && draws.uniforms.length % draws.chunk !== 0) {
      throw new Error(`replay: ${draws.uniforms.length} categorical values are not a multiple of the chunk ${draws.chunk}`);
    }
  }
  uniform(): number {
    const a = this.d.uniform ?? [];
    if (this.iu >= a.length) throw new Error(`replay: uniform() stream exhausted after ${a.length} draws`);
    return a[this.iu++];
  }
  uniforms(n: number): Float64Array {
    const all = this.d.uniforms ?? new Float64Array(0);
    const chunk = this.d.chunk ?? n;
    if (n !== chunk) throw new Error(`replay: categorical draw of ${n} values requested, the log has draws of ${chunk}`);
    if (this.ic + n > all.length) throw new Error(`replay: categorical stream exhausted after ${all.length / chunk} draws`);
    const out = all.slice(this.ic, this.ic + n);
    this.ic += n;
    return out;
  }
  /** consumes one logged rand_like draw, served as row views */
  categorical(rows: number, V: number): RowNoise {
    const all = this.d.uniforms ?? new Float64Array(0);
    const n = rows * V;
    const chunk = this.d.chunk ?? n;
    if (n !== chunk) throw new Error(`replay: categorical draw of ${n} values requested, the log has draws of ${chunk}`);
    if (this.ic + n > all.length) throw new Error(`replay: categorical stream exhausted after ${all.length / chunk} draws`);
    const u = all.subarray(this.ic, this.ic + n);
    this.ic += n;
    return rowViews(u, rows, V);
  }
  randint(n: number): number {
    const a = this.d.randint ?? [];
    if (this.ir >= a.length) throw new Error(`replay: randint stream exhausted after ${a.length} draws`);
    const v = a[this.ir++];
    if (!(v >= 0 && v < n)) throw new Error(`replay: logged randint ${v} is outside [0, ${n}) (draw ${this.ir - 1})`);
    return v;
  }
  /** draws consumed so far, per stream */
  consumed(): { uniform: number; randint: number; uniforms: number } {
    return { uniform: this.iu, randint: this.ir, uniforms: this.ic / (this.d.chunk ?? 1) };
  }
}
