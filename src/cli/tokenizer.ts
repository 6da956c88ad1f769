/**
 * `bd3lm tokenizer train`: a byte-level BPE tokenizer (GPT-2's scheme) trained on text files, written as a Hugging
 * Face `tokenizer.json` into --out. `bd3lm prepare --tokenizer OUT` then tokenises a corpus with it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { documents, listInputs } from '../data/corpus.js';
import { countWords, trainBpe } from '../data/bpe-train.js';
import { TOKENIZER_FILE } from '../data/load-tokenizer.js';
import { HfTokenizer } from '../data/hf-tokenizer.js';
import { integerFlag, UsageError, withUsage } from './args.js';

export const TOKENIZER_USAGE = 'bd3lm tokenizer train --vocab-size N --out DIR [--min-frequency 1] [--text-field text] [--quiet] FILE|FOLDER...';

const HELP = `usage: ${TOKENIZER_USAGE}

Trains a byte-level BPE tokenizer (GPT-2's pre-tokenizer and byte alphabet) on the inputs (read as 'bd3lm prepare'
reads them) and writes DIR/tokenizer.json. --vocab-size counts every id: 256 bytes, the merges, <|endoftext|>
(BOS = EOS) and [MASK] last, so a model trained with it has vocab_size = N and mask id N - 1. Words seen fewer than
--min-frequency times are not counted.
`;

export async function runTokenizer(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === '--help' || sub === '-h' || sub === 'help') {
    process.stdout.write(HELP);
    return 0;
  }
  if (sub !== 'train') throw new UsageError(`${sub === undefined ? 'missing subcommand' : `unknown subcommand '${sub}'`} (expected: train)\nusage: ${TOKENIZER_USAGE}`);
  const { values, positionals } = withUsage(TOKENIZER_USAGE, () =>
    parseArgs({
      args: rest,
      options: {
        'vocab-size': { type: 'string' }, out: { type: 'string' }, 'min-frequency': { type: 'string' },
        'text-field': { type: 'string' }, quiet: { type: 'boolean', short: 'q' }, help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: true,
      strict: true,
    }),
  );
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const usage = (msg: string) => new UsageError(`${msg}\nusage: ${TOKENIZER_USAGE}`);
  if (values['vocab-size'] === undefined) throw usage('--vocab-size is required');
  const vocabSize = integerFlag(values['vocab-size'], '--vocab-size', 258, 0);
  const minFrequency = integerFlag(values['min-frequency'], '--min-frequency', 1, 1);
  if (!values.out) throw usage('--out DIR is required');
  if (positionals.length === 0) throw usage('no input files');
  const t0 = Date.now();
  const log = (s: string) => values.quiet || process.stderr.write(s);
  const words = new Map<string, number>();
  let bytes = 0;
  for (const doc of documents(listInputs(positionals), { textField: values['text-field'] })) {
    countWords(doc.text, words);
    bytes += Buffer.byteLength(doc.text);
  }
  log(`tokenizer: ${words.size.toLocaleString('en-US')} distinct words in ${(bytes / 1e6).toFixed(1)} MB\n`);
  const json = trainBpe(words, { vocabSize, minFrequency, onProgress: (m, n) => log(`tokenizer: ${m} / ${n} merges\n`) });
  const tok = new HfTokenizer(json, TOKENIZER_FILE); // checks what was written loads
  fs.mkdirSync(values.out, { recursive: true });
  const file = path.join(values.out, TOKENIZER_FILE);
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, JSON.stringify(json));
  fs.renameSync(tmp, file);
  process.stdout.write(JSON.stringify({ out: file, vocab_size: tok.vocabSize, eos: tok.eos, mask: tok.mask, seconds: (Date.now() - t0) / 1000 }) + '\n');
  return 0;
}
