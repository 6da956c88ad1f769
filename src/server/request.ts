/**
 * POST /v1/completions and /v1/chat/completions bodies → typed `generate` options. Every known field is type-checked
 * here (a wrong type is a 400 naming the field); value ranges that `generate` already checks (top_p, steps,
 * threshold, seed, ...) are left to it, so the rules live in one place. Server limits (max_tokens cap, n, block
 * size) are checked here.
 *
 * Field policy: unknown fields are rejected (400 naming them), so a typo such as `max_token` is not silently
 * ignored. OpenAI fields this server does not implement are accepted only at their neutral value (`echo: false`,
 * `best_of: 1`, penalties 0, ...); `user` and `stream_options` are accepted and ignored (usage is always in the
 * final chunk). `null` means "absent" for every optional field.
 */
import { denoiseRule } from '../sampling/rules/registry.js';
import type { GenerateOptions, SamplerName } from '../sampling/generate.js';
import { ApiError } from './errors.js';

export interface RequestLimits {
  /** the largest max_tokens accepted */
  maxTokensCap: number;
  /** the largest n (sequences sampled together as one batch) */
  maxN: number;
  /**
   * the largest explicit `steps`: a DDPM step that changes nothing makes no model call, so it does not yield to the
   * event loop, and a huge step count would keep the other requests waiting
   */
  maxSteps: number;
  /** the largest block_size (a block is denoised whole: its size, not max_tokens, sets the model calls per block) */
  maxBlockSize: number;
}

/** OpenAI's default max_tokens for completions */
export const DEFAULT_MAX_TOKENS = 16;

/** at most this many stop strings, as OpenAI */
export const MAX_STOP = 4;

export interface GenerationRequest {
  /** the model the client asked for, if any (checked against the served one by the handler) */
  model?: string;
  stream: boolean;
  /** the text (or token ids) to continue: the completion prompt, or the chat rendered by the template */
  prompt: string | number[];
  /** the options, without prompt and signal */
  options: Omit<GenerateOptions, 'signal' | 'prompt'>;
  /** texts that end a choice (cut before them) */
  stop: string[];
  /** top alternatives per token, when logprobs are asked for */
  logprobs?: number;
}

/** a chat message as the template sees it */
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
  name?: string;
}

export function invalid(param: string, message: string, code = 'invalid_type'): ApiError {
  return new ApiError(400, message, 'invalid_request_error', param, code);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

type Reader<T> = (v: unknown, field: string) => T;
const string: Reader<string> = (v, f) => (typeof v === 'string' ? v : fail(f, 'a string'));
const boolean: Reader<boolean> = (v, f) => (typeof v === 'boolean' ? v : fail(f, 'a boolean'));
const number: Reader<number> = (v, f) => (typeof v === 'number' && Number.isFinite(v) ? v : fail(f, 'a number'));
const integer: Reader<number> = (v, f) => (Number.isInteger(v) ? (v as number) : fail(f, 'an integer'));
function fail(field: string, what: string): never {
  throw invalid(field, `'${field}' must be ${what}`);
}

/** a string, a one-element array of a string, or an array of token ids */
const prompt: Reader<string | number[]> = (v, f) => {
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) {
    if (v.length === 1 && typeof v[0] === 'string') return v[0];
    if (v.every((t) => Number.isInteger(t))) return v as number[];
    if (v.every((t) => typeof t === 'string')) throw invalid(f, `one prompt per request, got ${v.length} (use n for several samples)`, 'invalid_value');
  }
  return fail(f, 'a string, a one-element array of strings, or an array of token ids');
};

const sampler: Reader<SamplerName> = (v, f) => {
  const s = string(v, f);
  try {
    return denoiseRule(s).name as SamplerName;
  } catch (e) {
    throw invalid(f, (e as Error).message, 'invalid_value');
  }
};

/** a string or up to MAX_STOP strings, none empty */
const stop: Reader<string[]> = (v, f) => {
  const list = typeof v === 'string' ? [v] : Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : fail(f, 'a string or an array of strings');
  if (list.length > MAX_STOP) throw invalid(f, `'${f}' takes at most ${MAX_STOP} strings, got ${list.length}`, 'invalid_value');
  if (list.some((x) => x === '')) throw invalid(f, `'${f}' strings must not be empty`, 'invalid_value');
  return list;
};

