/**
 * `bd3lm train`: train BD3-LM / MDLM / AR / SEDD on a prepared dataset, with checkpoints that resume exactly.
 * Progress on stderr (a live line on a terminal, a line every --log-every steps otherwise); metrics in OUT/metrics.jsonl.
 */
import { createBackend } from '../tensor/index.js';
import type { BackendName } from '../tensor/backend.js';
import { train, TrainingError, type TrainOptions } from '../training/trainer.js';
import type { Algo } from '../training/objective.js';
import type { PresetName } from '../model/config.js';
import { numberFlag, type NumberRule } from './args.js';
import { defineCommand, parseCommand, usageError, type Command } from './options.js';
import { resolveModel } from '../model/load.js';

export const TRAIN = defineCommand({
  name: 'train',
  summary: 'Train BD3-LM / MDLM / AR / SEDD on a prepared dataset, with checkpoints that resume exactly (Ctrl-C saves and stops).',
  options: {
    algo: { choices: ['bd3lm', 'mdlm', 'ar', 'sedd'], required: true, help: 'model and objective' },
    data: { value: 'DIR', required: true, help: 'dataset folder from bd3lm prepare (DIR/train, DIR/valid)' },
    out: { value: 'DIR', help: 'run folder (required unless --resume)' },
    preset: { choices: ['tiny', 'small', 'medium'], help: 'model size (default tiny)' },
    'block-size': { value: 'N', help: "block size L' (bd3lm; default 4)" },
    hidden: { value: 'N', help: 'hidden size (overrides the preset)' },
    layers: { value: 'N', help: 'transformer blocks (overrides the preset)' },
    heads: { value: 'N', help: 'attention heads (overrides the preset)' },
    'cond-dim': { value: 'N', help: 'conditioning size (overrides the preset)' },
    'batch-size': { value: 'N', help: 'sequences per step (default 8)' },
    accumulate: { value: 'N', help: 'gradient accumulation steps (default 1)' },
    steps: { value: 'N', default: '1000', help: 'last step' },
    lr: { value: 'LR', help: 'peak learning rate (default 3e-4)' },
    warmup: { value: 'N', help: 'linear warm-up steps (default 2500)' },
    'lr-schedule': { choices: ['constant', 'cosine'], help: 'after warm-up (default constant)' },
    'grad-clip': { value: 'NORM', help: 'gradient norm clipping (default 1; 0: off)' },
    ema: { value: 'DECAY', help: 'EMA decay of the published weights (default 0.9999)' },
    dropout: { value: 'P', help: "dropout (default: the preset's, 0.1)" },
    'weight-decay': { value: 'W', help: 'AdamW weight decay (default 0)' },
    seed: { value: 'S', help: 'random seed (default 1)' },
    'save-every': { value: 'N', default: '500', help: 'checkpoint every N steps' },
    'eval-every': { value: 'N', help: 'validation NELBO (and the clip search) every N steps' },
    'eval-batches': { value: 'N', help: 'validation batches per evaluation (default 8)' },
    'clip-widths': { value: 'W,W,...', help: 'clip search: interval widths to try (bd3lm)' },
    'clip-delta': { value: 'D', help: 'clip search: step of the interval start (default 0.05)' },
    'fix-clipping': { help: 'keep the clip interval fixed (no search)' },
    resample: { help: 'resample t that falls outside the clip interval' },
    'full-masking': { help: "L' = 1 with every token masked: the AR NLL (needs --block-size 1)" },
    init: { value: 'DIR|ORG/NAME[@REV]', help: 'start from these weights (e.g. fine-tune an MDLM / L\' = L checkpoint)' },
    resume: { value: 'RUN_DIR', help: 'continue this run exactly where it stopped' },
    backend: { choices: ['native', 'wasm'], help: 'compute backend (default: native when the addon loads)' },
    'log-every': { value: 'N', default: '10', help: 'a progress line every N steps when stderr is not a terminal' },
  },
});

const usage = (msg: string) => usageError(TRAIN, msg);
const num = (v: string | undefined, flag: string, rule: NumberRule = {}) => numberFlag(v, flag, rule, usage);

