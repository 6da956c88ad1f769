/**
 * Injectable randomness for every sampler. The reference draws from three streams (spec 5.1, 5.3): numpy's
 * `np.random.rand()` for the first-hitting time recursion, `torch.rand_like` for each categorical draw and
 * `torch.randint` for the first-hitting position. A `RandomSource` serves the same three kinds of draw, so the golden
 * traces can be replayed draw for draw (`ReplayRandom`) and normal runs use a seeded generator (`SeededRandom`).
 */
import { Rng } from '../tensor/rng.js';

export interface RandomSource {
  /** one float64 in [0, 1): the first-hitting `t *= u^(1/n)` draw (np.random.rand) */
  uniform(): number;
  /** n float64 in [0, 1): the noise of one categorical draw over [rows][V] (torch.rand_like) */
  uniforms(n: number): Float64Array;
  /** an integer in [0, n): the first-hitting choice among the n masked positions (torch.randint(0, n)) */
  randint(n: number): number;
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
