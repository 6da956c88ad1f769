import type { Backend } from '../tensor/backend.js';

/** The reference's stand-in for -infinity (`neg_infinity = -1000000.0`). */
export const NEG_INF = -1e6;

/**
 * SUBS parameterisation (spec 4.4), in place on raw logits [rows][V]: the mask logit gets -1e6, rows are
 * log-softmaxed, and rows whose input token is not the mask become a one-hot at that token in log space
 * (0 there, -1e6 elsewhere). `xt[r]` is the input token of row r.
 */
export function subsLogProbs(backend: Backend, logits: Float32Array, rows: number, V: number, xt: ArrayLike<number>, maskId: number): Float32Array {
  if (logits.length !== rows * V) throw new Error(`logits has ${logits.length} entries, expected ${rows}x${V}`);
  if (xt.length !== rows) throw new Error(`xt has ${xt.length} entries for ${rows} rows`);
  for (let r = 0; r < rows; r++) logits[r * V + maskId] += NEG_INF;
  backend.logSoftmax(logits, logits, rows, V);
  for (let r = 0; r < rows; r++) {
    const tok = xt[r];
    if (tok === maskId) continue;
    const row = logits.subarray(r * V, (r + 1) * V);
    row.fill(NEG_INF);
    row[tok] = 0;
  }
  return logits;
}
