/**
 * `bd3lm train`: train BD3-LM / MDLM / AR / SEDD on a prepared dataset, with checkpoints that resume exactly.
 * Progress on stderr (a live line on a terminal, a line every --log-every steps otherwise); metrics in OUT/metrics.jsonl.
 */
import { parseArgs } from 'node:util';
import { createBackend } from '../tensor/index.js';
import type { BackendName } from '../tensor/backend.js';
import { train, TrainingError, type TrainOptions } from '../training/trainer.js';
import type { Algo } from '../training/objective.js';
import type { PresetName } from '../model/config.js';
import { UsageError, withUsage } from './args.js';
import { resolveModel } from '../model/load.js';

export const TRAIN_USAGE =
  'bd3lm train --algo bd3lm|mdlm|ar|sedd --data DIR --out DIR [--preset tiny|small|medium] [--block-size 4] ' +
  '[--hidden N --layers N --heads N --cond-dim N] [--batch-size 8] [--accumulate 1] [--steps 1000] [--lr 3e-4] [--warmup 2500] [--lr-schedule constant|cosine] ' +
  '[--grad-clip 1] [--ema 0.9999] [--dropout 0.1] [--weight-decay 0] [--seed 1] [--save-every 500] [--eval-every N] ' +
  '[--eval-batches 8] [--clip-widths 0.5,0.6,...] [--clip-delta 0.05] [--fix-clipping] [--resample] [--full-masking] ' +
  '[--init DIR|ORG/NAME[@REV]] [--resume RUN_DIR] [--backend native|wasm] [--log-every 10]';

const usage = (msg: string) => new UsageError(`${msg}\nusage: ${TRAIN_USAGE}`);

function num(v: string | undefined, flag: string, o: { int?: boolean; min?: number; gt?: number } = {}): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  const bad = v.trim() === '' || !Number.isFinite(n) || (o.int && !Number.isInteger(n)) || (o.min !== undefined && n < o.min) || (o.gt !== undefined && n <= o.gt);
  if (bad) throw usage(`${flag} got '${v}'`);
  return n;
}

function fmtEta(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(Math.floor(s % 60)).padStart(2, '0')}s`;
}

export async function runTrain(args: string[]): Promise<number> {
  const { values: v } = withUsage(TRAIN_USAGE, () =>
    parseArgs({
      args,
      options: {
        algo: { type: 'string' }, data: { type: 'string' }, out: { type: 'string' }, preset: { type: 'string' },
        'block-size': { type: 'string' }, hidden: { type: 'string' }, layers: { type: 'string' }, heads: { type: 'string' },
        'cond-dim': { type: 'string' }, 'batch-size': { type: 'string' }, accumulate: { type: 'string' },
        steps: { type: 'string' }, lr: { type: 'string' }, warmup: { type: 'string' }, 'lr-schedule': { type: 'string' },
        'grad-clip': { type: 'string' }, ema: { type: 'string' }, dropout: { type: 'string' }, 'weight-decay': { type: 'string' },
        seed: { type: 'string' }, 'save-every': { type: 'string' }, 'eval-every': { type: 'string' },
        'eval-batches': { type: 'string' }, 'clip-widths': { type: 'string' }, 'clip-delta': { type: 'string' },
        'fix-clipping': { type: 'boolean' }, resample: { type: 'boolean' }, 'full-masking': { type: 'boolean' },
        init: { type: 'string' }, resume: { type: 'string' }, backend: { type: 'string' }, 'log-every': { type: 'string' },
      },
      allowPositionals: false,
      strict: true,
    }),
  );
  const algo = v.algo as Algo | undefined;
  if (!algo || !['bd3lm', 'mdlm', 'ar', 'sedd'].includes(algo)) throw usage(`--algo must be bd3lm, mdlm, ar or sedd`);
  if (!v.data) throw usage('--data is required');
  // `--resume RUN_DIR` continues that run (it is the output folder); --out may repeat it
  if (v.resume !== undefined && v.out !== undefined && v.out !== v.resume) throw usage('--resume names the run folder: --out must be the same or omitted');
  const out = v.resume ?? v.out;
  if (!out) throw usage('--out is required');
  if (v.preset && !['tiny', 'small', 'medium'].includes(v.preset)) throw usage(`unknown preset '${v.preset}'`);
  if (v['lr-schedule'] && !['constant', 'cosine'].includes(v['lr-schedule'])) throw usage(`--lr-schedule must be constant or cosine`);
  if (v.backend && !['native', 'wasm'].includes(v.backend)) throw usage(`--backend must be native or wasm`);
  const widths = v['clip-widths'] ? v['clip-widths'].split(',').map((w) => num(w, '--clip-widths', { gt: 0 })!) : undefined;
  const full = v['full-masking'] === true;
  const blockSize = num(v['block-size'], '--block-size', { int: true, min: 1 });
  if (full && blockSize !== 1) throw usage('--full-masking needs --block-size 1');
  const logEvery = num(v['log-every'], '--log-every', { int: true, min: 1 }) ?? 10;
  const backend = await createBackend(v.backend as BackendName | undefined);

  let interrupted = false;
  const onSigint = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    process.stderr.write('\nbd3lm train: interrupted — saving a checkpoint after this step (Ctrl-C again to quit now)\n');
  };
  process.on('SIGINT', onSigint);
  const tty = process.stderr.isTTY === true;
  const maxSteps = num(v.steps, '--steps', { int: true, min: 1 }) ?? 1000;
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
    seed: num(v.seed, '--seed', { int: true, min: 0 }), saveEvery: num(v['save-every'], '--save-every', { int: true, min: 1 }) ?? 500,
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
