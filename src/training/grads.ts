/**
 * Gradient buffers, one per trainable tensor, keyed by the checkpoint name (expectedParams order) so the optimizer,
 * EMA and checkpoint code can walk parameters and gradients side by side. Allocated from the model's backend.
 */
import type { DiT } from '../model/dit.js';
import { expectedParams, numel } from '../model/params.js';
import { bindWeights, type DiTWeights } from '../model/weights.js';

export class Grads {
  /** param name -> gradient, same shape as the parameter */
  readonly tensors: Map<string, Float32Array>;
  /** the same arrays viewed like the model's weights (backward writes through these) */
  readonly views: DiTWeights<Float32Array>;
  private readonly model: DiT;

  constructor(model: DiT) {
    this.model = model;
    this.tensors = new Map();
    for (const s of expectedParams(model.config)) {
      if (s.kind !== 'param') continue;
      const g = model.backend.alloc(numel(s.shape));
      g.fill(0);
      this.tensors.set(s.name, g);
    }
    this.views = bindWeights(model.config, this.tensors);
  }

  zero(): void {
    for (const g of this.tensors.values()) g.fill(0);
  }

  /** sum of squared gradient entries (for the global norm) */
  sumSquares(): number {
    let s = 0;
    for (const g of this.tensors.values()) s += this.model.backend.sumSquares(g, g.length);
    return s;
  }

  /** gradients are accumulated by backward: call `zero` between optimizer steps */
  dispose(): void {
    for (const g of this.tensors.values()) this.model.backend.free(g);
    this.tensors.clear();
  }
}
