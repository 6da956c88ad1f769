/**
 * The OpenAI completions wire shapes built from `generate` events: the whole response, one streaming chunk per
 * finished block, and the final chunk (finish reasons, usage). The `bd3lm` object carries what OpenAI's shape has
 * no place for: per-sequence NFE, stop reason and seed (so a run can be repeated), speed and warnings.
 */
import { randomUUID } from 'node:crypto';
import type { BlockEvent, DoneEvent } from '../sampling/generate.js';
import type { StopReason } from '../sampling/stop.js';

export interface CompletionMeta {
  id: string;
  object: 'text_completion';
  created: number;
  model: string;
}

export function completionMeta(model: string): CompletionMeta {
  return { id: `cmpl-${randomUUID()}`, object: 'text_completion', created: Math.floor(Date.now() / 1000), model };
}

interface Choice {
  text: string;
  index: number;
  logprobs: null;
  finish_reason: 'stop' | 'length' | null;
}

/** an EOS or the entropy rule ended the text: 'stop'; max_tokens reached: 'length' */
function finishReason(r: StopReason): 'stop' | 'length' {
  return r === 'length' ? 'length' : 'stop';
}

function usage(done: DoneEvent) {
  const s0 = done.sequences[0];
  // allTokens = BOS + prompt + generated, the same prompt in every sequence
  const prompt = s0.allTokens.length - s0.tokens.length - 1;
  const completion = done.sequences.reduce((n, s) => n + s.tokens.length, 0);
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

function extension(done: DoneEvent) {
  return {
    sequences: done.sequences.map((s, index) => ({ index, nfe: s.nfe, stop_reason: s.stopReason, seed: s.seed })),
    tokens_per_second: done.tokensPerSecond,
    seconds: done.seconds,
    model_calls: done.modelCalls,
    warnings: done.warnings,
  };
}

/** the response of a finished run; the final streaming chunk is the same without the texts (they were streamed) */
function settled(meta: CompletionMeta, done: DoneEvent, withText: boolean) {
  const choices: Choice[] = done.sequences.map((s, index) => ({ text: withText ? s.text : '', index, logprobs: null, finish_reason: finishReason(s.stopReason) }));
  return { ...meta, choices, usage: usage(done), bd3lm: extension(done) };
}

export const completionBody = (meta: CompletionMeta, done: DoneEvent) => settled(meta, done, true);
export const finalChunk = (meta: CompletionMeta, done: DoneEvent) => settled(meta, done, false);

export function blockChunk(meta: CompletionMeta, ev: BlockEvent) {
  const choice: Choice = { text: ev.text, index: ev.seq, logprobs: null, finish_reason: null };
  return { ...meta, choices: [choice] };
}
