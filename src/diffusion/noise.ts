/**
 * Noise schedules (spec 4.3): mask probability p(t) and loss weight w(t) = alpha'_t / (1 - alpha_t) (negative; the
 * loss is w * log p_theta). `loglinear` is the only one the reference wires up: despite its name it is the linear
 * masking schedule p = t, w = -1/t. The others are the reference's unwired classes (paper Table 8 ablation), kept
 * with their formulas and float32 rounding. Clipped intervals U[beta, omega] are handled by the t sampler
 * (tsample.ts), not here: the reference draws p = t in [beta, omega] and keeps w = -1/t, dropping the paper's factor
 * (omega - beta) (spec 4.7) — so clipped training losses are rescaled NELBOs, not likelihoods.
 */
import { sigmaFromP, SIGMA_MAX } from './schedule.js';

const f32 = Math.fround;

export type ScheduleName = 'loglinear' | 'cosine' | 'square' | 'sqrt' | 'log';

export interface NoiseSchedule {
  readonly name: ScheduleName;
  /** mask probability p(t) */
  maskProb(t: number): number;
  /** loss weight w(t) = alpha'/(1 - alpha), negative */
  lossWeight(t: number): number;
}

const EPS = 1e-3;
const LN2 = f32(Math.log(2));

const schedules: Record<ScheduleName, NoiseSchedule> = {
  loglinear: { name: 'loglinear', maskProb: (t) => f32(t), lossWeight: (t) => f32(-1 / f32(t)) },
  cosine: {
    name: 'cosine',
    maskProb: (t) => f32(1 - f32((1 - EPS) * Math.cos((t * Math.PI) / 2))),
    lossWeight: (t) => {
      const p = f32(1 - f32((1 - EPS) * Math.cos((t * Math.PI) / 2)));
      return f32(((-(1 - EPS) * Math.sin((t * Math.PI) / 2)) / (p + EPS)) * (Math.PI / 2));
    },
  },
  square: expSchedule('square', 2),
  sqrt: expSchedule('sqrt', 0.5),
  log: {
    name: 'log',
    maskProb: (t) => f32(Math.log1p(t) / LN2),
    lossWeight: (t) => f32(-1 / (f32(Math.log1p(t) / LN2) * LN2 * (1 + t))),
  },
};

function expSchedule(name: ScheduleName, e: number): NoiseSchedule {
  const p = (t: number) => Math.max(f32(Math.pow(t, e)), EPS);
  return { name, maskProb: (t) => f32(p(t)), lossWeight: (t) => f32((-e * Math.pow(t, e - 1)) / p(t)) };
}

export function noiseSchedule(name: ScheduleName = 'loglinear'): NoiseSchedule {
  const s = schedules[name];
  if (!s) throw new Error(`unknown noise schedule ${name}; expected one of ${Object.keys(schedules).join(', ')}`);
  return s;
}

/** Conditioning sigma for a mask probability (SEDD and time-conditioned models): min(-ln(1-p), sigma_max). */
export { sigmaFromP, SIGMA_MAX };
