/**
 * `bd3lm convert`: Lightning checkpoints made by scripts/make-ckpt-fixtures.py with real PyTorch (committed, tiny),
 * read by the TypeScript zip + pickle reader and compared value for value with what PyTorch says the EMA / raw
 * weights are; bad input leaves nothing behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { FIXTURES } from './model-helpers.js';
import { convertLightning, writeConverted } from '../src/model/ckpt/convert.js';
import { TorchCheckpoint } from '../src/model/ckpt/torch-load.js';
import { PyObject } from '../src/model/ckpt/pickle.js';
import { loadCheckpoint } from '../src/model/checkpoint.js';
import { loadModel } from '../src/model/load.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/cli/main.js');
const F = path.join(FIXTURES, 'ckpt');
const order: Record<string, string[]> = JSON.parse(fs.readFileSync(path.join(F, 'expected.json'), 'utf8'));
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'bd3lm-convert-'));
const convert = (...args: string[]) => spawnSync(process.execPath, [CLI, 'convert', ...args], { encoding: 'utf8' });

/** The folder's tensors against the float32 values PyTorch wrote, name by name. */
function assertMatches(dir: string, fixture: string, which: 'ema' | 'raw'): void {
  const expected = new Float32Array(new Uint8Array(fs.readFileSync(path.join(F, `expected-${fixture}-${which}.f32`))).buffer);
  const ck = loadCheckpoint(dir);
  assert.deepEqual([...ck.tensors.keys()], order[fixture], 'tensor names and order');
  let o = 0;
  for (const name of order[fixture]) {
    const t = ck.tensors.get(name)!;
    assert.deepEqual(t, expected.subarray(o, o + t.length), name);
    o += t.length;
  }
  assert.equal(o, expected.length);
}

test('convert: EMA weights (strided, offset, f16 and bf16 tensors included) and buffers, as push_to_hf.py', async () => {
  const out = path.join(tmp(), 'model');
  const r = convert(path.join(F, 'bd3lm.ckpt'), '--config', path.join(F, 'config-bd3lm.json'), '--out', out);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /wrote .*model: bd3lm, 2,387 parameters, 23 tensors/);
  assert.match(r.stderr, /cond_dim 129 .* replaced by 4 from the weights/);
  assertMatches(out, 'bd3lm', 'ema');
  const m = await loadModel(out, { backend: 'ref' });
  assert.equal(m.config.blockSize, 2);
  assert.equal(m.config.condDim, 4);
  assert.deepEqual([m.config.samplingEpsMin, m.config.samplingEpsMax], [0.25, 0.75], 'the learned clip bounds of the checkpoint');
  assert.deepEqual(fs.readdirSync(path.dirname(out)), ['model'], 'no temporary folder left');
});

test('convert --no-ema: the raw state_dict; an AR model saved under torch.compile (_orig_mod. names)', () => {
  const d = tmp();
  for (const [ckpt, cfg, fixture, flags, which] of [
    ['bd3lm.ckpt', 'config-bd3lm.json', 'bd3lm', ['--no-ema'], 'raw'],
    ['noema.ckpt', 'config-bd3lm.json', 'noema', ['--no-ema'], 'raw'],
    ['ar-compiled.ckpt', 'config-ar.json', 'ar-compiled', [], 'ema'],
  ] as const) {
    const out = path.join(d, `${fixture}-${which}`);
    const r = convert(path.join(F, ckpt), '--config', path.join(F, cfg), '--out', out, ...flags);
    assert.equal(r.status, 0, r.stderr);
    assertMatches(out, fixture, which);
  }
});

test('the pickle reader keeps objects it cannot import as data, never runs them', () => {
  const ck = TorchCheckpoint.open(path.join(F, 'bd3lm.ckpt'));
  try {
    const root = ck.root as Map<string, unknown>;
    const hp = root.get('hyper_parameters') as Map<string, unknown>;
    const tok = hp.get('tokenizer') as PyObject;
    assert.ok(tok instanceof PyObject);
    const state = tok.state as Map<string, unknown>;
    assert.deepEqual(state.get('blob'), new Uint8Array([0, 1, ...new TextEncoder().encode('binary')]));
    assert.deepEqual(state.get('special'), new Set(['[MASK]']));
    const loops = root.get('loops') as Map<string, unknown>;
    assert.equal(loops.get('big'), 2n ** 70n);
    assert.equal(loops.get('neg'), -(2 ** 40));
    assert.equal(loops.get('f'), 0.5);
    assert.equal(root.get('global_step'), 1500);
  } finally {
    ck.close();
  }
});

test('convert: bad input fails naming the problem and writes nothing', () => {
  const d = tmp();
  const out = path.join(d, 'out');
  const text = path.join(d, 'notes.ckpt');
  fs.writeFileSync(text, 'not a checkpoint\n');
  const truncated = path.join(d, 'cut.ckpt');
  fs.writeFileSync(truncated, fs.readFileSync(path.join(F, 'bd3lm.ckpt')).subarray(0, 5000));
  const bigger = path.join(d, 'config-wide.json');
  fs.writeFileSync(bigger, fs.readFileSync(path.join(F, 'config-bd3lm.json'), 'utf8').replace('"hidden_dim": 8', '"hidden_dim": 16'));
  const cases: [string[], RegExp][] = [
    [[text, '--config', path.join(F, 'config-bd3lm.json')], /notes\.ckpt: not a PyTorch zip checkpoint/],
    [[truncated, '--config', path.join(F, 'config-bd3lm.json')], /cut\.ckpt: not a PyTorch zip checkpoint/],
    [[path.join(F, 'noema.ckpt'), '--config', path.join(F, 'config-bd3lm.json')], /noema\.ckpt: has no EMA weights .*--no-ema/],
    [[path.join(F, 'bd3lm.ckpt'), '--config', path.join(F, 'config-ar.json')], /the EMA holds 20 tensors, but the ar model .* has 12 trainable parameters/],
    [[path.join(F, 'bd3lm.ckpt'), '--config', bigger], /does not match the model of .*config-wide\.json .*\n.*EMA tensor 0 \(backbone\.vocab_embed\.embedding\) has shape \[11, 8\], the config needs \[11, 16\]/],
    [[path.join(F, 'ar-compiled.ckpt'), '--config', path.join(F, 'config-bd3lm.json'), '--no-ema'], /state_dict\["sampling_eps_min"\] is missing/],
    [[path.join(F, 'bd3lm.ckpt'), '--config', path.join(d, 'nope.json')], /nope\.json/],
    [[path.join(F, 'bd3lm.ckpt')], /--config is required/],
  ];
  for (const [args, why] of cases) {
    const r = convert(...args, '--out', out);
    assert.notEqual(r.status, 0, args.join(' '));
    assert.match(r.stderr, why, args.join(' '));
    assert.ok(!fs.existsSync(out), `nothing written for ${args.join(' ')}`);
  }
  assert.deepEqual(fs.readdirSync(d).sort(), ['config-wide.json', 'cut.ckpt', 'notes.ckpt']);
  // an --out that already holds something is left alone
  fs.mkdirSync(out);
  fs.writeFileSync(path.join(out, 'keep.txt'), 'x');
  assert.throws(() => writeConverted(out, convertLightning(path.join(F, 'bd3lm.ckpt'), path.join(F, 'config-bd3lm.json'))), /already exists and is not an empty folder/);
  assert.deepEqual(fs.readdirSync(out), ['keep.txt']);
});
