import { parseArgs } from 'node:util';
import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import { loadCheckpoint, saveCheckpoint, WEIGHTS_FILE } from '../model/checkpoint.js';
import type { SaveDtype } from '../model/safetensors.js';
import { widenStored } from '../tensor/stored.js';
import { TOKENIZER_FILE } from '../data/load-tokenizer.js';
import { withUsage, UsageError } from './args.js';

const USAGE = 'bd3lm export SRC_DIR --out DIR [--dtype f16|bf16|f32|int8]';
const DTYPES: Record<string, SaveDtype | 'int8'> = { f16: 'F16', bf16: 'BF16', f32: 'F32', int8: 'int8' };

/**
 * Rewrites a checkpoint (e.g. a training run's published EMA weights) with its parameters stored as fp16/bf16:
 * half the bytes to ship; loading converts back to fp32. Buffers (the clip bounds) stay F32. int8 quantizes the
 * large matrices (I8 + row scales, src/model/quantize.ts; the rest F32): a quarter of their bytes, loaded as int8.
 * An int8 source is written from the values its int8 weights stand for.
 */
export async function runExport(args: string[]): Promise<number> {
  const { values, positionals } = withUsage(USAGE, () =>
    parseArgs({ args, options: { out: { type: 'string' }, dtype: { type: 'string' } }, allowPositionals: true, strict: true }),
  );
  if (positionals.length !== 1 || !values.out) throw new UsageError(`expected one source folder and --out\nusage: ${USAGE}`);
  const dtype = DTYPES[values.dtype ?? 'f16'];
  if (!dtype) throw new UsageError(`--dtype must be f16, bf16, f32 or int8, got '${values.dtype}'`);
  const src = nodePath.resolve(positionals[0]);
  const out = nodePath.resolve(values.out);
  if (src === out) throw new UsageError('--out must differ from the source folder (the source is read while writing)');
  const ckpt = loadCheckpoint(src);
  for (const [name, m] of ckpt.stored) ckpt.tensors.set(name, widenStored(m));
  saveCheckpoint(out, ckpt.config, ckpt.tensors, dtype === 'int8' ? { quantization: 'int8' } : { dtype });
  // the tokenizer travels with the weights
  if (fs.existsSync(nodePath.join(src, TOKENIZER_FILE))) fs.copyFileSync(nodePath.join(src, TOKENIZER_FILE), nodePath.join(out, TOKENIZER_FILE));
  const bytes = fs.statSync(nodePath.join(out, WEIGHTS_FILE)).size;
  process.stdout.write(JSON.stringify({ from: src, to: out, dtype: dtype, bytes }) + '\n');
  return 0;
}
