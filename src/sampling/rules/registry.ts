/**
 * The denoising rules by name: the one place that lists them. `generate`, the block samplers, the CLI's --sampler
 * and the server's `sampler` field all look names up and check options here.
 */
import { ddpm } from './ddpm.js';
import { entropy } from './entropy.js';
import { firstHitting } from './first-hitting.js';
import type { DenoiseRule, RuleOptions } from './rule.js';
import { threshold } from './threshold.js';

const RULES = {
  'first-hitting': firstHitting,
  ddpm,
  threshold,
  entropy,
} satisfies Record<string, DenoiseRule>;

export type DenoiseMode = keyof typeof RULES;
export const DENOISE_MODES = Object.keys(RULES) as DenoiseMode[];
/** defaults of the parallel rules' knobs */
export const PARALLEL_DEFAULTS = { threshold: 0.9, entropyBound: 1 } as const;

/** The rule called `name`; `what` names the option in the error ('sampler', 'sampling mode'). */
export function denoiseRule(name: unknown, what = 'sampler'): DenoiseRule {
  if (typeof name !== 'string' || !Object.hasOwn(RULES, name)) throw new Error(`unknown ${what} '${String(name)}' (expected ${DENOISE_MODES.join(', ')})`);
  return RULES[name as DenoiseMode];
}

/** Looks the rule up and checks its options (defaults filled in); returns the rule and the options it runs with. */
export function resolveRule(name: unknown, o: RuleOptions, what = 'sampler'): { rule: DenoiseRule; options: Required<Pick<RuleOptions, 'threshold' | 'entropyBound'>> & RuleOptions } {
  const rule = denoiseRule(name, what);
  const options = { ...o, threshold: o.threshold ?? PARALLEL_DEFAULTS.threshold, entropyBound: o.entropyBound ?? PARALLEL_DEFAULTS.entropyBound };
  rule.validateOptions(options);
  return { rule, options };
}
