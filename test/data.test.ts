/** Training data pipeline: corpus reading, wrapping (spec 7.1), the token file format, the streaming loader. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Rng } from './helpers.js';
import { wrapAll, Wrapper, type WrapOptions } from '../src/data/wrap.js';
import { documents, listInputs, readLines } from '../src/data/corpus.js';
import { Dataset, DatasetWriter, readMeta, verifyDataset, TOKENS_FILE, META_FILE, type DatasetHeader } from '../src/data/dataset.js';
import { Loader, epochOrder } from '../src/data/loader.js';
import { prepare, pickValid } from '../src/data/prepare.js';
import { ByteTokenizer } from '../src/data/tokenizer.js';

const tmp = (p = 'bd3lm-data-') => fs.mkdtempSync(path.join(os.tmpdir(), p));

/** The spec 7.1 recipe written the obvious way. */
function bruteWrap(docs: number[][], o: WrapOptions): number[][] {
  const stream = docs.flatMap((d) => (o.insertEos ? [...d, o.eos] : d));
  const body = o.insertSpecial ? o.L - 2 : o.L;
  const rows: number[][] = [];
  for (let i = 0; i + body <= stream.length; i += body) {
    const c = stream.slice(i, i + body);
    rows.push(o.insertSpecial ? [o.bos, ...c, o.eos] : c);
  }
  return rows;
}

test('wrapping matches the spec recipe for every flag combination and several lengths', () => {
  const rng = new Rng(3);
  for (let trial = 0; trial < 20; trial++) {
    const docs = Array.from({ length: rng.int(0, 12) }, () => Array.from({ length: rng.int(0, 30) }, () => rng.int(0, 100)));
    for (const L of [3, 4, 7, 16, 33]) {
      for (const insertEos of [true, false]) {
        for (const insertSpecial of [false, true]) {
          const o = { L, insertEos, insertSpecial, bos: 101, eos: 102 };
          const got = wrapAll(docs, o).map((r) => Array.from(r));
          assert.deepEqual(got, bruteWrap(docs, o), JSON.stringify({ trial, L, insertEos, insertSpecial }));
        }
      }
    }
  }
});

test('the wrapper counts its dropped remainder and rejects bad lengths', () => {
  const w = new Wrapper({ L: 4, insertEos: true, insertSpecial: false, bos: 9, eos: 9 }, () => {});
  w.push([1, 2, 3, 4, 5]); // 6 tokens with EOS → 1 row + 2 left
  assert.equal(w.rows, 1);
  assert.equal(w.remainder, 2);
  assert.throws(() => new Wrapper({ L: 2, insertEos: true, insertSpecial: true, bos: 0, eos: 0 }, () => {}), />= 3/);
  assert.throws(() => new Wrapper({ L: 0, insertEos: true, insertSpecial: false, bos: 0, eos: 0 }, () => {}), />= 1/);
  assert.throws(() => new Wrapper({ L: 2.5, insertEos: true, insertSpecial: false, bos: 0, eos: 0 }, () => {}), /integer/);
});

test('corpus: folders recurse in sorted order; JSONL by field; --split-lines; CRLF', () => {
  const d = tmp();
  fs.mkdirSync(path.join(d, 'b'));
  fs.writeFileSync(path.join(d, 'b', 'z.txt'), 'second\n');
  fs.writeFileSync(path.join(d, 'a.txt'), 'first doc\r\nline two\r\n\r\n');
  fs.writeFileSync(path.join(d, 'c.jsonl'), '{"text":"j1","body":"x"}\n\n{"text":"j2"}\n');
  fs.writeFileSync(path.join(d, '.hidden'), 'skip me');
  const files = listInputs([d]);
  assert.deepEqual(files.map((f) => path.relative(d, f)), ['a.txt', path.join('b', 'z.txt'), 'c.jsonl']);
  assert.deepEqual([...documents(files)].map((x) => x.text), ['first doc\r\nline two\r\n\r\n', 'second\n', 'j1', 'j2']);
  assert.deepEqual([...documents(files, { splitLines: true })].map((x) => x.text), ['first doc', 'line two', 'second', 'j1', 'j2']);
  assert.throws(() => [...documents([path.join(d, 'c.jsonl')], { textField: 'body' })], /c\.jsonl:3: no string field 'body'/);
});

