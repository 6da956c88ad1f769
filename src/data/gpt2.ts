/**
 * GPT-2 BPE (r50k ranks) offline via `gpt-tokenizer`, with the reference's appended mask id (spec 1.1):
 * 0..50255 BPE tokens, 50256 `<|endoftext|>` = BOS = EOS, 50257 mask, V = 50258. Decoding uses our own byte join
 * (the package's decoder shares one streaming TextDecoder across calls, so a call ending mid-character would leak
 * bytes into the next one).
 */
import { decodeWith, encodeWithEot, type DecodeOptions, type Tokenizer } from './tokenizer.js';

const utf8 = new TextEncoder();

export class Gpt2Tokenizer implements Tokenizer {
  readonly name = 'gpt2';
  readonly vocabSize = 50258;
  readonly bos = 50256;
  readonly eos = 50256;
  readonly mask = 50257;
  private readonly bytes: Uint8Array[];
  private readonly encodePlain: (s: string) => number[];
  constructor(ranks: (string | number[])[], encodePlain: (s: string) => number[]) {
    if (ranks.length !== 50256) throw new Error(`GPT-2 ranks: expected 50256 entries, got ${ranks.length}`);
    this.bytes = ranks.map((r) => (typeof r === 'string' ? utf8.encode(r) : Uint8Array.from(r)));
    this.encodePlain = encodePlain;
  }
  encode(text: string): number[] {
    return encodeWithEot(text, this.eos, this.encodePlain);
  }
  decode(ids: ArrayLike<number>, opts?: DecodeOptions): string {
    return decodeWith(this, ids, opts);
  }
  tokenBytes(id: number): Uint8Array {
    return this.bytes[id];
  }
}

let cached: Promise<Gpt2Tokenizer> | undefined;

export function loadGpt2Tokenizer(): Promise<Gpt2Tokenizer> {
  cached ??= (async () => {
    const [enc, ranks] = await Promise.all([import('gpt-tokenizer/encoding/r50k_base'), import('gpt-tokenizer/bpeRanks/r50k_base')]);
    return new Gpt2Tokenizer(ranks.default, (s) => enc.encode(s));
  })();
  return cached;
}
