/**
 * POST /v1/completions bodies → typed `generate` options. Every known field is type-checked here (a wrong type is a
 * 400 naming the field); value ranges that `generate` already checks (top_p, steps, block_size, threshold, seed, ...)
 * are left to it, so the rules live in one place. Server limits (max_tokens cap, n) are checked here.
 *
 * Field policy: unknown fields are rejected (400 naming them), so a typo such as `max_token` is not silently
 * ignored. OpenAI fields this server does not implement are accepted only at their neutral value (`stop: []`,
 * `echo: false`, `best_of: 1`, penalties 0, ...); `user` and `stream_options` are accepted and ignored (usage is
 * always in the final chunk). `null` means "absent" for every optional field.
 */
import { DENOISE_MODES } from '../sampling/block.js';
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
}

/** OpenAI's default max_tokens for completions */
export const DEFAULT_MAX_TOKENS = 16;

export interface CompletionRequest {
  /** the model the client asked for, if any (checked against the served one by the handler) */
  model?: string;
  stream: boolean;
  options: Omit<GenerateOptions, 'signal'>;
}

function invalid(param: string, message: string, code = 'invalid_type'): ApiError {
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
  if (!(DENOISE_MODES as readonly string[]).includes(s)) throw invalid(f, `unknown sampler '${s}' (expected ${DENOISE_MODES.join(', ')})`, 'invalid_value');
  return s as SamplerName;
};

/** the fields read into options; the rest of the known names are checked by NEUTRAL and IGNORED */
const READERS = {
  model: string, prompt, max_tokens: integer, temperature: number, top_p: number, stream: boolean, seed: integer, n: integer,
  // extensions
  top_k: integer, block_size: integer, sampler, threshold: number, entropy_bound: number, steps: integer, stop_on_eos: boolean,
} satisfies Record<string, Reader<unknown>>;

/** OpenAI fields not implemented: accepted only at the value that means "off" */
const NEUTRAL: Record<string, (v: unknown) => boolean> = {
  stop: (v) => Array.isArray(v) && v.length === 0,
  echo: (v) => v === false,
  best_of: (v) => v === 1,
  presence_penalty: (v) => v === 0,
  frequency_penalty: (v) => v === 0,
  logit_bias: (v) => isObject(v) && Object.keys(v).length === 0,
  logprobs: () => false,
  suffix: () => false,
};

const IGNORED: Record<string, Reader<unknown>> = {
  user: string,
  stream_options: (v, f) => (isObject(v) ? v : fail(f, 'an object')),
};

type Fields = { [K in keyof typeof READERS]?: ReturnType<(typeof READERS)[K]> };

export function parseJsonBody(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (e) {
    throw new ApiError(400, `invalid JSON body: ${(e as Error).message}`, 'invalid_request_error', null, 'invalid_json');
  }
}

export function parseCompletionRequest(body: unknown, limits: RequestLimits): CompletionRequest {
  if (!isObject(body)) throw new ApiError(400, 'the request body must be a JSON object', 'invalid_request_error', null, 'invalid_json');
  const f: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(body)) {
    if (v === null) continue;
    if (Object.hasOwn(READERS, key)) f[key] = (READERS as Record<string, Reader<unknown>>)[key](v, key);
    else if (Object.hasOwn(NEUTRAL, key)) {
      if (!NEUTRAL[key](v)) throw invalid(key, `'${key}' is not supported by this server (omit it or send null)`, 'unsupported_parameter');
    } else if (Object.hasOwn(IGNORED, key)) IGNORED[key](v, key);
    else throw invalid(key, `unknown field '${key}'`, 'unknown_field');
  }
  const r = f as Fields;
  if (r.prompt === undefined) throw invalid('prompt', `'prompt' is required`, 'missing_field');
  const maxTokens = r.max_tokens ?? DEFAULT_MAX_TOKENS;
  if (maxTokens < 0 || maxTokens > limits.maxTokensCap) {
    throw invalid('max_tokens', `'max_tokens' must be in 0..${limits.maxTokensCap} on this server, got ${maxTokens}`, 'invalid_value');
  }
  const n = r.n ?? 1;
  if (n < 1 || n > limits.maxN) throw invalid('n', `'n' must be in 1..${limits.maxN} on this server, got ${n}`, 'invalid_value');
  // generate() would wrap a negative seed modulo 2^32; the API takes only the seeds it reports back
  if (r.seed !== undefined && (r.seed < 0 || r.seed > 0xffffffff)) throw invalid('seed', `'seed' must be in 0..4294967295, got ${r.seed}`, 'invalid_value');
  if (r.steps !== undefined && r.steps > limits.maxSteps) throw invalid('steps', `'steps' must be at most ${limits.maxSteps} on this server, got ${r.steps}`, 'invalid_value');
  if (r.temperature !== undefined && r.temperature < 0) throw invalid('temperature', `'temperature' must be >= 0, got ${r.temperature}`, 'invalid_value');
  // temperature 0 is OpenAI's "most likely token": top-k 1 (the diffusion sampler still draws which positions to reveal)
  const greedy = r.temperature === 0;
  return {
    model: r.model,
    stream: r.stream ?? false,
    options: {
      prompt: r.prompt,
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