const ROLES = ['system', 'user', 'assistant'] as const;

const messages: Reader<ChatMessage[]> = (v, f) => {
  if (!Array.isArray(v)) return fail(f, 'an array of messages');
  if (v.length === 0) throw invalid(f, `'${f}' must contain at least one message`, 'invalid_value');
  return v.map((m, i) => {
    const at = `${f}[${i}]`;
    if (!isObject(m)) return fail(at, 'an object with role and content');
    for (const k of Object.keys(m)) if (!['role', 'content', 'name'].includes(k)) throw invalid(`${at}.${k}`, `unknown field '${k}' in ${at}`, 'unknown_field');
    if (!(ROLES as readonly unknown[]).includes(m.role)) {
      throw invalid(`${at}.role`, `'${at}.role' must be one of ${ROLES.join(', ')}, got ${JSON.stringify(m.role)}`, 'invalid_value');
    }
    const msg: ChatMessage = { role: m.role as ChatMessage['role'], content: string(m.content, `${at}.content`) };
    if (m.name !== undefined && m.name !== null) msg.name = string(m.name, `${at}.name`);
    return msg;
  });
};

/** sampling fields both endpoints read into options */
const SAMPLING = {
  model: string, max_tokens: integer, temperature: number, top_p: number, stream: boolean, seed: integer, n: integer, stop,
  // extensions
  top_k: integer, block_size: integer, sampler, threshold: number, entropy_bound: number, steps: integer, stop_on_eos: boolean,
} satisfies Record<string, Reader<unknown>>;

const COMPLETION = { ...SAMPLING, prompt, logprobs: integer } satisfies Record<string, Reader<unknown>>;
const CHAT = { ...SAMPLING, messages, max_completion_tokens: integer, logprobs: boolean, top_logprobs: integer } satisfies Record<string, Reader<unknown>>;

/** OpenAI fields not implemented: accepted only at the value that means "off" */
const NEUTRAL: Record<string, (v: unknown) => boolean> = {
  echo: (v) => v === false,
  best_of: (v) => v === 1,
  presence_penalty: (v) => v === 0,
  frequency_penalty: (v) => v === 0,
  logit_bias: (v) => isObject(v) && Object.keys(v).length === 0,
  suffix: () => false,
};

const IGNORED: Record<string, Reader<unknown>> = {
  user: string,
  stream_options: (v, f) => (isObject(v) ? v : fail(f, 'an object')),
};

type Fields<R> = { [K in keyof R]?: R[K] extends Reader<infer T> ? T : never };

export function parseJsonBody(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (e) {
    throw new ApiError(400, `invalid JSON body: ${(e as Error).message}`, 'invalid_request_error', null, 'invalid_json');
  }
}

/** type-checks every field of `body` with `readers` (or the neutral / ignored lists); unknown fields are errors */
function readFields<R extends Record<string, Reader<unknown>>>(body: unknown, readers: R): Fields<R> {
  if (!isObject(body)) throw new ApiError(400, 'the request body must be a JSON object', 'invalid_request_error', null, 'invalid_json');
  const f: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(body)) {
    if (v === null) continue;
    if (Object.hasOwn(readers, key)) f[key] = readers[key](v, key);
    else if (Object.hasOwn(NEUTRAL, key)) {
      if (!NEUTRAL[key](v)) throw invalid(key, `'${key}' is not supported by this server (omit it or send null)`, 'unsupported_parameter');
    } else if (Object.hasOwn(IGNORED, key)) IGNORED[key](v, key);
    else throw invalid(key, `unknown field '${key}'`, 'unknown_field');
  }
  return f as Fields<R>;
}

