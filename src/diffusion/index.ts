/** bd3lm/diffusion: the SUBS parameterisation, noise schedules and the sampler's float32 time grids. */
export { subsLogProbs, NEG_INF } from './subs.js';
export { noiseSchedule, type NoiseSchedule, type ScheduleName } from './noise.js';
export { ddpmFactors, linspaceF32, sigmaFromP, SIGMA_MAX } from './schedule.js';