test('corpus errors name the file: empty, blank, non-UTF-8, bad JSONL, missing field, missing path', () => {
  const d = tmp();
  const f = (name: string, data: string | Uint8Array) => (fs.writeFileSync(path.join(d, name), data), path.join(d, name));
  const drain = (files: string[], o = {}) => [...documents(files, o)];
  assert.throws(() => drain([f('empty.txt', '')]), /empty\.txt: empty/);
  assert.throws(() => drain([f('blank.txt', ' \n\n')], { splitLines: true }), /blank\.txt: empty/);
  assert.throws(() => drain([f('empty.jsonl', '\n')]), /empty\.jsonl: empty/);
  const latin1 = Uint8Array.from([0x63, 0x61, 0x66, 0xe9, 0x0a]); // "café\n" in Latin-1
  assert.throws(() => drain([f('latin1.txt', latin1)]), /latin1\.txt: not valid UTF-8/);
  assert.throws(() => drain([f('latin1b.txt', latin1)], { splitLines: true }), /latin1b\.txt: not valid UTF-8/);
  assert.throws(() => drain([f('trunc.txt', Uint8Array.from([0x61, 0xc3]))], { splitLines: true }), /trunc\.txt: not valid UTF-8/);
  assert.throws(() => drain([f('bad.jsonl', '{"text":"ok"}\n{oops\n')]), /bad\.jsonl:2: invalid JSON/);
  assert.throws(() => drain([f('field.jsonl', '{"text":"ok"}\n{"body":"x"}\n')]), /field\.jsonl:2: no string field 'text'/);
  assert.throws(() => listInputs([path.join(d, 'nope.txt')]), /input not found: .*nope\.txt/);
});

test('line streaming keeps a multi-byte character split across read chunks intact', () => {
  const d = tmp();
  const file = path.join(d, 'big.txt');
  // 'é' (2 bytes) straddles the 1 MiB read boundary
  const head = 'a'.repeat((1 << 20) - 1);
  const long = 'ü'.repeat(1_300_000); // 2.6 MB: one line over three reads
  fs.writeFileSync(file, `${head}é\nsecond line ✓\r\n${long}\nlast`);
  const stats = { bytes: 0 };
  const lines = [...readLines(file, stats)];
  assert.equal(lines.length, 4);
  assert.equal(lines[0], `${head}é`);
  assert.equal(lines[1], 'second line ✓');
  assert.equal(lines[2], long);
  assert.equal(lines[3], 'last');
  assert.equal(stats.bytes, fs.statSync(file).size);
});

const header = (vocabSize: number, L: number): DatasetHeader => ({ tokenizer: 'test', vocabSize, bos: 0, eos: 0, L, insertEos: true, insertSpecial: false });
const cell = (i: number, j: number, V: number) => (i * 7919 + j * 104729) % V;

function makeDataset(dir: string, count: number, L: number, V: number) {
  const w = new DatasetWriter(dir, header(V, L));
  const row = new Int32Array(L);
  for (let i = 0; i < count; i++) {
    for (let j = 0; j < L; j++) row[j] = cell(i, j, V);
    w.write(row);
  }
  return w.finish({ note: 'test' });
}

