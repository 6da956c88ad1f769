/**
 * What `DiT.forward` keeps for the backward pass when asked to (`saveActivations`), one struct listing every saved
 * tensor with its shape, as llm.c's ActivationTensors. src/training/backward.ts reads it in the reverse order of the
 * forward. Float32 unless noted; R = B * S rows into a block, Rn = B * qLen rows past its attention (qLen = S, or
 * the L x_t rows on the narrowed last layer of the vectorised layout, which runs x_t queries only).
 * Recomputed in backward instead (cheap): u = LN1(hIn), the mid residual hIn + g1 * y1, u2 = LN2(mid), GELU(f).
 * Small preset, L = 1024, B = 1 (2L = 2048 rows): ~70 MB per layer, ~0.85 GB for 12 layers.
 */
import type { Workspace } from '../tensor/workspace.js';
import type { ModelConfig } from './config.js';
import type { Modulation } from './conditioning.js';

export interface LayerActivations {
  /** block input [R][D] */
  hIn: Float32Array;
  /** LayerNorm 1 mean and rstd [R][2] */
  stats1: Float32Array;
  /** projections after rotary [R][3D] */
  qkv: Float32Array;
  /** attention output [Rn][D] */
  o: Float32Array;
  /** attention log-sum-exp [B][H][qLen] */
  lse: Float32Array;
  /** attention branch after dropout, before the gate [Rn][D] */
  y1: Float32Array;
  /** LayerNorm 2 stats [Rn][2] */
  stats2: Float32Array;
  /** MLP pre-activation (before GELU) [Rn][4D] */
  f: Float32Array;
  /** MLP branch after dropout, before the gate [Rn][D] */
  y2: Float32Array;
  /** dropout keep masks, one byte per element [Rn][D] (with dropout only) */
  keep1?: Uint8Array;
  keep2?: Uint8Array;
}

export interface ActivationTensors {
  B: number;
  S: number;
  /** output rows per item (L for the vectorised layout, else S) and the rotary period */
  outLen: number;
  posPeriod: number;
  /** token ids [B][S] and the attention spans (int32, 6 per query range) */
  ids: Int32Array;
  spans: Int32Array;
  /** the x_t query spans of the narrowed last layer (vectorised layout), else null */
  xtSpans: Int32Array | null;
  /** the adaLN vectors used (null for the causal model) and the sigmas they were made from */
  mod: Modulation | null;
  sigmas: number[];
  dropoutP: number;
  layers: LayerActivations[];
  /** the head's input rows [n][D], their row indices into the last layer's output, and its rows per item */
  headIn: Float32Array;
  src: Int32Array;
  rowsPerItem: number;
}

type Shapes<T> = { [K in keyof T]-?: number[] | null };

/** The shape of each per-layer activation (null: not kept), for `qLen` queries per item out of S rows. */
export function layerActivationShapes(cfg: ModelConfig, B: number, S: number, qLen: number, dropout: boolean): Shapes<LayerActivations> {
  const D = cfg.hiddenDim;
  const R = B * S;
  const Rn = B * qLen;
  return {
    hIn: [R, D], stats1: [R, 2], qkv: [R, 3 * D], o: [Rn, D], lse: [B, cfg.nHeads, qLen], y1: [Rn, D], stats2: [Rn, 2],
    f: [Rn, 4 * D], y2: [Rn, D], keep1: dropout ? [Rn, D] : null, keep2: dropout ? [Rn, D] : null,
  };
}

const BYTE_FIELDS = new Set<keyof LayerActivations>(['keep1', 'keep2']);

/** Buffers for layer l's activations, named `act{l}.<field>` in `ws` (reused across calls). */
export function allocLayerActivations(ws: Workspace, l: number, shapes: Shapes<LayerActivations>): LayerActivations {
  const out: Record<string, Float32Array | Uint8Array> = {};
  for (const [name, shape] of Object.entries(shapes) as [keyof LayerActivations, number[] | null][]) {
    if (!shape) continue;
    const n = shape.reduce((a, x) => a * x, 1);
    out[name] = BYTE_FIELDS.has(name) ? ws.bytes(`act${l}.${name}`, n) : ws.get(`act${l}.${name}`, n);
  }
  return out as unknown as LayerActivations;
}
