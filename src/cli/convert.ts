/**
 * `bd3lm convert FILE.ckpt --config config.json --out DIR [--no-ema]`: the authors' PyTorch Lightning checkpoint to
 * a folder every command loads (and the authors' HF code too). No Python involved.
 */
import { convertLightning, writeConverted } from '../model/ckpt/convert.js';
import { paramCount } from '../model/params.js';
import { defineCommand, parseCommand, type Command } from './options.js';

export const CONVERT = defineCommand({
  name: 'convert',
  summary: "The authors' PyTorch Lightning checkpoint to a model folder (config.json + model.safetensors; EMA weights by default).",
  args: 'FILE.ckpt',
  positionals: [1, 1],
  options: {
    config: { value: 'FILE', required: true, help: "the model's config.json (model_type bd3lm | mdlm | ar, sizes, block_size; the checkpoint does not say the block size), e.g. the released model's, or one `bd3lm train` wrote" },
    out: { value: 'DIR', required: true, help: 'a new (or empty) folder; nothing is written unless every tensor matches the config' },
    'no-ema': { help: 'the raw training weights (state_dict) instead of the EMA weights push_to_hf.py publishes' },
  },
});

async function runConvert(args: string[]): Promise<number> {
  const parsed = parseCommand(CONVERT, args);
  if (!parsed) return 0;
  const { values, positionals } = parsed;
  const r = convertLightning(positionals[0], values.config, { ema: !values['no-ema'] });
  writeConverted(values.out, r);
  for (const n of r.notes) process.stderr.write(`note: ${n}\n`);
  process.stdout.write(`wrote ${values.out}: ${r.config.modelType}, ${paramCount(r.config).toLocaleString('en-US')} parameters, ${r.tensors.size} tensors\n`);
  return 0;
}

export const convertCommand: Command = { spec: CONVERT, run: runConvert };
