/** Tokenizers: the byte tokenizer of the golden model, GPT-2 via gpt-tokenizer, selection, incremental decoding. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ByteTokenizer } from '../src/data/tokenizer.js';
import { tokenizerFor, tokenizerNameFor } from '../src/data/tokenizers.js';
import { loadGpt2Tokenizer } from '../src/data/gpt2.js';
import { TextStream } from '../src/data/text-stream.js';

const text = 'Hello, wörld — 😀 ok\n\ttabs';

test('bytes: ids are UTF-8 bytes, BOS = EOS = 255, mask 256, V = 257; invalid UTF-8 decodes to U+FFFD', () => {
  const t = new ByteTokenizer();
  assert.deepEqual([t.vocabSize, t.bos, t.eos, t.mask], [257, 255, 255, 256]);
  const ids = t.encode(text);
  assert.deepEqual(ids, Array.from(new TextEncoder().encode(text)));
  assert.equal(t.decode(ids), text);
  assert.deepEqual(t.encode('a<|endoftext|>b'), [97, 255, 98]);
  assert.equal(t.decode([255, 97, 256, 98, 255]), '<|endoftext|>a[MASK]b<|endoftext|>');
  assert.equal(t.decode([255, 97, 255], { skipSpecial: true }), 'a');
  assert.equal(t.decode([0xc3]), '\uFFFD');
  assert.equal(t.decode([97, 0x80, 98]), 'a\uFFFDb');
  assert.throws(() => t.decode([257]), /outside the vocabulary/);
});

test('gpt2: r50k ids, <|endoftext|> = 50256 = BOS = EOS, mask 50257 shown as [MASK], exact round trip', async () => {
  const t = await loadGpt2Tokenizer();
  assert.deepEqual([t.vocabSize, t.bos, t.eos, t.mask], [50258, 50256, 50256, 50257]);
  assert.deepEqual(t.encode('Hello world'), [15496, 995]);
  assert.deepEqual(t.encode('Hello world<|endoftext|>'), [15496, 995, 50256]);
  assert.equal(t.decode(t.encode(text)), text);
  assert.equal(t.decode([50256, 15496, 50257, 995]), '<|endoftext|>Hello[MASK] world');
  assert.equal(t.decode([50256, 15496, 50256], { skipSpecial: true }), 'Hello');
  // '😀' is two byte-level tokens: the first alone is an incomplete character, together the character
  const e = t.encode('😀');
  assert.deepEqual(e, [47249, 222]);
  assert.equal(t.decode(e.slice(0, 1)), '\uFFFD');
  assert.equal(t.decode(e), '😀', 'no state leaks from the previous call');
});

test('tokenizerFor: by vocabulary size or the config field; unknown sizes and names fail clearly', async () => {
  assert.equal(tokenizerNameFor({ vocabSize: 50258 }), 'gpt2');
  assert.equal(tokenizerNameFor({ vocabSize: 257 }), 'bytes');
  assert.equal(tokenizerNameFor({ vocabSize: 257, tokenizer: 'bytes' }), 'bytes');
  assert.throws(() => tokenizerNameFor({ vocabSize: 1000 }), /no tokenizer for a vocabulary of 1000/);
  assert.throws(() => tokenizerNameFor({ vocabSize: 257, tokenizer: 'bert' }), /unknown tokenizer 'bert'/);
  assert.equal((await tokenizerFor({ vocabSize: 257 })).name, 'bytes');
  assert.equal((await tokenizerFor({ vocabSize: 50258 })).name, 'gpt2');
  await assert.rejects(tokenizerFor({ vocabSize: 300, tokenizer: 'bytes' }), /the bytes tokenizer has 257 ids \(mask included\) but the model's vocab_size is 300/);
});

test('TextStream: pieces concatenate to the whole decode; split characters are held back', async () => {
  for (const t of [new ByteTokenizer(), await loadGpt2Tokenizer()]) {
    const ids = t.encode(text + '<|endoftext|>é€😀');
    for (const chunk of [1, 2, 3, 5]) {
      const s = new TextStream(t, { skipSpecial: true });
      const pieces: string[] = [];
      for (let i = 0; i < ids.length; i += chunk) pieces.push(s.push(ids.slice(i, i + chunk)));
      pieces.push(s.flush());
      assert.equal(pieces.join(''), t.decode(ids, { skipSpecial: true }));
      assert.ok(pieces.every((p) => !p.includes('\uFFFD')), `${t.name} chunk ${chunk}: no replacement characters`);
    }
  }
  const s = new TextStream(new ByteTokenizer());
  assert.equal(s.push([0xe2, 0x82]), '');
  assert.equal(s.push([0xac]), '€');
  assert.equal(s.push([0xff - 1]), '');
  assert.equal(s.flush(), '\uFFFD', 'an invalid tail is released at the end');
});
