/**
 * Nucleus (top-p) filtering of probability rows in place (spec 5.2). Reference convention (default): keep the
 * tokens whose cumulative probability, in descending order, is <= p, plus always the top-1 — the token that
 * crosses p is excluded. `includeCrossing` gives the usual convention (keep it). Rows are renormalised to sum 1.
 * p >= 1 leaves the rows unchanged (the reference skips the filter then).
 */
export function nucleusFilter(probs: Float64Array, rows: number, V: number, p: number, includeCrossing = false): Float64Array {
  if (!(p > 0)) throw new Error(`top-p must be in (0, 1], got ${p}`);
  if (p >= 1) return probs;
  const idx = new Int32Array(V);
  for (let r = 0; r < rows; r++) {
    const row = probs.subarray(r * V, (r + 1) * V);
    for (let i = 0; i < V; i++) idx[i] = i;
    // stable descending sort, as torch.sort on CPU orders ties by index
    idx.sort((a, b) => row[b] - row[a] || a - b);
    const keep = new Uint8Array(V);
    let c = 0;
    for (let j = 0; j < V; j++) {
      const v = row[idx[j]];
      c += v;
      if (j === 0 || c <= p) keep[idx[j]] = 1;
      else {
        if (includeCrossing && c - v < p) keep[idx[j]] = 1;
        break;
      }
    }
    let s = 0;
    for (let i = 0; i < V; i++) {
      if (!keep[i]) row[i] = 0;
      s += row[i];
    }
    for (let i = 0; i < V; i++) row[i] /= s;
  }
  return probs;
}
