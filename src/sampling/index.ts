/** Public sampling API: samplers, their options, and the building blocks for batching / streaming on top. */
export { sampleSemiAR, planSemiAR, runStrides, type SemiAROptions, type Stride } from './semi-ar.js';
export { runStrideSteps, type StrideRun, type StrideRunResult, type StrideDone, type SequenceResult } from './strides.js';
export { sampleAR, arSteps, arProbs, type AROptions, type ARRun } from './ar.js';
export { sampleMDLM, mdlmStrides, type MDLMOptions } from './mdlm.js';
export { sampleSEDD, seddSteps, seddLogScore, type SEDDOptions, type SEDDRun } from './sedd.js';
export { denoiseBlock, denoiseBlockSteps, drain, type BlockOptions, type BlockResult, type DdpmGrid, type DenoiseMode, type StepTrace } from './block.js';
export { denoiseRule, resolveRule, DENOISE_MODES, PARALLEL_DEFAULTS } from './rules/registry.js';
export type { DenoiseRule, RuleOptions, StepContext, StepDraws } from './rules/rule.js';
export { CachedWindowModel, UncachedWindowModel, ModelCall, runCalls, subsProbs, lastPositions, type WindowModel, type CallSteps } from './window-model.js';
export { CallBatcher, type BatchStats } from './batcher.js';
export { topLogprobs, type TokenLogprob } from './logprobs.js';
export { sampleCategorical } from '../tensor/sampling/categorical.js';
export { applyFilters, validateFilters, type ProbFilters } from '../tensor/sampling/filters.js';
export { nucleusFilter } from '../tensor/sampling/nucleus.js';
export { ReplayRandom, SeededRandom, type RandomSource, type ReplayDraws } from '../tensor/sampling/random.js';
export { applyPosterior } from '../tensor/sampling/posterior.js';
export { ddpmFactors, linspaceF32, sigmaFromP, SIGMA_MAX } from '../diffusion/schedule.js';
export { checkStop, windowEntropy, type StopCheck, type StopOptions, type StopReason } from './stop.js';
export { resolveIds, type CommonOptions, type SampleResult, type TokenIds } from './options.js';

export { generate, Generation, type GenerateOptions, type GenerateEvent, type GenerateResult, type GenerationLayout, type BlockEvent, type StepEvent, type DoneEvent, type SequenceOutput, type SamplerName } from './generate.js';
