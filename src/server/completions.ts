/**
 * POST /v1/completions and /v1/chat/completions: read and validate the body (a chat is rendered to a prompt by the
 * template), check the options with `generate` (400 before queueing), wait for a scheduler slot, then run the
 * generation — its model calls batched with the other requests' (CallBatcher) — streamed as SSE or as one JSON
 * response. Each choice's text goes through its stop strings (choice.ts); once every choice has stopped, the
 * generation is halted. A client that disconnects (the response closes unfinished) aborts its generation between
 * two model calls, or leaves the queue. An error inside a generation ends only that request: a 500, or an error
 * event on a stream. A server shutting down ends the streams still running with an error event.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DiT } from '../model/dit.js';
import type { Tokenizer } from '../data/tokenizer.js';
import type { CallBatcher } from '../sampling/batcher.js';
import { generate, type DoneEvent, type Generation } from '../sampling/generate.js';
import { readBody } from './body.js';
import type { ChatTemplate } from './chat-template.js';
import { ChoiceOutput, type Released } from './choice.js';
import { ApiError, errorBody, sendJson, toApiError } from './errors.js';
import type { ServerMetrics } from './metrics.js';
import { CHAT, COMPLETIONS, extension, usage, type Api, type FinishReason } from './openai.js';
import { parseChatRequest, parseCompletionRequest, parseJsonBody, type GenerationRequest, type RequestLimits } from './request.js';
import { QueueFullError, type Scheduler } from './scheduler.js';
import { SseWriter } from './sse.js';

export interface CompletionContext {
  model: DiT;
  tokenizer: Tokenizer;
  /** the name clients use in `model` */
  modelId: string;
  scheduler: Scheduler;
  batcher: CallBatcher;
  limits: RequestLimits;
  /** body size limit in bytes */
  maxBody: number;
  /** the longest prompt in tokens (413 beyond) */
  maxPromptTokens: number;
  chatTemplate: ChatTemplate;
  metrics: ServerMetrics;
  /** controllers of the generations in flight (the server aborts them when it closes) */
  inflight: Set<AbortController>;
  /** set when a shutdown aborts what is still running: streams then end with an error event */
  shutdown: { aborting: boolean };
  log: (line: string) => void;
}

const isAbort = (e: unknown) => e instanceof Error && e.name === 'AbortError';

export const handleCompletion = (ctx: CompletionContext, req: IncomingMessage, res: ServerResponse) => handle(ctx, req, res, COMPLETIONS);
export const handleChat = (ctx: CompletionContext, req: IncomingMessage, res: ServerResponse) => handle(ctx, req, res, CHAT);

/** the request for `api`, with the chat rendered into its prompt */
function parse(ctx: CompletionContext, body: unknown, api: Api): GenerationRequest {
  if (api === COMPLETIONS) return parseCompletionRequest(body, ctx.limits);
  const r = parseChatRequest(body, ctx.limits);
  return { ...r, prompt: ctx.chatTemplate.render(r.messages, { bos: '', eos: '' }) };
}

async function handle(ctx: CompletionContext, req: IncomingMessage, res: ServerResponse, api: Api): Promise<void> {
  const r = parse(ctx, parseJsonBody(await readBody(req, ctx.maxBody)), api);
  if (r.model !== undefined && r.model !== ctx.modelId) {
    throw new ApiError(404, `the model '${r.model}' does not exist (this server runs '${ctx.modelId}')`, 'invalid_request_error', 'model', 'model_not_found');
  }
  const ids = typeof r.prompt === 'string' ? ctx.tokenizer.encode(r.prompt) : r.prompt;
  if (ids.length > ctx.maxPromptTokens) {
    const field = api === CHAT ? 'messages' : 'prompt';
    throw new ApiError(413, `the prompt has ${ids.length} tokens; this server takes at most ${ctx.maxPromptTokens} (--max-prompt-tokens)`, 'invalid_request_error', field, 'prompt_too_long');
  }
  const ac = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) ac.abort();
  });
  let gen: Generation;
  try {
    gen = generate(ctx.model, ctx.tokenizer, { ...r.options, prompt: ids, logprobs: r.logprobs, signal: ac.signal, runCall: ctx.batcher.run });
  } catch (e) {
    // generate checks every option before it runs anything: these are the request's errors
    throw new ApiError(400, e instanceof Error ? e.message : String(e), 'invalid_request_error', null, 'invalid_value');
  }
  let release;
  ctx.inflight.add(ac); // queued ones too: a shutdown answers them
  try {
    release = await ctx.scheduler.acquire(ac.signal);
  } catch (e) {
    ctx.inflight.delete(ac);
    if (e instanceof QueueFullError) throw new ApiError(503, e.message, 'server_overloaded', null, 'queue_full', { 'Retry-After': '1' });
    if (isAbort(e) && ctx.shutdown.aborting) throw shuttingDown();
    if (isAbort(e)) return; // left the queue: nobody to answer
    throw e;
  }
  const run = new Run(ctx, api, r, ids.length, gen, res);
  try {
    if (r.stream) await run.stream();
    else await run.whole();
  } catch (e) {
    if (!isAbort(e)) throw e; // the router answers 500
    if (ctx.shutdown.aborting) throw shuttingDown();
  } finally {
    ctx.inflight.delete(ac);
    release();
  }
}

