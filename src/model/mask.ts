/**
 * Attention masks as "spans": records (q0, q1, k0, k1, k2, k3) meaning query rows [q0, q1) may attend to keys
 * [k0, k1) U [k2, k3). Every mask this project uses is such a union of at most two key intervals per group of rows,
 * so the attention kernel walks only allowed keys: masked tiles are never computed.
 */

export const SPAN_FIELDS = 6;

function spans(records: number[][]): Int32Array {
  const out = new Int32Array(records.length * SPAN_FIELDS);
  records.forEach((r, i) => out.set(r, i * SPAN_FIELDS));
  return out;
}

function checkBlocks(L: number, blockSize: number): void {
  if (!Number.isInteger(L) || L < 1) throw new Error(`sequence length must be a positive integer, got ${L}`);
  if (!Number.isInteger(blockSize) || blockSize < 1 || L % blockSize !== 0) {
    throw new Error(`block size ${blockSize} must be a positive integer dividing the length ${L}`);
  }
}

/**
 * The training mask over the 2L layout x_t (+) x_0 (spec 3.4): noised block b sees itself (BD) and clean blocks
 * < b (OBC); clean block b sees clean blocks <= b (BC).
 */
export function blockDiffusionSpans(L: number, blockSize: number): Int32Array {
  checkBlocks(L, blockSize);
  const recs: number[][] = [];
  for (let b = 0; b < L / blockSize; b++) {
    const s = b * blockSize;
    const e = s + blockSize;
    recs.push([s, e, s, e, L, L + s]);
  }
  for (let b = 0; b < L / blockSize; b++) {
    const s = b * blockSize;
    const e = s + blockSize;
    recs.push([L + s, L + e, L, L + e, L, L]);
  }
  return spans(recs);
}

/** Block-causal over a window of length W: block b sees blocks <= b (sampling without a KV cache, spec 3.7). */
export function blockCausalSpans(W: number, blockSize: number): Int32Array {
  checkBlocks(W, blockSize);
  const recs: number[][] = [];
  for (let s = 0; s < W; s += blockSize) recs.push([s, s + blockSize, 0, s + blockSize, 0, 0]);
  return spans(recs);
}

/** Full bidirectional attention over S tokens (MDLM / SEDD). */
export function fullSpans(qLen: number, kLen = qLen): Int32Array {
  return spans([[0, qLen, 0, kLen, 0, 0]]);
}

/** Causal attention (AR): row i sees keys 0..i. */
export function causalSpans(S: number): Int32Array {
  return blockCausalSpans(S, 1);
}

/** The training mask from its definition (spec 3.4), dense, 1 = may attend. Used to check the spans. */
export function blockDiffusionMaskDense(L: number, blockSize: number): Uint8Array {
  checkBlocks(L, blockSize);
  const n = 2 * L;
  const m = new Uint8Array(n * n);
  const isClean = (i: number) => i >= L;
  const blk = (i: number) => Math.floor((isClean(i) ? i - L : i) / blockSize);
  for (let q = 0; q < n; q++) {
    for (let k = 0; k < n; k++) {
      const bd = blk(q) === blk(k) && isClean(q) === isClean(k);
      const obc = blk(q) > blk(k) && !isClean(q) && isClean(k);
      const bc = blk(q) >= blk(k) && isClean(q) && isClean(k);
      m[q * n + k] = bd || obc || bc ? 1 : 0;
    }
  }
  return m;
}

/** Expands spans to a dense [qLen][kLen] 0/1 matrix (tests, `verify`). */
export function spansToDense(sp: Int32Array, qLen: number, kLen: number): Uint8Array {
  const m = new Uint8Array(qLen * kLen);
  for (let r = 0; r < sp.length; r += SPAN_FIELDS) {
    const [q0, q1, k0, k1, k2, k3] = sp.subarray(r, r + SPAN_FIELDS);
    for (let q = q0; q < q1; q++) {
      for (let k = k0; k < k1; k++) m[q * kLen + k] = 1;
      for (let k = k2; k < k3; k++) m[q * kLen + k] = 1;
    }
  }
  return m;
}
