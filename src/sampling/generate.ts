/**
 * `generate`: the user-facing sampler. A prompt (text or ids), B sequences at once, any of the four block updates,
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
 * slide the window on as the reference's cache does (spec 5.5, 5.6).
 */
import type { DiT } from '../model/dit.js';
import type { Tokenizer } from '../data/tokenizer.js';
import { TextStream } from '../data/text-stream.js';
import type { DdpmGrid, DenoiseMode, StepTrace } from './block.js';
import { resolveRule } from './rules/registry.js';
import { validateFilters } from './filters.js';
import { SeededRandom } from './random.js';
import type { StopOptions, StopReason } from './stop.js';
import { runStrideSteps, type Stride } from './strides.js';
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
  /** steps per block (default L'; first hitting needs >= L'; the parallel samplers finish within it) */
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
  /** block index within the sequence (blocks of L' from position 0, BOS included) */
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

/** Validates everything up front, so bad options throw from `generate()` itself. */
function plan(model: DiT, tok: Tokenizer, o: GenerateOptions, warnings: string[]): Plan {
  const cfg = model.config;
  if (cfg.causal) throw new Error('generate needs a diffusion model (bd3lm or mdlm); this one is causal (AR)');
  if (tok.vocabSize !== cfg.vocabSize) throw new Error(`the ${tok.name} tokenizer has ${tok.vocabSize} ids, the model ${cfg.vocabSize}`);
  const mode = o.sampler ?? 'first-hitting';
  const { rule } = resolveRule(mode, o);
  validateFilters(o);
  const bs = intOpt('blockSize', o.blockSize, cfg.blockSize, 1);
  if (bs !== cfg.blockSize) warnings.push(`block size ${bs} differs from the ${cfg.blockSize} the model was trained with; expect worse samples`);
  const C = Math.floor(cfg.modelLength / bs) * bs;
  if (C < bs) throw new Error(`blockSize ${bs} exceeds the model length ${cfg.modelLength}`);
  const steps = intOpt('steps', o.steps, bs, 1);
  if (steps < rule.minSteps(bs)) throw new Error(`${rule.name} needs steps >= ${rule.minSteps(bs)} to finish a block of ${bs}, got ${steps}`);
  const maxNew = intOpt('maxNewTokens', o.maxNewTokens, NaN, 0);
  const B = intOpt('batch', o.batch, 1, 1);
  const ids = typeof o.prompt === 'string' ? tok.encode(o.prompt) : Array.from(o.prompt ?? []);
  for (const t of ids) if (!Number.isInteger(t) || t < 0 || t >= cfg.vocabSize) throw new Error(`prompt token ${t} is outside the vocabulary 0..${cfg.vocabSize - 1}`);
  const prefix = (o.addBos ?? true) ? [tok.bos, ...ids] : ids;
  if (prefix.length === 0) throw new Error('empty prompt without BOS: nothing to condition on (keep addBos or give a prompt)');
  if (prefix[0] === tok.mask) throw new Error('the first token cannot be a mask');
  const length = prefix.length + maxNew;
  const nBlocks = Math.ceil(length / bs);
  const strides: Stride[] = [];
  // A prompt longer than the window: the first block that has a mask sees only its window, so the prompt blocks
  // before that window are never run (the no-cache sampler's view, spec 5.6; the KV cache then starts at the
  // window): a prompt of any length costs about one window of model work.
  let firstMask = prefix.indexOf(tok.mask);
  if (firstMask < 0) firstMask = prefix.length;
  const first = Math.min(Math.floor(firstMask / bs), nBlocks - 1);
  const skipped = Math.max(0, first - (C / bs - 1));
  for (let s = skipped; s < nBlocks; s++) {
    const end = (s + 1) * bs;
    strides.push({ start: Math.max(end - C, 0), end, active: bs });
  }
  const seed = o.seed ?? Math.floor(Math.random() * 2 ** 32);
  const seeds = Array.isArray(seed) ? seed.slice() : Array.from({ length: B }, (_, b) => ((seed as number) + b) >>> 0);
  if (seeds.length !== B) throw new Error(`${seeds.length} seeds given for a batch of ${B}`);
  if (o.logprobs !== undefined && !(Number.isInteger(o.logprobs) && o.logprobs >= 0 && o.logprobs <= 20)) throw new Error(`logprobs must be an integer in 0..20, got ${o.logprobs}`);
  for (const s of seeds) if (!Number.isInteger(s) || s < 0 || s > 0xffffffff) throw new Error(`seed must be an integer in 0..2^32-1, got ${s}`);
  // stopOnEos alone: an EOS check from the first token on (window 1; entropy is never < -1)
  const stop = o.stop !== undefined ? (o.stop === false ? null : o.stop) : (o.stopOnEos ?? true) ? { varLength: true, window: 1, minEntropy: -1 } : null;
  return { bs, C, steps, mode, prefix, length, total: nBlocks * bs, strides, skipped, seeds, B, stop };
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
  const chunk = Math.max(bs, Math.floor(PROMPT_CHUNK_TOKENS / bs) * bs);
  const wm: WindowModel = (o.cache ?? true) ? new CachedWindowModel(model, B, bs, p.C, p.total - p.skipped * bs > p.C, chunk) : new UncachedWindowModel(model, 'block-causal', bs);
  // the distribution each generated token was drawn from, by sequence position (only with `logprobs`)
  const drawn: Map<number, TokenLogprob>[] = Array.from({ length: B }, () => new Map());
  const onReveal = o.logprobs === undefined ? undefined : (b: number, pos: number, token: number, probs: Float64Array) => {
    if (pos >= P0) drawn[b].set(pos, topLogprobs(probs, token, o.logprobs!));
  };
  const runCall = o.runCall ?? runAlone;
  const streams = Array.from({ length: B }, () => new TextStream(tok, { skipSpecial: true }));
  try {
    const g = runStrideSteps({
      wm, x, batch: B, strides: p.strides, length: p.length, steps: p.steps, mode: p.mode, ddpmGrid: o.ddpmGrid ?? 'exact',
      threshold: o.threshold, entropyBound: o.entropyBound, filters: o, random: p.seeds.map((s) => new SeededRandom(s)),
      ids: { maskId: tok.mask, bos: tok.bos, eos: tok.eos }, stop: p.stop, generatedFrom: P0, onStep, onReveal, halt: halted,
    });
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
        const from = Math.max(d.end - d.active, P0);
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
    wm.dispose();
  }
}
