/**
 * The training objectives end to end (spec 4.5, 6.1-6.3): draw t and x_t, lay out the model input, run the model's
 * forward for the rows that carry loss (keeping its activations when training), reduce to the per-token average and
 * (for training) back-propagate.
 *   bd3lm: x_t (+) x_0 vectorised layout, one t per (sequence, block), SUBS weight -1/t (-1 when beta > 0.5).
 *   mdlm:  x_t alone, bidirectional, one t per sequence.
 *   sedd:  as mdlm with the score-entropy loss and sigma(t) as the (time-conditioning) model input.
 *   ar:    causal model on x[:, :-1], targets x[:, 1:], cross-entropy with the mask logit at -1e6, no ignore_bos.
 * Denominator: training counts every position (position 0 stays in, with zero loss); evaluation with ignore_bos
 * excludes position 0 (spec 4.5); AR counts the L - 1 shifted targets.
 */
import { vectorizedIds, type DiT, type Layout } from '../model/dit.js';
import { seddRowLoss, subsRowLoss } from '../diffusion/losses.js';
import { noiseSchedule, sigmaFromP, type ScheduleName } from '../diffusion/noise.js';
import { sampleXt } from '../diffusion/qxt.js';
import { sampleBlockTimes, timesPerToken } from '../diffusion/tsample.js';
import { backward } from './backward.js';
import { trainScratch } from './scratch.js';
import { fp32Weights } from '../model/weights.js';
import type { Grads } from './grads.js';

export type Algo = 'bd3lm' | 'mdlm' | 'ar' | 'sedd';

export interface Batch {
  /** clean tokens [B][L] */
  x0: ArrayLike<number>;
  B: number;
  L: number;
  /** fixed per-token times [B][L] instead of sampling them (tests, golden replay) */
  t?: Float32Array;
  /** fixed x_t [B][L] instead of sampling it */
  xt?: ArrayLike<number>;
}

export interface LossOptions {
  algo: Algo;
  /** bd3lm block size L' (default: the model's); mdlm/sedd always use L */
  blockSize?: number;
  /** clip interval [beta, omega] for t (default 1e-3, 1); beta = omega = 1 is full masking */
  epsMin?: number;
  epsMax?: number;
  /** stratified t over the batch's (sequence, block) draws (default true) */
  antithetic?: boolean;
  /** redraw blocks whose masked fraction leaves [beta, omega] (spec 4.6; default false) */
  resample?: boolean;
  /** keep position 0 unmasked; in evaluation also drop it from the average (default true; ignored for ar) */
  ignoreBos?: boolean;
  /** residual-branch dropout probability (training only; default 0) */
  dropout?: number;
  /** uniform [0, 1) source for t, x_t and dropout, drawn in that order */
  random: () => number;
  /** default loglinear (p = t, w = -1/t) */
  schedule?: ScheduleName;
  /** default V - 1 */
  maskId?: number;
}

export interface LossResult {
  /** sum(nll) / tokens: the scalar that is back-propagated / reported */
  loss: number;
  /** the denominator (attention-mask sum) */
  tokens: number;
  /** per-token nll [B][outLen] (outLen = L, or L - 1 for ar) */
  nll: Float32Array;
  /** mean nll of each block [B][nb] (diffusion algos), the clip search statistic */
  blockLosses?: Float64Array;
  /** the times and noised tokens used (diffusion algos) */
  t?: Float32Array;
  xt?: Int32Array;
}

/** Loss and gradients (accumulated into `grads`) of one training batch. */
export function lossAndGrads(model: DiT, grads: Grads, batch: Batch, opts: LossOptions): LossResult {
  return run(model, batch, opts, true, grads);
}

/** The training loss without gradients (same denominator and dropout as `lossAndGrads`). */
export function trainingLoss(model: DiT, batch: Batch, opts: LossOptions): LossResult {
  return run(model, batch, opts, true, null);
}

/** Evaluation NELBO / NLL (no dropout; ignore_bos drops position 0 from the average) with per-block losses. */
export function nelboEval(model: DiT, batch: Batch, opts: LossOptions): LossResult {
  return run(model, batch, { ...opts, dropout: 0 }, false, null);
}

interface Prepared {
  ids: Int32Array;
  S: number;
  layout: Layout;
  blockSize: number;
  outLen: number;
  rows: Int32Array;
  targets: Int32Array;
  /** SUBS/AR weight per row */
  weights: Float32Array;
  /** per-row t (sedd) */
  tRow: Float32Array;
  sigma: Float32Array | null;
  t?: Float32Array;
  xt?: Int32Array;
}

