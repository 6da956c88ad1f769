/** Hugging Face tokenizer.json support: the BPE trainer, loading through @huggingface/tokenizers, the registry. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { countWords, trainBpe } from '../src/data/bpe-train.js';
import { byteToUnicode, GPT2_SPLIT } from '../src/data/byte-level.js';
import { HfTokenizer } from '../src/data/hf-tokenizer.js';
import { tokenizerFor } from '../src/data/tokenizers.js';
import { loadTokenizer, tokenizerFromArg } from '../src/data/load-tokenizer.js';
import { Rng } from '../src/tensor/rng.js';
import { dictionaryFrom, wordStats } from '../src/eval/words.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/cli/main.js');
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'bd3lm-hftok-'));

const TEXT = `In the beginning God created the heaven and the earth. And the earth was without form, and void; and darkness
was upon the face of the deep. And God said, Let there be light: and there was light. And God saw the light, that it
was good: and God divided the light from the darkness. Naïve café — ünïcödé survives; 123 4567 it's we'll they're.
`;

/** Brute-force BPE training: recount every pair over every word at each merge (the trainer updates counts). */
function bruteMerges(words: Map<string, number>, n: number): [string, string][] {
  const seqs = [...words].map(([w, c]) => ({ s: Array.from(w), c }));
  const merges: [string, string][] = [];
  for (let m = 0; m < n; m++) {
    const counts = new Map<string, { a: string; b: string; c: number }>();
    for (const { s, c } of seqs) {
      for (let i = 0; i + 1 < s.length; i++) {
        const k = JSON.stringify([s[i], s[i + 1]]);
        const e = counts.get(k) ?? { a: s[i], b: s[i + 1], c: 0 };
        e.c += c;
        counts.set(k, e);
      }
    }
    let best: { a: string; b: string; c: number } | undefined;
    for (const e of counts.values()) if (!best || e.c > best.c || (e.c === best.c && e.a + e.b < best.a + best.b)) best = e;
    if (!best) break;
    merges.push([best.a, best.b]);
    for (const w of seqs) {
      const out: string[] = [];
      for (let i = 0; i < w.s.length; i++) {
        if (i + 1 < w.s.length && w.s[i] === best.a && w.s[i + 1] === best.b) {
          out.push(best.a + best.b);
          i++;
        } else out.push(w.s[i]);
      }
      w.s = out;
    }
  }
  return merges;
}

/** Applies merges by rank to one pre-tokenized word (GPT-2's algorithm), independent of the library. */
function bpeEncodeWord(word: string, ranks: Map<string, number>, vocab: Record<string, number>): number[] {
  let parts = Array.from(word);
  for (;;) {
    let bestRank = Infinity;
    let at = -1;
    for (let i = 0; i + 1 < parts.length; i++) {
      const r = ranks.get(JSON.stringify([parts[i], parts[i + 1]]));
      if (r !== undefined && r < bestRank) {
        bestRank = r;
        at = i;
      }
    }
    if (at < 0) break;
    const [a, b] = [parts[at], parts[at + 1]];
    const out: string[] = [];
    for (let i = 0; i < parts.length; i++) {
      if (i + 1 < parts.length && parts[i] === a && parts[i + 1] === b) {
        out.push(a + b);
        i++;
      } else out.push(parts[i]);
    }
    parts = out;
  }
  return parts.map((p) => vocab[p]);
}

type TokJson = { model: { vocab: Record<string, number>; merges: [string, string][] }; added_tokens: { id: number; content: string }[] };

test('trainBpe: the incremental trainer picks the same merges as brute-force recounting', () => {
  const words = countWords(TEXT.repeat(3));
  const json = trainBpe(words, { vocabSize: 258 + 60 }) as TokJson;
  assert.deepEqual(json.model.merges, bruteMerges(words, 60));
  assert.equal(json.model.merges.length, 60);
});

