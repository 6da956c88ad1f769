/**
 * The `prepare` pipeline: text inputs → documents → tokens → wrapped rows → `OUT/train` (and `OUT/valid`).
 *
 * The train/valid split is by document and exact: when a validation set is asked for, a first pass counts the
 * documents, then k of them are drawn with a seeded partial Fisher–Yates (same inputs + seed → same split); the
 * second pass tokenises and routes each document. Each split is wrapped independently (spec 7.1, see wrap.ts), so
 * neither split's rows contain the other's tokens.
 */
import * as path from 'node:path';
import { documents, listInputs, type CorpusOptions, type ReadStats } from './corpus.js';
import { Wrapper, checkLength } from './wrap.js';
import { DatasetWriter, type DatasetMeta } from './dataset.js';
import type { Tokenizer } from './tokenizer.js';
import { Rng } from '../tensor/rng.js';

export interface PrepareOptions extends CorpusOptions {
  inputs: string[];
  out: string;
  tokenizer: Tokenizer;
  L: number;
  /** EOS after every document (default true, the paper's OWT training convention) */
  insertEos?: boolean;
  /** rows as [BOS] + L−2 tokens + [EOS] (default false) */
  insertSpecial?: boolean;
  /** share of documents held out for validation, or an exact count (at most one of the two) */
  validFraction?: number;
  validDocs?: number;
  seed?: number;
  onProgress?: (p: Progress) => void;
  /** a file inside a folder input that is skipped (unreadable or binary), with the reason */
  onSkip?: (file: string, why: string) => void;
  /** minimum time between onProgress calls (default 2000 ms) */
  progressMs?: number;
}

export interface Progress {
  phase: 'count' | 'tokenise';
  docs: number;
  tokens: number;
  bytes: number;
  seconds: number;
}

export interface SplitSummary {
  dir: string;
  docs: number;
  rows: number;
  /** tokens written (rows × L) and tokens lost in the final partial row */
  tokens: number;
  dropped: number;
}

export interface PrepareSummary {
  train: SplitSummary;
  valid?: SplitSummary;
  files: number;
  /** files inside folder inputs skipped as unreadable or binary */
  skipped: number;
  bytes: number;
  seconds: number;
}

/** Marks k of n documents for validation (seeded partial Fisher–Yates). */
export function pickValid(n: number, k: number, seed: number): Uint8Array {
  const idx = new Uint32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  const rng = new Rng(seed);
  const mark = new Uint8Array(n);
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(rng.uniform() * (n - i));
    const t = idx[i];
    idx[i] = idx[j];
    idx[j] = t;
    mark[idx[i]] = 1;
  }
  return mark;
}

const MAX_SOURCES_IN_META = 1000;

export async function prepare(opts: PrepareOptions): Promise<PrepareSummary> {
  const { tokenizer: tok, L, insertEos = true, insertSpecial = false, seed = 1, progressMs = 2000 } = opts;
  checkLength(L, insertSpecial);
  if (opts.validFraction !== undefined && opts.validDocs !== undefined) throw new Error('give a validation fraction or a document count, not both');
  if (opts.validFraction !== undefined && !(opts.validFraction > 0 && opts.validFraction < 1)) {
    throw new Error(`validation fraction must be in (0, 1), got ${opts.validFraction}`);
  }
  if (opts.validDocs !== undefined && !(Number.isInteger(opts.validDocs) && opts.validDocs >= 1)) {
    throw new Error(`validation documents must be a positive integer, got ${opts.validDocs}`);
  }
  let skipped = 0;
  const files = listInputs(opts.inputs, (file, why) => {
    skipped++;
    opts.onSkip?.(file, why);
  });
  const corpus: CorpusOptions = { textField: opts.textField, splitLines: opts.splitLines };
  const t0 = Date.now();
  let last = t0;
  const stats: ReadStats = { bytes: 0 };
  const report = (phase: Progress['phase'], docs: number, tokens: number, force = false) => {
    const now = Date.now();
    if (!opts.onProgress || (!force && now - last < progressMs)) return;
    last = now;
    opts.onProgress({ phase, docs, tokens, bytes: stats.bytes, seconds: (now - t0) / 1000 });
  };

  let valid: Uint8Array | undefined;
  if (opts.validFraction !== undefined || opts.validDocs !== undefined) {
    let n = 0;
    for (const _ of documents(files, corpus, stats)) report('count', ++n, 0);
    const k = opts.validDocs ?? Math.round(opts.validFraction! * n);
    if (k < 1) throw new Error(`a validation fraction of ${opts.validFraction} of ${n} documents selects none; raise it or use --valid-docs`);
    if (k >= n) throw new Error(`${k} validation documents leave none of the ${n} for training`);
    valid = pickValid(n, k, seed);
    stats.bytes = 0;
  }

  const header = { tokenizer: tok.name, vocabSize: tok.vocabSize, bos: tok.bos, eos: tok.eos, L, insertEos, insertSpecial };
  const wrap = { L, insertEos, insertSpecial, bos: tok.bos, eos: tok.eos };
  const splits = (valid ? (['train', 'valid'] as const) : (['train'] as const)).map((name) => {
    const writer = new DatasetWriter(path.join(opts.out, name), header);
    return { name, writer, wrapper: new Wrapper(wrap, (row) => writer.write(row)), docs: 0 };
  });
  try {
    let d = 0;
    let tokens = 0;
    for (const doc of documents(files, corpus, stats)) {
      const s = splits[valid && valid[d] ? 1 : 0];
      const ids = tok.encode(doc.text);
      s.wrapper.push(ids);
      s.docs++;
      d++;
      tokens += ids.length;
      report('tokenise', d, tokens);
    }
    report('tokenise', d, tokens, true);
    for (const s of splits) {
      if (s.wrapper.rows === 0) {
        throw new Error(
          `the ${s.name} split has ${s.wrapper.tokens} tokens (${s.docs} documents), shorter than one sequence of ${L}` +
            (s.name === 'valid' ? '; hold out more documents' : '; add text or lower --length'),
        );
      }
    }
    const sources = files.slice(0, MAX_SOURCES_IN_META);
    const metas: DatasetMeta[] = splits.map((s) =>
      s.writer.finish({
        split: s.name,
        documents: s.docs,
        droppedTokens: s.wrapper.remainder,
        wrap: 'whole stream (the reference cuts per batch of 1000 documents)',
        seed,
        ...(valid ? { validSelection: opts.validDocs !== undefined ? { docs: opts.validDocs } : { fraction: opts.validFraction } } : {}),
        textField: opts.textField ?? 'text',
        splitLines: !!opts.splitLines,
        sourceCount: files.length,
        sources,
      }),
    );
    const summary = (i: number): SplitSummary => ({
      dir: splits[i].writer.dir,
      docs: splits[i].docs,
      rows: metas[i].count,
      tokens: metas[i].count * L,
      dropped: splits[i].wrapper.remainder,
    });
    return { train: summary(0), valid: valid ? summary(1) : undefined, files: files.length, skipped, bytes: stats.bytes, seconds: (Date.now() - t0) / 1000 };
  } catch (e) {
    for (const s of splits) s.writer.abort();
    throw e;
  }
}
