/**
 * The HTTP server: the request gate (guard.ts: Host, CORS, API key, JSON bodies), routing, the small GET endpoints,
 * metrics, and the lifecycle (listen, drain, close). One model in memory serves every request; completions and chats
 * go through the scheduler (admission) and the call batcher (continuous batching). Whatever a handler throws becomes
 * a JSON error response, so no request can crash the process.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DiT } from '../model/dit.js';
import type { Tokenizer } from '../data/tokenizer.js';
import { CallBatcher } from '../sampling/batcher.js';
import { ChatTemplate, DEFAULT_CHAT_TEMPLATE } from './chat-template.js';
import { handleChat, handleCompletion, shuttingDown, type CompletionContext } from './completions.js';
import { ApiError, sendError, sendJson, toApiError } from './errors.js';
import { Guard, isLoopbackAddress, type GuardOptions } from './guard.js';
import { ServerMetrics } from './metrics.js';
import { Scheduler } from './scheduler.js';

export interface ServerOptions extends GuardOptions {
  /** the model's name in requests and responses */
  modelId: string;
  /** largest max_tokens (default 1024) */
  maxTokensCap?: number;
  /** largest n (default 8) */
  maxN?: number;
  /** largest explicit steps per block (default 256; see RequestLimits) */
  maxSteps?: number;
  /** largest block_size (default: the model's trained block size) */
  maxBlockSize?: number;
  /** longest prompt in tokens (default 8192); longer ones get 413 */
  maxPromptTokens?: number;
  /** request body limit in bytes (default 64 KiB) */
  maxBody?: number;
  /** generations running at once, their model calls batched together (default 8) */
  maxActive?: number;
  /** requests waiting beyond those (default 64); more get 503 */
  maxQueue?: number;
  /** the chat template (default DEFAULT_CHAT_TEMPLATE) */
  chatTemplate?: ChatTemplate;
  /** internal errors are reported here (default: dropped) */
  log?: (line: string) => void;
}

export const SERVER_DEFAULTS = { maxTokensCap: 1024, maxN: 8, maxSteps: 256, maxPromptTokens: 8192, maxBody: 64 * 1024, maxActive: 8, maxQueue: 64 } as const;

