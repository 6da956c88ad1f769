/**
 * Server-sent events for a streaming completion: `data: JSON\n\n` per chunk, `data: [DONE]\n\n` at the end. Writes
 * wait for the socket to drain, so a client that reads slowly pauses its own generation instead of piling up
 * output in memory; a closed connection ends the wait (the handler aborts the generation on 'close').
 */
import type { ServerResponse } from 'node:http';

export class SseWriter {
  constructor(private readonly res: ServerResponse) {}

  open(): void {
    this.res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no', // reverse proxies (nginx) would otherwise hold the events back
    });
  }

  /** sends one event; resolves once it is handed to the socket (or the connection is gone) */
  send(data: unknown): Promise<void> {
    return this.write(`data: ${JSON.stringify(data)}\n\n`);
  }

  /** the terminator OpenAI clients wait for */
  done(): void {
    if (!this.res.destroyed) this.res.end('data: [DONE]\n\n');
  }

  /** an error after the stream started: an event with the OpenAI error object, then the end (no [DONE]) */
  fail(error: unknown): void {
    if (this.res.destroyed) return;
    this.res.end(`data: ${JSON.stringify(error)}\n\n`);
  }

  private write(text: string): Promise<void> {
    const res = this.res;
    if (res.destroyed || res.write(text)) return Promise.resolve();
    return new Promise((resolve) => {
      const go = () => {
        res.off('drain', go);
        res.off('close', go);
        resolve();
      };
      res.on('drain', go);
      res.on('close', go);
    });
  }
}
