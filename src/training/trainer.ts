/**
 * The training loop (spec 9): AdamW with linear warm-up (then constant or cosine), global-norm clipping, gradient
 * accumulation, EMA, periodic validation with the EMA weights and the data-driven clip search (spec 4.10), atomic
 * checkpoints that resume exactly, Ctrl-C to save and stop, and a NaN loss that stops without overwriting the last
 * good checkpoint.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Backend } from '../tensor/backend.js';
import { Rng } from '../tensor/rng.js';
import { PRESETS, withModelType, type ModelConfig, type PresetName } from '../model/config.js';
import { loadCheckpoint, readConfigFile, saveCheckpoint } from '../model/checkpoint.js';
import { TOKENIZER_FILE } from '../data/load-tokenizer.js';
import { expectedParams } from '../model/params.js';
import { initTensors } from '../model/init.js';
import { DiT } from '../model/dit.js';
import { Loader } from '../data/loader.js';
import { readMeta } from '../data/dataset.js';
import { clipCandidates, ClipSearch } from '../diffusion/clip-search.js';
import { lossAndGrads, nelboEval, type Algo } from './objective.js';
import { Grads } from './grads.js';
import { AdamW, clipFactor, type Param } from './optimizer.js';
import { Ema } from './ema.js';
import { lrAt, type LrSchedule } from './schedule.js';
import { hasTrainState, loadTrainState, saveTrainState, type TrainState } from './state.js';
import { ResumeFileError } from './state-schema.js';

export interface TrainOptions {
  algo: Algo;
  /** dataset folder holding train/ (and valid/ for validation) */
  data: string;
  /** run folder: checkpoints, metrics.jsonl */
  out: string;
  backend: Backend;
  preset?: PresetName;
  /** overrides of the preset's shape (hidden size, layers, heads, conditioning width) */
  size?: Partial<Pick<ModelConfig, 'hiddenDim' | 'nBlocks' | 'nHeads' | 'condDim'>>;
  /** bd3lm block size L' (default 4) */
  blockSize?: number;
  batchSize?: number;
  accumulate?: number;
  lr?: number;
  warmup?: number;
  lrSchedule?: 'constant' | 'cosine';
  minLr?: number;
  maxSteps: number;
  gradClip?: number;
  emaDecay?: number;
  /** residual dropout (default: the config's, 0.1) */
  dropout?: number;
  weightDecay?: number;
  seed?: number;
  saveEvery?: number;
  evalEvery?: number;
  evalBatches?: number;
  /** clip search widths (spec 4.10; [] = only (1e-3, 1)) and grid step */
  clipWidths?: number[];
  clipDelta?: number;
  /** keep the clip interval fixed instead of adopting the search's argmin */
  fixClipping?: boolean;
  /** initial clip interval (default 1e-3, 1; L' = 1 with --full-masking: 1, 1) */
  epsMin?: number;
  epsMax?: number;
  resample?: boolean;
  /** initialise the weights from a checkpoint folder (e.g. an MDLM / L' = L pretrain) */
  init?: string;
  /** continue the run in `out` from its last checkpoint */
  resume?: boolean;
  /** called after every step and validation with the metrics line */
  onMetrics?: (m: Record<string, unknown>) => void;
  /** polled between steps: true saves a checkpoint and stops */
  shouldStop?: () => boolean;
}

export interface TrainResult {
  step: number;
  stopped: 'max-steps' | 'interrupted';
  lastLoss: number;
}

export class TrainingError extends Error {}

/** Options that fix the architecture and data: a resumed run must be started with the same. */
const IDENTITY_KEYS = ['algo', 'preset', 'size', 'blockSize', 'batchSize', 'accumulate', 'seed', 'data'] as const;

