/**
 * `generate`: the user-facing sampler, for every model family (BD3-LM, MDLM, SEDD, AR: `modelFamily` of the config).
 * A prompt (text or ids), B sequences at once, any denoising rule of the registry (rules/registry.ts),
 * streamed as events: one `block` per finished block and sequence, optional `step`s (every reveal, for
 * visualisation), then `done`. Runs the same stride loop as `sampleSemiAR` (strides.ts) and gives the event loop a
 * turn after every model call, so it never blocks longer than one forward pass. No Node-only imports: it can run
 * in a Web Worker.
 *
 * Layout: row = [BOS] + prompt + masks, rounded up to whole blocks of L' and trimmed to prompt + maxNewTokens.
 * The prompt's full blocks are stored in the KV cache first (no draws); a partial last prompt block is the first
 * block denoised, its prompt tokens fixed. Mask ids inside a token prompt are infilled (from the left context and
 * their own block only: blocks are causal). Of a prompt longer than the context C (the model length rounded down to
 * blocks) only the window of the first sampled block is run (its last C tokens, with that block); later blocks
 * slide the window on as the reference's cache does (spec 5.5, 5.6). MDLM: windows of the model length L, full
 * attention, no cache (mdlm.ts); SEDD: the whole row at once, one `block` event at the end (sedd.ts); AR: one token
 * per forward, one `block` event per token (ar.ts). Each gives its dedicated sampler's sequence for the same seed.
 */
import type { DiT } from '../model/dit.js';
import type { Tokenizer } from '../data/tokenizer.js';
import { TextStream } from '../data/text-stream.js';
import type { DdpmGrid, DenoiseMode, StepTrace } from './block.js';
import { resolveRule } from './rules/registry.js';
import { modelFamily, type ModelFamily } from '../model/config.js';
import { arSteps } from './ar.js';
import { mdlmStrides } from './mdlm.js';
import { seddSteps } from './sedd.js';
import { validateFilters } from '../tensor/sampling/filters.js';
import { SeededRandom } from '../tensor/sampling/random.js';
import type { StopOptions, StopReason } from './stop.js';
import { runStrideSteps, type Stride, type StrideDone, type StrideRunResult } from './strides.js';
import { abortError, yieldToEventLoop } from './tick.js';
import { CachedWindowModel, UncachedWindowModel, type ModelCall, type WindowModel } from './window-model.js';
import { topLogprobs, type TokenLogprob } from './logprobs.js';

export type SamplerName = DenoiseMode;

export interface GenerateOptions {
  /** text (encoded with the tokenizer) or token ids (may contain the mask id: infilled); default empty */
  prompt?: string | ArrayLike<number>;
  /** tokens to generate after the prompt (>= 0; 0 only infills) */
  maxNewTokens: number;
  /**
   * L' (default: the model's; another value works but the model was not trained for it: a warning). A block is
   * denoised whole, however few of its tokens are kept: its size, not maxNewTokens, sets the model calls per block
   * (first hitting: L' of them), so a large block costs that much even for a short answer.
   */
  blockSize?: number;
  /** default 'first-hitting' */
  sampler?: SamplerName;
  topP?: number;
  /** p^(1/T), default 1; 0 = greedy (the most likely token, ties to the lowest id) */
  temperature?: number;
  topK?: number;
  /** 'threshold' sampler's tau (default 0.9) */
  threshold?: number;
  /** 'entropy' sampler's bound in nats (default 1) */
  entropyBound?: number;
  /**
   * steps per block (default L'; first hitting needs >= L'; the parallel samplers finish within it); MDLM: per
   * window, SEDD: in all (default: the model length); AR: unused
   */
  steps?: number;
  /** DDPM time grid (default 'exact': no t = 0 step, unlike the reference grid; see block.ts) */
  ddpmGrid?: DdpmGrid;
  /** cut each sequence after its first generated EOS (default true) */
  stopOnEos?: boolean;
  /** the reference's stop rules instead (spec 5.8), overriding stopOnEos; false = none */
  stop?: StopOptions | false;
  /** seed of sequence 0 (sequence b uses seed + b), or one seed per sequence; default random */
  seed?: number | number[];
  signal?: AbortSignal;
  /** sequences sampled together (default 1), all from the same prompt */
  batch?: number;
  /** emit a `step` event for every reveal step */
  reveal?: boolean;
  /** prepend BOS to the prompt (default true) */
  addBos?: boolean;
  /** KV cache (default true) */
  cache?: boolean;
  /**
   * report, with each block's tokens, the log-probability each was drawn with and this many top alternatives
   * (0..20; see logprobs.ts); default none
   */
  logprobs?: number;
  /**
   * runs each model call (default: at once, then a turn for the event loop); a scheduler may batch the calls of
   * several generations into one (continuous batching)
   */
  runCall?: (call: ModelCall) => Promise<Float32Array>;
}

