/**
 * The training scratch of a model: the activations `DiT.forward` saves for backward (`saveActivations`) and the
 * backward pass's temporaries, reused across steps.
 */
import type { DiT } from '../model/dit.js';
import { Workspace } from '../tensor/workspace.js';

/** Named backend buffers plus a ones vector for column sums. */
export class TrainScratch extends Workspace {
  private onesBuf: Float32Array | null = null;
  /** n ones (the left operand that turns column sums into an sgemm) */
  ones(n: number): Float32Array {
    if (!this.onesBuf || this.onesBuf.length < n) {
      this.onesBuf = this.get('ones', Math.max(n, 1)).fill(1);
    }
    return this.onesBuf.subarray(0, n);
  }
  override dispose(): void {
    super.dispose();
    this.onesBuf = null;
  }
}

const scratches = new WeakMap<DiT, TrainScratch>();

/** The training scratch of a model, created on first use. */
export function trainScratch(model: DiT): TrainScratch {
  let s = scratches.get(model);
  if (!s) {
    s = new TrainScratch(model.backend);
    scratches.set(model, s);
  }
  return s;
}

export function releaseTrainScratch(model: DiT): void {
  scratches.get(model)?.dispose();
  scratches.delete(model);
}
