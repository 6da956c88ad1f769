/**
 * The AR baseline's sampler (spec 5.9, 6.1): BOS, then one token per causal forward of the last position, with
 * the stop rules after every token once past 256. The reference's AR KV cache is broken (spec 11 #2); ours is a
 * KVCache of block size 1 and agrees with the uncached causal forward within the first model-length tokens (past
 * it the cache slides: deeper-layer keys keep context that has left the window, as for BD3-LM, spec 5.5).
 * Deviation: the reference draws float32 Gumbel noise, argmax(log P + G); here the float64 race of spec 5.1 (the
 * same distribution), so every sampler shares one random source.
 */
import type { DiT } from '../model/dit.js';
import { KVCache } from '../model/kvcache.js';
import { NEG_INF } from '../diffusion/subs.js';
import { sampleCategorical } from '../tensor/sampling/categorical.js';
import { applyFilters, type ProbFilters } from '../tensor/sampling/filters.js';
import { positiveInt, resolveIds, validateCommon, type CommonOptions, type ResolvedIds, type SampleResult } from './options.js';
import type { RandomSource } from '../tensor/sampling/random.js';
import { checkStop, type StopOptions } from './stop.js';
import type { StrideDone, StrideRunResult, SequenceResult } from './strides.js';
import { ModelCall, runCalls } from './window-model.js';

export interface AROptions extends CommonOptions {
  /** KV cache (default true) */
  cache?: boolean;
  /** sliding window (default: the model length) */
  context?: number;
  /** called after each token with its position and value */
  onToken?: (pos: number, token: number) => void;
}

/** Next-token probabilities (float64, filtered) from raw logits of one row: mask logit -1e6, then softmax. */
export function arProbs(logits: Float32Array, V: number, maskId: number, o: ProbFilters): Float64Array {
  const p = new Float64Array(V);
  let m = -Infinity;
  for (let v = 0; v < V; v++) {
    p[v] = v === maskId ? NEG_INF : logits[v];
    if (p[v] > m) m = p[v];
  }
  let s = 0;
  for (let v = 0; v < V; v++) s += p[v] = Math.exp(p[v] - m);
  for (let v = 0; v < V; v++) p[v] /= s;
  return applyFilters(p, 1, V, o);
}

/** An AR run over rows [batch][N] (pre-filled with BOS and the prompt): what `arSteps` needs. */
export interface ARRun {
  model: DiT;
  x: Int32Array;
  batch: number;
  /** BOS + prompt tokens per row: generation starts at this position (>= 1) */
  prefix: number;
  /** sliding window (<= the model length) */
  context: number;
  cache: boolean;
  filters: ProbFilters;
  /** one source (batch 1: the reference's draw order) or one per row */
  random: RandomSource | RandomSource[];
  ids: ResolvedIds;
  stop: StopOptions | null;
  /** every drawn token: row, position, token, the filtered distribution it was drawn from */
  onReveal?: (b: number, position: number, token: number, probs: Float64Array) => void;
  /** per row: set to 1 by the caller to end the row after the tokens so far */
  halt?: Uint8Array;
  /** with the cache, the most prompt tokens stored by one model call (default: all that fit) */
  maxPrefix?: number;
}

/**
 * The AR sampler as a generator, in the shape of the block samplers (strides.ts): it yields each model call (a
 * KV-cache step batchable with other runs', or an uncached causal forward) and a `StrideDone` for every position
 * written (a stride of one token), and returns every row's result. A row's `nfe` is the draws it made. Rows stop on
 * their own (stop rules, `halt`); a stopped row is fed EOS and makes no draws.
 */
