/** Node side of tokenizer selection: reads an optional `"tokenizer": "gpt2" | "bytes"` from a model's config.json. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tokenizerFor, type Tokenizer } from './tokenizer.js';

export async function loadTokenizer(dir: string, config: { vocabSize: number }): Promise<Tokenizer> {
  let named: string | undefined;
  try {
    const json = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as { tokenizer?: unknown };
    if (json.tokenizer !== undefined) named = String(json.tokenizer);
  } catch {
    // loadModel has already reported a missing or broken config.json
  }
  return tokenizerFor({ vocabSize: config.vocabSize, tokenizer: named });
}
