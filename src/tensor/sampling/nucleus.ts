/**
 * Nucleus (top-p) filtering of probability rows in place (spec 5.2). Reference convention (default): keep the
 * tokens whose cumulative probability, in descending order, is <= p, plus always the top-1 — the token that
 * crosses p is excluded. `includeCrossing` gives the usual convention (keep it). Rows are renormalised to sum 1.
 * p >= 1 leaves the rows unchanged (the reference skips the filter then).
 *
 * The definition is a stable descending index sort (torch.sort on CPU orders ties by index). The kept set only
 * depends on the sorted values (the cumulative sums) and on how many ties at the cutoff value are kept (lowest
 * indices first), so rows are filtered from a native sort of their values: the same kept set, the same sums.
 */

/** index of a double's high 32-bit word in its Uint32Array view */
const hiOff = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0;
// scratch (grown on demand; rows are filtered one at a time)
let vals = new Float64Array(0);
let tmp = new Float64Array(0);
let hiA = new Uint32Array(0);
let hiB = new Uint32Array(0);
const cntLo = new Int32Array(65536);
const cntHi = new Int32Array(65536);

/**
 * Sorted ascending copy of the values of row >= tau (tau = -Infinity: all), or null if the row has a NaN (the
 * comparator sort is then implementation-defined: the caller keeps the definition). Non-negative doubles order
 * as their high words: two 16-bit radix passes on those, then runs of equal high words sorted by value (a
 * generic TypedArray sort is ~10x slower on 50k values). Negative values or -0: the native sort.
 */
function sortedValues(row: Float64Array, tau: number): Float64Array | null {
  const V = row.length;
  if (vals.length < V) {
    vals = new Float64Array(V);
    tmp = new Float64Array(V);
    hiA = new Uint32Array(V);
    hiB = new Uint32Array(V);
  }
  const words = new Uint32Array(row.buffer, row.byteOffset, 2 * V);
  let n = 0;
  let negative = false;
  cntLo.fill(0);
  cntHi.fill(0);
  for (let i = 0; i < V; i++) {
    const v = row[i];
    if (v !== v) return null;
    if (v >= tau) {
      const h = words[2 * i + hiOff];
      if (h >= 0x80000000) negative = true;
      tmp[n] = v;
      hiB[n++] = h;
      cntLo[h & 0xffff]++;
      cntHi[h >>> 16]++;
    }
  }
  if (negative) return tmp.subarray(0, n).sort();
  let sLo = 0;
  let sHi = 0;
  for (let d = 0; d < 65536; d++) {
    const a = cntLo[d];
    cntLo[d] = sLo;
    sLo += a;
    const b = cntHi[d];
    cntHi[d] = sHi;
    sHi += b;
  }
  for (let i = 0; i < n; i++) {
    const h = hiB[i];
    const j = cntLo[h & 0xffff]++;
    hiA[j] = h;
    vals[j] = tmp[i];
  }
  for (let i = 0; i < n; i++) {
    const h = hiA[i];
    const j = cntHi[h >>> 16]++;
    hiB[j] = h;
    tmp[j] = vals[i];
  }
  // runs of equal high words: insertion sort when short, else the native sort
  for (let i = 0; i < n; ) {
    let e = i + 1;
    while (e < n && hiB[e] === hiB[i]) e++;
    if (e - i > 32) tmp.subarray(i, e).sort();
    else {
      for (let k = i + 1; k < e; k++) {
        const v = tmp[k];
        let j = k - 1;
        while (j >= i && tmp[j] > v) {
          tmp[j + 1] = tmp[j];
          j--;
        }
        tmp[j + 1] = v;
      }
    }
    i = e;
  }
  return tmp.subarray(0, n);
}

/**
 * Keeps the `keep` largest entries of row (ties at the cutoff by lower index), zeroes the rest and renormalises in
 * index order — exactly what the index-sort definition does with its first `keep` sorted indices.
 * `sorted` is ascending and holds at least the `keep` largest values.
 */