export interface CompletionServer {
  readonly http: Server;
  readonly scheduler: Scheduler;
  readonly batcher: CallBatcher;
  listen(port: number, host?: string): Promise<AddressInfo>;
  /**
   * Graceful shutdown: stops accepting (new requests on open connections get 503), lets the generations in flight
   * finish for up to `timeoutMs`, then aborts the rest (streams end with an error event) and closes.
   */
  drain(timeoutMs: number): Promise<void>;
  /** stops accepting, aborts the generations in flight and drops open connections */
  close(): Promise<void>;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

export function createCompletionServer(model: DiT, tokenizer: Tokenizer, opts: ServerOptions): CompletionServer {
  const o = { ...SERVER_DEFAULTS, maxBlockSize: model.config.blockSize, ...opts };
  const scheduler = new Scheduler(o.maxActive, o.maxQueue);
  const batcher = new CallBatcher();
  const metrics = new ServerMetrics({ active: () => scheduler.active, queued: () => scheduler.queued, batch: batcher.stats });
  const guard = new Guard(o);
  const ctx: CompletionContext = {
    model, tokenizer, modelId: o.modelId, scheduler, batcher, metrics,
    limits: { maxTokensCap: o.maxTokensCap, maxN: o.maxN, maxSteps: o.maxSteps, maxBlockSize: o.maxBlockSize },
    maxBody: o.maxBody, maxPromptTokens: o.maxPromptTokens, chatTemplate: o.chatTemplate ?? new ChatTemplate(DEFAULT_CHAT_TEMPLATE),
    inflight: new Set(), shutdown: { aborting: false }, log: o.log ?? (() => {}),
  };
  const created = Math.floor(Date.now() / 1000);
  const cfg = model.config;
  const modelObject = () => ({
    id: o.modelId, object: 'model', created, owned_by: 'bd3lm',
    bd3lm: { block_size: cfg.blockSize, max_block_size: o.maxBlockSize, model_length: cfg.modelLength, vocab_size: cfg.vocabSize, tokenizer: tokenizer.name },
  });
  const MODEL_PREFIX = '/v1/models/';
  const routes: Record<string, Record<string, Handler>> = {
    '/health': { GET: (_q, res) => sendJson(res, 200, { status: 'ok', model: o.modelId, active: scheduler.active, queued: scheduler.queued }) },
    '/v1/models': { GET: (_q, res) => sendJson(res, 200, { object: 'list', data: [modelObject()] }) },
    [`${MODEL_PREFIX}{id}`]: {
      GET: (req, res) => {
        const id = decodeURIComponent(routeOf(req).slice(MODEL_PREFIX.length));
        if (id !== o.modelId) throw new ApiError(404, `the model '${id}' does not exist (this server runs '${o.modelId}')`, 'invalid_request_error', 'model', 'model_not_found');
        sendJson(res, 200, modelObject());
      },
    },
    '/v1/completions': { POST: (req, res) => handleCompletion(ctx, req, res) },
    '/v1/chat/completions': { POST: (req, res) => handleChat(ctx, req, res) },
    '/metrics': {
      GET: async (_q, res) => {
        const text = await metrics.text();
        res.writeHead(200, { 'Content-Type': metrics.contentType, 'Content-Length': Buffer.byteLength(text) });
        res.end(text);
      },
    },
  };
  const routeOf = (req: IncomingMessage) => (req.url ?? '/').split('?')[0];
  /** the route's key: the path, or the pattern it matches */
  const keyOf = (path: string) => (path.startsWith(MODEL_PREFIX) && path.length > MODEL_PREFIX.length ? `${MODEL_PREFIX}{id}` : path);
  let draining = false;

  const http = createServer({ requestTimeout: 30_000, headersTimeout: 15_000 }, (req, res) => {
    const path = routeOf(req);
    const key = keyOf(path);
    const route = routes[key];
    res.on('close', () => metrics.request(route ? key : 'other', res.statusCode)); // finished, or cut off
    const run = async () => {
      guard.checkHost(req);
      for (const [k, v] of Object.entries(guard.corsHeaders(req))) res.setHeader(k, v);
      if (req.method === 'OPTIONS' && req.headers.origin) return guard.preflight(req, res);
      if (key !== '/health') guard.checkKey(req);
      if (!route) throw new ApiError(404, `no route ${path}`, 'invalid_request_error', null, 'not_found');
      const handler = route[req.method ?? ''];
      if (!handler) {
        const allow = Object.keys(route).join(', ');
        throw new ApiError(405, `${req.method} is not allowed on ${path} (use ${allow})`, 'invalid_request_error', null, 'method_not_allowed', { Allow: allow });
      }
      if (req.method === 'POST') {
        if (draining) throw shuttingDown();
        guard.checkJson(req);
      }
      await handler(req, res);
    };
    run().catch((e: unknown) => {
      const err = toApiError(e);
      if (err.status >= 500 && err.code !== 'shutting_down') ctx.log(`${req.method} ${path}: ${err.message}`);
      sendError(res, err);
    });
  });

  const abortAll = () => {
    ctx.shutdown.aborting = true;
    for (const ac of ctx.inflight) ac.abort();
  };
  const closed = () => new Promise<void>((resolve) => http.close(() => resolve()));
  return {
    http,
    scheduler,
    batcher,
    listen: (port, host = '127.0.0.1') =>
      new Promise((resolve, reject) => {
        http.once('error', reject);
        http.listen(port, host, () => {
          http.off('error', reject);
          const addr = http.address() as AddressInfo;
          guard.loopbackBind = isLoopbackAddress(host) || isLoopbackAddress(addr.address);
          resolve(addr);
        });
      }),
    drain: async (timeoutMs) => {
      draining = true;
      const done = closed();
      http.closeIdleConnections();
      const until = Date.now() + timeoutMs;
      while ((scheduler.active > 0 || scheduler.queued > 0) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      abortAll();
      // let the aborted streams write their error events, then drop what is left
      while (ctx.inflight.size > 0 && Date.now() < until + 1000) await new Promise((r) => setTimeout(r, 10));
      http.closeAllConnections();
      await done;
    },
    close: () => {
      abortAll();
      const done = closed();
      http.closeAllConnections();
      return done;
    },
  };
}
