import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PRESETS, parseHfConfig, toHfConfig, withModelType, inferCondDim } from '../src/model/config.js';
import { expectedParams, paramCount, numel } from '../src/model/params.js';
import {
  CheckpointError, loadSafetensors, readSafetensorsHeader, saveSafetensors,
  f16BitsToF32, f32ToF16Bits, bf16BitsToF32, f32ToBf16Bits,
} from '../src/model/safetensors.js';
import { loadCheckpoint, saveCheckpoint, describeCheckpoint, readConfigFile } from '../src/model/checkpoint.js';

const GOLDEN = fileURLToPath(new URL('../../test/fixtures/bs4/', import.meta.url));
const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'bd3lm-ckpt-'));
process.on('exit', () => fs.rmSync(tmpRoot, { recursive: true, force: true }));
let tmpN = 0;
const tmpDir = (): string => {
  const d = path.join(tmpRoot, String(tmpN++));
  fs.mkdirSync(d);
  return d;
};

/** A writable copy of the golden checkpoint (config + weights only). */
function goldenCopy(): string {
  const d = tmpDir();
  for (const f of ['config.json', 'model.safetensors']) {
    fs.copyFileSync(path.join(GOLDEN, f), path.join(d, f));
    fs.chmodSync(path.join(d, f), 0o644);
  }
  return d;
}

const editConfig = (dir: string, edit: (o: Record<string, unknown>) => void): void => {
  const p = path.join(dir, 'config.json');
  const o = JSON.parse(fs.readFileSync(p, 'utf8'));
  edit(o);
  fs.writeFileSync(p, JSON.stringify(o));
};

/** A safetensors file from a raw header object and data bytes (lets tests build any corruption). */
function rawSafetensors(file: string, header: unknown, data: Uint8Array = new Uint8Array(0), headerLen?: number): string {
  const h = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const pre = Buffer.alloc(8);
  pre.writeBigUInt64LE(BigInt(headerLen ?? h.length));
  fs.writeFileSync(file, Buffer.concat([pre, h, data]));
  return file;
}

/** Re-serialises the golden file with its header edited (data bytes unchanged). */
function goldenWithHeader(edit: (h: Record<string, any>) => void, data?: (d: Buffer) => Buffer): string {
  const buf = fs.readFileSync(path.join(GOLDEN, 'model.safetensors'));
  const n = Number(buf.readBigUInt64LE(0));
  const h = JSON.parse(buf.subarray(8, 8 + n).toString());
  edit(h);
  const d = goldenCopy();
  const body = Buffer.from(buf.subarray(8 + n));
  rawSafetensors(path.join(d, 'model.safetensors'), h, data ? data(body) : body);
  return d;
}

function throwsCkpt(fn: () => unknown, ...patterns: RegExp[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof CheckpointError, `expected CheckpointError, got ${e}`);
    for (const p of patterns) assert.match(e.message, p);
    return true;
  });
}

// ---------------------------------------------------------------- golden checkpoint

test('golden bs4 checkpoint loads: 33 tensors, shapes, cond_dim 48, config', () => {
  const ck = loadCheckpoint(GOLDEN);
  const c = ck.config;
  assert.deepEqual(
    [c.modelType, c.vocabSize, c.modelLength, c.hiddenDim, c.condDim, c.nBlocks, c.nHeads, c.blockSize],
    ['bd3lm', 257, 32, 64, 48, 2, 4, 4],
  );
  assert.equal(c.crossAttn, true);
  assert.equal(c.adaln, true);
  assert.equal(c.causal, false);
  assert.equal(c.timeConditioning, false);
  assert.equal(ck.tensors.size, 33);
  const specs = expectedParams(c);
  assert.equal(specs.length, 33);
  assert.deepEqual([...ck.tensors.keys()], specs.map((s) => s.name)); // state_dict order
  for (const s of specs) {
    assert.deepEqual(ck.shapes.get(s.name), s.shape, s.name);
    assert.equal(ck.tensors.get(s.name)!.length, numel(s.shape), s.name);
  }
  assert.deepEqual(ck.shapes.get('backbone.sigma_map.mlp.0.weight'), [48, 256]);
  assert.equal(inferCondDim(ck.shapes), 48);
  const inv = ck.tensors.get('backbone.rotary_emb.inv_freq')!;
  for (let j = 0; j < 8; j++) assert.ok(Math.abs(inv[j] - 1 / 10000 ** ((2 * j) / 16)) < 1e-7);
  assert.equal(c.samplingEpsMin, 0.001);
  assert.equal(c.samplingEpsMax, 0.999);
  assert.deepEqual(ck.notes, []);
});

