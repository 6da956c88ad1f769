/**
 * The tokenizer registry: the one place that decides which tokenizer a model uses, for every caller (prepare, train,
 * eval, sample, serve, the browser page, loadModel). Free of Node-only imports; the Node side (load-tokenizer.ts)
 * and the browser read the files and hand them here.
 *
 * Order: a `tokenizer.json` in the model folder (Hugging Face format, hf-tokenizer.ts); else config.json's
 * `"tokenizer": "gpt2" | "bytes"`; else by vocabulary size (50258 = GPT-2 + mask, 257 = bytes + mask).
 */
import { ByteTokenizer, type Tokenizer } from './tokenizer.js';
import { HfTokenizer } from './hf-tokenizer.js';

export const BUILTIN_TOKENIZERS = ['gpt2', 'bytes'] as const;
export type BuiltinTokenizer = (typeof BUILTIN_TOKENIZERS)[number];

/** A model folder's `tokenizer.json`, parsed, with where it came from (named in errors). */
export interface TokenizerFile {
  json: unknown;
  source: string;
}

/** Which built-in tokenizer a config names or implies (no tokenizer.json). */
export function tokenizerNameFor(config: { vocabSize: number; tokenizer?: string }): BuiltinTokenizer {
  const named = config.tokenizer;
  if (named !== undefined) {
    if ((BUILTIN_TOKENIZERS as readonly string[]).includes(named)) return named as BuiltinTokenizer;
    throw new Error(`unknown tokenizer '${named}' in the model config (expected 'gpt2' or 'bytes', or a tokenizer.json beside config.json)`);
  }
  if (config.vocabSize === 50258) return 'gpt2';
  if (config.vocabSize === 257) return 'bytes';
  throw new Error(`no tokenizer for a vocabulary of ${config.vocabSize} (known: 50258 = GPT-2 + mask, 257 = bytes + mask); put a tokenizer.json beside config.json or set "tokenizer" in it`);
}

/** A built-in tokenizer by name; GPT-2's ranks (~1 MB of JS) load only when needed. */
export async function builtinTokenizer(name: string): Promise<Tokenizer> {
  if (name === 'bytes') return new ByteTokenizer();
  if (name === 'gpt2') return (await import('./gpt2.js')).loadGpt2Tokenizer();
  throw new Error(`unknown tokenizer '${name}' (expected ${BUILTIN_TOKENIZERS.join(' or ')}, or a tokenizer.json)`);
}

/** The tokenizer for a model config (and its folder's tokenizer.json, if any); its size must match the model's. */
export async function tokenizerFor(config: { vocabSize: number; tokenizer?: string }, file?: TokenizerFile): Promise<Tokenizer> {
  const tok = file ? new HfTokenizer(file.json, file.source) : await builtinTokenizer(tokenizerNameFor(config));
  if (tok.vocabSize !== config.vocabSize) {
    const what = file ? file.source : `the ${tok.name} tokenizer`;
    throw new Error(`${what} has ${tok.vocabSize} ids (mask included) but the model's vocab_size is ${config.vocabSize}`);
  }
  return tok;
}

/** The same, given a model's raw config.json object, which may name a built-in tokenizer in a `tokenizer` field. */
export function tokenizerForConfigJson(json: unknown, vocabSize: number, file?: TokenizerFile): Promise<Tokenizer> {
  const named = typeof json === 'object' && json !== null ? (json as { tokenizer?: unknown }).tokenizer : undefined;
  return tokenizerFor({ vocabSize, tokenizer: named === undefined ? undefined : String(named) }, file);
}
