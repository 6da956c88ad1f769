import type { StoredMatrix } from '../tensor/backend.js';
import { isStored } from '../tensor/stored.js';
import type { ModelConfig } from './config.js';

/** A large weight matrix: fp32, or half-precision / int8 storage for inference (src/model/storage.ts). */
export type WeightMatrix = Float32Array | StoredMatrix;

const STORED_NAMES = /^backbone\.(blocks\.\d+\.(attn_qkv|attn_out|mlp\.0|mlp\.2)\.weight|output_layer\.linear\.weight|vocab_embed\.embedding)$/;

/** Whether a checkpoint tensor is one of the large matrices (WeightMatrix) that the storage options apply to. */
export function isStoredWeight(name: string): boolean {
  return STORED_NAMES.test(name);
}

/** Typed views of one transformer block's parameters (HF names, spec 8.3). */
export interface BlockWeights<M extends WeightMatrix = WeightMatrix> {
  norm1: Float32Array;
  qkv: M; // [3D, D]
  out: M; // [D, D]
  norm2: Float32Array;
  w1: M; // [4D, D]
  b1: Float32Array;
  w2: M; // [D, 4D]
  b2: Float32Array;
  /** [6D, cond] and [6D]; absent in the causal AR variant */
  ada: Float32Array | null;
  adaBias: Float32Array | null;
}

export interface DiTWeights<M extends WeightMatrix = WeightMatrix> {
  embed: M; // [V, D]
  /** timestep MLP (absent in the AR variant) */
  sigma: { w0: Float32Array; b0: Float32Array; w2: Float32Array; b2: Float32Array } | null;
  invFreq: Float32Array | null;
  blocks: BlockWeights<M>[];
  normFinal: Float32Array;
  outW: M; // [V, D]
  outB: Float32Array;
  finalAda: Float32Array | null; // [2D, cond]
  finalAdaBias: Float32Array | null;
}

/**
 * Picks the backbone tensors out of a loaded checkpoint; throws naming any missing tensor. `stored` holds the
 * matrices kept in a storage format (absent from `t`).
 */
export function bindWeights(cfg: ModelConfig, t: Map<string, Float32Array>): DiTWeights<Float32Array>;
export function bindWeights(cfg: ModelConfig, t: Map<string, Float32Array>, stored: Map<string, StoredMatrix>): DiTWeights;
export function bindWeights(cfg: ModelConfig, t: Map<string, Float32Array>, stored?: Map<string, StoredMatrix>): DiTWeights {
  const get = (name: string): Float32Array => {
    const v = t.get(name);
    if (!v) throw new Error(`checkpoint is missing tensor ${name}`);
    return v;
  };
  const mat = (name: string): WeightMatrix => stored?.get(name) ?? get(name);
  const adaln = !cfg.causal;
  const p = 'backbone.';
  const blocks: BlockWeights[] = [];
  for (let i = 0; i < cfg.nBlocks; i++) {
    const b = `${p}blocks.${i}.`;
    blocks.push({
      norm1: get(`${b}norm1.weight`),
      qkv: mat(`${b}attn_qkv.weight`),
      out: mat(`${b}attn_out.weight`),
      norm2: get(`${b}norm2.weight`),
      w1: mat(`${b}mlp.0.weight`),
      b1: get(`${b}mlp.0.bias`),
      w2: mat(`${b}mlp.2.weight`),
      b2: get(`${b}mlp.2.bias`),
      ada: adaln ? get(`${b}adaLN_modulation.weight`) : null,
      adaBias: adaln ? get(`${b}adaLN_modulation.bias`) : null,
    });
  }
  return {
    embed: mat(`${p}vocab_embed.embedding`),
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
    outW: mat(`${p}output_layer.linear.weight`),
    outB: get(`${p}output_layer.linear.bias`),
    finalAda: adaln ? get(`${p}output_layer.adaLN_modulation.weight`) : null,
    finalAdaBias: adaln ? get(`${p}output_layer.adaLN_modulation.bias`) : null,
  };
}

/** The weights as fp32 arrays; throws for a model loaded with half-precision or int8 weights (inference-only options). */
export function fp32Weights(w: DiTWeights): DiTWeights<Float32Array> {
  const mats = [w.embed, w.outW, ...w.blocks.flatMap((b) => [b.qkv, b.out, b.w1, b.w2])];
  const stored = mats.find(isStored);
  if (stored) {
    throw new Error(`${stored.dtype} weights are for inference only: load an fp32 checkpoint with weights: 'f32' to train`);
  }
  return w as DiTWeights<Float32Array>;
}