function modelConfigFor(o: TrainOptions, L: number, vocabSize: number): ModelConfig {
  // the dropout used is recorded in config.json (the HF config carries it), not the preset's default
  const base = { ...PRESETS[o.preset ?? 'tiny'], ...o.size, modelLength: L, vocabSize, ...(o.dropout !== undefined && { dropout: o.dropout }) };
  if (base.hiddenDim % base.nHeads !== 0 || (base.hiddenDim / base.nHeads) % 2 !== 0) {
    throw new TrainingError(`hidden size ${base.hiddenDim} must split into ${base.nHeads} heads of an even size`);
  }
  if (o.algo === 'ar') return withModelType(base, 'ar');
  if (o.algo === 'mdlm') return withModelType(base, 'mdlm');
  if (o.algo === 'sedd') return { ...withModelType(base, 'mdlm'), timeConditioning: true };
  const bs = o.blockSize ?? 4;
  if (L % bs !== 0) throw new TrainingError(`block size ${bs} does not divide the sequence length ${L}`);
  return { ...withModelType(base, 'bd3lm'), blockSize: bs };
}

export async function train(o: TrainOptions): Promise<TrainResult> {
  const be = o.backend;
  const trainDir = path.join(o.data, 'train');
  const meta = readMeta(trainDir);
  const L = meta.L;
  // the tokenizer's vocabulary already counts the appended mask id (spec 1.1)
  const V = meta.vocabSize;
  const resuming = o.resume === true;
  if (resuming && !hasTrainState(o.out)) throw new TrainingError(`--resume: ${o.out} has no training checkpoint (train/latest.json)`);
  if (!resuming && hasTrainState(o.out)) throw new TrainingError(`${o.out} already holds a training run: use --resume to continue it or another --out`);

  let cfg = resuming ? readConfigFile(path.join(o.out, 'config.json')) : modelConfigFor(o, L, V);
  if (cfg.modelLength !== L || cfg.vocabSize !== V) {
    throw new TrainingError(`the dataset (L=${L}, vocab ${V}) does not match the model (L=${cfg.modelLength}, vocab ${cfg.vocabSize})`);
  }
  let tensors: Map<string, Float32Array>;
  if (o.init && !resuming) {
    const init = loadCheckpoint(o.init, { alloc: (n) => be.alloc(n) });
    const want = modelConfigFor(o, L, V);
    for (const k of ['hiddenDim', 'nBlocks', 'nHeads', 'vocabSize', 'modelLength', 'causal'] as const) {
      if (init.config[k] !== want[k]) throw new TrainingError(`--init ${o.init}: ${k} is ${init.config[k]}, this run needs ${want[k]}`);
    }
    cfg = { ...want, condDim: init.config.condDim };
    tensors = init.tensors;
    if (cfg.modelType === 'bd3lm' && !tensors.has('sampling_eps_min')) {
      // an MDLM checkpoint has no clip buffers: add them (spec 8.4)
      tensors.set('sampling_eps_min', Float32Array.of(1e-3));
      tensors.set('sampling_eps_max', Float32Array.of(1));
    }
  } else {
    tensors = initTensors(cfg, o.seed ?? 1, 'reference', (n) => be.alloc(n));
  }
  const model = new DiT(cfg, tensors, be);
  const specs = expectedParams(cfg);
  const params: Param[] = specs.filter((s) => s.kind === 'param').map((s) => ({ name: s.name, data: tensors.get(s.name)! }));
  const grads = new Grads(model);
  const opt = new AdamW(be, params, { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: o.weightDecay ?? 0 });
  const ema = new Ema(be, params, o.emaDecay ?? 0.9999);
  const seed = o.seed ?? 1;
  const rng = new Rng(seed);
  const B = o.batchSize ?? 8;
  const accumulate = o.accumulate ?? 1;
  // a dataset prepared with a tokenizer.json carries it; the model folder gets a copy so every command finds it
  const tokFile = path.join(o.data, TOKENIZER_FILE);
  if (fs.existsSync(tokFile)) {
    fs.mkdirSync(o.out, { recursive: true });
    fs.copyFileSync(tokFile, path.join(o.out, TOKENIZER_FILE));
  }
  const loader = new Loader(trainDir, { batchSize: B, seed, expect: { L, vocabSize: V } });
  const fullMasking = o.algo === 'bd3lm' && cfg.blockSize === 1 && o.epsMin === 1;
  let epsMin = o.epsMin ?? 1e-3;
  let epsMax = o.epsMax ?? 1;
  let step = 0;
  let tokensSeen = 0;
  const metricsPath = path.join(o.out, 'metrics.jsonl');
  fs.mkdirSync(o.out, { recursive: true });
  const identity = Object.fromEntries(IDENTITY_KEYS.map((k) => [k, o[k] ?? null]));

  if (resuming) {
    let loaded: ReturnType<typeof loadTrainState>;
    try {
      loaded = loadTrainState(o.out, cfg, { params: new Map(params.map((p) => [p.name, p.data])), m: opt.m, v: opt.v, ema: ema.shadow });
    } catch (e) {
      throw e instanceof ResumeFileError ? new TrainingError(`--resume: ${e.message}`) : e;
    }
    const st = loaded.state;
    for (const k of IDENTITY_KEYS) {
      if (JSON.stringify(st.options[k] ?? null) !== JSON.stringify(identity[k])) {
        throw new TrainingError(`--resume: the run in ${o.out} was started with ${k} = ${JSON.stringify(st.options[k])}, not ${JSON.stringify(identity[k])}`);
      }
    }
    step = st.step;
    tokensSeen = st.tokens;
    opt.step = st.step;
    ema.updates = st.emaUpdates;
    rng.setState(st.rng);
    try {
      loader.restore(st.loader as Parameters<Loader['restore']>[0]);
    } catch (e) {
      throw new TrainingError(`--resume: ${loaded.file}: field "loader": ${(e as Error).message}`);
    }
    epsMin = st.epsMin;
    epsMax = st.epsMax;
    // drop metrics written after the checkpoint, so the resumed curve continues without duplicates
    if (fs.existsSync(metricsPath)) fs.truncateSync(metricsPath, st.metricsBytes);
  } else if (fs.existsSync(metricsPath)) fs.truncateSync(metricsPath, 0);

  const emit = (m: Record<string, unknown>) => {
    fs.appendFileSync(metricsPath, JSON.stringify(m) + '\n');
    o.onMetrics?.(m);
  };
  const lrs: LrSchedule = { lr: o.lr ?? 3e-4, warmup: o.warmup ?? 2500, kind: o.lrSchedule ?? 'constant', total: o.maxSteps, minLr: o.minLr };
  const lossOpts = {
    algo: o.algo, blockSize: cfg.blockSize, antithetic: true, resample: o.resample ?? false, ignoreBos: true,
    dropout: o.dropout ?? cfg.dropout, random: () => rng.uniform(),
  };

  const save = () => {
    if (tensors.has('sampling_eps_min')) {
      tensors.get('sampling_eps_min')![0] = epsMin;
      tensors.get('sampling_eps_max')![0] = epsMax;
    }
    const published = new Map(specs.map((s) => [s.name, s.kind === 'param' ? ema.shadow.get(s.name)! : tensors.get(s.name)!]));
    try {
      saveCheckpoint(o.out, { ...cfg, samplingEpsMin: epsMin, samplingEpsMax: epsMax }, published);
      const st: TrainState = {
        step, tokens: tokensSeen, emaUpdates: ema.updates, rng: rng.state(), loader: loader.state(), epsMin, epsMax,
        options: identity, metricsBytes: fs.existsSync(metricsPath) ? fs.statSync(metricsPath).size : 0,
      };
      saveTrainState(o.out, cfg, st, { params: new Map(params.map((p) => [p.name, p.data])), m: opt.m, v: opt.v, ema: ema.shadow });
    } catch (e) {
      throw new TrainingError(`saving the checkpoint at step ${step} failed (${(e as Error).message}); the previous checkpoint in ${o.out} is intact`);
    }
  };

  const validate = () => {
    const validDir = path.join(o.data, 'valid');
    if (!fs.existsSync(path.join(validDir, 'meta.json'))) return;
    // validation uses the EMA weights, as the reference (a second DiT over the shadow tensors)
    const evalTensors = new Map(specs.map((s) => [s.name, s.kind === 'param' ? ema.shadow.get(s.name)! : tensors.get(s.name)!]));
    const evalModel = new DiT(cfg, evalTensors, be);
    const vl = new Loader(validDir, { batchSize: B, seed, shuffle: false, dropLast: false, expect: { L } });
    const evalRng = new Rng(seed + step);
    const nBatches = Math.min(o.evalBatches ?? 8, vl.batchesPerEpoch);
    const cands = o.algo === 'bd3lm' ? clipCandidates(cfg.blockSize, o.clipWidths ?? [], o.clipDelta ?? 0.05) : [];
    const search = new ClipSearch(cands);
    let sum = 0;
    let toks = 0;
    const nelboEps = fullMasking ? { epsMin: 1, epsMax: 1 } : { epsMin: 1e-3, epsMax: 1 };
    for (let i = 0; i < nBatches; i++) {
      const b = vl.next();
      const batch = { x0: b.ids, B: b.rows, L };
      const r = nelboEval(evalModel, batch, { ...lossOpts, ...nelboEps, random: () => evalRng.uniform() });
      sum += r.loss * r.tokens;
      toks += r.tokens;
      cands.forEach((c, k) => {
        if (cands.length < 2) return;
        const rc = nelboEval(evalModel, batch, { ...lossOpts, epsMin: c.epsMin, epsMax: c.epsMax, resample: true, random: () => evalRng.uniform() });
        search.record(k, rc.blockLosses!);
      });
    }
    vl.close();
    evalModel.dispose();
    const m: Record<string, unknown> = { step, valid_nelbo: sum / toks, valid_ppl: Math.exp(sum / toks), valid_tokens: toks };
    if (cands.length > 1) {
      const best = search.best();
      m.clip_search = search.report();
      m.clip_best = [best.interval.epsMin, best.interval.epsMax];
      if (!o.fixClipping) {
        epsMin = best.interval.epsMin;
        epsMax = best.interval.epsMax;
      }
    }
    emit(m);
  };

  let lastLoss = NaN;
  let stopped: TrainResult['stopped'] = 'max-steps';
  while (step < o.maxSteps) {
    // a step is one long synchronous call: let signal handlers (Ctrl-C) and timers run between steps
    await new Promise((resolve) => setImmediate(resolve));
    if (o.shouldStop?.()) {
      stopped = 'interrupted';
      break;
    }
    const t0 = performance.now();
    grads.zero();
    let loss = 0;
    for (let a = 0; a < accumulate; a++) {
      const b = loader.next();
      const r = lossAndGrads(model, grads, { x0: b.ids, B: b.rows, L }, { ...lossOpts, epsMin, epsMax });
      loss += r.loss / accumulate;
      tokensSeen += b.rows * L;
    }
    if (!Number.isFinite(loss)) {
      throw new TrainingError(`the loss is ${loss} at step ${step + 1}: stopped without saving; the last checkpoint in ${o.out} is kept`);
    }
    // gradients were summed over the accumulation steps: the norm of their mean decides the clip
    const { norm } = clipFactor(be, grads.tensors.values(), 0);
    const meanNorm = norm / accumulate;
    const clip = o.gradClip ?? 1;
    const clipScale = clip > 0 && clip / (meanNorm + 1e-6) < 1 ? clip / (meanNorm + 1e-6) : 1;
    step++;
    const lr = lrAt(lrs, step);
    opt.update(grads.tensors, lr, clipScale / accumulate);
    ema.update();
    lastLoss = loss;
    const secs = (performance.now() - t0) / 1000;
    emit({ step, loss, lr, grad_norm: meanNorm, eps_min: epsMin, eps_max: epsMax, tokens: tokensSeen, tokens_per_s: (B * accumulate * L) / secs });
    if (o.evalEvery && step % o.evalEvery === 0) validate();
    if ((o.saveEvery && step % o.saveEvery === 0) || step === o.maxSteps) save();
  }
  if (stopped === 'interrupted') save();
  loader.close();
  return { step, stopped, lastLoss };
}