/** the most prompt tokens stored in the KV cache by one model call: a long prompt is stored in pieces, each a pause */
export const PROMPT_CHUNK_TOKENS = 256;

export interface BlockEvent {
  type: 'block';
  /** sequence index in the batch */
  seq: number;
  /** block index within the sequence (blocks of L' from position 0, BOS included; MDLM: the window; AR: the position) */
  index: number;
  /** the block's new tokens (prompt positions excluded, the stop cut and length applied) */
  tokens: number[];
  /** their text (held back at an incomplete UTF-8 character; the pieces concatenate to the final text) */
  text: string;
  /** with the `logprobs` option: one entry per token, in text order */
  logprobs?: TokenLogprob[];
}

export interface StepEvent {
  type: 'step';
  seq: number;
  block: number;
  /** step within the block */
  step: number;
  /** sequence positions revealed at this step, and their tokens */
  positions: number[];
  tokens: number[];
}

export interface SequenceOutput {
  /** generated tokens (after BOS and prompt; an EOS that stopped the sequence is kept) */
  tokens: number[];
  /** their text, BOS/EOS dropped */
  text: string;
  /** the whole row: BOS, prompt (infilled), generated tokens */
  allTokens: number[];
  nfe: number;
  stopReason: StopReason;
  seed: number;
}

export interface DoneEvent {
  type: 'done';
  /** sequence 0's tokens / text / nfe / stopReason (the batch-1 case) */
  tokens: number[];
  text: string;
  nfe: number;
  stopReason: StopReason;
  /** generated tokens of every sequence per second of wall time */
  tokensPerSecond: number;
  seconds: number;
  /** batched denoiser calls (KV-cache store passes excluded) */
  modelCalls: number;
  sequences: SequenceOutput[];
  warnings: string[];
}

export type GenerateEvent = BlockEvent | StepEvent | DoneEvent;

/** Where a generation writes, in sequence positions (blocks of `blockSize` from position 0, BOS included). */
export interface GenerationLayout {
  blockSize: number;
  /** BOS + prompt tokens: generation starts at this position */
  promptLength: number;
  /** the position the output is trimmed at (promptLength + maxNewTokens) */
  length: number;
}
export type GenerateResult = DoneEvent;

interface Plan {
  family: ModelFamily;
  bs: number;
  C: number;
  steps: number;
  mode: DenoiseMode;
  prefix: number[];
  length: number;
  total: number;
  strides: Stride[];
  /** leading prompt strides left out (their blocks lie before the first sampled block's window) */
  skipped: number;
  seeds: number[];
  B: number;
  stop: StopOptions | null;
}

