/** The `bd3lm` command line, run as a user would (a child process on the compiled CLI). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FIXTURES, randomModel } from './model-helpers.js';
import { readNpy, writeNpy } from '../src/model/npy.js';
import { saveCheckpoint } from '../src/model/checkpoint.js';
import { RefBackend } from '../src/tensor/ref.js';
import { Rng } from '../src/tensor/rng.js';
import { KVCache } from '../src/model/kvcache.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/cli/main.js');
const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
const golden = path.join(FIXTURES, 'bs4');

function copyFixture(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bd3lm-cli-'));
  for (const f of fs.readdirSync(golden)) fs.copyFileSync(path.join(golden, f), path.join(dir, f));
  return dir;
}

test('verify prints one JSON object and exits 0 on the golden fixture', () => {
  const r = run('verify', golden);
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1);
  const rep = JSON.parse(lines[0]);
  assert.equal(rep.ok, true);
  assert.ok(rep.arrays.vec_logits.max_rel <= 2e-6, `vec_logits max_rel ${rep.arrays.vec_logits.max_rel}`); // achieved <= 3.8e-7
});

test('verify exits 1 and names the array when the port disagrees with a file', () => {
  const dir = copyFixture();
  const a = readNpy(path.join(dir, 'kv_logits.npy'));
  (a.data as Float32Array)[123] += 0.5;
  writeNpy(path.join(dir, 'kv_logits.npy'), a);
  const r = run('verify', dir);
  assert.equal(r.status, 1);
  const rep = JSON.parse(r.stdout);
  assert.equal(rep.arrays.kv_logits.ok, false);
  assert.equal(rep.arrays.vec_logits.ok, true);
});

test("verify replays the authors' sampler traces and fails when one differs", () => {
  const ok = JSON.parse(run('verify', golden).stdout);
  assert.equal(ok.samplers.sample_first_hitting.ok, true);
  assert.equal(ok.samplers.sample_ddpm.nfe, 21);
  const dir = copyFixture();
  const f = readNpy(path.join(dir, 'sample_ddpm_final.npy'));
  (f.data as BigInt64Array)[5] += 1n;
  writeNpy(path.join(dir, 'sample_ddpm_final.npy'), f);
  const r = run('verify', dir);
  assert.equal(r.status, 1);
  const rep = JSON.parse(r.stdout);
  assert.equal(rep.samplers.sample_ddpm.final_equal, false);
  assert.equal(rep.samplers.sample_first_hitting.ok, true);
});

test('verify works on a folder of another block size, length and model shape', () => {
  // a self-made folder in the golden format (bs 8, L 16, hidden 32, 3 layers), expected values from the ref backend
  const be = new RefBackend();
  const model = randomModel(be, { blockSize: 8, modelLength: 16, nBlocks: 3, vocabSize: 37 }, 11);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bd3lm-verify-'));
  saveCheckpoint(dir, model.config, model.tensors);
  const V = 37, L = 16, B = 1, bs = 8;
  const rng = new Rng(2);
  const x0 = Int32Array.from({ length: L }, () => Math.floor(rng.uniform() * 36));
  const xt = Int32Array.from(x0, (v, i) => (i > 0 && rng.uniform() < 0.5 ? 36 : v));
  const t = new Float32Array(L).fill(0.5);
  const i64 = (a: Int32Array) => BigInt64Array.from(a, (v) => BigInt(v));
  writeNpy(path.join(dir, 'x0.npy'), { dtype: 'int64', shape: [B, L], data: i64(x0) });
  writeNpy(path.join(dir, 'xt.npy'), { dtype: 'int64', shape: [B, L], data: i64(xt) });
  writeNpy(path.join(dir, 't.npy'), { dtype: 'float32', shape: [B, L], data: t });
  const vec = model.forward({ ids: [...xt, ...x0], batch: 1, seqLen: 2 * L, layout: 'vectorized' }).logits;
  writeNpy(path.join(dir, 'vec_logits.npy'), { dtype: 'float32', shape: [B, L, V], data: vec });
  const cache = new KVCache(model, 1, bs, L);
  const kv = new Float32Array(L * V);
  for (let k = 0; k < 2; k++) {
    kv.set(cache.step(xt.subarray(k * bs, (k + 1) * bs)), k * bs * V);
    cache.step(x0.subarray(k * bs, (k + 1) * bs), { store: true, logitPositions: 'none' });
  }
  writeNpy(path.join(dir, 'kv_logits.npy'), { dtype: 'float32', shape: [B, L, V], data: kv });
  const r = run('verify', dir);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const rep = JSON.parse(r.stdout);
  assert.deepEqual(rep.config, { block_size: 8, L: 16, B: 1, hidden: 32, layers: 3, heads: 2, vocab: 37 });
  assert.ok(rep.arrays.vec_logits.ok && rep.arrays.kv_logits.ok && rep.arrays.block_diff_mask === undefined);
  assert.ok(rep.skipped.nocache_logits);
});

test("verify takes t.npy of shape (B, 1) for L' = L (the reference's _sample_t gives one t per sequence there)", () => {
  // a self-made L' = L folder (bs = L = 16, B = 2, a different t per sequence); the expected per-token loss is worked
  // out here by brute force from the logits: -log softmax(logits without the mask)[x0] / t at masked positions
  // (loglinear schedule, SUBS), 0 elsewhere
  const V = 37, L = 16, B = 2, MASK = V - 1;
  const model = randomModel(new RefBackend(), { blockSize: L, modelLength: L, vocabSize: V }, 5);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bd3lm-verify-mdlm-'));
  saveCheckpoint(dir, model.config, model.tensors);
  const rng = new Rng(3);
  const tSeq = [0.3, 0.8];
  const x0 = Int32Array.from({ length: B * L }, () => Math.floor(rng.uniform() * MASK));
  const xt = Int32Array.from(x0, (v, i) => (i % L > 0 && rng.uniform() < tSeq[Math.floor(i / L)] ? MASK : v));
  const i64 = (a: Int32Array) => BigInt64Array.from(a, (v) => BigInt(v));
  writeNpy(path.join(dir, 'x0.npy'), { dtype: 'int64', shape: [B, L], data: i64(x0) });
  writeNpy(path.join(dir, 'xt.npy'), { dtype: 'int64', shape: [B, L], data: i64(xt) });
  writeNpy(path.join(dir, 't.npy'), { dtype: 'float32', shape: [B, 1], data: Float32Array.from(tSeq) });
  const ids = new Int32Array(B * 2 * L);
  for (let b = 0; b < B; b++) {
    ids.set(xt.subarray(b * L, (b + 1) * L), 2 * b * L);
    ids.set(x0.subarray(b * L, (b + 1) * L), 2 * b * L + L);
  }
  const logits = model.forward({ ids, batch: B, seqLen: 2 * L, layout: 'vectorized' }).logits;
  const nll = new Float32Array(B * L);
  for (let i = 0; i < B * L; i++) {
    if (xt[i] !== MASK) continue;
    const row = logits.subarray(i * V, (i + 1) * V);
    let max = -Infinity, sum = 0;
    for (let v = 0; v < MASK; v++) max = Math.max(max, row[v]);
    for (let v = 0; v < MASK; v++) sum += Math.exp(row[v] - max);
    nll[i] = (max + Math.log(sum) - row[x0[i]]) / Math.fround(tSeq[Math.floor(i / L)]);
  }
  assert.ok(nll.some((x, i) => x > 0 && i < L) && nll.some((x, i) => x > 0 && i >= L), 'both sequences have masked tokens');
  writeNpy(path.join(dir, 'nlls.npy'), { dtype: 'float32', shape: [B, L], data: nll });
  const r = run('verify', dir, '--backend', 'ref');
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const rep = JSON.parse(r.stdout);
  assert.equal(rep.arrays.nlls.ok, true);
  assert.ok(rep.arrays.nlls.max_rel < 1e-6, JSON.stringify(rep.arrays.nlls));
  // any other shape is refused, naming the file and both accepted shapes
  writeNpy(path.join(dir, 't.npy'), { dtype: 'float32', shape: [B, 2], data: new Float32Array(2 * B).fill(0.5) });
  const bad = run('verify', dir, '--backend', 'ref');
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /t\.npy: expected shape \(2, 16\), or \(2, 1\) with one t per sequence \(L' = L\), got \(2, 2\)/);
  fs.rmSync(dir, { recursive: true });
});

test('info prints config, parameter count and tensors; bad folders and flags fail clearly', () => {
  const r = run('info', golden);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /trainable parameters: 191,009/);
  assert.match(r.stdout, /backbone\.blocks\.1\.attn_qkv\.weight\t\[192, 64\]\tF32/);
  const missing = run('info', os.tmpdir());
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /model\.safetensors/);
  assert.equal(run('verify').status, 2);
  assert.equal(run('verify', golden, '--backend', 'gpu').status, 2);
  assert.equal(run('verify', golden, '--tolerance', 'x').status, 2);
  assert.equal(run('nonsense').status, 2);
});
