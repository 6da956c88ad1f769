/**
 * Log-probabilities of generated tokens. A diffusion sampler reveals a token at some denoising step by a draw from
 * that step's distribution over the vocabulary: p(x0) of its position after temperature, top-k and top-p (the same
 * float64 row the draw used; DDPM's posterior then decides only whether to reveal, not what). The log of the drawn
 * token's probability there, and the `k` most probable tokens of the row, are what `logprobs` reports; a filtered
 * token has probability 0 (log -Infinity). Tokens are reported in text order, although they were revealed in
 * another.
 */

export interface TokenLogprob {
  token: number;
  /** natural log of the probability the token was drawn with */
  logprob: number;
  /** the k most probable tokens of that distribution, most probable first (ties: lower id first) */
  top: { token: number; logprob: number }[];
}

export function topLogprobs(probs: Float64Array, token: number, k: number): TokenLogprob {
  const top: { token: number; p: number }[] = [];
  if (k > 0) {
    // one pass keeping the k best (k <= 20): insertion into a short sorted list
    for (let v = 0; v < probs.length; v++) {
      const p = probs[v];
      if (top.length === k && !(p > top[k - 1].p)) continue;
      let i = top.length < k ? top.length : k - 1;
      while (i > 0 && p > top[i - 1].p) i--;
      top.splice(i, 0, { token: v, p });
      if (top.length > k) top.pop();
    }
  }
  return { token, logprob: Math.log(probs[token]), top: top.map((t) => ({ token: t.token, logprob: Math.log(t.p) })) };
}
