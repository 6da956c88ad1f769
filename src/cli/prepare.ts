/**
 * `bd3lm prepare`: tokenise and wrap text into training datasets (OUT/train, optionally OUT/valid). Progress goes to
 * stderr every 2 s (documents, tokens, MB/s); one summary line goes to stdout at the end.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { prepare, type Progress, type SplitSummary } from '../data/prepare.js';
import { TOKENIZER_FILE, tokenizerFromArg } from '../data/load-tokenizer.js';
import { numberFlag } from './args.js';
import { defineCommand, parseCommand, usageError, type Command } from './options.js';

export const PREPARE = defineCommand({
  name: 'prepare',
  summary: 'Tokenise and wrap text / JSONL / folders into training datasets OUT/train and OUT/valid (token files).',
  args: 'FILE|FOLDER...',
  positionals: [1, Infinity],
  options: {
    tokenizer: { value: 'gpt2|bytes|TOKENIZER.json|DIR', required: true, help: "gpt2 (BPE, mask 50257, V 50258), bytes (V 257), or a Hugging Face tokenizer.json (a file, or a folder holding one, e.g. from 'bd3lm tokenizer train'; copied to OUT, and 'bd3lm train' copies it into the model folder)" },
    length: { value: 'L', required: true, help: 'tokens per row (the model length)' },
    out: { value: 'DIR', required: true, help: 'output folder' },
    'valid-fraction': { value: 'F', help: 'share of documents held out for validation, in (0, 1)' },
    'valid-docs': { value: 'N', help: 'number of documents held out for validation' },
    seed: { value: 'S', default: '1', help: 'draws the validation documents' },
    'text-field': { value: 'NAME', help: 'JSONL field holding the text (default "text")' },
    'split-lines': { help: 'one document per non-blank line of a text file' },
    'insert-eos': { help: 'append EOS to every document (the default)' },
    'no-insert-eos': { help: 'do not append EOS' },
    'insert-special': { help: 'rows are [BOS] + L-2 tokens + [EOS]' },
    quiet: { short: 'q', help: 'no progress lines' },
  },
  notes: `Inputs: .jsonl/.ndjson files give one document per line (field --text-field); other files give one
document per file, or one per non-blank line with --split-lines; folders are read recursively in sorted order.
Every document is tokenised without special tokens, EOS is appended (unless --no-insert-eos), everything is
concatenated and cut into rows of L tokens ([BOS] + L-2 + [EOS] with --insert-special); the last partial row is
dropped. Validation documents (--valid-fraction / --valid-docs) are drawn with --seed and wrapped separately.
Inside a folder, files that cannot be read or look binary are skipped with a warning; a file named directly must be
readable UTF-8 text.`,
});

const usage = (msg: string) => usageError(PREPARE, msg);
const int = (v: string | undefined, flag: string, min: number) => numberFlag(v, flag, { int: true, min }, usage);

const mb = (b: number) => (b / 1e6).toFixed(1);

function progressLine(p: Progress): string {
  const rate = p.seconds > 0 ? p.bytes / 1e6 / p.seconds : 0;
  const what = p.phase === 'count' ? 'counting documents' : 'tokenising';
  return `prepare: ${what}: ${p.docs.toLocaleString('en-US')} docs, ${p.tokens.toLocaleString('en-US')} tokens, ${mb(p.bytes)} MB at ${rate.toFixed(1)} MB/s\n`;
}

const splitText = (name: string, s: SplitSummary, L: number) =>
  `${name} ${s.rows.toLocaleString('en-US')} × ${L} (${s.docs.toLocaleString('en-US')} docs, ${s.dropped} tokens dropped) → ${s.dir}`;

export const prepareCommand: Command = { spec: PREPARE, run: runPrepare };

async function runPrepare(args: string[]): Promise<number> {
  const parsed = parseCommand(PREPARE, args);
  if (!parsed) return 0;
  const { values, positionals } = parsed;
  const insertSpecial = !!values['insert-special'];
  const L = int(values.length, '--length', insertSpecial ? 3 : 1)!;
  if (values['insert-eos'] && values['no-insert-eos']) throw usage('--insert-eos and --no-insert-eos exclude each other');
  if (values['valid-fraction'] !== undefined && values['valid-docs'] !== undefined) throw usage('--valid-fraction and --valid-docs exclude each other');
  let validFraction: number | undefined;
  if (values['valid-fraction'] !== undefined) {
    validFraction = Number(values['valid-fraction']);
    if (values['valid-fraction'].trim() === '' || !(validFraction > 0 && validFraction < 1)) {
      throw usage(`--valid-fraction must be a number in (0, 1), got '${values['valid-fraction']}'`);
    }
  }
  if (values['text-field'] !== undefined && values['text-field'] === '') throw usage('--text-field must not be empty');

  const validDocs = int(values['valid-docs'], '--valid-docs', 1);
  const seed = int(values.seed, '--seed', 0)!;
  let picked: Awaited<ReturnType<typeof tokenizerFromArg>>;
  try {
    picked = await tokenizerFromArg(values.tokenizer);
  } catch (e) {
    throw usage(`--tokenizer: ${(e as Error).message}`);
  }
  const tokenizer = picked.tok;
  const quiet = !!values.quiet;
  const s = await prepare({
    inputs: positionals,
    out: values.out,
    tokenizer,
    L,
    insertEos: !values['no-insert-eos'],
    insertSpecial,
    validFraction,
    validDocs,
    seed,
    textField: values['text-field'],
    splitLines: !!values['split-lines'],
    onProgress: quiet ? undefined : (p) => process.stderr.write(progressLine(p)),
    onSkip: (file, why) => process.stderr.write(`prepare: skipping ${file}: ${why}\n`),
  });
  if (picked.file) fs.copyFileSync(picked.file, path.join(values.out, TOKENIZER_FILE));
  const rate = s.seconds > 0 ? s.bytes / 1e6 / s.seconds : 0;
  const parts = [splitText('train', s.train, L)];
  if (s.valid) parts.push(splitText('valid', s.valid, L));
  const skipped = s.skipped ? `, ${s.skipped} unreadable or binary skipped` : '';
  process.stdout.write(`prepared ${s.files} files (${mb(s.bytes)} MB, ${rate.toFixed(1)} MB/s, ${tokenizer.name}${skipped}): ${parts.join('; ')}\n`);
  return 0;
}
