/**
 * `bd3lm plot RUN...`: an SVG of training curves from RUN/metrics.jsonl — training loss (raw and smoothed) with the
 * validation NELBO, and the variance of the NELBO estimator per clip interval from the clip search (spec 4.10).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { renderSvg, type Panel, type Series } from '../eval/plot-svg.js';
import { numberFlag } from './args.js';
import { defineCommand, parseCommand, usageError, type Command } from './options.js';

export const PLOT = defineCommand({
  name: 'plot',
  summary: 'Loss, validation NELBO and clip-search variance curves of training runs, as one SVG.',
  args: 'RUN_DIR...',
  positionals: [1, Infinity],
  options: {
    out: { value: 'FILE.svg', help: 'where to write (default: RUN_DIR/curves.svg of the first run)' },
    smooth: { value: 'S', default: '0.9', help: 'EMA smoothing of the loss curve, in [0, 1)' },
  },
});

export const plot: Command = { spec: PLOT, run: runPlot };
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf'];

interface Metric {
  step: number;
  loss?: number;
  valid_nelbo?: number;
  clip_search?: { epsMin: number; epsMax: number; variance: number }[];
}

function readMetrics(run: string): Metric[] {
  const file = fs.existsSync(run) && fs.statSync(run).isFile() ? run : path.join(run, 'metrics.jsonl');
  if (!fs.existsSync(file)) throw new Error(`${file}: no metrics log`);
  return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).map((l, i) => {
    try {
      return JSON.parse(l) as Metric;
    } catch {
      throw new Error(`${file}:${i + 1}: not JSON`);
    }
  });
}

export function plotRuns(runs: string[], smooth: number): string {
  const loss: Series[] = [];
  const variance: Series[] = [];
  runs.forEach((run, i) => {
    const name = path.basename(run.replace(/\/+$/, '')).replace(/\.?metrics\.jsonl$/, '') || path.basename(path.dirname(run));
    const color = COLORS[i % COLORS.length];
    const m = readMetrics(run);
    const raw = m.filter((x) => typeof x.loss === 'number').map((x) => [x.step, x.loss!] as [number, number]);
    let ema = raw.length ? raw[0][1] : 0;
    const smoothed = raw.map(([s, v]) => [s, (ema = smooth * ema + (1 - smooth) * v)] as [number, number]);
    if (runs.length === 1) loss.push({ name: `${name} loss`, points: raw, color: '#bbb' });
    loss.push({ name: `${name} loss (smoothed)`, points: smoothed, color });
    const valid = m.filter((x) => typeof x.valid_nelbo === 'number').map((x) => [x.step, x.valid_nelbo!] as [number, number]);
    if (valid.length) loss.push({ name: `${name} valid NELBO`, points: valid, color, dots: true });
    const searches = m.filter((x) => x.clip_search);
    if (searches.length) {
      const last = searches[searches.length - 1].clip_search!;
      last.forEach((c, k) => {
        if (k > 6) return;
        variance.push({
          name: `${runs.length > 1 ? name + ' ' : ''}U[${+c.epsMin.toFixed(3)}, ${+c.epsMax.toFixed(3)}]`,
          points: searches.map((x) => [x.step, x.clip_search![k]?.variance ?? NaN] as [number, number]),
          color: COLORS[(i + k) % COLORS.length],
        });
      });
    }
  });
  const panels: Panel[] = [{ title: 'Training loss', xLabel: 'step', yLabel: 'loss (nats/token)', series: loss }];
  if (variance.length) panels.push({ title: 'Variance of the NELBO estimator per clip interval', xLabel: 'step', yLabel: 'variance', series: variance, logY: true });
  return renderSvg(panels);
}

async function runPlot(args: string[]): Promise<number> {
  const parsed = parseCommand(PLOT, args);
  if (!parsed) return 0;
  const { values, positionals } = parsed;
  const smooth = numberFlag(values.smooth, '--smooth', { min: 0 }, (m) => usageError(PLOT, m))!;
  if (smooth >= 1) throw usageError(PLOT, `--smooth must be in [0, 1), got '${values.smooth}'`);
  const svg = plotRuns(positionals, smooth);
  const out = values.out ?? path.join(positionals[0], 'curves.svg');
  fs.writeFileSync(out, svg);
  process.stdout.write(`${out}\n`);
  return 0;
}