function intOpt(name: string, v: number | undefined, fallback: number, min: number): number {
  const n = v ?? fallback;
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer >= ${min}, got ${v}`);
  return n;
}

/**
 * BD3-LM's strides: blocks of bs, each denoised in the window of the last C tokens. A prompt longer than the window:
 * the first block that has a mask sees only its window, so the prompt blocks before that window are never run (the
 * no-cache sampler's view, spec 5.6; the KV cache then starts at the window): a prompt of any length costs about one
 * window of model work.
 */
function blockStrides(length: number, bs: number, C: number, firstMask: number): { strides: Stride[]; total: number; skipped: number } {
  const nBlocks = Math.ceil(length / bs);
  const first = Math.min(Math.floor(firstMask / bs), nBlocks - 1);
  const skipped = Math.max(0, first - (C / bs - 1));
  const strides: Stride[] = [];
  for (let s = skipped; s < nBlocks; s++) {
    const end = (s + 1) * bs;
    strides.push({ start: Math.max(end - C, 0), end, active: bs });
  }
  return { strides, total: nBlocks * bs, skipped };
}

/** Validates everything up front, so bad options throw from `generate()` itself. */
function plan(model: DiT, tok: Tokenizer, o: GenerateOptions, warnings: string[]): Plan {
  const cfg = model.config;
  const family = modelFamily(cfg);
  if (tok.vocabSize !== cfg.vocabSize) throw new Error(`the ${tok.name} tokenizer has ${tok.vocabSize} ids, the model ${cfg.vocabSize}`);
  const mode = o.sampler ?? 'first-hitting';
  const { rule } = resolveRule(mode, o);
  validateFilters(o);
  if (family !== 'bd3lm' && o.blockSize !== undefined && o.blockSize !== cfg.blockSize) {
    throw new Error(`blockSize applies to bd3lm models; this ${family} model's is fixed at ${cfg.blockSize}, got ${o.blockSize}`);
  }
  if (family === 'ar' && (o.steps !== undefined || mode !== 'first-hitting' || o.threshold !== undefined || o.entropyBound !== undefined)) {
    warnings.push('an AR model draws one token per forward pass: sampler, steps, threshold and entropyBound do not apply');
  }
  if (family === 'sedd' && o.logprobs !== undefined) throw new Error("logprobs is not available for a SEDD model (its draws are not from the denoiser's p(x0))");
  const bs = intOpt('blockSize', o.blockSize, cfg.blockSize, 1);
  if (bs !== cfg.blockSize) warnings.push(`block size ${bs} differs from the ${cfg.blockSize} the model was trained with; expect worse samples`);
  const C = Math.floor(cfg.modelLength / bs) * bs;
  if (C < bs) throw new Error(`blockSize ${bs} exceeds the model length ${cfg.modelLength}`);
  const steps = intOpt('steps', o.steps, bs, 1);
  const maxNew = intOpt('maxNewTokens', o.maxNewTokens, NaN, 0);
  const B = intOpt('batch', o.batch, 1, 1);
  const ids = typeof o.prompt === 'string' ? tok.encode(o.prompt) : Array.from(o.prompt ?? []);
  for (const t of ids) if (!Number.isInteger(t) || t < 0 || t >= cfg.vocabSize) throw new Error(`prompt token ${t} is outside the vocabulary 0..${cfg.vocabSize - 1}`);
  const prefix = (o.addBos ?? true) ? [tok.bos, ...ids] : ids;
  if (prefix.length === 0) throw new Error('empty prompt without BOS: nothing to condition on (keep addBos or give a prompt)');
  if (prefix[0] === tok.mask) throw new Error('the first token cannot be a mask');
  const length = prefix.length + maxNew;
  let firstMask = prefix.indexOf(tok.mask);
  if (firstMask < 0) firstMask = prefix.length;
  const isMask = (q: number) => q >= prefix.length || prefix[q] === tok.mask;
  let strides: Stride[] = [];
  let total = length;
  let skipped = 0;
  if (family === 'sedd' && length > cfg.modelLength) {
    throw new Error(`a SEDD model samples at most its length ${cfg.modelLength} tokens at once: BOS + prompt + maxNewTokens = ${length}`);
  }
  if (family === 'mdlm') ({ strides, total } = mdlmStrides(length, cfg.modelLength));
  if (family === 'bd3lm') ({ strides, total, skipped } = blockStrides(length, bs, C, firstMask));
  // the rule must finish every block (first hitting: one mask per step); an MDLM window holds up to L masks
  if (family === 'bd3lm' && steps < rule.minSteps(bs)) throw new Error(`${rule.name} reveals one token per step: steps must be >= blockSize (${bs}), got ${steps}`);
  for (const [i, s] of family === 'mdlm' ? strides.entries() : []) {
    let masks = 0;
    for (let q = i > 0 ? strides[i - 1].end : 0; q < s.end; q++) if (isMask(q)) masks++;
    if (steps < rule.minSteps(masks)) throw new Error(`${rule.name} reveals one token per step: steps must be >= ${rule.minSteps(masks)} (the masks of window ${i}), got ${steps}`);
  }
  const seed = o.seed ?? Math.floor(Math.random() * 2 ** 32);
  const seeds = Array.isArray(seed) ? seed.slice() : Array.from({ length: B }, (_, b) => ((seed as number) + b) >>> 0);
  if (seeds.length !== B) throw new Error(`${seeds.length} seeds given for a batch of ${B}`);
  if (o.logprobs !== undefined && !(Number.isInteger(o.logprobs) && o.logprobs >= 0 && o.logprobs <= 20)) throw new Error(`logprobs must be an integer in 0..20, got ${o.logprobs}`);
  for (const s of seeds) if (!Number.isInteger(s) || s < 0 || s > 0xffffffff) throw new Error(`seed must be an integer in 0..2^32-1, got ${s}`);
  // stopOnEos alone: an EOS check from the first token on (window 1; entropy is never < -1)
  const stop = o.stop !== undefined ? (o.stop === false ? null : o.stop) : (o.stopOnEos ?? true) ? { varLength: true, window: 1, minEntropy: -1 } : null;
  return { family, bs, C, steps, mode, prefix, length, total, strides, skipped, seeds, B, stop };
}