export const shuttingDown = () => new ApiError(503, 'the server is shutting down', 'server_error', null, 'shutting_down', { Connection: 'close' });

/** one generation turned into a response: the choices' filters, metrics, and the two ways of answering */
class Run {
  private readonly choices: ChoiceOutput[];
  private readonly meta;
  private readonly t0 = performance.now();
  private firstBlock = true;

  constructor(
    private readonly ctx: CompletionContext,
    private readonly api: Api,
    private readonly r: GenerationRequest,
    private readonly promptTokens: number,
    private readonly gen: Generation,
    private readonly res: ServerResponse,
  ) {
    this.choices = Array.from({ length: r.options.batch ?? 1 }, () => new ChoiceOutput(r.stop, ctx.tokenizer));
    this.meta = api.meta(ctx.modelId);
  }

  /** runs the generation, handing each released piece to `out` (one per block, then the held-back rest) */
  private async events(out: (seq: number, piece: Released, rest: boolean) => Promise<void>): Promise<DoneEvent> {
    for await (const ev of this.gen) {
      if (ev.type === 'done') {
        for (let b = 0; b < this.choices.length; b++) await out(b, this.choices[b].finish(), true);
        this.ctx.metrics.finished(ev, this.t0);
        return ev;
      }
      if (ev.type !== 'block') continue;
      this.ctx.metrics.generated(ev.tokens.length);
      if (this.firstBlock) {
        this.firstBlock = false;
        this.ctx.metrics.firstBlock(this.t0);
      }
      const c = this.choices[ev.seq];
      if (c.stopped) continue;
      await out(ev.seq, c.push(ev.text, ev.tokens, ev.logprobs), false);
      if (c.stopped) this.gen.halt(ev.seq);
    }
    throw new Error('the generation ended without its done event');
  }

  private finish(b: number, done: DoneEvent): FinishReason {
    if (this.choices[b].stopped) return 'stop';
    return done.sequences[b].stopReason === 'length' ? 'length' : 'stop';
  }

  async whole(): Promise<void> {
    const lps: Released['logprobs'][] = this.choices.map(() => []);
    const done = await this.events(async (b, p) => void lps[b].push(...p.logprobs));
    const withLp = this.r.logprobs !== undefined;
    sendJson(this.res, 200, {
      ...this.meta,
      choices: this.choices.map((c, b) => this.api.choice(b, { text: c.text, logprobs: withLp ? lps[b] : null, finish: this.finish(b, done) }, this.ctx.tokenizer)),
      usage: usage(this.promptTokens, done),
      bd3lm: extension(done),
    });
  }

  async stream(): Promise<void> {
    const sse = new SseWriter(this.res);
    sse.open();
    const meta = { ...this.meta, object: this.api.chunkObject };
    const started = new Uint8Array(this.choices.length);
    const withLp = this.r.logprobs !== undefined;
    try {
      const done = await this.events(async (b, p, rest) => {
        if (rest && p.text === '' && p.logprobs.length === 0 && started[b]) return;
        const first = !started[b];
        started[b] = 1;
        await sse.send({ ...meta, choices: [this.api.delta(b, p, withLp, first, this.ctx.tokenizer)] });
      });
      await sse.send({ ...meta, choices: this.choices.map((_, b) => this.api.end(b, this.finish(b, done))), usage: usage(this.promptTokens, done), bd3lm: extension(done) });
      sse.done();
    } catch (e) {
      if (isAbort(e) && !this.ctx.shutdown.aborting) return;
      const err = isAbort(e) ? shuttingDown() : toApiError(e);
      if (!isAbort(e)) this.ctx.log(`${this.meta.id}: ${err.message}`);
      sse.fail(errorBody(err));
    }
  }
}
