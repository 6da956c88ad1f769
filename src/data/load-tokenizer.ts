/** Node side of the tokenizer registry (tokenizers.ts): reads a model folder's config.json and tokenizer.json. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BUILTIN_TOKENIZERS, builtinTokenizer, tokenizerForConfigJson, type TokenizerFile } from './tokenizers.js';
import { HfTokenizer } from './hf-tokenizer.js';
import type { Tokenizer } from './tokenizer.js';
import { resolveModel } from '../model/load.js';
import { parseHfConfig } from '../model/config.js';
import { TOKENIZER_FILE } from '../model/checkpoint-format.js';

export { TOKENIZER_FILE };

/** Parses a tokenizer.json; errors name the file. */
export function readTokenizerFile(file: string): TokenizerFile {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`${file}: cannot read the tokenizer (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    return { json: JSON.parse(text), source: file };
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message})`);
  }
}

/** The folder's tokenizer.json, if it has one. */
export function tokenizerFileIn(dir: string): TokenizerFile | undefined {
  const file = path.join(dir, TOKENIZER_FILE);
  return fs.existsSync(file) ? readTokenizerFile(file) : undefined;
}

/**
 * The tokenizer of a model folder or repo id (default: the embedded default model): its tokenizer.json if it has one, else the
 * built-in one its config.json names or implies. `config` (the loaded model's) saves reading config.json twice.
 */
export async function loadTokenizer(dir?: string, config?: { vocabSize: number }): Promise<Tokenizer> {
  const folder = await resolveModel(dir); // a folder, a repo id (from the hub cache), or the default model
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(path.join(folder, 'config.json'), 'utf8'));
  } catch (e) {
    if (!config) throw new Error(`${path.join(folder, 'config.json')}: cannot read the model config (${(e as Error).message})`);
    // with a loaded model, loadModel has already reported a missing or broken config.json
  }
  const vocabSize = config?.vocabSize ?? parseHfConfig(json, path.join(folder, 'config.json')).vocabSize;
  return tokenizerForConfigJson(json, vocabSize, tokenizerFileIn(folder));
}

/** `prepare --tokenizer`: a built-in name, a tokenizer.json file, or a folder holding one. */
export async function tokenizerFromArg(arg: string): Promise<{ tok: Tokenizer; file?: string }> {
  if ((BUILTIN_TOKENIZERS as readonly string[]).includes(arg)) return { tok: await builtinTokenizer(arg) };
  let file = arg;
  if (fs.existsSync(arg) && fs.statSync(arg).isDirectory()) file = path.join(arg, TOKENIZER_FILE);
  else if (!fs.existsSync(arg)) throw new Error(`tokenizer '${arg}': not ${BUILTIN_TOKENIZERS.join(' or ')}, and no such file or folder`);
  const f = readTokenizerFile(file);
  return { tok: new HfTokenizer(f.json, f.source), file };
}
