/**
 * `bd3lm tokenizer train`: a byte-level BPE tokenizer (GPT-2's scheme) trained on text files, written as a Hugging
 * Face `tokenizer.json` into --out. `bd3lm prepare --tokenizer OUT` then tokenises a corpus with it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { documents, listInputs } from '../data/corpus.js';
import { countWords, trainBpe } from '../data/bpe-train.js';
import { TOKENIZER_FILE } from '../data/load-tokenizer.js';
import { HfTokenizer } from '../data/hf-tokenizer.js';
import { integerFlag } from './args.js';
import { defineCommand, parseCommand, usageError, type Command } from './options.js';

export const TOKENIZER_TRAIN = defineCommand({
  name: 'tokenizer train',
  summary: 'Train a byte-level BPE tokenizer (Hugging Face tokenizer.json) on text files.',
  args: 'FILE|FOLDER...',
  positionals: [1, Infinity],
  options: {
    'vocab-size': { value: 'N', required: true, help: 'every id: 256 bytes, the merges, <|endoftext|> (BOS = EOS) and [MASK] last, so a model trained with it has vocab_size = N and mask id N - 1' },
    out: { value: 'DIR', required: true, help: 'writes DIR/tokenizer.json' },
    'min-frequency': { value: 'N', default: '1', help: 'words seen fewer times are not counted' },
    'text-field': { value: 'NAME', default: 'text', help: 'the JSONL field holding the text' },
    quiet: { short: 'q', help: 'no progress on stderr' },
  },
  notes: "Inputs are read as 'bd3lm prepare' reads them; the pre-tokenizer and byte alphabet are GPT-2's.",
});

async function runTokenizerTrain(args: string[]): Promise<number> {
  const parsed = parseCommand(TOKENIZER_TRAIN, args);
  if (!parsed) return 0;
  const { values, positionals } = parsed;
  const usage = (msg: string) => usageError(TOKENIZER_TRAIN, msg);
  const vocabSize = integerFlag(values['vocab-size'], '--vocab-size', 258, usage);
  const minFrequency = integerFlag(values['min-frequency'], '--min-frequency', 1, usage);
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

export const tokenizerTrainCommand: Command = { spec: TOKENIZER_TRAIN, run: runTokenizerTrain };
