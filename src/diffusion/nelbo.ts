/**
 * Per-token NELBO terms of the BD3-LM / MDLM loss (spec 4.5) from SUBS log-probs: loss = (-1/t) log p(x0) at
 * masked positions (0 elsewhere, where SUBS gives log p = 0), nll = loss * attention mask, and the reported
 * scalar sum(nll) / sum(mask). `ignoreBos` zeroes position 0 of each sequence in the mask (eval mode).
 */
export interface NelboTerms {
  lossPerToken: Float32Array;
  nlls: Float32Array;
  maskSum: number;
  nelbo: number;
}

export function nelboFromLogProbs(
  logProbs: Float32Array,
  V: number,
  x0: ArrayLike<number>,
  t: ArrayLike<number>,
  batch: number,
  L: number,
  opts: { ignoreBos?: boolean; attentionMask?: ArrayLike<number>; fullMaskingWeight?: boolean } = {},
): NelboTerms {
  const n = batch * L;
  if (x0.length !== n || t.length !== n) throw new Error(`x0 and t must have batch*L = ${n} entries`);
  const lossPerToken = new Float32Array(n);
  const nlls = new Float32Array(n);
  let sum = 0;
  let maskSum = 0;
  for (let i = 0; i < n; i++) {
    // beta > 0.5 (only the full-masking case t = 1) uses plain cross-entropy, weight -1
    const w = opts.fullMaskingWeight ? -1 : Math.fround(-1 / t[i]);
    lossPerToken[i] = Math.fround(w * logProbs[i * V + x0[i]]);
    let m = opts.attentionMask ? opts.attentionMask[i] : 1;
    if (opts.ignoreBos && i % L === 0) m = 0;
    nlls[i] = lossPerToken[i] * m;
    sum += nlls[i];
    maskSum += m;
  }
  return { lossPerToken, nlls, maskSum, nelbo: sum / maskSum };
}
