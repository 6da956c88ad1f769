/**
 * Continuous batching: the model calls of concurrent generations (`generate({ runCall: batcher.run })`) are
 * collected for one event-loop turn and made as one batched call. KV-cache steps of one model go together through
 * `KVCache.stepMany` (each generation keeps its own cache rows, positions, block size, seed and sampler settings:
 * only the dense layers are shared, row by row, so each gets the logits its own call would give); other calls
 * (no cache, or time conditioning) run alone. A generation joins at its next model call and leaves when it ends or
 * aborts; every queued call is served in the next batched call, so nobody waits more than one turn.
 *
 * Only one call is made per turn, and its logits (views of the model's workspace) are handed out before the next:
 * each generation consumes them synchronously when it resumes, before asking for its next call.
 */
import { KVCache } from '../model/kvcache.js';
import type { DiT } from '../model/dit.js';
import { yieldToEventLoop } from './tick.js';
import type { ModelCall } from './window-model.js';

interface Queued {
  call: ModelCall;
  /** retried alone after a batched call that included it failed */
  alone?: boolean;
  resolve: (logits: Float32Array) => void;
  reject: (e: unknown) => void;
}

export interface BatchStats {
  /** model calls made (a batched call counts once) */
  calls: number;
  /** generation calls served by them */
  served: number;
}

export class CallBatcher {
  private queue: Queued[] = [];
  private scheduled = false;
  readonly stats: BatchStats = { calls: 0, served: 0 };

  /** batch size of the last call (for metrics) */
  lastBatch = 0;

  /** the `runCall` of `generate`: resolves with this call's logits once the batched call ran */
  readonly run = (call: ModelCall): Promise<Float32Array> =>
    new Promise((resolve, reject) => {
      this.queue.push({ call, resolve, reject });
      this.schedule();
    });

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    void yieldToEventLoop().then(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    const first = this.queue[0];
    if (!first) return;
    const model = batchable(first);
    // the first call in line, with every queued step of the same model
    const group = model ? this.queue.filter((q) => batchable(q) === model) : [first];
    this.queue = this.queue.filter((q) => !group.includes(q));
    this.stats.calls++;
    this.stats.served += group.length;
    this.lastBatch = group.length;
    try {
      const out = group.length === 1 ? [group[0].call.run()] : KVCache.stepMany(model!, group.map((q) => q.call.step!));
      group.forEach((q, i) => q.resolve(out[i]));
    } catch (e) {
      if (group.length === 1) group[0].reject(e);
      else {
        // a step is checked before anything is computed or stored: retry each alone, so only the bad one fails
        for (const q of group) q.alone = true;
        this.queue.unshift(...group);
      }
    }
    if (this.queue.length) this.schedule();
  }
}

/** the model whose KV-cache steps this call can join, or null */
function batchable(q: Queued): DiT | null {
  const s = q.call.step;
  if (!s || q.alone) return null;
  const m = s.cache.model;
  return m.config.timeConditioning && m.adaln ? null : m;
}