export function* arSteps(r: ARRun): Generator<StrideDone | ModelCall, StrideRunResult, Float32Array | undefined> {
  const { model, x, batch: B, prefix: P0, context: C, ids } = r;
  const V = model.config.vocabSize;
  const N = x.length / B;
  if (!(Number.isInteger(N) && P0 >= 1 && P0 <= N)) throw new Error(`rows of ${N} tokens cannot hold a prefix of ${P0}`);
  const rnd = (b: number) => (Array.isArray(r.random) ? r.random[b] : r.random);
  const results: (SequenceResult | null)[] = new Array(B).fill(null);
  const draws = new Int32Array(B);
  const settle = (b: number, end: number, res: Omit<SequenceResult, 'tokens' | 'nfe'>) => {
    const row = x.subarray(b * N, (b + 1) * N);
    results[b] = { tokens: row.slice(0, end), nfe: draws[b], ...res };
    row.fill(ids.eos, Math.max(end, P0)); // fed from now on, never drawn
  };
  const cache = r.cache ? new KVCache(model, B, 1, C, { slide: N > C }) : null;
  let calls = 0;
  try {
    // with the cache, the prompt's tokens before its last are stored in as few calls as fit (causal: the same
    // math as one call each), never past the cache's room so that no slide falls inside a call; the last prompt
    // token is then stepped as every later token is, which gives the logits of the first draw
    let stored = 0;
    while (cache && stored < P0 - 1) {
      const n = Math.min(P0 - 1 - stored, cache.capacity - cache.length, r.maxPrefix ?? Infinity);
      if (n < 2) break; // one token: the loop below stores it just as well
      const chunk = new Int32Array(B * n);
      for (let b = 0; b < B; b++) chunk.set(x.subarray(b * N + stored, b * N + stored + n), b * n);
      yield ModelCall.cached(cache, chunk, { prefix: n, logitPositions: 'none' });
      calls++;
      stored += n;
    }
    // without a cache the prompt needs no forward: the first call predicts position P0
    for (let i = cache ? stored : P0 - 1; i < N - 1; i++) {
      if (r.halt) for (let b = 0; b < B; b++) if (r.halt[b] && !results[b]) settle(b, Math.max(i + 1, P0), { stopReason: 'halted', rejected: false });
      if (results.every((v) => v !== null)) break;
      let logits: Float32Array;
      if (cache) logits = (yield ModelCall.cached(cache, Int32Array.from({ length: B }, (_, b) => x[b * N + i]), { store: true })) as Float32Array;
      else {
        const start = Math.max(i + 1 - C, 0);
        const W = i + 1 - start;
        const ids = new Int32Array(B * W);
        for (let b = 0; b < B; b++) ids.set(x.subarray(b * N + start, b * N + i + 1), b * W);
        logits = (yield new ModelCall(() => model.forward({ ids, batch: B, seqLen: W, layout: 'causal', logitRows: Array.from({ length: B }, (_, b) => b * W + W - 1) }).logits)) as Float32Array;
      }
      calls++;
      if (i + 1 < P0) continue; // a prompt position: the cache has stored it, nothing to draw
      const validEnd = new Int32Array(B).fill(-1);
      const finished = new Uint8Array(B);
      for (let b = 0; b < B; b++) {
        if (results[b]) continue;
        const p = arProbs(logits!.subarray(b * V, (b + 1) * V), V, ids.maskId, r.filters);
        const y = sampleCategorical(p, 1, V, rnd(b).uniforms(V))[0];
        draws[b]++;
        // the reference checks x[:i+1] before writing token i+1
        const row = x.subarray(b * N, (b + 1) * N);
        const c = r.stop ? checkStop(row, i + 1, ids.eos, r.stop, P0) : { stop: false };
        if (c.stop) {
          validEnd[b] = c.cut ?? i + 1;
          settle(b, validEnd[b], { stopReason: c.reason!, rejected: !r.stop!.varLength });
        } else {
          row[i + 1] = y;
          r.onReveal?.(b, i + 1, y, p);
          validEnd[b] = i + 2;
          if (i + 2 === N) results[b] = { tokens: row.slice(), nfe: draws[b], stopReason: 'length', rejected: false };
        }
        finished[b] = results[b] ? 1 : 0;
      }
      yield { stride: i + 1, start: i + 1, end: i + 2, active: 1, validEnd, finished };
    }
    for (let b = 0; b < B; b++) if (!results[b]) results[b] = { tokens: x.slice(b * N, (b + 1) * N), nfe: draws[b], stopReason: 'length', rejected: false };
    return { sequences: results.map((v) => v!), modelCalls: calls };
  } finally {
    cache?.dispose();
  }
}

export function sampleAR(model: DiT, o: AROptions): SampleResult {
  validateCommon(o);
  if (!model.config.causal) throw new Error('the AR sampler needs a causal model (model type ar)');
  const ids = resolveIds(model, o);
  const C = positiveInt('context', o.context ?? model.config.modelLength);
  if (C > model.config.modelLength) throw new Error(`context ${C} exceeds the model length ${model.config.modelLength}`);
  const N = o.length;
  const x = new Int32Array(N);
  x[0] = ids.bos;
  const g = arSteps({ model, x, batch: 1, prefix: 1, context: C, cache: o.cache ?? true, filters: o, random: o.random, ids, stop: o.stop === false ? null : (o.stop ?? {}) });
  // onToken: every written position (a stride whose token is kept)
  const res = runCalls(
    (function* () {
      let step = g.next();
      while (!step.done) {
        const v = step.value;
        if (!(v instanceof ModelCall) && v.validEnd[0] > v.start) o.onToken?.(v.start, x[v.start]);
        step = g.next((yield v) as Float32Array);
      }
      return step.value;
    })(),
  );
  const q = res.sequences[0];
  // spec 5.4: the reference records NFE = N for AR
  return { tokens: q.tokens, nfe: N, modelCalls: res.modelCalls, stopReason: q.stopReason, rejected: q.rejected };
}
