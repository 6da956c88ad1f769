/**
 * The tensors a checkpoint must hold, in PyTorch `state_dict()` order (module registration order, own buffers
 * before children; spec 8.3 / 8.5). Trainable parameters in this order are also the EMA `shadow_params` order.
 */
import type { ModelConfig } from './config.js';

export interface ParamSpec {
  name: string;
  shape: number[];
  /** buffers (rotary inv_freq, sampling_eps_*) are saved but not trained */
  kind: 'param' | 'buffer';
}

/** Width of the sinusoidal timestep embedding fed to sigma_map (spec 2.4). */
export const FREQ_EMBED_SIZE = 256;
/** MLP hidden width = 4 * hidden_dim (spec 2.2). */
export const MLP_RATIO = 4;

export function expectedParams(cfg: ModelConfig): ParamSpec[] {
  const D = cfg.hiddenDim;
  const C = cfg.condDim;
  const V = cfg.vocabSize;
  const headDim = D / cfg.nHeads;
  const adaln = !cfg.causal; // the causal AR blocks have no adaLN and no timestep MLP (spec 2.6)
  const out: ParamSpec[] = [];
  const p = (name: string, ...shape: number[]): void => void out.push({ name, shape, kind: 'param' });
  const b = (name: string, ...shape: number[]): void => void out.push({ name, shape, kind: 'buffer' });

  // BD3LM registers its learned clip bounds as top-level buffers, saved before the backbone's tensors.
  if (cfg.modelType === 'bd3lm') {
    b('sampling_eps_min');
    b('sampling_eps_max');
  }
  p('backbone.vocab_embed.embedding', V, D);
  if (adaln) {
    p('backbone.sigma_map.mlp.0.weight', C, FREQ_EMBED_SIZE);
    p('backbone.sigma_map.mlp.0.bias', C);
    p('backbone.sigma_map.mlp.2.weight', C, C);
    p('backbone.sigma_map.mlp.2.bias', C);
  }
  b('backbone.rotary_emb.inv_freq', headDim / 2);
  for (let i = 0; i < cfg.nBlocks; i++) {
    const k = `backbone.blocks.${i}.`;
    p(`${k}norm1.weight`, D);
    p(`${k}attn_qkv.weight`, 3 * D, D);
    p(`${k}attn_out.weight`, D, D);
    p(`${k}norm2.weight`, D);
    p(`${k}mlp.0.weight`, MLP_RATIO * D, D);
    p(`${k}mlp.0.bias`, MLP_RATIO * D);
    p(`${k}mlp.2.weight`, D, MLP_RATIO * D);
    p(`${k}mlp.2.bias`, D);
    if (adaln) {
      p(`${k}adaLN_modulation.weight`, 6 * D, C);
      p(`${k}adaLN_modulation.bias`, 6 * D);
    }
  }
  p('backbone.output_layer.norm_final.weight', D);
  p('backbone.output_layer.linear.weight', V, D);
  p('backbone.output_layer.linear.bias', V);
  if (adaln) {
    p('backbone.output_layer.adaLN_modulation.weight', 2 * D, C);
    p('backbone.output_layer.adaLN_modulation.bias', 2 * D);
  }
  return out;
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Number of trainable parameters (buffers excluded). */
export function paramCount(cfg: ModelConfig): number {
  let n = 0;
  for (const s of expectedParams(cfg)) if (s.kind === 'param') n += numel(s.shape);
  return n;
}
