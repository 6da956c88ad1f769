/**
 * The reference's DDPM update with caching (spec 5.3): every masked position draws from the posterior q(x_s | x_t,
 * x0 ~ p(x0)) on a fixed time grid (see DdpmGrid): it stays masked with probability s/t. When no position changed,
 * the next step reuses p(x0) (the loop's cache).
 */
import type { DdpmGrid, DenoiseRule } from './rule.js';
import { ddpmFactors, linspaceF32 } from '../../diffusion/schedule.js';

const GRIDS: readonly DdpmGrid[] = ['reference', 'exact'];

/** the grid of the last block (blocks of a run share T): computed once, not once per step */
let last: { key: string; grid: Float64Array } | null = null;
function timeGrid(kind: DdpmGrid, T: number): Float64Array {
  const key = `${kind}:${T}`;
  if (last?.key !== key) last = { key, grid: kind === 'reference' ? linspaceF32(1, 0, T) : Float64Array.from({ length: T }, (_, i) => 1 - i / T) };
  return last.grid;
}

export const ddpm: DenoiseRule = {
  name: 'ddpm',
  help: 'every masked position may be revealed each step (DDPM posterior on a fixed time grid)',
  validateOptions(o) {
    if (o.ddpmGrid !== undefined && !GRIDS.includes(o.ddpmGrid)) throw new Error(`unknown ddpmGrid '${String(o.ddpmGrid)}' (expected ${GRIDS.join(', ')})`);
  },
  minSteps: () => 1,
  *step(s) {
    s.t.fill(timeGrid(s.options.ddpmGrid ?? 'reference', s.T)[s.i]);
    const P = s.probs();
    const u = s.noise();
    const draws = [];
    for (let b = 0; b < s.batch; b++) for (const j of s.masked[b]) draws.push(u(b, j));
    return { draws, tokens: yield* P.sample([], draws, { ...ddpmFactors(Math.fround(s.t[0]), s.dt), maskId: s.maskId }) };
  },
};
