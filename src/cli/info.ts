import { describeCheckpoint } from '../model/checkpoint.js';
import { resolveModel } from '../model/load.js';
import { defineCommand, parseCommand, type Command } from './options.js';

export const INFO = defineCommand({
  name: 'info',
  summary: "Print a checkpoint's config, parameter count and per-tensor summary; exit 1 when the checkpoint has problems.",
  args: 'DIR|ORG/NAME[@REV]',
  positionals: [1, 1],
  options: {
    json: { help: 'print one JSON object instead of the table' },
    quiet: { help: 'no download progress bar (a repo id not yet in the cache)' },
  },
});

export const info: Command = { spec: INFO, run: runInfo };

const fmt = (x: number) => (Number.isFinite(x) ? x.toPrecision(4) : String(x));

/** Prints a checkpoint's config, parameter count and per-tensor summary; exit 1 when the file has problems. */
async function runInfo(args: string[]): Promise<number> {
  const parsed = parseCommand(INFO, args);
  if (!parsed) return 0;
  const { values, positionals } = parsed;
  const d = describeCheckpoint(await resolveModel(positionals[0], values.quiet ? { progress: false } : undefined)); // a folder or a repo id
  if (values.json) {
    process.stdout.write(JSON.stringify(d) + '\n');
    return d.problems.length ? 1 : 0;
  }
  const out: string[] = [];
  out.push(`checkpoint ${d.dir} (${(d.fileBytes / 1e6).toFixed(1)} MB)`);
  out.push(`config: ${JSON.stringify(d.config)}`);
  out.push(`trainable parameters: ${d.trainableParams.toLocaleString('en-US')} in ${d.tensors.filter((t) => t.kind === 'param').length} tensors`);
  out.push(`weights: ${d.quantization ? d.quantization.scheme : 'float (no quantization_config)'}`);
  for (const n of d.notes) out.push(`note: ${n}`);
  out.push('');
  out.push(['name', 'shape', 'dtype', 'min', 'max', 'mean', 'std'].join('\t'));
  for (const t of d.tensors) {
    out.push([t.name, `[${t.shape.join(', ')}]`, t.dtype, fmt(t.min), fmt(t.max), fmt(t.mean), fmt(t.std)].join('\t'));
  }
  for (const p of d.problems) out.push(`problem: ${p}`);
  process.stdout.write(out.join('\n') + '\n');
  return d.problems.length ? 1 : 0;
}