function prepare(model: DiT, batch: Batch, o: LossOptions, excludeBos: boolean): Prepared {
  const cfg = model.config;
  const { B, L } = batch;
  const x0 = batch.x0;
  if (x0.length !== B * L) throw new Error(`x0 has ${x0.length} tokens, expected B*L = ${B * L}`);
  const maskId = o.maskId ?? cfg.vocabSize - 1;
  if (o.algo === 'ar') {
    if (!cfg.causal) throw new Error('the ar objective needs a causal model');
    const S = L - 1;
    const ids = new Int32Array(B * S);
    const targets = new Int32Array(B * S);
    for (let b = 0; b < B; b++) {
      for (let i = 0; i < S; i++) {
        ids[b * S + i] = x0[b * L + i];
        targets[b * S + i] = x0[b * L + i + 1];
      }
    }
    const rows = Int32Array.from({ length: B * S }, (_, i) => i);
    return { ids, S, layout: 'causal', blockSize: 1, outLen: S, rows, targets, weights: new Float32Array(B * S).fill(-1), tRow: new Float32Array(0), sigma: null };
  }
  if (cfg.causal) throw new Error(`the ${o.algo} objective needs a non-causal (adaLN) model`);
  const bd3 = o.algo === 'bd3lm';
  const blockSize = bd3 ? (o.blockSize ?? cfg.blockSize) : L;
  if (L % blockSize !== 0) throw new Error(`block size ${blockSize} does not divide the length ${L}`);
  const epsMin = o.epsMin ?? 1e-3;
  const epsMax = o.epsMax ?? 1;
  const sched = noiseSchedule(o.schedule);
  const t = batch.t ?? timesPerToken(sampleBlockTimes(B, L / blockSize, { epsMin, epsMax, antithetic: o.antithetic ?? true, random: o.random }), B, L, blockSize);
  const p = t.map((x) => sched.maskProb(x));
  const xt = batch.xt
    ? Int32Array.from(batch.xt)
    : sampleXt(x0, p, B, L, { maskId, blockSize, epsMin, epsMax, resample: o.resample ?? false, ignoreBos: o.ignoreBos ?? true, random: o.random });
  const rowList: number[] = [];
  // eval with ignore_bos: position 0 has attention mask 0, so it never carries loss even if masked
  for (let i = 0; i < B * L; i++) if (xt[i] === maskId && !(excludeBos && i % L === 0)) rowList.push(i);
  const rows = Int32Array.from(rowList);
  const targets = Int32Array.from(rowList, (i) => x0[i]);
  // beta > 0.5 only happens with full masking: plain cross-entropy (spec 4.5)
  const weights = Float32Array.from(rowList, (i) => (epsMin > 0.5 ? -1 : sched.lossWeight(t[i])));
  const tRow = Float32Array.from(rowList, (i) => t[i]);
  let ids: Int32Array;
  let S = L;
  if (bd3) {
    S = 2 * L;
    ids = vectorizedIds(xt, x0, B, L);
  } else ids = xt;
  // time conditioning (SEDD; off for the released BD3-LM/MDLM) sees sigma of each sequence's first token (spec 2.4)
  const sigma = cfg.timeConditioning ? Float32Array.from({ length: B }, (_, b) => sigmaFromP(p[b * L])) : null;
  return { ids, S, layout: bd3 ? 'vectorized' : 'bidirectional', blockSize, outLen: L, rows, targets, weights, tRow, sigma, t, xt };
}

function run(model: DiT, batch: Batch, o: LossOptions, training: boolean, grads: Grads | null): LossResult {
  const { B, L } = batch;
  const V = model.config.vocabSize;
  const maskId = o.maskId ?? V - 1;
  const ar = o.algo === 'ar';
  const ignoreBos = !ar && (o.ignoreBos ?? true);
  // training refuses half-precision and int8 weights; evaluation runs on them as sampling does
  if (training) fp32Weights(model.weights);
  // the sigma = 0 adaLN vectors from the current weights (the optimizer moves them in place)
  model.refreshModulation();
  const pr = prepare(model, batch, o, !training && ignoreBos);
  const tokens = ar ? B * (L - 1) : training || !ignoreBos ? B * L : B * (L - 1);
  const p = o.dropout ?? 0;
  // logits as a workspace view: the loss turns them into dlogits in place
  const { logits, activations: acts } = model.forward(
    {
      ids: pr.ids, batch: B, seqLen: pr.S, layout: pr.layout, blockSize: pr.blockSize, logitRows: pr.rows,
      sigma: pr.sigma ?? undefined, dropout: p > 0 ? { p, random: o.random } : undefined, copy: false,
    },
    { saveActivations: grads ? trainScratch(model) : undefined },
  );
  const n = pr.rows.length;
  const coef = grads ? new Float32Array(n).fill(1 / tokens) : undefined;
  let rowLoss: Float32Array;
  if (o.algo === 'sedd') {
    const sig = pr.tRow.map((t) => sigmaFromP(t));
    rowLoss = seddRowLoss(logits, n, V, maskId, pr.targets, sig, pr.tRow, coef);
  } else {
    rowLoss = subsRowLoss(model.backend, logits, n, V, maskId, pr.targets, pr.weights, coef);
  }
  const nll = new Float32Array(B * pr.outLen);
  let sum = 0;
  for (let r = 0; r < n; r++) {
    nll[pr.rows[r]] = rowLoss[r];
    sum += rowLoss[r];
  }
  if (grads && acts) backward(model, acts, logits, grads);
  const res: LossResult = { loss: sum / tokens, tokens, nll, t: pr.t, xt: pr.xt };
  if (!ar) {
    const nb = L / pr.blockSize;
    const bl = new Float64Array(B * nb);
    for (let i = 0; i < B * L; i++) bl[Math.floor(i / L) * nb + Math.floor((i % L) / pr.blockSize)] += nll[i] / pr.blockSize;
    res.blockLosses = bl;
  }
  return res;
}
