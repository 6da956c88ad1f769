/**
 * The OpenAI wire shapes of both endpoints, built from what the handler tracked: the whole response, one streaming
 * chunk per released piece of a choice's text, and the final chunk (finish reasons, usage). Completions
 * (`text_completion`) and chat (`chat.completion`, `chat.completion.chunk`) differ only in how a choice is written,
 * so one `Api` object per endpoint says that. The `bd3lm` object carries what OpenAI's shape has no place for:
 * per-sequence NFE, stop reason and seed (so a run can be repeated), speed and warnings.
 */
import { randomUUID } from 'node:crypto';
import type { Tokenizer } from '../data/tokenizer.js';
import type { DoneEvent } from '../sampling/generate.js';
import type { TokenLogprob } from '../sampling/logprobs.js';
import type { Released } from './choice.js';

export type FinishReason = 'stop' | 'length';

export interface ResponseMeta {
  id: string;
  object: string;
  created: number;
  model: string;
}

/** a choice's whole output, for a response that is not streamed */
export interface ChoiceResult {
  text: string;
  logprobs: Released['logprobs'] | null;
  finish: FinishReason;
}

/** what differs between /v1/completions and /v1/chat/completions */
export interface Api {
  /** the route, for metrics and logs */
  route: string;
  meta(model: string): ResponseMeta;
  /** the streamed `object` */
  chunkObject: string;
  /** the response's choice */
  choice(index: number, r: ChoiceResult, tok: Tokenizer): object;
  /** a streamed piece of a choice (`first`: the choice's first chunk) */
  delta(index: number, piece: Released, withLogprobs: boolean, first: boolean, tok: Tokenizer): object;
  /** a choice in the final chunk */
  end(index: number, finish: FinishReason): object;
}

/** OpenAI writes log(0) as -9999 (JSON has no -Infinity) */
const finite = (x: number) => (Number.isFinite(x) ? x : -9999);
const tokenText = (tok: Tokenizer, id: number) => tok.decode([id], { skipSpecial: true });

function completionLogprobs(lps: Released['logprobs'], tok: Tokenizer) {
  return {
    tokens: lps.map((l) => tokenText(tok, l.lp.token)),
    token_logprobs: lps.map((l) => finite(l.lp.logprob)),
    top_logprobs: lps.map((l) => Object.fromEntries(l.lp.top.map((t) => [tokenText(tok, t.token), finite(t.logprob)]))),
    text_offset: lps.map((l) => l.offset),
  };
}

function chatLogprob(tok: Tokenizer, t: { token: number; logprob: number }) {
  const special = t.token === tok.bos || t.token === tok.eos || t.token === tok.mask;
  return { token: tokenText(tok, t.token), logprob: finite(t.logprob), bytes: special ? [] : Array.from(tok.tokenBytes(t.token)) };
}

function chatLogprobs(lps: Released['logprobs'], tok: Tokenizer) {
  return { content: lps.map(({ lp }: { lp: TokenLogprob }) => ({ ...chatLogprob(tok, lp), top_logprobs: lp.top.map((t) => chatLogprob(tok, t)) })), refusal: null };
}

const meta = (prefix: string, object: string) => (model: string): ResponseMeta => ({
  id: `${prefix}-${randomUUID()}`, object, created: Math.floor(Date.now() / 1000), model,
});

export const COMPLETIONS: Api = {
  route: '/v1/completions',
  meta: meta('cmpl', 'text_completion'),
  chunkObject: 'text_completion',
  choice: (index, r, tok) => ({ text: r.text, index, logprobs: r.logprobs && completionLogprobs(r.logprobs, tok), finish_reason: r.finish }),
  delta: (index, p, withLp, _first, tok) => ({ text: p.text, index, logprobs: withLp ? completionLogprobs(p.logprobs, tok) : null, finish_reason: null }),
  end: (index, finish) => ({ text: '', index, logprobs: null, finish_reason: finish }),
};

export const CHAT: Api = {
  route: '/v1/chat/completions',
  meta: meta('chatcmpl', 'chat.completion'),
  chunkObject: 'chat.completion.chunk',
  choice: (index, r, tok) => ({
    index, message: { role: 'assistant', content: r.text, refusal: null }, logprobs: r.logprobs && chatLogprobs(r.logprobs, tok), finish_reason: r.finish,
  }),
  delta: (index, p, withLp, first, tok) => ({
    index, delta: first ? { role: 'assistant', content: p.text } : { content: p.text }, logprobs: withLp ? chatLogprobs(p.logprobs, tok) : null, finish_reason: null,
  }),
  end: (index, finish) => ({ index, delta: {}, logprobs: null, finish_reason: finish }),
};

/** prompt tokens (BOS not counted) and the generated tokens of every choice */
export function usage(promptTokens: number, done: DoneEvent) {
  const completion = done.sequences.reduce((n, s) => n + s.tokens.length, 0);
  return { prompt_tokens: promptTokens, completion_tokens: completion, total_tokens: promptTokens + completion };
}

/** the `bd3lm` extension: per-sequence NFE, stop reason and seed, speed, warnings */
export function extension(done: DoneEvent) {
  return {
    sequences: done.sequences.map((s, index) => ({ index, nfe: s.nfe, stop_reason: s.stopReason, seed: s.seed })),
    tokens_per_second: done.tokensPerSecond,
    seconds: done.seconds,
    model_calls: done.modelCalls,
    warnings: done.warnings,
  };
}
