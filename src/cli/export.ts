import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import { loadCheckpoint, saveCheckpoint, WEIGHTS_FILE } from '../model/checkpoint.js';
import type { SaveDtype } from '../model/safetensors.js';
import { widenStored } from '../tensor/stored.js';
import { TOKENIZER_FILE } from '../data/load-tokenizer.js';
import { defineCommand, parseCommand, usageError, type Command } from './options.js';

const DTYPES: Record<string, SaveDtype | 'int8'> = { f16: 'F16', bf16: 'BF16', f32: 'F32', int8: 'int8' };

export const EXPORT = defineCommand({
  name: 'export',
  summary: 'Rewrite a checkpoint with half-precision parameters (half the file size; inference keeps the matrices half) or int8 weights.',
  args: 'SRC_DIR',
  positionals: [1, 1],
  options: {
    out: { value: 'DIR', required: true, help: 'folder to write (not the source)' },
    dtype: { choices: Object.keys(DTYPES), default: 'f16', help: 'parameter storage; buffers (the clip bounds) stay f32' },
  },
});

export const exportCommand: Command = { spec: EXPORT, run: runExport };

/**
 * Rewrites a checkpoint (e.g. a training run's published EMA weights) with its parameters stored as fp16/bf16:
 * half the bytes to ship; loading converts back to fp32. Buffers (the clip bounds) stay F32. int8 quantizes the
 * large matrices (I8 + row scales, src/model/quantize.ts; the rest F32): a quarter of their bytes, loaded as int8.
 * An int8 source is written from the values its int8 weights stand for.
 */
async function runExport(args: string[]): Promise<number> {
  const parsed = parseCommand(EXPORT, args);
  if (!parsed) return 0;
  const { values, positionals } = parsed;
  const dtype = DTYPES[values.dtype];
  const src = nodePath.resolve(positionals[0]);
  const out = nodePath.resolve(values.out);
  if (src === out) throw usageError(EXPORT, '--out must differ from the source folder (the source is read while writing)');
  const ckpt = loadCheckpoint(src);
  for (const [name, m] of ckpt.stored) ckpt.tensors.set(name, widenStored(m));
  saveCheckpoint(out, ckpt.config, ckpt.tensors, dtype === 'int8' ? { quantization: 'int8' } : { dtype });
  // the tokenizer travels with the weights
  if (fs.existsSync(nodePath.join(src, TOKENIZER_FILE))) fs.copyFileSync(nodePath.join(src, TOKENIZER_FILE), nodePath.join(out, TOKENIZER_FILE));
  const bytes = fs.statSync(nodePath.join(out, WEIGHTS_FILE)).size;
  process.stdout.write(JSON.stringify({ from: src, to: out, dtype: dtype, bytes }) + '\n');
  return 0;
}