test('token files round-trip as uint16 (V <= 65536) and uint32 (larger V), with a matching sha256', () => {
  for (const [V, dtype, bytes] of [[257, 'uint16', 2], [65536, 'uint16', 2], [70000, 'uint32', 4]] as const) {
    const dir = tmp();
    const meta = makeDataset(dir, 11, 5, V);
    assert.equal(meta.dtype, dtype);
    assert.equal(fs.statSync(path.join(dir, TOKENS_FILE)).size, 11 * 5 * bytes);
    assert.equal(readMeta(dir).note, 'test');
    assert.ok(verifyDataset(dir));
    const ds = new Dataset(dir);
    const out = new Int32Array(11 * 5);
    ds.readRows(0, 11, out);
    ds.close();
    assert.deepEqual(Array.from(out), Array.from({ length: 55 }, (_, k) => cell(Math.floor(k / 5), k % 5, V)));
    // the bytes on disk are little-endian
    const raw = fs.readFileSync(path.join(dir, TOKENS_FILE));
    assert.equal(bytes === 2 ? raw.readUInt16LE(2) : raw.readUInt32LE(4), cell(0, 1, V));
  }
});

test('dataset format errors: not a dataset, size mismatch, out-of-vocabulary ids, corrupted bytes', () => {
  const dir = tmp();
  assert.throws(() => readMeta(dir), /not a bd3lm dataset: meta\.json missing/);
  makeDataset(dir, 4, 3, 257);
  const w = new DatasetWriter(tmp(), header(257, 3));
  assert.throws(() => w.write([1, 2]), /row of 2 tokens, expected 3/);
  assert.throws(() => w.write([1, 2, 257]), /outside the vocabulary/);
  w.abort();
  fs.appendFileSync(path.join(dir, TOKENS_FILE), Buffer.from([0, 0]));
  assert.throws(() => readMeta(dir), /tokens\.bin has 26 bytes/);
  fs.truncateSync(path.join(dir, TOKENS_FILE), 24);
  const fd = fs.openSync(path.join(dir, TOKENS_FILE), 'r+');
  fs.writeSync(fd, Buffer.from([0xff, 0xff]), 0, 2, 0);
  fs.closeSync(fd);
  assert.equal(verifyDataset(dir), false);
  const ds = new Dataset(dir);
  assert.throws(() => ds.readRows(0, 1, new Int32Array(3)), /outside the vocabulary \(corrupt file\?\)/);
  assert.throws(() => ds.readRows(3, 2, new Int32Array(6)), /outside 0\.\.4/);
  ds.close();
});

test('writing is atomic: an aborted rewrite leaves the previous dataset intact and no temp files', () => {
  const dir = tmp();
  const before = makeDataset(dir, 3, 4, 257);
  const w = new DatasetWriter(dir, header(257, 4));
  w.write([1, 2, 3, 4]);
  w.abort();
  assert.deepEqual(readMeta(dir), before);
  assert.ok(verifyDataset(dir));
  assert.deepEqual(fs.readdirSync(dir).sort(), [META_FILE, TOKENS_FILE]);
});

test('the loader streams rows from a file larger than anything it reads at once', () => {
  const dir = tmp();
  const count = 5000, L = 512, V = 50258; // 5.1 MB on disk (more than the writer's 4 MB flush)
  makeDataset(dir, count, L, V);
  const loader = new Loader(dir, { batchSize: 4, seed: 5, expect: { L, vocabSize: V } });
  for (let b = 0; b < 30; b++) {
    const { ids, indices, rows } = loader.next();
    assert.equal(rows, 4);
    for (let r = 0; r < rows; r++) for (const j of [0, 1, 255, 511]) assert.equal(ids[r * L + j], cell(indices[r], j, V));
  }
  // the read buffer never held more than one batch
  const scratch = (loader.data as unknown as { scratch: Buffer }).scratch;
  assert.ok(scratch.length <= 4 * L * 2, `scratch ${scratch.length}`);
  loader.close();
});

