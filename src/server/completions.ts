/**
 * POST /v1/completions: read and validate the body, check the options with `generate` (400 before queueing), wait
 * for a scheduler slot, then run the generation — streamed as SSE block by block, or as one JSON response. A client
 * that disconnects (the response closes unfinished) aborts its generation between two model calls, or leaves the
 * queue. An error inside a generation ends only that request: a 500, or an error event on a stream.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DiT } from '../model/dit.js';
import type { Tokenizer } from '../data/tokenizer.js';
import { generate, type Generation } from '../sampling/generate.js';
import { readBody } from './body.js';
import { ApiError, errorBody, sendJson, toApiError } from './errors.js';
import { blockChunk, completionBody, completionMeta, finalChunk, type CompletionMeta } from './openai.js';
import { parseCompletionRequest, parseJsonBody, type RequestLimits } from './request.js';
import { QueueFullError, type Scheduler } from './scheduler.js';
import { SseWriter } from './sse.js';

export interface CompletionContext {
  model: DiT;
  tokenizer: Tokenizer;
  /** the name clients use in `model` */
  modelId: string;
  scheduler: Scheduler;
  limits: RequestLimits;
  /** body size limit in bytes */
  maxBody: number;
  /** controllers of the generations in flight (the server aborts them when it closes) */
  inflight: Set<AbortController>;
  log: (line: string) => void;
}

const isAbort = (e: unknown) => e instanceof Error && e.name === 'AbortError';

export async function handleCompletion(ctx: CompletionContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const r = parseCompletionRequest(parseJsonBody(await readBody(req, ctx.maxBody)), ctx.limits);
  if (r.model !== undefined && r.model !== ctx.modelId) {
    throw new ApiError(404, `the model '${r.model}' does not exist (this server runs '${ctx.modelId}')`, 'invalid_request_error', 'model', 'model_not_found');
  }
  const ac = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) ac.abort();
  });
  let gen: Generation;
  try {
    gen = generate(ctx.model, ctx.tokenizer, { ...r.options, signal: ac.signal });
  } catch (e) {
    // generate checks every option before it runs anything: these are the request's errors
    throw new ApiError(400, e instanceof Error ? e.message : String(e), 'invalid_request_error', null, 'invalid_value');
  }
  let release;
  try {
    release = await ctx.scheduler.acquire(ac.signal);
  } catch (e) {
    if (e instanceof QueueFullError) throw new ApiError(503, e.message, 'server_overloaded', null, 'queue_full', { 'Retry-After': '1' });
    if (isAbort(e)) return; // left the queue: nobody to answer
    throw e;
  }
  ctx.inflight.add(ac);
  const meta = completionMeta(ctx.modelId);
  try {
    if (r.stream) await stream(ctx, gen, meta, res);
    else sendJson(res, 200, completionBody(meta, await gen.result()));
  } catch (e) {
    if (!isAbort(e)) throw e; // the router answers 500
  } finally {
    ctx.inflight.delete(ac);
    release();
  }
}

async function stream(ctx: CompletionContext, gen: Generation, meta: CompletionMeta, res: ServerResponse): Promise<void> {
  const sse = new SseWriter(res);
  sse.open();
  try {
    for await (const ev of gen) {
      if (ev.type === 'block') await sse.send(blockChunk(meta, ev));
      else if (ev.type === 'done') await sse.send(finalChunk(meta, ev));
    }
    sse.done();
  } catch (e) {
    if (isAbort(e)) return;
    const err = toApiError(e);
    ctx.log(`${meta.id}: ${err.message}`);
    sse.fail(errorBody(err));
  }
}
