/**
 * Wrapping documents into fixed-length sequences (spec 7.1): each document's tokens (no special tokens), EOS appended
 * when `insertEos`, all concatenated and cut into chunks. With `insertSpecial` a chunk holds L−2 tokens and is emitted
 * as [BOS] + chunk + [EOS]; otherwise L tokens. The final partial chunk is dropped.
 *
 * Difference from the reference: it concatenates and cuts per HF `map` batch of 1000 documents (and per worker shard),
 * dropping a remainder in every batch; we cut over the whole stream, so only one remainder (< one chunk) is lost and
 * chunks may span what would have been batch boundaries. The token sequence is otherwise identical.
 */
export interface WrapOptions {
  L: number;
  insertEos: boolean;
  insertSpecial: boolean;
  bos: number;
  eos: number;
}

export function checkLength(L: number, insertSpecial: boolean): void {
  const min = insertSpecial ? 3 : 1;
  if (!Number.isInteger(L) || L < min) throw new Error(`sequence length must be an integer >= ${min}${insertSpecial ? ' with special tokens' : ''}, got ${L}`);
}

/** Streaming wrapper: push documents, complete rows go to `emit` (the row buffer is reused: copy it if you keep it). */
export class Wrapper {
  private readonly row: Int32Array;
  private readonly start: number;
  private readonly end: number;
  private fill: number;
  /** rows emitted, content tokens consumed (incl. inserted EOS between documents) */
  rows = 0;
  tokens = 0;

  constructor(
    private readonly opts: WrapOptions,
    private readonly emit: (row: Int32Array) => void,
  ) {
    checkLength(opts.L, opts.insertSpecial);
    this.row = new Int32Array(opts.L);
    this.start = opts.insertSpecial ? 1 : 0;
    this.end = opts.insertSpecial ? opts.L - 1 : opts.L;
    if (opts.insertSpecial) {
      this.row[0] = opts.bos;
      this.row[opts.L - 1] = opts.eos;
    }
    this.fill = this.start;
  }

  push(doc: ArrayLike<number>): void {
    for (let i = 0; i < doc.length; i++) this.put(doc[i]);
    if (this.opts.insertEos) this.put(this.opts.eos);
  }

  private put(t: number): void {
    this.row[this.fill++] = t;
    this.tokens++;
    if (this.fill === this.end) {
      this.emit(this.row);
      this.rows++;
      this.fill = this.start;
    }
  }

  /** tokens of the trailing partial chunk, which are dropped */
  get remainder(): number {
    return this.fill - this.start;
  }
}

/** Whole-array convenience: the wrapped rows of a list of tokenised documents. */
export function wrapAll(docs: ArrayLike<number>[], opts: WrapOptions): Int32Array[] {
  const out: Int32Array[] = [];
  const w = new Wrapper(opts, (r) => out.push(r.slice()));
  for (const d of docs) w.push(d);
  return out;
}