test('loadCheckpoint places tensors with the caller alloc', () => {
  let total = 0;
  const ck = loadCheckpoint(GOLDEN, { alloc: (n) => { total += n; return new Float32Array(n); } });
  assert.equal(total, [...ck.tensors.values()].reduce((a, t) => a + t.length, 0));
});

test('cond_dim is inferred from the weights, not trusted from config.json', () => {
  const d = goldenCopy();
  editConfig(d, (o) => { o.cond_dim = 129; });
  const ck = loadCheckpoint(d);
  assert.equal(ck.config.condDim, 48);
  assert.match(ck.notes.join('\n'), /cond_dim 129 .* overridden by 48/);
});

test('learned sampling_eps values in the weights override config.json', () => {
  const d = goldenCopy();
  editConfig(d, (o) => { o.sampling_eps_min = 0.2; });
  const ck = loadCheckpoint(d);
  assert.equal(ck.config.samplingEpsMin, Math.fround(0.001));
  assert.match(ck.notes.join('\n'), /replaced by the stored/);
});

test('describeCheckpoint: parameter count and per-tensor stats', () => {
  const info = describeCheckpoint(GOLDEN);
  assert.equal(info.tensors.length, 33);
  assert.deepEqual(info.problems, []);
  const trainable = info.tensors.filter((t) => t.kind === 'param').reduce((a, t) => a + t.numel, 0);
  assert.equal(info.trainableParams, trainable);
  assert.equal(info.trainableParams, paramCount(info.config));
  const eps = info.tensors.find((t) => t.name === 'sampling_eps_min')!;
  assert.equal(eps.kind, 'buffer');
  assert.equal(eps.min, Math.fround(0.001));
  assert.equal(eps.std, 0);
  const emb = info.tensors.find((t) => t.name === 'backbone.vocab_embed.embedding')!;
  assert.ok(emb.std > 0.4 && emb.std < 0.6, `embedding std ${emb.std} (init 0.5*N(0,1))`);
  assert.deepEqual(info.metadata, { format: 'pt' });
});