/** the sampling part shared by both endpoints, with the server's limits */
function samplingRequest(r: Fields<typeof SAMPLING>, prompt: string | number[], maxTokens: number, limits: RequestLimits, maxTokensField: string): GenerationRequest {
  if (maxTokens < 0 || maxTokens > limits.maxTokensCap) {
    throw invalid(maxTokensField, `'${maxTokensField}' must be in 0..${limits.maxTokensCap} on this server, got ${maxTokens}`, 'invalid_value');
  }
  const n = r.n ?? 1;
  if (n < 1 || n > limits.maxN) throw invalid('n', `'n' must be in 1..${limits.maxN} on this server, got ${n}`, 'invalid_value');
  // generate() would wrap a negative seed modulo 2^32; the API takes only the seeds it reports back
  if (r.seed !== undefined && (r.seed < 0 || r.seed > 0xffffffff)) throw invalid('seed', `'seed' must be in 0..4294967295, got ${r.seed}`, 'invalid_value');
  if (r.steps !== undefined && r.steps > limits.maxSteps) throw invalid('steps', `'steps' must be at most ${limits.maxSteps} on this server, got ${r.steps}`, 'invalid_value');
  if (r.block_size !== undefined && r.block_size > limits.maxBlockSize) {
    throw invalid('block_size', `'block_size' must be at most ${limits.maxBlockSize} on this server, got ${r.block_size} (a block is denoised whole, whatever max_tokens is)`, 'invalid_value');
  }
  if (r.temperature !== undefined && r.temperature < 0) throw invalid('temperature', `'temperature' must be >= 0, got ${r.temperature}`, 'invalid_value');
  // temperature 0 is OpenAI's "most likely token": top-k 1 (the diffusion sampler still draws which positions to reveal)
  const greedy = r.temperature === 0;
  return {
    model: r.model,
    stream: r.stream ?? false,
    prompt,
    stop: r.stop ?? [],
    options: {
      maxNewTokens: maxTokens,
      batch: n,
      seed: r.seed,
      temperature: greedy ? undefined : r.temperature,
      topP: r.top_p,
      topK: greedy ? 1 : r.top_k,
      blockSize: r.block_size,
      sampler: r.sampler,
      threshold: r.threshold,
      entropyBound: r.entropy_bound,
      steps: r.steps,
      stopOnEos: r.stop_on_eos,
    },
  };
}

/** the most top alternatives per token: completions (OpenAI's limit), chat */
export const MAX_LOGPROBS = { completion: 5, chat: 20 } as const;

export function parseCompletionRequest(body: unknown, limits: RequestLimits): GenerationRequest {
  const r = readFields(body, COMPLETION);
  if (r.prompt === undefined) throw invalid('prompt', `'prompt' is required`, 'missing_field');
  const g = samplingRequest(r, r.prompt, r.max_tokens ?? DEFAULT_MAX_TOKENS, limits, 'max_tokens');
  if (r.logprobs !== undefined) {
    if (r.logprobs < 0 || r.logprobs > MAX_LOGPROBS.completion) throw invalid('logprobs', `'logprobs' must be in 0..${MAX_LOGPROBS.completion}, got ${r.logprobs}`, 'invalid_value');
    g.logprobs = r.logprobs;
  }
  return g;
}

/** a chat request; its prompt is set by the handler once the template rendered `messages` */
export function parseChatRequest(body: unknown, limits: RequestLimits): GenerationRequest & { messages: ChatMessage[] } {
  const r = readFields(body, CHAT);
  if (r.messages === undefined) throw invalid('messages', `'messages' is required`, 'missing_field');
  if (r.max_tokens !== undefined && r.max_completion_tokens !== undefined) throw invalid('max_tokens', `give 'max_tokens' or 'max_completion_tokens', not both`, 'invalid_value');
  const field = r.max_completion_tokens !== undefined ? 'max_completion_tokens' : 'max_tokens';
  // a chat answer has no length of its own: the cap, unless the client asks for less
  const g = samplingRequest(r, '', r.max_completion_tokens ?? r.max_tokens ?? Math.min(limits.maxTokensCap, DEFAULT_CHAT_MAX_TOKENS), limits, field);
  if (r.top_logprobs !== undefined) {
    if (r.top_logprobs < 0 || r.top_logprobs > MAX_LOGPROBS.chat) throw invalid('top_logprobs', `'top_logprobs' must be in 0..${MAX_LOGPROBS.chat}, got ${r.top_logprobs}`, 'invalid_value');
    if (r.logprobs !== true) throw invalid('top_logprobs', `'top_logprobs' needs 'logprobs': true`, 'invalid_value');
  }
  if (r.logprobs) g.logprobs = r.top_logprobs ?? 0;
  return { ...g, messages: r.messages };
}

/** max_tokens of a chat request that names none (bounded by the server's cap) */
export const DEFAULT_CHAT_MAX_TOKENS = 256;
