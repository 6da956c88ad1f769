import type { ModelConfig } from './config.js';

/** Typed views of one transformer block's parameters (HF names, spec 8.3). */
export interface BlockWeights {
  norm1: Float32Array;
  qkv: Float32Array; // [3D, D]
  out: Float32Array; // [D, D]
  norm2: Float32Array;
  w1: Float32Array; // [4D, D]
  b1: Float32Array;
  w2: Float32Array; // [D, 4D]
  b2: Float32Array;
  /** [6D, cond] and [6D]; absent in the causal AR variant */
  ada: Float32Array | null;
  adaBias: Float32Array | null;
}

export interface DiTWeights {
  embed: Float32Array; // [V, D]
  /** timestep MLP (absent in the AR variant) */
  sigma: { w0: Float32Array; b0: Float32Array; w2: Float32Array; b2: Float32Array } | null;
  invFreq: Float32Array | null;
  blocks: BlockWeights[];
  normFinal: Float32Array;
  outW: Float32Array; // [V, D]
  outB: Float32Array;
  finalAda: Float32Array | null; // [2D, cond]
  finalAdaBias: Float32Array | null;
}

/** Picks the backbone tensors out of a loaded checkpoint; throws naming any missing tensor. */
export function bindWeights(cfg: ModelConfig, t: Map<string, Float32Array>): DiTWeights {
  const get = (name: string): Float32Array => {
    const v = t.get(name);
    if (!v) throw new Error(`checkpoint is missing tensor ${name}`);
    return v;
  };
  const adaln = !cfg.causal;
  const p = 'backbone.';
  const blocks: BlockWeights[] = [];
  for (let i = 0; i < cfg.nBlocks; i++) {
    const b = `${p}blocks.${i}.`;
    blocks.push({
      norm1: get(`${b}norm1.weight`),
      qkv: get(`${b}attn_qkv.weight`),
      out: get(`${b}attn_out.weight`),
      norm2: get(`${b}norm2.weight`),
      w1: get(`${b}mlp.0.weight`),
      b1: get(`${b}mlp.0.bias`),
      w2: get(`${b}mlp.2.weight`),
      b2: get(`${b}mlp.2.bias`),
      ada: adaln ? get(`${b}adaLN_modulation.weight`) : null,
      adaBias: adaln ? get(`${b}adaLN_modulation.bias`) : null,
    });
  }
  return {
    embed: get(`${p}vocab_embed.embedding`),
    sigma: adaln
      ? {
          w0: get(`${p}sigma_map.mlp.0.weight`),
          b0: get(`${p}sigma_map.mlp.0.bias`),
          w2: get(`${p}sigma_map.mlp.2.weight`),
          b2: get(`${p}sigma_map.mlp.2.bias`),
        }
      : null,
    invFreq: t.get(`${p}rotary_emb.inv_freq`) ?? null,
    blocks,
    normFinal: get(`${p}output_layer.norm_final.weight`),
    outW: get(`${p}output_layer.linear.weight`),
    outB: get(`${p}output_layer.linear.bias`),
    finalAda: adaln ? get(`${p}output_layer.adaLN_modulation.weight`) : null,
    finalAdaBias: adaln ? get(`${p}output_layer.adaLN_modulation.bias`) : null,
  };
}
