/**
 * Incremental detokenisation for streaming: text is released only up to a complete UTF-8 character, so a character
 * split across blocks (bytes, or GPT-2's byte-level BPE) is not emitted as U+FFFD, and the concatenation of the
 * pieces equals decoding everything at once. A tail still undecodable after 64 tokens is released as is.
 */
import type { DecodeOptions, Tokenizer } from './tokenizer.js';

export class TextStream {
  private pending: number[] = [];
  constructor(
    private readonly tok: Tokenizer,
    private readonly opts: DecodeOptions = {},
  ) {}

  push(ids: ArrayLike<number>): string {
    for (let i = 0; i < ids.length; i++) this.pending.push(ids[i]);
    if (this.pending.length === 0) return '';
    const s = this.tok.decode(this.pending, this.opts);
    // an incomplete trailing character decodes to U+FFFD: wait for its remaining bytes
    if (s.endsWith('\uFFFD') && this.pending.length < 64) return '';
    this.pending = [];
    return s;
  }

  flush(): string {
    const s = this.pending.length ? this.tok.decode(this.pending, this.opts) : '';
    this.pending = [];
    return s;
  }
}