function keepTop(row: Float64Array, sorted: Float64Array, keep: number): void {
  const V = row.length;
  const cut = sorted[sorted.length - keep];
  // entries strictly above the cutoff are all kept; the rest of the budget goes to ties, lowest index first
  let above = 0;
  for (let j = sorted.length - keep + 1; j < sorted.length; j++) if (sorted[j] > cut) above++;
  let ties = keep - above;
  let s = 0;
  for (let i = 0; i < V; i++) {
    const v = row[i];
    if (v > cut) {
      // kept
    } else if (v === cut && ties > 0) ties--;
    else row[i] = 0;
    s += row[i];
  }
  for (let i = 0; i < V; i++) row[i] /= s;
}

/** Kept count of the nucleus walk over ascending `sorted` from its top, or -1 if the walk never crosses p. */
function nucleusCount(sorted: Float64Array, p: number, includeCrossing: boolean): number {
  let c = 0;
  const n = sorted.length;
  for (let j = 0; j < n; j++) {
    const v = sorted[n - 1 - j];
    c += v;
    if (j === 0 || c <= p) continue;
    return includeCrossing && c - v < p ? j + 1 : j;
  }
  return -1;
}

/** The definition: per-row stable index sort with a comparator (kept for NaN rows and as the tests' oracle). */
export function nucleusFilterSorted(probs: Float64Array, rows: number, V: number, p: number, includeCrossing = false): Float64Array {
  const idx = new Int32Array(V);
  for (let r = 0; r < rows; r++) {
    const row = probs.subarray(r * V, (r + 1) * V);
    for (let i = 0; i < V; i++) idx[i] = i;
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

export function nucleusFilter(probs: Float64Array, rows: number, V: number, p: number, includeCrossing = false): Float64Array {
  if (!(p > 0)) throw new Error(`top-p must be in (0, 1], got ${p}`);
  if (p >= 1) return probs;
  for (let r = 0; r < rows; r++) {
    const row = probs.subarray(r * V, (r + 1) * V);
    let max = 0;
    for (let i = 0; i < V; i++) if (row[i] > max) max = row[i];
    // peaked rows: sort only the values >= max / 4096; exact when the walk crosses p inside them (every other
    // value is smaller, so it would come later in the walk)
    let sorted = sortedValues(row, max * 2 ** -12);
    let keep = sorted ? nucleusCount(sorted, p, includeCrossing) : -1;
    if (sorted && keep < 0 && sorted.length < V) {
      sorted = sortedValues(row, -Infinity);
      keep = nucleusCount(sorted!, p, includeCrossing);
    }
    if (!sorted) nucleusFilterSorted(row, 1, V, p, includeCrossing);
    else keepTop(row, sorted, keep < 0 ? V : keep);
  }
  return probs;
}

/** Top-k in place: keep the k largest per row (ties by lower index), renormalised. */
export function topKFilter(probs: Float64Array, rows: number, V: number, k: number): Float64Array {
  for (let r = 0; r < rows; r++) {
    const row = probs.subarray(r * V, (r + 1) * V);
    const sorted = sortedValues(row, -Infinity);
    if (sorted) keepTop(row, sorted, Math.min(k, V));
    else topKSorted(row, V, k);
  }
  return probs;
}

/** The top-k definition (comparator index sort), for NaN rows and the tests. */
export function topKSorted(probs: Float64Array, V: number, k: number, rows = 1): Float64Array {
  const idx = new Int32Array(V);
  for (let r = 0; r < rows; r++) {
    const row = probs.subarray(r * V, (r + 1) * V);
    for (let i = 0; i < V; i++) idx[i] = i;
    idx.sort((a, b) => row[b] - row[a] || a - b);
    let s = 0;
    for (let j = k; j < V; j++) row[idx[j]] = 0;
    for (let v = 0; v < V; v++) s += row[v];
    for (let v = 0; v < V; v++) row[v] /= s;
  }
  return probs;
}
