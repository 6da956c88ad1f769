/**
 * The HTTP server: routing, the small GET endpoints, and the lifecycle (listen, close). One model in memory serves
 * every request; completions go through the scheduler (completions.ts). Whatever a handler throws becomes a JSON
 * error response, so no request can crash the process.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DiT } from '../model/dit.js';
import type { Tokenizer } from '../data/tokenizer.js';
import { handleCompletion, type CompletionContext } from './completions.js';
import { ApiError, sendError, sendJson, toApiError } from './errors.js';
import { Scheduler } from './scheduler.js';

export interface ServerOptions {
  /** the model's name in requests and responses */
  modelId: string;
  /** largest max_tokens (default 1024) */
  maxTokensCap?: number;
  /** largest n (default 8) */
  maxN?: number;
  /** largest explicit steps per block (default 256; see RequestLimits) */
  maxSteps?: number;
  /** request body limit in bytes (default 64 KiB) */
  maxBody?: number;
  /** generations running at once (default 8) */
  maxActive?: number;
  /** requests waiting beyond those (default 64); more get 503 */
  maxQueue?: number;
  /** internal errors are reported here (default: dropped) */
  log?: (line: string) => void;
}

export const SERVER_DEFAULTS = { maxTokensCap: 1024, maxN: 8, maxSteps: 256, maxBody: 64 * 1024, maxActive: 8, maxQueue: 64 } as const;

export interface CompletionServer {
  readonly http: Server;
  readonly scheduler: Scheduler;
  listen(port: number, host?: string): Promise<AddressInfo>;
  /** stops accepting, aborts the generations in flight and drops open connections */
  close(): Promise<void>;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

export function createCompletionServer(model: DiT, tokenizer: Tokenizer, opts: ServerOptions): CompletionServer {
  if (model.config.causal) throw new Error('the server samples with block diffusion: give it a bd3lm or mdlm model, not an AR one');
  const o = { ...SERVER_DEFAULTS, ...opts };
  const scheduler = new Scheduler(o.maxActive, o.maxQueue);
  const ctx: CompletionContext = {
    model, tokenizer, modelId: o.modelId, scheduler, limits: { maxTokensCap: o.maxTokensCap, maxN: o.maxN, maxSteps: o.maxSteps },
    maxBody: o.maxBody, inflight: new Set(), log: o.log ?? (() => {}),
  };
  const created = Math.floor(Date.now() / 1000);
  const cfg = model.config;
  const routes: Record<string, Record<string, Handler>> = {
    '/health': { GET: (_q, res) => sendJson(res, 200, { status: 'ok', model: o.modelId, active: scheduler.active, queued: scheduler.queued }) },
    '/v1/models': {
      GET: (_q, res) =>
        sendJson(res, 200, {
          object: 'list',
          data: [{
            id: o.modelId, object: 'model', created, owned_by: 'bd3lm',
            bd3lm: { block_size: cfg.blockSize, model_length: cfg.modelLength, vocab_size: cfg.vocabSize, tokenizer: tokenizer.name },
          }],
        }),
    },
    '/v1/completions': { POST: (req, res) => handleCompletion(ctx, req, res) },
  };

  const http = createServer({ requestTimeout: 30_000, headersTimeout: 15_000 }, (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const route = routes[path];
    const handler = route?.[req.method ?? ''];
    const run = async () => {
      if (!route) throw new ApiError(404, `no route ${path}`, 'invalid_request_error', null, 'not_found');
      if (!handler) {
        const allow = Object.keys(route).join(', ');
        throw new ApiError(405, `${req.method} is not allowed on ${path} (use ${allow})`, 'invalid_request_error', null, 'method_not_allowed', { Allow: allow });
      }
      await handler(req, res);
    };
    run().catch((e: unknown) => {
      const err = toApiError(e);
      if (err.status >= 500) ctx.log(`${req.method} ${path}: ${err.message}`);
      sendError(res, err);
    });
  });

  return {
    http,
    scheduler,
    listen: (port, host = '127.0.0.1') =>
      new Promise((resolve, reject) => {
        http.once('error', reject);
        http.listen(port, host, () => {
          http.off('error', reject);
          resolve(http.address() as AddressInfo);
        });
      }),
    close: () =>
      new Promise((resolve) => {
        for (const ac of ctx.inflight) ac.abort();
        http.close(() => resolve());
        http.closeAllConnections();
      }),
  };
}
