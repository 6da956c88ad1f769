import { describeCheckpoint } from '../model/checkpoint.js';
import { resolveModel } from '../model/load.js';
import { parseArgs } from 'node:util';
import { withUsage, UsageError } from './args.js';

const USAGE = 'bd3lm info DIR|ORG/NAME[@REV] [--json] [--quiet]';

const fmt = (x: number) => (Number.isFinite(x) ? x.toPrecision(4) : String(x));

/** Prints a checkpoint's config, parameter count and per-tensor summary; exit 1 when the file has problems. */
export async function runInfo(args: string[]): Promise<number> {
  const { values, positionals } = withUsage(USAGE, () => parseArgs({ args, options: { json: { type: 'boolean' }, quiet: { type: 'boolean' } }, allowPositionals: true, strict: true }));
  if (positionals.length !== 1) throw new UsageError(`expected one folder\nusage: ${USAGE}`);
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
