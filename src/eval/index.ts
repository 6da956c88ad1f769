/** bd3lm/eval: perplexity, generative perplexity, the gradient variance study, golden verification. */
export { perplexity, type PplReport } from './ppl.js';
export { genPPL } from './genppl.js';
export { gradientVariance } from './variance.js';
export { verifyGolden, type VerifyReport } from './conformance.js';