/**
 * The handle `generate` returns: an async iterable of events (consumed once), plus `result()` / `text()` that run
 * it to the end (or wait for the iteration in progress). Iteration is pulled: nothing runs while the consumer
 * holds an event, so aborting from an event handler stops before the next model call.
 */
export class Generation implements AsyncIterable<GenerateEvent> {
  readonly warnings: string[];
  readonly layout: GenerationLayout;
  /** per sequence: 1 once halted */
  readonly halted: Uint8Array;
  private iter?: AsyncGenerator<GenerateEvent>;
  private done?: Promise<DoneEvent>;
  private resolveDone!: (d: DoneEvent) => void;
  private rejectDone!: (e: unknown) => void;

  constructor(
    private readonly source: () => AsyncGenerator<GenerateEvent>,
    warnings: string[],
    layout: GenerationLayout,
    halted: Uint8Array,
  ) {
    this.halted = halted;
    this.warnings = warnings;
    this.layout = layout;
    this.done = new Promise((res, rej) => {
      this.resolveDone = res;
      this.rejectDone = rej;
    });
    this.done.catch(() => {}); // rejection is reported to whoever consumes, not as unhandled
  }

  [Symbol.asyncIterator](): AsyncIterator<GenerateEvent> {
    if (this.iter) throw new Error('a generation can be iterated once');
    const inner = (this.iter = this.source());
    const self = this;
    return (async function* () {
      try {
        for await (const ev of inner) {
          if (ev.type === 'done') self.resolveDone(ev);
          yield ev;
        }
      } catch (e) {
        self.rejectDone(e);
        throw e;
      } finally {
        // a consumer that breaks out early ends the run (the KV cache is freed); result() then rejects
        self.rejectDone(new Error('the generation was stopped before its done event'));
      }
    })();
  }

