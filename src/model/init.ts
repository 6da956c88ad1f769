import { Rng } from '../tensor/rng.js';
import type { ModelConfig } from './config.js';
import { expectedParams, FREQ_EMBED_SIZE } from './params.js';
import { defaultInvFreq } from './rotary.js';

/**
 * Fresh weights for a config.
 * - `reference`: the reference's initialisation for training from scratch (spec 2.4): PyTorch Linear defaults
 *   U(+-1/sqrt(fan_in)) for weights and biases, embedding U(+-1/sqrt(D)), LayerNorm weights 1, adaLN modulation and
 *   output projection zero (adaLN-Zero: a fresh model predicts uniform logits).
 * - `random`: every tensor non-trivial (as the golden fixture's): LayerNorm 1 + 0.1 N, 2-D weights N / sqrt(fan_in),
 *   embedding 0.5 N, biases 0.1 N. For tests and benchmarks, where zero gates would hide the computation.
 */
export function initTensors(
  cfg: ModelConfig,
  seed: number,
  scheme: 'reference' | 'random',
  alloc: (n: number) => Float32Array = (n) => new Float32Array(n),
): Map<string, Float32Array> {
  const rng = new Rng(seed);
  const out = new Map<string, Float32Array>();
  const headDim = cfg.hiddenDim / cfg.nHeads;
  for (const { name, shape } of expectedParams(cfg)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const t = alloc(n);
    const fanIn = shape.length === 2 ? shape[1] : 0;
    const isNorm = name.endsWith('norm1.weight') || name.endsWith('norm2.weight') || name.endsWith('norm_final.weight');
    const isZeroInit = name.includes('adaLN_modulation') || name.includes('output_layer.linear');
    if (name.endsWith('rotary_emb.inv_freq')) t.set(defaultInvFreq(headDim));
    else if (name === 'sampling_eps_min') t[0] = cfg.samplingEpsMin;
    else if (name === 'sampling_eps_max') t[0] = cfg.samplingEpsMax;
    else if (scheme === 'reference') {
      if (isNorm) t.fill(1);
      else if (isZeroInit) t.fill(0);
      else {
        // a bias's fan_in is its layer's input width: take it from the matching weight
        const fi = name.endsWith('.bias') ? biasFanIn(cfg, name) : name.endsWith('vocab_embed.embedding') ? cfg.hiddenDim : fanIn;
        const bound = 1 / Math.sqrt(fi);
        for (let i = 0; i < n; i++) t[i] = (2 * rng.uniform() - 1) * bound;
      }
    } else {
      if (isNorm) for (let i = 0; i < n; i++) t[i] = 1 + 0.1 * rng.normal();
      else if (name.endsWith('vocab_embed.embedding')) for (let i = 0; i < n; i++) t[i] = 0.5 * rng.normal();
      else if (shape.length === 2) for (let i = 0; i < n; i++) t[i] = rng.normal() / Math.sqrt(fanIn);
      else for (let i = 0; i < n; i++) t[i] = 0.1 * rng.normal();
    }
    out.set(name, t);
  }
  return out;
}

function biasFanIn(cfg: ModelConfig, name: string): number {
  const D = cfg.hiddenDim;
  if (name.includes('sigma_map.mlp.0')) return FREQ_EMBED_SIZE;
  if (name.includes('sigma_map.mlp.2')) return cfg.condDim;
  if (name.includes('mlp.0')) return D;
  if (name.includes('mlp.2')) return 4 * D;
  if (name.includes('adaLN_modulation')) return cfg.condDim;
  return D;
}