test('loader: deterministic per seed, every row once per epoch, reshuffled each epoch, file order without shuffle', () => {
  const dir = tmp();
  makeDataset(dir, 23, 3, 257);
  const take = (l: Loader, n: number) => Array.from({ length: n }, () => l.next());
  const a = take(new Loader(dir, { batchSize: 5, seed: 7 }), 12);
  const b = take(new Loader(dir, { batchSize: 5, seed: 7 }), 12);
  const c = take(new Loader(dir, { batchSize: 5, seed: 8 }), 12);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.map((x) => Array.from(x.indices)), c.map((x) => Array.from(x.indices)));
  // dropLast: 4 batches of 5 per epoch (3 rows skipped), epochs 0,0,0,0,1,1,1,1,2…
  assert.deepEqual(a.map((x) => [x.epoch, x.index, x.step]), Array.from({ length: 12 }, (_, s) => [Math.floor(s / 4), s % 4, s]));
  const e0 = a.slice(0, 4).flatMap((x) => Array.from(x.indices));
  const e1 = a.slice(4, 8).flatMap((x) => Array.from(x.indices));
  assert.equal(new Set(e0).size, 20);
  assert.notDeepEqual(e0, e1);
  // rows are the rows the batch says
  for (const x of a) for (let r = 0; r < x.rows; r++) assert.equal(x.ids[r * 3 + 2], cell(x.indices[r], 2, 257));
  // keep the last partial batch: 5 batches, the last of 3 rows, each row exactly once
  const k = take(new Loader(dir, { batchSize: 5, seed: 7, dropLast: false }), 5);
  assert.deepEqual(k.map((x) => x.rows), [5, 5, 5, 5, 3]);
  assert.deepEqual(k.flatMap((x) => Array.from(x.indices)).sort((p, q) => p - q), Array.from({ length: 23 }, (_, i) => i));
  assert.deepEqual(k[4].ids.length, 3 * 3);
  const seq = take(new Loader(dir, { batchSize: 5, shuffle: false }), 5);
  assert.deepEqual(seq.map((x) => x.indices[0]), [0, 5, 10, 15, 0]);
  assert.deepEqual(Array.from(epochOrder(6, 1, 0, false)), [0, 1, 2, 3, 4, 5]);
});

test('loader resume: a restored state() continues with exactly the same batches, across epochs', () => {
  const dir = tmp();
  makeDataset(dir, 17, 4, 257);
  const opts = { batchSize: 3, seed: 11, dropLast: false };
  const ref = new Loader(dir, opts);
  const all = Array.from({ length: 20 }, () => ref.next());
  for (const at of [0, 1, 5, 6, 7, 13]) {
    const l = new Loader(dir, opts);
    for (let i = 0; i < at; i++) l.next();
    const saved = JSON.parse(JSON.stringify(l.state()));
    l.close();
    const resumed = new Loader(dir, opts);
    resumed.restore(saved);
    for (let i = at; i < 20; i++) assert.deepEqual(resumed.next(), all[i], `resumed at ${at}, batch ${i}`);
    resumed.close();
  }
  const other = new Loader(dir, { ...opts, seed: 12 });
  assert.throws(() => other.restore(ref.state()), /loader state is for seed = 11/);
  const dir2 = tmp();
  makeDataset(dir2, 18, 4, 257);
  assert.throws(() => new Loader(dir2, opts).restore(ref.state()), /count = 17/);
});

test('loader validates what the caller expects and its own options', () => {
  const dir = tmp();
  makeDataset(dir, 4, 8, 257);
  assert.throws(() => new Loader(dir, { batchSize: 2, expect: { L: 16 } }), /sequences of 8 tokens, but the model expects 16/);
  assert.throws(() => new Loader(dir, { batchSize: 2, expect: { vocabSize: 50258 } }), /vocabulary 257\), but the model's vocabulary is 50258/);
  assert.throws(() => new Loader(dir, { batchSize: 2, expect: { tokenizer: 'gpt2' } }), /tokenised with test, but the model uses gpt2/);
  assert.throws(() => new Loader(dir, { batchSize: 5 }), /4 sequences, fewer than one batch of 5/);
  assert.throws(() => new Loader(dir, { batchSize: 0 }), /batch size/);
  assert.throws(() => new Loader(tmp(), { batchSize: 1 }), /not a bd3lm dataset/);
  assert.equal(new Loader(dir, { batchSize: 5, dropLast: false }).next().rows, 4);
});

