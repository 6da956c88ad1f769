/** An in-process completions server on a small random model (byte vocabulary, ref backend), and an SSE reader. */
import { createCompletionServer, type CompletionServer, type ServerOptions } from '../src/server/app.js';
import { ByteTokenizer, type Tokenizer } from '../src/data/tokenizer.js';
import type { DiT } from '../src/model/dit.js';
import type { Backend } from '../src/tensor/backend.js';
import { RefBackend } from '../src/tensor/index.js';
import { randomModel } from './model-helpers.js';

/** V = 257 (bytes + mask), L = 32, L' = 4 */
export const modelOn = (backend: Backend): DiT => randomModel(backend, { vocabSize: 257, modelLength: 32, blockSize: 4 });
export const model = modelOn(new RefBackend());
export const tokenizer = new ByteTokenizer();

export interface TestServer {
  server: CompletionServer;
  url: string;
  post(body: unknown, init?: RequestInit): Promise<Response>;
  health(): Promise<{ status: string; model: string; active: number; queued: number }>;
  close(): Promise<void>;
}

export async function startServer(opts: Partial<ServerOptions> = {}, tok: Tokenizer = tokenizer, m: DiT = model): Promise<TestServer> {
  const server = createCompletionServer(m, tok, { modelId: 'test-model', ...opts });
  const { port } = await server.listen(0);
  const url = `http://127.0.0.1:${port}`;
  return {
    server,
    url,
    post: (body, init = {}) =>
      fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body), ...init }),
    health: async () => (await fetch(`${url}/health`)).json(),
    close: () => server.close(),
  };
}

export interface Choice {
  text: string;
  index: number;
  logprobs: null;
  finish_reason: 'stop' | 'length' | null;
}

/** a completion response or streaming chunk (or, on a failed stream, an error event) */
export interface Completion {
  id: string;
  object: string;
  created: number;
  model: string;
  choices: Choice[];
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
  bd3lm?: { sequences: { index: number; nfe: number; stop_reason: string; seed: number }[]; tokens_per_second: number; model_calls: number; warnings: string[] };
  error?: { message: string; type: string; param: string | null; code: string | null };
}

/** The `data:` payloads of an SSE response, as they arrive (JSON parsed; '[DONE]' kept as a string). */
export async function* sseEvents(res: Response): AsyncGenerator<Completion | '[DONE]'> {
  const decoder = new TextDecoder();
  let buf = '';
  const reader = res.body!.getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) {
    buf += decoder.decode(r.value, { stream: true });
    let cut;
    while ((cut = buf.indexOf('\n\n')) >= 0) {
      const event = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      if (!event.startsWith('data: ')) throw new Error(`not an SSE data event: ${event}`);
      const data = event.slice(6);
      yield data === '[DONE]' ? data : (JSON.parse(data) as Completion);
    }
  }
  if (buf !== '') throw new Error(`unterminated SSE event: ${buf}`);
}

/** Polls /health until `pred` holds (or fails after `ms`). */
export async function waitForHealth(s: TestServer, pred: (h: { active: number; queued: number }) => boolean, ms = 3000): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    const h = await s.health();
    if (pred(h)) return;
    if (Date.now() > until) throw new Error(`health never reached the expected state: ${JSON.stringify(h)}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