  /** the `done` event, running the generation if nobody iterates it */
  async result(): Promise<DoneEvent> {
    if (!this.iter) for await (const _ of this) void _;
    return this.done!;
  }

  /**
   * Ends sequence `seq` after the blocks it has produced so far (its stop reason 'halted'): it makes no more draws,
   * and the generation ends once every sequence has. For a caller that stops on the text, e.g. at a stop string.
   */
  halt(seq: number): void {
    if (!(Number.isInteger(seq) && seq >= 0 && seq < this.halted.length)) throw new Error(`no sequence ${seq} in a batch of ${this.halted.length}`);
    this.halted[seq] = 1;
  }

  /** sequence 0's generated text */
  async text(): Promise<string> {
    return (await this.result()).text;
  }
}

/**
 * Starts a generation (options are validated now: bad ones throw here). Cost is per block, not per requested token:
 * a block is denoised whole, every model call runs all L' positions of it and first hitting reveals one masked
 * position per call, so a short request in a large block pays for the whole block: 8 new tokens after a 3-byte
 * prompt with `blockSize` 256 take 252 model calls (8 with the default model's L' = 4). Keep the block size near
 * the model's for short outputs.
 */
export function generate(model: DiT, tokenizer: Tokenizer, o: GenerateOptions): Generation {
  const warnings: string[] = [];
  const p = plan(model, tokenizer, o, warnings);
  const layout = { blockSize: p.bs, promptLength: p.prefix.length, length: p.length };
  const halted = new Uint8Array(p.B);
  return new Generation(() => run(model, tokenizer, o, p, warnings, halted), warnings, layout, halted);
}

/** the default way to run a model call: at once, then a turn for timers, I/O and abort handlers */
async function runAlone(call: ModelCall): Promise<Float32Array> {
  const logits = call.run();
  await yieldToEventLoop();
  return logits;
}

