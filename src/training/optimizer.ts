import type { Backend } from '../tensor/backend.js';

/** AdamW hyper-parameters (reference: lr 3e-4, betas 0.9/0.999, eps 1e-8, weight decay 0; spec 9.1). */
export interface AdamWConfig {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export const ADAMW_DEFAULTS: AdamWConfig = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 };

export interface Param {
  name: string;
  data: Float32Array;
}

/**
 * AdamW over named parameters with first/second moments in backend memory. `step` applies one update with the
 * gradients scaled by `gradScale` (global-norm clipping and accumulation averaging are folded into it).
 */
export class AdamW {
  readonly m = new Map<string, Float32Array>();
  readonly v = new Map<string, Float32Array>();
  /** optimizer steps taken */
  step = 0;

  constructor(
    private readonly backend: Backend,
    readonly params: Param[],
    readonly cfg: AdamWConfig = ADAMW_DEFAULTS,
  ) {
    for (const p of params) {
      this.m.set(p.name, backend.alloc(p.data.length));
      this.v.set(p.name, backend.alloc(p.data.length));
    }
  }

  update(grads: Map<string, Float32Array>, lr: number, gradScale: number): void {
    this.step++;
    for (const p of this.params) {
      const g = grads.get(p.name);
      if (!g) throw new Error(`no gradient for parameter ${p.name}`);
      this.backend.adamw({
        param: p.data, grad: g, m: this.m.get(p.name)!, v: this.v.get(p.name)!, n: p.data.length, lr,
        beta1: this.cfg.beta1, beta2: this.cfg.beta2, eps: this.cfg.eps, weightDecay: this.cfg.weightDecay,
        step: this.step, gradScale,
      });
    }
  }
}

/**
 * Global L2 norm of the gradients, and the factor that clips it to `maxNorm` (torch.nn.utils.clip_grad_norm_:
 * scale = maxNorm / (norm + 1e-6) when that is < 1). `maxNorm` <= 0 disables clipping.
 */
export function clipFactor(backend: Backend, grads: Iterable<Float32Array>, maxNorm: number): { norm: number; scale: number } {
  let ss = 0;
  for (const g of grads) ss += backend.sumSquares(g, g.length);
  const norm = Math.sqrt(ss);
  const coef = maxNorm / (norm + 1e-6);
  return { norm, scale: maxNorm > 0 && coef < 1 ? coef : 1 };
}