test('describeCheckpoint reports mismatches instead of throwing', () => {
  const d = goldenCopy();
  editConfig(d, (o) => { o.vocab_size = 300; });
  const info = describeCheckpoint(d);
  assert.match(info.problems.join('\n'), /vocab_embed\.embedding" has shape \[257, 64\], expected \[300, 64\]/);
});

// ---------------------------------------------------------------- parameter counts

test('parameter counts of the presets (spec 2.1, 8.3-8.5)', () => {
  const small = PRESETS.small;
  assert.equal(paramCount(small), 169_627_218);
  assert.equal(expectedParams(small).length, 133);
  const ar = withModelType(small, 'ar');
  assert.equal(paramCount(ar), 162_246_482);
  const arSpecs = expectedParams(ar);
  assert.equal(arSpecs.filter((s) => s.kind === 'param').length, 100);
  assert.deepEqual(arSpecs.filter((s) => s.kind === 'buffer').map((s) => s.name), ['backbone.rotary_emb.inv_freq']);
  assert.ok(!arSpecs.some((s) => /sigma_map|adaLN/.test(s.name)));
  const mdlm = withModelType(small, 'mdlm');
  assert.equal(expectedParams(mdlm).length, 131);
  assert.equal(paramCount(mdlm), 169_627_218);
  assert.equal(mdlm.blockSize, 1024);
  const tiny = { ...small, hiddenDim: 64, nBlocks: 2, nHeads: 4, condDim: 48, vocabSize: 257, modelLength: 32 };
  assert.equal(expectedParams(tiny).length, 33);
  assert.deepEqual(expectedParams(small).slice(0, 3).map((s) => s.name),
    ['sampling_eps_min', 'sampling_eps_max', 'backbone.vocab_embed.embedding']);
  assert.deepEqual(expectedParams(small).find((s) => s.name === 'backbone.rotary_emb.inv_freq')!.shape, [32]);
});

// ---------------------------------------------------------------- config parsing

test('config: toHfConfig round-trips through parseHfConfig for every model type', () => {
  for (const t of ['bd3lm', 'mdlm', 'ar'] as const) {
    const cfg = withModelType(PRESETS.tiny, t);
    const back = parseHfConfig(JSON.parse(JSON.stringify(toHfConfig(cfg))), 'x.json');
    if (t === 'ar') cfg.condDim = back.condDim; // AR carries cond_dim through unchanged as well
    assert.deepEqual(back, cfg, t);
  }
});

test('config: mdlm without block_size gets one block over the sequence, no cross attention', () => {
  const c = parseHfConfig({ model_type: 'mdlm', vocab_size: 50258, model_length: 1024, hidden_dim: 768, cond_dim: 128, n_blocks: 12, n_heads: 12 }, 'm.json');
  assert.equal(c.blockSize, 1024);
  assert.equal(c.crossAttn, false);
  assert.equal(c.adaln, true);
});

test('config: bad JSON names the file', () => {
  const d = goldenCopy();
  fs.writeFileSync(path.join(d, 'config.json'), '{"model_type": "bd3lm",');
  throwsCkpt(() => loadCheckpoint(d), /config\.json: config is not valid JSON/);
});

test('config: block size that does not divide the length', () => {
  const d = goldenCopy();
  editConfig(d, (o) => { o.block_size = 5; });
  throwsCkpt(() => loadCheckpoint(d), /config\.json: block_size 5 does not divide model_length 32/);
});

test('config: field validation names file and field', () => {
  const base = toHfConfig(PRESETS.small);
  const bad = (edit: Record<string, unknown>, re: RegExp): void =>
    throwsCkpt(() => parseHfConfig({ ...base, ...edit }, 'c.json'), /^c\.json: /, re);
  bad({ n_heads: 7 }, /hidden_dim 768 is not divisible by n_heads 7/);
  bad({ hidden_dim: 36, n_heads: 12 }, /head dim 3 must be even/);
  bad({ vocab_size: -1 }, /"vocab_size" must be an integer in \[2, 16777216\]/);
  bad({ n_blocks: 2.5 }, /"n_blocks" must be an integer/);
  bad({ hidden_dim: '768' }, /"hidden_dim" must be an integer/);
  bad({ dropout: 1.5 }, /"dropout" must be a number in \[0, 1\]/);
  bad({ cross_attn: 'yes' }, /"cross_attn" must be true or false/);
  bad({ model_type: 'gpt2' }, /model_type "gpt2" is not supported/);
  bad({ causal: true }, /must have "causal": false/);
  bad({ sampling_eps_min: 0.5, sampling_eps_max: 0.1 }, /sampling_eps_min 0.5 is larger/);
  throwsCkpt(() => parseHfConfig([1], 'c.json'), /must be a JSON object/);
  throwsCkpt(() => parseHfConfig({ model_type: 'ar', causal: true, adaln: true }, 'c.json'), /no adaLN/);
});

test('missing model.safetensors is named', () => {
  const d = goldenCopy();
  fs.unlinkSync(path.join(d, 'model.safetensors'));
  fs.writeFileSync(path.join(d, 'last.ckpt'), '');
  throwsCkpt(() => loadCheckpoint(d), /model\.safetensors: missing; found last\.ckpt/);
  throwsCkpt(() => loadCheckpoint(path.join(d, 'nope')), /checkpoint directory does not exist/);
});

// ---------------------------------------------------------------- corrupted safetensors

test('bad file: shorter than 8 bytes', () => {
  const f = path.join(tmpDir(), 'a.safetensors');
  fs.writeFileSync(f, Buffer.from([1, 2, 3]));
  throwsCkpt(() => readSafetensorsHeader(f), /a\.safetensors: file is 3 bytes, too short/);
});

test('bad file: truncated in the data section', () => {
  const d = goldenCopy();
  const f = path.join(d, 'model.safetensors');
  fs.truncateSync(f, fs.statSync(f).size - 100);
  throwsCkpt(() => loadCheckpoint(d), /model\.safetensors: invalid safetensors header/, /"sampling_eps_min".*run past the end of the file/);
});

test('bad file: header length beyond the file', () => {
  const f = rawSafetensors(path.join(tmpDir(), 'h.safetensors'), {}, undefined, 1e6);
  throwsCkpt(() => loadSafetensors(f), /header length 1000000 is beyond the end of the file/);
  const d = goldenCopy();
  fs.truncateSync(path.join(d, 'model.safetensors'), 500); // cut inside the header
  throwsCkpt(() => loadCheckpoint(d), /model\.safetensors: header length 3208 is beyond the end/);
});

test('bad file: header is not JSON / not an object', () => {
  const dir = tmpDir();
  throwsCkpt(() => loadSafetensors(rawSafetensors(path.join(dir, 'a'), '{"x": ')), /header is not valid JSON/);
  throwsCkpt(() => loadSafetensors(rawSafetensors(path.join(dir, 'b'), [1, 2])), /header is not a JSON object/);
});

test('bad file: unknown dtype, bad shape, size mismatch, all listed', () => {
  const f = rawSafetensors(path.join(tmpDir(), 'x.safetensors'), {
    a: { dtype: 'F17', shape: [2], data_offsets: [0, 8] },
    b: { dtype: 'F32', shape: [2, -1], data_offsets: [8, 16] },
    c: { dtype: 'F32', shape: [3], data_offsets: [16, 24] },
  }, new Uint8Array(24));
  throwsCkpt(() => loadSafetensors(f), /"a": unknown dtype "F17"/, /"b": bad shape \[2,-1\]/, /"c": data_offsets \[16, 24\] span 8 bytes but F32 shape \[3\] needs 12/);
});

test('bad file: unsupported (known) dtype fails on read', () => {
  const f = rawSafetensors(path.join(tmpDir(), 'x.safetensors'), { a: { dtype: 'F8_E4M3', shape: [8], data_offsets: [0, 8] } }, new Uint8Array(8));
  throwsCkpt(() => loadSafetensors(f), /"a": dtype F8_E4M3 is not supported/);
});

test('bad file: overlapping offsets', () => {
  const d = goldenWithHeader((h) => { h['backbone.blocks.0.norm2.weight'].data_offsets = [273152 + 128, 273408 + 128]; });
  throwsCkpt(() => loadCheckpoint(d), /tensors "backbone\.blocks\.0\.norm1\.weight" \[273152, 273408\] and "backbone\.blocks\.0\.norm2\.weight" \[273280, 273536\] overlap/);
});

test('bad file: offsets past the end of the file', () => {
  const d = goldenWithHeader((h) => { h['sampling_eps_min'].data_offsets = [764076, 764080]; });
  throwsCkpt(() => loadCheckpoint(d), /"sampling_eps_min": data_offsets \[764076, 764080\] run past the end/);
});

test('bad file: missing tensors are all listed', () => {
  const d = goldenWithHeader((h) => {
    delete h['backbone.blocks.1.mlp.0.bias'];
    delete h['sampling_eps_max'];
  });
  throwsCkpt(() => loadCheckpoint(d), /2 problem\(s\)/, /missing tensor "sampling_eps_max"/, /missing tensor "backbone\.blocks\.1\.mlp\.0\.bias" \[256\]/);
});

test('bad file: unexpected tensor name', () => {
  // a well-formed extra tensor appended after the last one
  const d = goldenWithHeader((h) => {
    h['backbone.blocks.2.norm1.weight'] = { dtype: 'F32', shape: [64], data_offsets: [764076, 764332] };
  }, (body) => Buffer.concat([body, Buffer.alloc(256)]));
  throwsCkpt(() => loadCheckpoint(d), /unexpected tensor "backbone\.blocks\.2\.norm1\.weight" \[64\]/);
});

test('bad file: shape mismatch against the config (names config and weights)', () => {
  const d = goldenCopy();
  editConfig(d, (o) => { o.vocab_size = 258; });
  throwsCkpt(
    () => loadCheckpoint(d),
    /model\.safetensors: tensors do not match the bd3lm model described by .*config\.json \(3 problem/,
    /"backbone\.vocab_embed\.embedding" has shape \[257, 64\], expected \[258, 64\]/,
    /"backbone\.output_layer\.linear\.bias" has shape \[257\], expected \[258\]/,
  );
  const m = goldenCopy();
  editConfig(m, (o) => { o.model_type = 'mdlm'; delete o.block_size; });
  throwsCkpt(() => loadCheckpoint(m), /unexpected tensor "sampling_eps_min"/);
});

test('bad file: NaN / Inf values name every tensor', () => {
  const d = goldenCopy();
  const f = path.join(d, 'model.safetensors');
  const buf = fs.readFileSync(f);
  const start = 8 + 3208;
  buf.writeFloatLE(NaN, start + 91648 + 4 * 10); // attn_qkv.weight of block 0, index 10
  buf.writeFloatLE(-Infinity, start + 764072); // sampling_eps_min
  fs.writeFileSync(f, buf);
  throwsCkpt(() => loadCheckpoint(d), /non-finite values in 2 tensor/, /"backbone\.blocks\.0\.attn_qkv\.weight": 1 NaN\/Inf value\(s\), first at flat index 10/, /"sampling_eps_min"/);
  assert.equal(loadSafetensors(f, { allowNonFinite: true }).tensors.size, 33);
  const info = describeCheckpoint(d);
  assert.equal(info.tensors.find((t) => t.name === 'backbone.blocks.0.attn_qkv.weight')!.nonFinite, 1);
});

// ---------------------------------------------------------------- F16 / BF16

test('F16 and BF16 decoding of known bit patterns', () => {
  const f16: [number, number][] = [
    [0x3c00, 1], [0xc000, -2], [0x7bff, 65504], [0x0001, 2 ** -24], [0x03ff, 1023 * 2 ** -24],
    [0x0400, 2 ** -14], [0x3555, 0.333251953125], [0x8000, -0], [0x7c00, Infinity], [0xfc00, -Infinity],
  ];
  for (const [b, v] of f16) assert.ok(Object.is(f16BitsToF32(b), v), `f16 ${b.toString(16)}`);
  assert.ok(Number.isNaN(f16BitsToF32(0x7e00)));
  const bf: [number, number][] = [[0x3f80, 1], [0xc040, -3], [0x3eab, 0.333984375], [0x0001, 2 ** -133], [0x7f7f, 3.3895313892515355e38]];
  for (const [b, v] of bf) assert.ok(Object.is(bf16BitsToF32(b), v), `bf16 ${b.toString(16)}`);
});

test('F32 -> F16 / BF16 rounds to nearest, ties to even', () => {
  const f16: [number, number][] = [
    [1, 0x3c00], [1 / 3, 0x3555], [-2, 0xc000], [65504, 0x7bff], [65519, 0x7bff], [65520, 0x7c00], [1e6, 0x7c00],
    [1 + 2 ** -11, 0x3c00], [1 + 3 * 2 ** -11, 0x3c02], [1 + 2 ** -11 + 2 ** -20, 0x3c01],
    [2 ** -24, 0x0001], [2 ** -25, 0x0000], [3 * 2 ** -25, 0x0002], [2 ** -26, 0], [-(2 ** -25), 0x8000],
    [2 ** -14 - 2 ** -25, 0x0400], [2 ** -14, 0x0400], [-0, 0x8000], [Infinity, 0x7c00], [-Infinity, 0xfc00],
  ];
  for (const [v, b] of f16) assert.equal(f32ToF16Bits(v), b, `f16(${v})`);
  assert.equal(f32ToF16Bits(NaN) & 0x7e00, 0x7e00);
  const bf: [number, number][] = [
    [1, 0x3f80], [1 / 3, 0x3eab], [-3, 0xc040], [1 + 2 ** -8, 0x3f80], [1 + 3 * 2 ** -8, 0x3f82],
    [1 + 2 ** -8 + 2 ** -20, 0x3f81], [Infinity, 0x7f80], [3.4e38, 0x7f80], [-0, 0x8000],
  ];
  for (const [v, b] of bf) assert.equal(f32ToBf16Bits(v), b, `bf16(${v})`);
  assert.ok(Number.isNaN(bf16BitsToF32(f32ToBf16Bits(NaN))));
  // every F16 value survives F16 -> F32 -> F16
  for (let h = 0; h < 0x10000; h++) if ((h & 0x7c00) !== 0x7c00 || !(h & 0x3ff)) assert.equal(f32ToF16Bits(f16BitsToF32(h)), h);
});

test('reading F16, BF16, F64 and I64 tensors converts to float32', () => {
  const data = Buffer.alloc(4 + 4 + 16 + 16);
  data.writeUInt16LE(0x3c00, 0); data.writeUInt16LE(0xc000, 2); // F16 [1, -2]
  data.writeUInt16LE(0x3eab, 4); data.writeUInt16LE(0xc040, 6); // BF16 [0.333984375, -3]
  data.writeDoubleLE(0.1, 8); data.writeDoubleLE(-7, 16); // F64
  data.writeBigInt64LE(-5n, 24); data.writeBigInt64LE(1n << 20n, 32); // I64
  const f = rawSafetensors(path.join(tmpDir(), 'h.safetensors'), {
    h: { dtype: 'F16', shape: [2], data_offsets: [0, 4] },
    b: { dtype: 'BF16', shape: [2], data_offsets: [4, 8] },
    d: { dtype: 'F64', shape: [1, 2], data_offsets: [8, 24] },
    i: { dtype: 'I64', shape: [2], data_offsets: [24, 40] },
  }, data);
  const { tensors, dtypes, shapes } = loadSafetensors(f);
  assert.deepEqual([...tensors.get('h')!], [1, -2]);
  assert.deepEqual([...tensors.get('b')!], [0.333984375, -3]);
  assert.deepEqual([...tensors.get('d')!], [Math.fround(0.1), -7]);
  assert.deepEqual([...tensors.get('i')!], [-5, 2 ** 20]);
  assert.equal(dtypes.get('b'), 'BF16');
  assert.deepEqual(shapes.get('d'), [1, 2]);
});

test('I64 values not exact in float32 are rejected', () => {
  const data = Buffer.alloc(8);
  data.writeBigInt64LE((1n << 24n) + 1n);
  const f = rawSafetensors(path.join(tmpDir(), 'i.safetensors'), { i: { dtype: 'I64', shape: [], data_offsets: [0, 8] } }, data);
  throwsCkpt(() => loadSafetensors(f), /"i": I64 value 16777217 .* not exactly representable/);
});

// ---------------------------------------------------------------- writer

test('writer round trip: F32/F16/BF16, metadata, 8-byte aligned header, multi-chunk tensor', () => {
  const f = path.join(tmpDir(), 'w.safetensors');
  const big = new Float32Array(3_000_000).map((_, i) => Math.sin(i) * 100); // > one 8 MiB chunk
  const small = Float32Array.from([1, 1 / 3, -2.5, 65504, 1e-6, 0]);
  saveSafetensors(f, [
    { name: 'big', shape: [1000, 3000], data: big },
    { name: 'h', shape: [2, 3], data: small, dtype: 'F16' },
    { name: 'b', shape: [6], data: small, dtype: 'BF16' },
    { name: 's', shape: [], data: Float32Array.of(0.5) },
    { name: 'e', shape: [0, 4], data: new Float32Array(0) },
  ], { format: 'pt', note: 'ünïcode' });
  const h = readSafetensorsHeader(f);
  assert.equal(h.dataStart % 8, 0);
  assert.deepEqual(h.metadata, { format: 'pt', note: 'ünïcode' });
  assert.deepEqual(h.entries.map((e) => e.name), ['big', 'h', 'b', 's', 'e']);
  const raw = fs.readFileSync(f);
  const hdr = raw.subarray(8, h.dataStart).toString();
  assert.match(hdr, / *$/);
  const { tensors } = loadSafetensors(f);
  assert.deepEqual(tensors.get('big'), big);
  assert.deepEqual([...tensors.get('h')!], [...small].map((v) => f16BitsToF32(f32ToF16Bits(v))));
  assert.deepEqual([...tensors.get('b')!], [...small].map((v) => bf16BitsToF32(f32ToBf16Bits(v))));
  assert.equal(tensors.get('h')![1], 0.333251953125);
  assert.equal(raw.readUInt16LE(h.dataStart + h.byName.get('h')!.begin + 2), 0x3555);
  assert.equal(raw.readUInt16LE(h.dataStart + h.byName.get('b')!.begin + 2), 0x3eab);
  assert.deepEqual([...tensors.get('s')!], [0.5]);
  assert.equal(tensors.get('e')!.length, 0);
});

test('writer rejects bad input before touching the file', () => {
  const f = path.join(tmpDir(), 'w.safetensors');
  throwsCkpt(() => saveSafetensors(f, [
    { name: 'a', shape: [2], data: new Float32Array(3) },
    { name: 'a', shape: [1], data: new Float32Array(1) },
    { name: '__metadata__', shape: [1], data: new Float32Array(1) },
  ]), /"a": data has 3 values, shape \[2\] needs 2/, /duplicate tensor name "a"/, /invalid tensor name "__metadata__"/);
  assert.ok(!fs.existsSync(f));
  throwsCkpt(() => saveSafetensors(f, [{ name: 'x', shape: [1], data: Float32Array.of(1e5), dtype: 'F16' }]), /overflows F16/);
  assert.deepEqual(fs.readdirSync(path.dirname(f)), []);
});

test('atomic write: a failure midway leaves the old file intact and no temp file', () => {
  const dir = tmpDir();
  const f = path.join(dir, 'model.safetensors');
  saveSafetensors(f, [{ name: 'old', shape: [4], data: Float32Array.of(1, 2, 3, 4) }]);
  const before = fs.readFileSync(f);
  const bad = new Float32Array(3_000_000);
  bad[2_999_999] = NaN; // found only while streaming the last chunk, after ~20 MB were written
  throwsCkpt(() => saveSafetensors(f, [
    { name: 'first', shape: [3_000_000], data: new Float32Array(3_000_000).fill(1) },
    { name: 'second', shape: [3_000_000], data: bad },
  ]), /"second": non-finite value at flat index 2999999/);
  assert.deepEqual(fs.readFileSync(f), before);
  assert.deepEqual(fs.readdirSync(dir), ['model.safetensors']);
  throwsCkpt(() => saveSafetensors(f, [{ name: 'short', shape: [10], data: new Float32Array(5) }]), /data has 5 values/);
  assert.deepEqual(fs.readFileSync(f), before);
  assert.deepEqual([...loadSafetensors(f).tensors.get('old')!], [1, 2, 3, 4]);
});

test('saveCheckpoint / loadCheckpoint round trip (and F16 weights)', () => {
  const ck = loadCheckpoint(GOLDEN);
  const out = path.join(tmpDir(), 'nested', 'ckpt');
  saveCheckpoint(out, ck.config, ck.tensors);
  const back = loadCheckpoint(out);
  assert.deepEqual(back.config, ck.config);
  for (const [k, v] of ck.tensors) assert.deepEqual(back.tensors.get(k), v, k);
  assert.deepEqual(readSafetensorsHeader(path.join(out, 'model.safetensors')).metadata, { format: 'pt' });
  assert.deepEqual(readConfigFile(path.join(out, 'config.json')), ck.config);
  assert.deepEqual(fs.readdirSync(out).sort(), ['config.json', 'model.safetensors']);

  const half = path.join(tmpDir(), 'half');
  saveCheckpoint(half, ck.config, ck.tensors, { dtype: 'BF16' });
  const h = readSafetensorsHeader(path.join(half, 'model.safetensors'));
  assert.equal(h.byName.get('backbone.vocab_embed.embedding')!.dtype, 'BF16');
  assert.equal(h.byName.get('backbone.rotary_emb.inv_freq')!.dtype, 'F32'); // buffers stay exact
  const hb = loadCheckpoint(half);
  const e0 = ck.tensors.get('backbone.vocab_embed.embedding')!;
  const e1 = hb.tensors.get('backbone.vocab_embed.embedding')!;
  for (let i = 0; i < e0.length; i++) assert.ok(Math.abs(e0[i] - e1[i]) <= Math.abs(e0[i]) * 2 ** -8);

  const missing = new Map(ck.tensors);
  missing.delete('sampling_eps_min');
  missing.set('extra', new Float32Array(1));
  throwsCkpt(() => saveCheckpoint(path.join(tmpDir(), 'x'), ck.config, missing), /missing tensor "sampling_eps_min"/, /unexpected tensor "extra"/);
});