test('trained tokenizer.json: ids laid out as the reference expects; the library encodes as rank-ordered BPE does', () => {
  const json = trainBpe(countWords(TEXT), { vocabSize: 300 }) as TokJson;
  const tok = new HfTokenizer(json, 'test.json');
  assert.equal(tok.vocabSize, 300);
  assert.equal(tok.mask, 299);
  assert.equal(tok.eos, 298);
  assert.equal(tok.bos, 298);
  // the 256 byte symbols come first, in GPT-2's byte order
  const b2u = byteToUnicode();
  for (let b = 0; b < 256; b++) assert.equal(json.model.vocab[b2u[b]], b);
  const ranks = new Map(json.model.merges.map((m, i) => [JSON.stringify(m), i]));
  const enc = new TextEncoder();
  const sample = 'And God said unto the darkness, it was good; naïve 99 bottles. The deep?';
  const expected: number[] = [];
  for (const m of sample.matchAll(GPT2_SPLIT)) {
    let w = '';
    for (const b of enc.encode(m[0])) w += b2u[b];
    expected.push(...bpeEncodeWord(w, ranks, json.model.vocab));
  }
  assert.deepEqual(tok.encode(sample), expected);
  assert.ok(expected.length < enc.encode(sample).length, 'merges shorten the text');
});

test('any text round-trips (every byte is a base symbol: no unknown token, no byte fallback needed)', () => {
  const tok = new HfTokenizer(trainBpe(countWords(TEXT), { vocabSize: 400 }), 'test.json');
  const rng = new Rng(7);
  const alphabet = ['a', 'Z', ' ', '\n', '\t', 'é', '—', '✓', '😀', '\u0000', '\u007f', '<', '|', '[MASK]', 'the', ' light'];
  for (let trial = 0; trial < 50; trial++) {
    let s = '';
    const n = Math.floor(rng.uniform() * 40);
    for (let i = 0; i < n; i++) s += alphabet[Math.floor(rng.uniform() * alphabet.length)];
    const ids = tok.encode(s);
    for (const id of ids) assert.ok(id >= 0 && id < tok.mask, `id ${id} in range and never the mask`);
    assert.equal(tok.decode(ids), s);
  }
  // the literal end-of-text marker encodes to EOS, as the built-in tokenizers do
  assert.deepEqual(tok.encode('<|endoftext|>'), [tok.eos]);
  assert.equal(tok.decode([tok.eos, tok.mask], { skipSpecial: true }), '[MASK]');
});

test('registry: a folder with tokenizer.json uses it; size mismatches and bad files name the file and the numbers', async () => {
  const d = tmp();
  const json = trainBpe(countWords(TEXT), { vocabSize: 320 });
  fs.writeFileSync(path.join(d, 'tokenizer.json'), JSON.stringify(json));
  fs.writeFileSync(path.join(d, 'config.json'), JSON.stringify({ vocab_size: 320, model_length: 16, hidden_dim: 8, cond_dim: 8, n_blocks: 1, n_heads: 1, block_size: 4, model_type: 'bd3lm' }));
  const tok = await loadTokenizer(d, { vocabSize: 320 });
  assert.equal(tok.name, 'tokenizer.json');
  assert.equal(tok.vocabSize, 320);
  assert.equal((await loadTokenizer(d)).vocabSize, 320, 'reads vocab_size from config.json when no model is given');
  await assert.rejects(loadTokenizer(d, { vocabSize: 321 }), new RegExp(`${path.join(d, 'tokenizer.json').replace(/[/.]/g, '\\$&')} has 320 ids \\(mask included\\) but the model's vocab_size is 321`));
  // built-ins are unchanged
  assert.equal((await tokenizerFor({ vocabSize: 257 })).name, 'bytes');
  // malformed
  fs.writeFileSync(path.join(d, 'tokenizer.json'), '{"model": ');
  await assert.rejects(loadTokenizer(d, { vocabSize: 320 }), /tokenizer\.json: not valid JSON/);
  // unsupported model type
  const wp = { model: { type: 'WordPiece', vocab: { a: 0 } }, added_tokens: [] };
  assert.throws(() => new HfTokenizer(wp, 'wp.json'), /^Error: wp\.json: model type "WordPiece" is not supported/);
  // not byte-level
  const metaspace = { ...(json as object), pre_tokenizer: { type: 'Metaspace' }, decoder: { type: 'Metaspace' } };
  assert.throws(() => new HfTokenizer(metaspace, 'ms.json'), /ms\.json: only byte-level BPE is supported/);
  // mask not last
  const j = structuredClone(json) as TokJson;
  j.added_tokens[1].id = 5;
  assert.throws(() => new HfTokenizer(j, 'm.json'), /m\.json: (ids are not contiguous|the mask token \[MASK\] has id 5)/);
  // no end-of-text token
  const noEot = structuredClone(json) as TokJson;
  noEot.added_tokens = noEot.added_tokens.filter((a) => a.content !== '<|endoftext|>');
  assert.throws(() => new HfTokenizer(noEot, 'n.json'), /n\.json: no end-of-text token/);
  await assert.rejects(tokenizerFromArg(path.join(d, 'missing')), /tokenizer '.*missing': not gpt2 or bytes, and no such file or folder/);
});