function fmtEta(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(Math.floor(s % 60)).padStart(2, '0')}s`;
}

export const trainCommand: Command = { spec: TRAIN, run: runTrain };

async function runTrain(args: string[]): Promise<number> {
  const parsed = parseCommand(TRAIN, args);
  if (!parsed) return 0;
  const v = parsed.values;
  const algo = v.algo as Algo;
  // `--resume RUN_DIR` continues that run (it is the output folder); --out may repeat it
  if (v.resume !== undefined && v.out !== undefined && v.out !== v.resume) throw usage('--resume names the run folder: --out must be the same or omitted');
  const out = v.resume ?? v.out;
  if (!out) throw usage('--out is required');
  const widths = v['clip-widths'] ? v['clip-widths'].split(',').map((w) => num(w, '--clip-widths', { gt: 0 })!) : undefined;
  const full = v['full-masking'] === true;
  const blockSize = num(v['block-size'], '--block-size', { int: true, min: 1 });
  if (full && blockSize !== 1) throw usage('--full-masking needs --block-size 1');
  const logEvery = num(v['log-every'], '--log-every', { int: true, min: 1 })!;
  const backend = await createBackend(v.backend as BackendName | undefined);

  let interrupted = false;
  const onSigint = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    process.stderr.write('\nbd3lm train: interrupted — saving a checkpoint after this step (Ctrl-C again to quit now)\n');
  };
  process.on('SIGINT', onSigint);
  const tty = process.stderr.isTTY === true;
  const maxSteps = num(v.steps, '--steps', { int: true, min: 1 })!;
  const t0 = Date.now();
  let firstStep = -1;
  const size = Object.fromEntries(
    ([['hiddenDim', v.hidden, '--hidden'], ['nBlocks', v.layers, '--layers'], ['nHeads', v.heads, '--heads'], ['condDim', v['cond-dim'], '--cond-dim']] as const)
      .filter(([, val]) => val !== undefined)
      .map(([k, val, flag]) => [k, num(val, flag, { int: true, min: 1 })]),
  );
  const opts: TrainOptions = {
    algo, data: v.data, out, backend, preset: v.preset as PresetName | undefined, blockSize,
    size: Object.keys(size).length ? size : undefined,
    batchSize: num(v['batch-size'], '--batch-size', { int: true, min: 1 }),
    accumulate: num(v.accumulate, '--accumulate', { int: true, min: 1 }),
    maxSteps, lr: num(v.lr, '--lr', { gt: 0 }), warmup: num(v.warmup, '--warmup', { int: true, min: 0 }),
    lrSchedule: v['lr-schedule'] as 'constant' | 'cosine' | undefined,
    gradClip: num(v['grad-clip'], '--grad-clip', { min: 0 }), emaDecay: num(v.ema, '--ema', { min: 0 }),
    dropout: num(v.dropout, '--dropout', { min: 0 }), weightDecay: num(v['weight-decay'], '--weight-decay', { min: 0 }),
    seed: num(v.seed, '--seed', { int: true, min: 0 }), saveEvery: num(v['save-every'], '--save-every', { int: true, min: 1 })!,
    evalEvery: num(v['eval-every'], '--eval-every', { int: true, min: 1 }),
    evalBatches: num(v['eval-batches'], '--eval-batches', { int: true, min: 1 }),
    clipWidths: widths, clipDelta: num(v['clip-delta'], '--clip-delta', { gt: 0 }), fixClipping: v['fix-clipping'],
    resample: v.resample, epsMin: full ? 1 : undefined, epsMax: full ? 1 : undefined, init: v.init === undefined ? undefined : await resolveModel(v.init), resume: v.resume !== undefined,
    shouldStop: () => interrupted,
    onMetrics: (m) => {
      if (typeof m.loss === 'number') {
        const step = m.step as number;
        if (firstStep < 0) firstStep = step;
        const done = step - firstStep + 1;
        const eta = ((Date.now() - t0) / 1000 / done) * (maxSteps - step);
        const line = `step ${step}/${maxSteps}  loss ${m.loss.toFixed(4)}  lr ${(m.lr as number).toExponential(2)}  ` +
          `grad ${(m.grad_norm as number).toFixed(3)}  ${Math.round(m.tokens_per_s as number)} tok/s  ETA ${fmtEta(eta)}`;
        if (tty) process.stderr.write(`\r${line}\x1b[K`);
        else if (step % logEvery === 0 || step === maxSteps) process.stderr.write(line + '\n');
      } else if (typeof m.valid_nelbo === 'number') {
        const clip = m.clip_best ? `  clip [${(m.clip_best as number[]).join(', ')}]` : '';
        process.stderr.write(`${tty ? '\n' : ''}valid step ${m.step}: nelbo ${m.valid_nelbo.toFixed(4)}  ppl ${(m.valid_ppl as number).toFixed(2)}${clip}\n`);
      }
    },
  };
  try {
    const r = await train(opts);
    if (tty) process.stderr.write('\n');
    process.stdout.write(JSON.stringify({ out, step: r.step, stopped: r.stopped, loss: r.lastLoss }) + '\n');
    return r.stopped === 'interrupted' ? 130 : 0;
  } catch (e) {
    if (tty) process.stderr.write('\n');
    if (e instanceof TrainingError) {
      process.stderr.write(`bd3lm train: ${e.message}\n`);
      return 1;
    }
    throw e;
  } finally {
    process.off('SIGINT', onSigint);
  }
}
