/**
 * Tokenizers of the models this package runs (spec 1). Both keep the reference's id layout: the base vocabulary, then
 * one appended mask id; BOS = EOS = the base vocabulary's last id. Free of Node-only imports (usable in a Web Worker).
 *
 * Decoding renders BOS/EOS as `<|endoftext|>` (the reference decodes with special tokens kept) and the mask id as
 * `[MASK]` (the reference's GPT-2 tokenizer shows `[PAD]`, its pad token shares the id; `[MASK]` says what it is).
 * `skipSpecial` drops BOS/EOS (for user-facing text); masks are always shown. Invalid UTF-8 becomes U+FFFD.
 */
export interface DecodeOptions {
  /** drop BOS/EOS ids instead of rendering them */
  skipSpecial?: boolean;
}

export interface Tokenizer {
  readonly name: string;
  /** the model vocabulary V (base vocabulary + mask) */
  readonly vocabSize: number;
  readonly bos: number;
  readonly eos: number;
  readonly mask: number;
  encode(text: string): number[];
  decode(ids: ArrayLike<number>, opts?: DecodeOptions): string;
  /** the UTF-8 bytes of one non-special token (what incremental decoding concatenates) */
  tokenBytes(id: number): Uint8Array;
}

export const EOT_TEXT = '<|endoftext|>';
export const MASK_TEXT = '[MASK]';

const utf8 = new TextEncoder();

/**
 * Shared decoding: runs of ordinary tokens are joined as bytes and decoded once (so multi-byte characters split
 * across tokens come out whole); special ids are rendered between runs.
 */
export function decodeWith(tok: Tokenizer, ids: ArrayLike<number>, opts: DecodeOptions = {}): string {
  const dec = new TextDecoder('utf-8'); // fresh per call: no streaming state leaks between calls
  let out = '';
  let run: Uint8Array[] = [];
  let runLen = 0;
  const flush = () => {
    if (runLen === 0) return;
    const buf = new Uint8Array(runLen);
    let o = 0;
    for (const b of run) {
      buf.set(b, o);
      o += b.length;
    }
    out += dec.decode(buf);
    run = [];
    runLen = 0;
  };
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (!Number.isInteger(id) || id < 0 || id >= tok.vocabSize) throw new Error(`token id ${id} is outside the vocabulary 0..${tok.vocabSize - 1}`);
    if (id === tok.mask) {
      flush();
      out += MASK_TEXT;
    } else if (id === tok.bos || id === tok.eos) {
      flush();
      if (!opts.skipSpecial) out += EOT_TEXT;
    } else {
      const b = tok.tokenBytes(id);
      run.push(b);
      runLen += b.length;
    }
  }
  flush();
  return out;
}

/** Splits on the literal `<|endoftext|>` (it encodes to EOS, as HF tokenizers treat added special tokens). */
export function encodeWithEot(text: string, eos: number, encodePlain: (s: string) => number[]): number[] {
  const out: number[] = [];
  const parts = text.split(EOT_TEXT);
  parts.forEach((p, i) => {
    if (i > 0) out.push(eos);
    if (p.length) for (const t of encodePlain(p)) out.push(t);
  });
  return out;
}

/**
 * Bytes as tokens: ids 0..254 are bytes, 255 is BOS = EOS, 256 the mask (V = 257) — the layout of the golden test
 * model (test/fixtures/bs4). Byte 255 never occurs in UTF-8 text, so text round-trips exactly.
 */
export class ByteTokenizer implements Tokenizer {
  readonly name = 'bytes';
  readonly vocabSize = 257;
  readonly bos = 255;
  readonly eos = 255;
  readonly mask = 256;
  private readonly single = Array.from({ length: 256 }, (_, i) => Uint8Array.of(i));
  encode(text: string): number[] {
    return encodeWithEot(text, this.eos, (s) => Array.from(utf8.encode(s)));
  }
  decode(ids: ArrayLike<number>, opts?: DecodeOptions): string {
    return decodeWith(this, ids, opts);
  }
  tokenBytes(id: number): Uint8Array {
    return this.single[id];
  }
}

/** The UTF-8 length of each token's text, 0 for the special ids (BOS/EOS, mask): what bits per byte divides by. */
export function tokenByteLength(tok: Tokenizer): (id: number) => number {
  return (id) => (id === tok.eos || id === tok.bos || id === tok.mask ? 0 : tok.tokenBytes(id).length);
}
