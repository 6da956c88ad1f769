/** Node side of tokenizer selection: reads an optional `"tokenizer": "gpt2" | "bytes"` from a model's config.json. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tokenizerForConfigJson, type Tokenizer } from './tokenizer.js';

export async function loadTokenizer(dir: string, config: { vocabSize: number }): Promise<Tokenizer> {
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  } catch {
    // loadModel has already reported a missing or broken config.json
  }
  return tokenizerForConfigJson(json, config.vocabSize);
}
