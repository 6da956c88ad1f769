/**
 * Deterministic batches from an on-disk dataset, streamed: only the rows of the current batch are read (one pread per
 * run of consecutive rows), so a dataset larger than memory works; the only per-row memory is the epoch's order
 * (4 bytes a row). Epoch e visits rows in a Fisher–Yates order drawn from Rng(epochSeed(seed, e)), so any epoch can
 * be rebuilt from (seed, e) alone, which makes state()/restore() a few numbers: a resumed run sees the same batches.
 */
import { Dataset, type DatasetMeta } from './dataset.js';
import { Rng } from '../tensor/rng.js';

export interface LoaderOptions {
  batchSize: number;
  seed?: number;
  /** reshuffle every epoch (default true); false = file order */
  shuffle?: boolean;
  /** skip an epoch's last incomplete batch (default true) */
  dropLast?: boolean;
  /** what the model needs; a mismatch is an error naming both */
  expect?: { L?: number; vocabSize?: number; tokenizer?: string };
}

export interface Batch {
  /** [rows][L] token ids, row-major */
  ids: Int32Array;
  /** rows in this batch (batchSize, or fewer for an epoch's last batch when dropLast is false) */
  rows: number;
  epoch: number;
  /** batch number within the epoch */
  index: number;
  /** batches delivered before this one, over all epochs */
  step: number;
  /** dataset row of each batch row */
  indices: Uint32Array;
}

export interface LoaderState {
  seed: number;
  shuffle: boolean;
  batchSize: number;
  dropLast: boolean;
  /** identifies the dataset the state belongs to */
  count: number;
  sha256: string;
  epoch: number;
  /** position of the next batch in the epoch's order */
  pos: number;
  step: number;
}

/** A 32-bit seed per (seed, epoch): splitmix-style mixing of both, so neighbouring epochs are unrelated. */
export function epochSeed(seed: number, epoch: number): number {
  let h = (seed >>> 0) ^ Math.imul(Math.floor(seed / 4294967296) >>> 0, 0x9e3779b1);
  for (const w of [epoch >>> 0, 0x5bd1e995]) {
    h = Math.imul(h ^ w, 0x85ebca6b) >>> 0;
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
    h = (h ^ (h >>> 16)) >>> 0;
  }
  return h;
}

/** The row order of one epoch. */
export function epochOrder(count: number, seed: number, epoch: number, shuffle: boolean): Uint32Array {
  const order = new Uint32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  if (!shuffle) return order;
  const rng = new Rng(epochSeed(seed, epoch));
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(rng.uniform() * (i + 1));
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order;
}

export function checkExpected(meta: DatasetMeta, dir: string, expect: NonNullable<LoaderOptions['expect']>): void {
  if (expect.L !== undefined && meta.L !== expect.L) {
    throw new Error(`${dir}: sequences of ${meta.L} tokens, but the model expects ${expect.L} (re-run 'bd3lm prepare --length ${expect.L}')`);
  }
  if (expect.vocabSize !== undefined && meta.vocabSize !== expect.vocabSize) {
    throw new Error(`${dir}: tokenised with ${meta.tokenizer} (vocabulary ${meta.vocabSize}), but the model's vocabulary is ${expect.vocabSize}`);
  }
  if (expect.tokenizer !== undefined && meta.tokenizer !== expect.tokenizer) {
    throw new Error(`${dir}: tokenised with ${meta.tokenizer}, but the model uses ${expect.tokenizer}`);
  }
}

export class Loader {
  readonly data: Dataset;
  readonly batchSize: number;
  private readonly seed: number;
  private readonly shuffle: boolean;
  private readonly dropLast: boolean;
  private epoch = 0;
  private pos = 0;
  private step = 0;
  private order: Uint32Array;

  constructor(dir: string, opts: LoaderOptions) {
    const { batchSize, seed = 0, shuffle = true, dropLast = true } = opts;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`batch size must be a positive integer, got ${batchSize}`);
    if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`seed must be a non-negative integer, got ${seed}`);
    this.data = new Dataset(dir);
    try {
      if (opts.expect) checkExpected(this.data.meta, dir, opts.expect);
      if (this.data.count === 0) throw new Error(`${dir}: the dataset has no sequences`);
      if (dropLast && this.data.count < batchSize) {
        throw new Error(`${dir}: ${this.data.count} sequences, fewer than one batch of ${batchSize} (lower the batch size or set dropLast false)`);
      }
    } catch (e) {
      this.data.close();
      throw e;
    }
    this.batchSize = batchSize;
    this.seed = seed;
    this.shuffle = shuffle;
    this.dropLast = dropLast;
    this.order = epochOrder(this.data.count, seed, 0, shuffle);
  }

  get meta(): DatasetMeta {
    return this.data.meta;
  }

  get batchesPerEpoch(): number {
    const n = this.data.count / this.batchSize;
    return this.dropLast ? Math.floor(n) : Math.ceil(n);
  }

  next(): Batch {
    const count = this.data.count;
    if (this.pos >= count || (this.dropLast && this.pos + this.batchSize > count)) this.startEpoch(this.epoch + 1);
    const rows = Math.min(this.batchSize, count - this.pos);
    const L = this.data.L;
    const indices = this.order.slice(this.pos, this.pos + rows);
    const ids = new Int32Array(rows * L);
    // coalesce runs of consecutive rows (all of them without shuffling) into single reads
    for (let r = 0; r < rows; ) {
      let e = r + 1;
      while (e < rows && indices[e] === indices[e - 1] + 1) e++;
      this.data.readRows(indices[r], e - r, ids, r * L);
      r = e;
    }
    const batch: Batch = { ids, rows, epoch: this.epoch, index: Math.floor(this.pos / this.batchSize), step: this.step, indices };
    this.pos += rows;
    this.step++;
    return batch;
  }

  private startEpoch(e: number): void {
    this.epoch = e;
    this.pos = 0;
    this.order = epochOrder(this.data.count, this.seed, e, this.shuffle);
  }

  /** where the loader stands; JSON-serialisable (store it in a training checkpoint) */
  state(): LoaderState {
    const { seed, shuffle, batchSize, dropLast, epoch, pos, step } = this;
    return { seed, shuffle, batchSize, dropLast, count: this.data.count, sha256: this.data.meta.sha256, epoch, pos, step };
  }

  /** continues from a state(): the next batch is the one that followed when the state was taken */
  restore(s: LoaderState): void {
    const mine = this.state();
    for (const k of ['seed', 'shuffle', 'batchSize', 'dropLast', 'count', 'sha256'] as const) {
      if (s[k] !== mine[k]) throw new Error(`loader state is for ${k} = ${String(s[k])}, this loader has ${String(mine[k])}`);
    }
    if (!(Number.isInteger(s.epoch) && s.epoch >= 0 && Number.isInteger(s.pos) && s.pos >= 0 && s.pos <= s.count && Number.isInteger(s.step) && s.step >= 0)) {
      throw new Error(`loader state has a bad position (epoch ${s.epoch}, pos ${s.pos}, step ${s.step})`);
    }
    if (s.epoch !== this.epoch) this.order = epochOrder(this.data.count, this.seed, s.epoch, this.shuffle);
    this.epoch = s.epoch;
    this.pos = s.pos;
    this.step = s.step;
  }

  close(): void {
    this.data.close();
  }
}
