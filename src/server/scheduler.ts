/**
 * Admission control for generations sharing one model: at most `maxActive` run at once, the rest wait in a FIFO
 * queue of at most `maxQueue`, beyond that requests are refused. The running ones advance together: each model call
 * of theirs goes to the CallBatcher, which makes one batched call per event-loop turn for all of them (continuous
 * batching), so every running generation moves one call forward per turn.
 */
import { abortError } from '../sampling/tick.js';

export class QueueFullError extends Error {
  constructor(readonly maxQueue: number) {
    super(`the server is busy: ${maxQueue} requests are already waiting`);
  }
}

/** gives the slot back; calling it again does nothing */
export type Release = () => void;

interface Waiter {
  grant: () => void;
}

export class Scheduler {
  private running = 0;
  private readonly waiting: Waiter[] = [];

  constructor(
    readonly maxActive: number,
    readonly maxQueue: number,
  ) {
    if (!(Number.isInteger(maxActive) && maxActive >= 1)) throw new Error(`maxActive must be an integer >= 1, got ${maxActive}`);
    if (!(Number.isInteger(maxQueue) && maxQueue >= 0)) throw new Error(`maxQueue must be an integer >= 0, got ${maxQueue}`);
  }

  get active(): number {
    return this.running;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /**
   * A slot, at once or in arrival order. Rejects with QueueFullError when the queue is full, and with an AbortError
   * when `signal` aborts while waiting (the request leaves the queue).
   */
  acquire(signal?: AbortSignal): Promise<Release> {
    if (signal?.aborted) return Promise.reject(abortError());
    if (this.running < this.maxActive) {
      this.running++;
      return Promise.resolve(this.releaser());
    }
    if (this.waiting.length >= this.maxQueue) return Promise.reject(new QueueFullError(this.maxQueue));
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.waiting.splice(this.waiting.indexOf(w), 1);
        reject(abortError());
      };
      const w: Waiter = {
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve(this.releaser());
        },
      };
      this.waiting.push(w);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private releaser(): Release {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      // the slot passes straight to the next waiter, so `running` only drops when nobody waits
      if (next) next.grant();
      else this.running--;
    };
  }
}
