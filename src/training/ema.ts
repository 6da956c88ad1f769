import type { Backend } from '../tensor/backend.js';
import type { Param } from './optimizer.js';

/**
 * Exponential moving average of the weights, as the reference (spec 9.1): after every optimizer step n (counted
 * from 0 at the first update), decay_n = min(decay, (1 + n) / (10 + n)) and shadow -= (1 - decay_n)(shadow - param).
 * The shadow starts as a copy of the weights; it is what evaluation uses and what checkpoints publish.
 */
export class Ema {
  readonly shadow = new Map<string, Float32Array>();
  updates = 0;

  constructor(
    private readonly backend: Backend,
    readonly params: Param[],
    readonly decay = 0.9999,
  ) {
    for (const p of params) {
      const s = backend.alloc(p.data.length);
      s.set(p.data);
      this.shadow.set(p.name, s);
    }
  }

  update(): void {
    const n = this.updates++;
    const d = Math.min(this.decay, (1 + n) / (10 + n));
    for (const p of this.params) this.backend.emaUpdate(this.shadow.get(p.name)!, p.data, p.data.length, d);
  }
}