test('prepare: the split is by document, exact, seeded; each split wrapped on its own', async () => {
  const d = tmp();
  const docs = Array.from({ length: 40 }, (_, i) => `document number ${i} ${'x'.repeat(i % 7)}`);
  fs.writeFileSync(path.join(d, 'docs.jsonl'), docs.map((text) => JSON.stringify({ text })).join('\n') + '\n');
  const tok = new ByteTokenizer();
  const run = async (out: string, seed: number) =>
    prepare({ inputs: [path.join(d, 'docs.jsonl')], out, tokenizer: tok, L: 8, validDocs: 6, seed, progressMs: 0 });
  const s1 = await run(path.join(d, 'o1'), 1);
  await run(path.join(d, 'o2'), 1);
  await run(path.join(d, 'o3'), 2);
  assert.equal(s1.valid!.docs, 6);
  assert.equal(s1.train.docs, 34);
  assert.equal(readMeta(path.join(d, 'o1', 'valid')).sha256, readMeta(path.join(d, 'o2', 'valid')).sha256);
  assert.notEqual(readMeta(path.join(d, 'o1', 'valid')).sha256, readMeta(path.join(d, 'o3', 'valid')).sha256);
  // the valid split is exactly the wrap of the picked documents
  const mark = pickValid(40, 6, 1);
  const enc = (x: string) => Array.from(new TextEncoder().encode(x));
  const expectValid = bruteWrap(docs.filter((_, i) => mark[i]).map(enc), { L: 8, insertEos: true, insertSpecial: false, bos: 255, eos: 255 });
  const ds = new Dataset(path.join(d, 'o1', 'valid'));
  const got = new Int32Array(ds.count * 8);
  ds.readRows(0, ds.count, got);
  ds.close();
  assert.deepEqual(Array.from(got), expectValid.flat());
  assert.equal(s1.valid!.rows, expectValid.length);
  assert.equal(new Set(Array.from(pickValid(1000, 10, 3)).flatMap((m, i) => (m ? [i] : []))).size, 10);
});

test('prepare errors: shorter than one sequence, an empty validation split, bad options', async () => {
  const d = tmp();
  fs.writeFileSync(path.join(d, 'a.txt'), 'tiny');
  const tok = new ByteTokenizer();
  const base = { inputs: [path.join(d, 'a.txt')], out: path.join(d, 'out'), tokenizer: tok };
  await assert.rejects(prepare({ ...base, L: 64 }), /train split has 5 tokens \(1 documents\), shorter than one sequence of 64/);
  assert.equal(fs.existsSync(path.join(d, 'out', 'train', META_FILE)), false);
  assert.deepEqual(fs.readdirSync(path.join(d, 'out', 'train')), []);
  fs.writeFileSync(path.join(d, 'b.txt'), 'one\ntwo\nthree\nfour\n');
  const lines = { ...base, inputs: [path.join(d, 'b.txt')], splitLines: true };
  await assert.rejects(prepare({ ...lines, L: 4, validFraction: 0.05 }), /selects none/);
  await assert.rejects(prepare({ ...lines, L: 4, validDocs: 4 }), /leave none of the 4/);
  await assert.rejects(prepare({ ...lines, L: 8, validDocs: 1, seed: 1 }), /valid split has \d+ tokens .*hold out more/);
  await assert.rejects(prepare({ ...lines, L: 4, validDocs: 1, validFraction: 0.5 }), /not both/);
  await assert.rejects(prepare({ ...lines, L: 2, insertSpecial: true }), />= 3 with special tokens/);
  const ok = await prepare({ ...lines, L: 4 });
  assert.equal(ok.train.rows, 4); // 19 bytes with EOS → 4 rows of 4, 3 dropped
  assert.equal(ok.train.dropped, 3);
});
