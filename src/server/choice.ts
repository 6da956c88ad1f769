/**
 * One choice's output as the client sees it: block texts pass through a stop-string filter, and the tokens'
 * log-probabilities are released with the text that carries them.
 *
 * Stop strings: a block's text may end in the first part of a stop string that the next block completes, so the
 * filter holds back the longest tail that is a prefix of some stop string and releases it once the next text
 * rules the stop out. When a stop string appears, the text before it is released and nothing after it ever is:
 * streamed chunks never show text past a stop string, and the whole text is cut exactly before it.
 *
 * Log-probabilities: tokens are matched to text by their UTF-8 bytes; a token is released once the text released
 * so far reaches into it (a token that starts inside a stop string is never released).
 */
import type { Tokenizer } from '../data/tokenizer.js';
import type { TokenLogprob } from '../sampling/logprobs.js';

export interface Released {
  text: string;
  /** tokens whose text begins in `text`, with their character offset in the choice's whole text */
  logprobs: { lp: TokenLogprob; offset: number }[];
}

const utf8 = new TextEncoder();

export class ChoiceOutput {
  /** the text released so far */
  text = '';
  /** a stop string ended the choice */
  stopped = false;
  private held = '';
  private readonly longest: number;
  /** tokens not released yet, with the byte offset where each starts */
  private pending: { lp: TokenLogprob; start: number }[] = [];
  private bytesSeen = 0;
  private bytesReleased = 0;

  constructor(
    private readonly stops: string[],
    private readonly tok: Tokenizer,
  ) {
    this.longest = Math.max(0, ...stops.map((s) => s.length));
  }

  /** a block's text and tokens (with their logprobs, if asked for); returns what may be shown now */
  push(text: string, tokens: number[], logprobs?: TokenLogprob[]): Released {
    if (this.stopped) return { text: '', logprobs: [] };
    if (logprobs) {
      tokens.forEach((t, i) => {
        this.pending.push({ lp: logprobs[i], start: this.bytesSeen });
        this.bytesSeen += this.tokenBytes(t);
      });
    }
    const all = this.held + text;
    const at = this.firstStop(all);
    if (at >= 0) {
      this.stopped = true;
      this.held = '';
      return this.release(all.slice(0, at));
    }
    const keep = this.heldTail(all);
    this.held = all.slice(all.length - keep);
    return this.release(all.slice(0, all.length - keep));
  }

  /** the end of the choice: whatever was held back (no stop string can complete any more) */
  finish(): Released {
    if (this.stopped) return { text: '', logprobs: [] };
    const rest = this.held;
    this.held = '';
    const r = this.release(rest);
    // tokens with no text of their own (an EOS) go out with the last of it
    r.logprobs.push(...this.pending.map((p) => ({ lp: p.lp, offset: this.text.length })));
    this.pending = [];
    return r;
  }

  private release(text: string): Released {
    const before = this.text;
    const bytes = utf8.encode(text);
    const from = this.bytesReleased;
    this.text += text;
    this.bytesReleased += bytes.length;
    const out: Released['logprobs'] = [];
    while (this.pending.length && this.pending[0].start < this.bytesReleased) {
      const p = this.pending.shift()!;
      // the character offset of the token's first byte (a token inside a character: where that character starts)
      const lead = new TextDecoder().decode(bytes.subarray(0, Math.max(0, p.start - from)));
      out.push({ lp: p.lp, offset: before.length + lead.replace(/\uFFFD$/, '').length });
    }
    return { text, logprobs: out };
  }

  private tokenBytes(t: number): number {
    const tok = this.tok;
    return t === tok.bos || t === tok.eos || t === tok.mask ? 0 : tok.tokenBytes(t).length;
  }

  private firstStop(s: string): number {
    let at = -1;
    for (const stop of this.stops) {
      const i = s.indexOf(stop);
      if (i >= 0 && (at < 0 || i < at)) at = i;
    }
    return at;
  }

  /** length of the longest tail of `s` that begins some stop string (and is shorter than it) */
  private heldTail(s: string): number {
    for (let k = Math.min(this.longest - 1, s.length); k > 0; k--) {
      const tail = s.slice(s.length - k);
      if (this.stops.some((stop) => stop.startsWith(tail))) return k;
    }
    return 0;
  }
}
