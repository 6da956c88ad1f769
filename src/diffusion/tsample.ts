/**
 * Diffusion times for a batch (spec 4.2): one t per (sequence, block), shared by the block's L' tokens. With
 * antithetic sampling the B*nb draws are stratified: draw j lands in [j/(B nb), (j+1)/(B nb)) before the affine map
 * to [beta, omega]. Arithmetic in float32 like the reference's tensors. beta >= 1 and omega >= 1 is "full masking"
 * (t = 1 everywhere, the L' = 1 NLL of spec 4.8).
 */
const f32 = Math.fround;

export interface TSampleOptions {
  epsMin: number;
  epsMax: number;
  antithetic: boolean;
  /** uniform [0, 1) source */
  random: () => number;
}

/** t [B][nb] (per block). */
export function sampleBlockTimes(B: number, nb: number, o: TSampleOptions): Float32Array {
  const n = B * nb;
  const t = new Float32Array(n);
  if (o.epsMin >= 1 && o.epsMax >= 1) return t.fill(1);
  const lo = f32(o.epsMin);
  const width = f32(f32(o.epsMax) - lo);
  for (let j = 0; j < n; j++) {
    let u = f32(o.random());
    if (o.antithetic) u = f32(f32(f32(u / n) + f32(j / n)) % 1);
    t[j] = f32(f32(width * u) + lo);
  }
  return t;
}

/** Broadcasts per-block times to tokens: [B][nb] -> [B][L]. */
export function timesPerToken(tBlocks: Float32Array, B: number, L: number, blockSize: number): Float32Array {
  const nb = L / blockSize;
  if (!Number.isInteger(nb) || tBlocks.length !== B * nb) throw new Error(`t has ${tBlocks.length} entries for ${B} x ${L}/${blockSize} blocks`);
  const t = new Float32Array(B * L);
  for (let i = 0; i < B * L; i++) t[i] = tBlocks[Math.floor(i / L) * nb + Math.floor((i % L) / blockSize)];
  return t;
}

/** True when (beta, omega) selects full masking (t = 1, weight -1: plain cross-entropy, spec 4.5/4.8). */
export function isFullMasking(epsMin: number, epsMax: number): boolean {
  return epsMin >= 1 && epsMax >= 1;
}
