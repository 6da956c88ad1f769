/**
 * A byte-level BPE trainer (GPT-2's scheme: the GPT-2 pre-tokenizer regex splits text into words, each word's UTF-8
 * bytes start as 256 base symbols, and the most frequent adjacent pair is merged until the vocabulary is full).
 * Written here because the official `tokenizers` npm binding exposes no trainer options (no vocabulary size, no
 * special tokens); the result is an ordinary Hugging Face `tokenizer.json` that any `tokenizers` implementation loads.
 *
 * Id layout (the reference's, spec 1.1): 0..255 the byte symbols (in GPT-2's byte-to-unicode order), then the merges,
 * then `<|endoftext|>` (BOS = EOS) and last `[MASK]`, so the model's mask id is vocab − 1.
 * Ties between equally frequent pairs go to the pair whose merged string sorts first (deterministic).
 */
import { byteToUnicode, GPT2_SPLIT } from './byte-level.js';
import { EOT_TEXT, MASK_TEXT } from './tokenizer.js';

export interface BpeTrainOptions {
  /** total ids including `<|endoftext|>` and `[MASK]` (≥ 258) */
  vocabSize: number;
  /** a word seen fewer times than this is not counted (speeds up large corpora); default 1 */
  minFrequency?: number;
  /** called every ~500 merges */
  onProgress?: (merges: number, total: number) => void;
}

/** Word counts of a text under the GPT-2 pre-tokenizer, keyed by the word's byte-level string. */
export function countWords(text: string, into: Map<string, number> = new Map()): Map<string, number> {
  const b2u = byteToUnicode();
  const enc = new TextEncoder();
  for (const piece of text.split(EOT_TEXT)) {
    for (const m of piece.matchAll(GPT2_SPLIT)) {
      let s = '';
      for (const b of enc.encode(m[0])) s += b2u[b];
      into.set(s, (into.get(s) ?? 0) + 1);
    }
  }
  return into;
}

/** Trains merges on word counts; returns the HF tokenizer.json object. */
export function trainBpe(words: Map<string, number>, o: BpeTrainOptions): object {
  const nMerges = o.vocabSize - 258;
  if (!Number.isInteger(o.vocabSize) || nMerges < 0) throw new Error(`vocabulary size must be an integer >= 258 (256 bytes + <|endoftext|> + [MASK]), got ${o.vocabSize}`);
  const b2u = byteToUnicode();
  const symbols: string[] = [...b2u];
  const idOf = new Map<string, number>(symbols.map((s, i) => [s, i]));
  const minFreq = o.minFrequency ?? 1;
  // each word as a list of symbol ids, with its count
  const seqs: number[][] = [];
  const counts: number[] = [];
  for (const [w, c] of words) {
    if (c < minFreq) continue;
    seqs.push(Array.from(w, (ch) => idOf.get(ch)!));
    counts.push(c);
  }
  const key = (a: number, b: number) => a * 0x100000 + b;
  const pairCount = new Map<number, number>();
  const pairWords = new Map<number, Set<number>>();
  const add = (a: number, b: number, wi: number, c: number) => {
    const k = key(a, b);
    pairCount.set(k, (pairCount.get(k) ?? 0) + c);
    let set = pairWords.get(k);
    if (!set) pairWords.set(k, (set = new Set()));
    set.add(wi);
  };
  seqs.forEach((s, wi) => {
    for (let i = 0; i + 1 < s.length; i++) add(s[i], s[i + 1], wi, counts[wi]);
  });
  const merges: [string, string][] = [];
  for (let m = 0; m < nMerges; m++) {
    let best = -1;
    let bestCount = 0;
    let bestStr = '';
    for (const [k, c] of pairCount) {
      if (c < bestCount || c <= 0) continue;
      const str = symbols[Math.floor(k / 0x100000)] + symbols[k % 0x100000];
      if (c > bestCount || str < bestStr) {
        best = k;
        bestCount = c;
        bestStr = str;
      }
    }
    if (best < 0) break; // every word is a single symbol: the corpus cannot fill the vocabulary
    const a = Math.floor(best / 0x100000);
    const b = best % 0x100000;
    const id = symbols.length;
    symbols.push(bestStr);
    merges.push([symbols[a], symbols[b]]);
    for (const wi of pairWords.get(best)!) {
      const s = seqs[wi];
      const c = counts[wi];
      // remove this word's pairs, merge, re-add (words are short: simpler than patching neighbours)
      for (let i = 0; i + 1 < s.length; i++) pairCount.set(key(s[i], s[i + 1]), pairCount.get(key(s[i], s[i + 1]))! - c);
      const out: number[] = [];
      for (let i = 0; i < s.length; i++) {
        if (i + 1 < s.length && s[i] === a && s[i + 1] === b) {
          out.push(id);
          i++;
        } else out.push(s[i]);
      }
      seqs[wi] = out;
      for (let i = 0; i + 1 < out.length; i++) add(out[i], out[i + 1], wi, c);
    }
    pairCount.delete(best);
    pairWords.delete(best);
    if (o.onProgress && (m + 1) % 500 === 0) o.onProgress(m + 1, nMerges);
  }
  const vocab: Record<string, number> = {};
  symbols.forEach((s, i) => (vocab[s] = i));
  const eot = symbols.length;
  const mask = eot + 1;
  vocab[EOT_TEXT] = eot;
  vocab[MASK_TEXT] = mask;
  const special = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special(eot, EOT_TEXT), special(mask, MASK_TEXT)],
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: { ...byteLevel, trim_offsets: false },
    decoder: byteLevel,
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges,
    },
  };
}
