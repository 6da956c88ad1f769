/**
 * `bd3lm convert FILE.ckpt --config config.json --out DIR [--no-ema]`: the authors' PyTorch Lightning checkpoint to
 * a folder every command loads (and the authors' HF code too). No Python involved.
 */
import { parseArgs } from 'node:util';
import { convertLightning, writeConverted } from '../model/ckpt/convert.js';
import { paramCount } from '../model/params.js';
import { UsageError, withUsage } from './args.js';

export const CONVERT_USAGE = 'bd3lm convert FILE.ckpt --config config.json --out DIR [--no-ema]';

export async function runConvert(args: string[]): Promise<number> {
  const { values, positionals } = withUsage(CONVERT_USAGE, () =>
    parseArgs({
      args,
      options: { config: { type: 'string' }, out: { type: 'string' }, 'no-ema': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    }),
  );
  if (values.help) {
    process.stdout.write(
      `usage: ${CONVERT_USAGE}\n\n` +
        'Writes DIR/config.json + DIR/model.safetensors from a Lightning checkpoint of the authors\' trainer.\n' +
        '  --config FILE  the model\'s config.json (model_type bd3lm | mdlm | ar, sizes, block_size); e.g. the\n' +
        '                 released model\'s, or one `bd3lm train` wrote\n' +
        '  --out DIR      a new (or empty) folder; nothing is written unless every tensor matches the config\n' +
        '  --no-ema       the raw training weights (state_dict) instead of the EMA weights push_to_hf.py publishes\n',
    );
    return 0;
  }
  const usage = (msg: string) => new UsageError(`${msg}\nusage: ${CONVERT_USAGE}`);
  if (positionals.length !== 1) throw usage('expected one checkpoint file');
  if (!values.config) throw usage('--config config.json is required (the checkpoint does not say the block size)');
  if (!values.out) throw usage('--out DIR is required');
  const r = convertLightning(positionals[0], values.config, { ema: !values['no-ema'] });
  writeConverted(values.out, r);
  for (const n of r.notes) process.stderr.write(`note: ${n}\n`);
  process.stdout.write(`wrote ${values.out}: ${r.config.modelType}, ${paramCount(r.config).toLocaleString('en-US')} parameters, ${r.tensors.size} tensors\n`);
  return 0;
}
