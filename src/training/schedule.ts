/**
 * Learning-rate schedule: linear warm-up from 0 over `warmup` optimizer steps (the reference's default: 2,500),
 * then constant (the reference) or cosine decay to `minLr` at `total` steps.
 */
export interface LrSchedule {
  lr: number;
  warmup: number;
  kind: 'constant' | 'cosine';
  /** cosine only */
  total?: number;
  minLr?: number;
}

/** The rate for 1-based optimizer step `step`. */
export function lrAt(s: LrSchedule, step: number): number {
  if (s.warmup > 0 && step <= s.warmup) return (s.lr * step) / s.warmup;
  if (s.kind === 'constant') return s.lr;
  const total = s.total ?? step;
  const minLr = s.minLr ?? 0;
  const span = Math.max(1, total - s.warmup);
  const progress = Math.min(1, Math.max(0, (step - s.warmup) / span));
  return minLr + 0.5 * (s.lr - minLr) * (1 + Math.cos(Math.PI * progress));
}