async function* run(model: DiT, tok: Tokenizer, o: GenerateOptions, p: Plan, warnings: string[], halted: Uint8Array): AsyncGenerator<GenerateEvent> {
  const { B, total, bs, prefix } = p;
  const P0 = prefix.length;
  const signal = o.signal;
  const check = () => {
    if (signal?.aborted) throw abortError();
  };
  check();
  const t0 = performance.now();
  const x = new Int32Array(B * total).fill(tok.mask);
  for (let b = 0; b < B; b++) x.set(prefix, b * total);
  const steps: StepEvent[] = [];
  const onStep = o.reveal
    ? (s: StepTrace & { stride: number; windowStart: number }) => {
        const W = s.xIn.length / B;
        for (let b = 0; b < B; b++) {
          const positions: number[] = [];
          const tokens: number[] = [];
          for (let j = 0; j < W; j++) {
            const k = b * W + j;
            if (s.xIn[k] === tok.mask && s.xOut[k] !== tok.mask) {
              positions.push(s.windowStart + j);
              tokens.push(s.xOut[k]);
            }
          }
          if (positions.length) steps.push({ type: 'step', seq: b, block: s.stride + p.skipped, step: s.step, positions, tokens });
        }
      }
    : undefined;
  // the distribution each generated token was drawn from, by sequence position (only with `logprobs`)
  const drawn: Map<number, TokenLogprob>[] = Array.from({ length: B }, () => new Map());
  const onReveal = o.logprobs === undefined ? undefined : (b: number, pos: number, token: number, probs: Float64Array) => {
    if (pos >= P0) drawn[b].set(pos, topLogprobs(probs, token, o.logprobs!));
  };
  const runCall = o.runCall ?? runAlone;
  const streams = Array.from({ length: B }, () => new TextStream(tok, { skipSpecial: true }));
  const random = p.seeds.map((s) => new SeededRandom(s));
  const ids = { maskId: tok.mask, bos: tok.bos, eos: tok.eos };
  let wm: WindowModel | undefined;
  let g: Generator<StrideDone | ModelCall, StrideRunResult, Float32Array | undefined>;
  // every family's sampler yields its model calls and finished strides (an AR token, a SEDD sequence)
  if (p.family === 'ar') {
    g = arSteps({ model, x, batch: B, prefix: P0, context: model.config.modelLength, cache: o.cache ?? true, filters: o, random, ids, stop: p.stop, onReveal, halt: halted, maxPrefix: PROMPT_CHUNK_TOKENS });
  } else if (p.family === 'sedd') {
    g = seddSteps({ model, x, batch: B, steps: p.steps, eps: 1e-5, filters: o, random, ids, stop: p.stop, generatedFrom: P0, halt: halted });
  } else {
    // MDLM: full attention over each window, no KV cache (as the reference)
    const chunk = Math.max(bs, Math.floor(PROMPT_CHUNK_TOKENS / bs) * bs);
    if (p.family === 'mdlm') wm = new UncachedWindowModel(model, 'bidirectional', model.config.modelLength);
    else wm = (o.cache ?? true) ? new CachedWindowModel(model, B, bs, p.C, p.total - p.skipped * bs > p.C, chunk) : new UncachedWindowModel(model, 'block-causal', bs);
    g = runStrideSteps({
      wm, x, batch: B, strides: p.strides, length: p.length, steps: p.steps, mode: p.mode, ddpmGrid: o.ddpmGrid ?? 'exact',
      threshold: o.threshold, entropyBound: o.entropyBound, filters: o, random, ids, stop: p.stop, generatedFrom: P0, onStep, onReveal, halt: halted,
    });
  }
  // positions before this were reported by earlier strides (an MDLM window re-runs half of the previous one)
  let reported = 0;
  try {
    let logits: Float32Array | undefined;
    let r = g.next();
    for (; !r.done; r = g.next(logits)) {
      logits = undefined;
      for (const ev of steps.splice(0)) {
        yield ev;
        check();
      }
      const d = r.value;
      if (!('run' in d)) {
        const from = Math.max(reported, d.end - d.active, P0);
        reported = d.end;
        for (let b = 0; b < B; b++) {
          if (d.validEnd[b] < 0) continue;
          const tokens = Array.from(x.subarray(b * total + from, b * total + Math.max(from, d.validEnd[b])));
          // a row's last block also releases any held-back tail, so the block texts add up to the final text
          const text = streams[b].push(tokens) + (d.finished[b] ? streams[b].flush() : '');
          if (tokens.length === 0 && text === '') continue;
          const ev: BlockEvent = { type: 'block', seq: b, index: d.stride + p.skipped, tokens, text };
          if (onReveal) ev.logprobs = tokens.map((_, i) => drawn[b].get(from + i)!);
          for (let i = from; i < d.end; i++) drawn[b].delete(i);
          yield ev;
          check();
        }
      } else {
        // a model call: the driver runs it (and lets timers, I/O and abort handlers in before the next one)
        logits = await runCall(d);
        check();
      }
    }
    const seconds = (performance.now() - t0) / 1000;
    const sequences: SequenceOutput[] = r.value.sequences.map((q, b) => {
      const tokens = Array.from(q.tokens.subarray(Math.min(P0, q.tokens.length)));
      return { tokens, text: tok.decode(tokens, { skipSpecial: true }), allTokens: Array.from(q.tokens), nfe: q.nfe, stopReason: q.stopReason, seed: p.seeds[b] };
    });
    const generated = sequences.reduce((n, q) => n + q.tokens.length, 0);
    const s0 = sequences[0];
    yield {
      type: 'done', tokens: s0.tokens, text: s0.text, nfe: s0.nfe, stopReason: s0.stopReason,
      tokensPerSecond: seconds > 0 ? generated / seconds : 0, seconds, modelCalls: r.value.modelCalls, sequences, warnings,
    };
  } finally {
    g.return(undefined as never); // a stopped run frees what its sampler holds (the AR KV cache)
    wm?.dispose();
  }
}