test('a tokenizer.json without a mask token gets one appended, as GPT-2 does (V = ids + 1)', () => {
  const j = structuredClone(trainBpe(countWords(TEXT), { vocabSize: 300 })) as TokJson;
  j.added_tokens = j.added_tokens.filter((a) => a.content !== '[MASK]');
  delete j.model.vocab['[MASK]'];
  const tok = new HfTokenizer(j, 'nomask.json');
  assert.equal(tok.vocabSize, 300);
  assert.equal(tok.mask, 299);
  assert.equal(tok.decode([tok.mask]), '[MASK]');
});

test('wordStats: dictionary share and distinct ratio counted by hand', () => {
  const dict = dictionaryFrom('the\nLight\ngood\nA\n');
  const s = wordStats(['The light is good, a b.', 'THE zzq light'], dict);
  // words of 2+ letters: The light is good | THE zzq light -> 7 words; in the list: the light good the light = 5
  assert.equal(s.words, 7);
  assert.equal(s.inDictionary, 5);
  assert.equal(s.distinct, 5);
  assert.equal(s.share, 5 / 7);
});

test('CLI: tokenizer train -> prepare -> train -> sample and eval ppl (bits per byte) with the new tokenizer', () => {
  const d = tmp();
  fs.writeFileSync(path.join(d, 'a.txt'), TEXT.repeat(4));
  const run = (...args: string[]) => {
    const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const t = JSON.parse(run('tokenizer', 'train', '--vocab-size', '300', '--out', path.join(d, 'tok'), '--quiet', path.join(d, 'a.txt')));
  assert.equal(t.vocab_size, 300);
  assert.equal(t.mask, 299);
  run('prepare', '--tokenizer', path.join(d, 'tok'), '--length', '16', '--out', path.join(d, 'data'), '--quiet', '--valid-docs', '1', '--split-lines', path.join(d, 'a.txt'));
  assert.ok(fs.existsSync(path.join(d, 'data', 'tokenizer.json')));
  run('train', '--algo', 'bd3lm', '--block-size', '4', '--data', path.join(d, 'data'), '--out', path.join(d, 'run'), '--hidden', '16', '--layers', '1', '--heads', '2', '--cond-dim', '8', '--steps', '2', '--batch-size', '2', '--log-every', '1');
  assert.deepEqual(fs.readFileSync(path.join(d, 'run', 'tokenizer.json')), fs.readFileSync(path.join(d, 'tok', 'tokenizer.json')));
  const s = JSON.parse(run('sample', '--model', path.join(d, 'run'), '--length', '8', '--seed', '1', '--json'));
  assert.equal(s.tokens.length, 8);
  for (const id of s.tokens) assert.ok(id < 299);
  const p = JSON.parse(run('eval', 'ppl', '--model', path.join(d, 'run'), '--data', path.join(d, 'data', 'valid')));
  assert.ok(p.bytes > p.tokens, 'BPE tokens hold more than one byte each');
  assert.ok(Math.abs(p.bits_per_byte - (p.bits_per_token * p.tokens) / p.bytes) < 1e-9 * p.bits_per_byte, 'same summed nll over bytes instead of tokens');
  run('export', path.join(d, 'run'), '--out', path.join(d, 'exported'));
  assert.ok(fs.existsSync(path.join(d, 'exported', 'tokenizer.json')), 'export carries the tokenizer');
  const bad = spawnSync(process.execPath, [CLI, 'tokenizer', 'train', '--vocab-size', '100', '--out', path.join(d, 'x'), path.join(d, 'a.txt')], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--vocab-size must be an integer >= 258, got '100'/);
});
