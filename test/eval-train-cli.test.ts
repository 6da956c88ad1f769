/** Likelihood evaluation, the gradient-variance estimator, and the train / eval / plot commands end to end. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RefBackend } from '../src/tensor/ref.js';
import { Rng } from '../src/tensor/rng.js';
import { Loader } from '../src/data/loader.js';
import { loadModel } from '../src/model/load.js';
import { perplexity } from '../src/eval/ppl.js';
import { tokenByteLength } from '../src/data/tokenizer.js';
import { loadTokenizer } from '../src/data/load-tokenizer.js';
import { gradientVariance } from '../src/eval/variance.js';
import { Grads } from '../src/training/grads.js';
import { lossAndGrads } from '../src/training/objective.js';
import { randomModel } from './model-helpers.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/cli/main.js');
const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });

test('eval ppl: the AR perplexity is exp of the brute-force mean NLL of positions 1..L-1', () => {
  const be = new RefBackend();
  const model = randomModel(be, { modelType: 'ar', causal: true, adaln: false, crossAttn: false, blockSize: 1 });
  const { vocabSize: V, modelLength: L } = model.config;
  const rng = new Rng(4);
  const ids = Int32Array.from({ length: 2 * L }, () => Math.floor(rng.uniform() * (V - 1)));
  const r = perplexity(model, [{ ids, rows: 2 }]);
  let nll = 0;
  for (let b = 0; b < 2; b++) {
    const lg = model.forward({ ids: ids.subarray(b * L, (b + 1) * L), batch: 1, seqLen: L, layout: 'causal' }).logits;
    for (let i = 0; i < L - 1; i++) {
      const row = Array.from(lg.subarray(i * V, (i + 1) * V));
      row[V - 1] = -1e6; // the mask id is never predicted
      const m = Math.max(...row);
      const lse = m + Math.log(row.reduce((s, x) => s + Math.exp(x - m), 0));
      nll += lse - row[ids[b * L + i + 1]];
    }
  }
  nll /= 2 * (L - 1);
  assert.equal(r.algo, 'ar');
  assert.equal(r.bound, false);
  assert.equal(r.tokens, 2 * (L - 1));
  assert.ok(Math.abs(r.nll - nll) < 1e-5 * nll, `${r.nll} vs ${nll}`);
  assert.ok(Math.abs(r.ppl - Math.exp(nll)) < 1e-4 * Math.exp(nll));
});

test('eval variance: two batches give half the squared distance of their gradients (eq. 10)', () => {
  const be = new RefBackend();
  const model = randomModel(be, { blockSize: 4 });
  const { vocabSize: V, modelLength: L } = model.config;
  const rng = new Rng(5);
  const batches = [0, 1].map(() => ({ ids: Int32Array.from({ length: 2 * L }, () => Math.floor(rng.uniform() * (V - 1))), rows: 2 }));
  const r = gradientVariance(model, batches, { seed: 9 });
  // brute force with the same random stream
  const draw = new Rng(9);
  const gs = batches.map((b) => {
    const g = new Grads(model);
    lossAndGrads(model, g, { x0: b.ids, B: 2, L }, { algo: 'bd3lm', blockSize: 4, epsMin: 1e-3, epsMax: 1, antithetic: true, dropout: 0, random: () => draw.uniform() });
    return g;
  });
  let d2 = 0;
  for (const [k, a] of gs[0].tensors) {
    const b = gs[1].tensors.get(k)!;
    for (let i = 0; i < a.length; i++) d2 += (a[i] - b[i]) ** 2;
  }
  assert.ok(Math.abs(r.grad_variance - d2 / 2) <= 1e-4 * (d2 / 2), `${r.grad_variance} vs ${d2 / 2}`);
});

test('cli: prepare, train, eval ppl, eval variance and plot on a small byte corpus', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bd3lm-cli-train-'));
  fs.writeFileSync(path.join(dir, 'c.txt'), Array.from({ length: 300 }, (_, i) => `And it came to pass on day ${i} that the text went on.`).join('\n'));
  const data = path.join(dir, 'data');
  assert.equal(run('prepare', '--tokenizer', 'bytes', '--length', '32', '--split-lines', '--valid-docs', '30', '--out', data, '-q', path.join(dir, 'c.txt')).status, 0);
  const out = path.join(dir, 'run');
  const t = run('train', '--algo', 'bd3lm', '--block-size', '4', '--hidden', '32', '--layers', '2', '--heads', '2', '--cond-dim', '16',
    '--data', data, '--out', out, '--steps', '3', '--batch-size', '2', '--warmup', '1', '--eval-every', '3', '--eval-batches', '2', '--clip-widths', '0.5');
  assert.equal(t.status, 0, t.stderr);
  assert.equal(JSON.parse(t.stdout).step, 3);
  assert.match(t.stderr, /valid step 3: nelbo/);
  // the CLI's figures equal the library's on the same batches (the first ones of data/valid, in file order)
  const model = await loadModel(out, { backend: 'ref' });
  const validBatches = (B: number, n: number, dropLast: boolean) => {
    const loader = new Loader(path.join(data, 'valid'), { batchSize: B, shuffle: false, dropLast, expect: { L: 32, vocabSize: model.config.vocabSize } });
    const bs = Array.from({ length: Math.min(n, loader.batchesPerEpoch) }, () => loader.next());
    loader.close();
    return bs;
  };
  const e = run('eval', 'ppl', '--model', out, '--data', data, '--batch-size', '4', '--max-batches', '2', '--backend', 'ref');
  assert.equal(e.status, 0, e.stderr);
  const rep = JSON.parse(e.stdout);
  const bytesOf = tokenByteLength(await loadTokenizer(out));
  assert.deepEqual(rep, { model: out, data: path.join(data, 'valid'), ...perplexity(model, validBatches(4, 2, false), { seed: 1, bytesOf }) });
  assert.equal(rep.algo, 'bd3lm');
  assert.equal(rep.bound, true);
  assert.equal(rep.sequences, 8);
  assert.equal(rep.tokens, rep.sequences * 31);
  // --draws 3 --seed 5: the mean of the runs with seeds 5, 6, 7, each draw's figure listed
  const d = run('eval', 'ppl', '--model', out, '--data', data, '--batch-size', '4', '--max-batches', '2', '--backend', 'ref', '--seed', '5', '--draws', '3');
  assert.equal(d.status, 0, d.stderr);
  const drawn = JSON.parse(d.stdout);
  const single = [5, 6, 7].map((seed) => perplexity(model, validBatches(4, 2, false), { seed, bytesOf }));
  assert.equal(drawn.draws, 3);
  assert.deepEqual(drawn.nll_draws, single.map((r) => r.nll));
  assert.ok(new Set(drawn.nll_draws).size === 3, 'the draws differ');
  const mean = single.reduce((a, r) => a + r.nll, 0) / 3;
  assert.ok(Math.abs(drawn.nll - mean) <= 1e-12 * mean, `${drawn.nll} vs ${mean}`);
  assert.ok(Math.abs(drawn.bits_per_byte - single.reduce((a, r) => a + r.bits_per_byte!, 0) / 3) <= 1e-12 * drawn.bits_per_byte);
  assert.equal(run('eval', 'ppl', '--model', out, '--data', data, '--draws', '0').status, 2);
  const v = run('eval', 'variance', '--model', out, '--data', data, '--batches', '2', '--batch-size', '2', '--backend', 'ref');
  assert.equal(v.status, 0, v.stderr);
  const vrep = JSON.parse(v.stdout);
  assert.deepEqual(vrep, { model: out, data: path.join(data, 'valid'), ...gradientVariance(model, validBatches(2, 2, true), {}) });
  assert.equal(vrep.batches, 2);
  assert.ok(vrep.grad_variance > 0);
  // a half-precision export loads for inference as stored (f16 matrices); gradients load it as fp32
  const half = path.join(dir, 'half');
  assert.equal(run('export', '--out', half, '--dtype', 'f16', out).status, 0);
  const hv = run('eval', 'variance', '--model', half, '--data', data, '--batches', '2', '--batch-size', '2', '--backend', 'ref');
  assert.equal(hv.status, 0, hv.stderr);
  assert.ok(JSON.parse(hv.stdout).grad_variance > 0);
  const p = run('plot', out);
  assert.equal(p.status, 0, p.stderr);
  const svg = fs.readFileSync(path.join(out, 'curves.svg'), 'utf8');
  assert.match(svg, /^<svg/);
  assert.match(svg, /Training loss/);
  assert.match(svg, /Variance of the NELBO estimator/);
  // bad input
  assert.equal(run('train', '--algo', 'gpt', '--data', data, '--out', out).status, 2);
  assert.equal(run('train', '--algo', 'bd3lm', '--data', data, '--out', path.join(dir, 'x'), '--steps', 'many').status, 2);
  assert.equal(run('train', '--algo', 'bd3lm', '--data', data, '--out', out, '--steps', '3').status, 1); // exists: needs --resume
  assert.equal(run('eval', 'ppl', '--model', out).status, 2);
  assert.equal(run('plot').status, 2);
});

test('cli: Ctrl-C during training saves a checkpoint and exits 130; --init fine-tunes BD3-LM from an MDLM run', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bd3lm-cli-sigint-'));
  fs.writeFileSync(path.join(dir, 'c.txt'), Array.from({ length: 300 }, (_, i) => `Line ${i} of a small corpus for the test.`).join('\n'));
  const data = path.join(dir, 'data');
  assert.equal(run('prepare', '--tokenizer', 'bytes', '--length', '32', '--split-lines', '--out', data, '-q', path.join(dir, 'c.txt')).status, 0);
  const size = ['--hidden', '32', '--layers', '2', '--heads', '2', '--cond-dim', '16', '--batch-size', '2', '--warmup', '1', '--log-every', '1'];
  const mdlm = path.join(dir, 'mdlm');
  const child = spawn(process.execPath, [CLI, 'train', '--algo', 'mdlm', '--data', data, '--out', mdlm, '--steps', '100000', '--save-every', '100000', ...size]);
  let err = '';
  const code = await new Promise<number | null>((resolve) => {
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      if (/step 3\//.test(err) && !child.killed) child.kill('SIGINT');
    });
    child.on('exit', (c) => resolve(c));
  });
  assert.equal(code, 130, err);
  assert.match(err, /interrupted/);
  const latest = JSON.parse(fs.readFileSync(path.join(mdlm, 'train', 'latest.json'), 'utf8'));
  assert.ok(latest.step >= 3 && latest.step < 100000);
  // resume the interrupted run by its folder, as a user would after Ctrl-C
  const res = run('train', '--algo', 'mdlm', '--data', data, '--resume', mdlm, '--steps', String(latest.step + 1), ...size);
  assert.equal(res.status, 0, res.stderr);
  assert.equal(JSON.parse(res.stdout).step, latest.step + 1);
  assert.equal(run('train', '--algo', 'mdlm', '--data', data, '--resume', mdlm, '--out', path.join(dir, 'other'), '--steps', '9').status, 2);
  // fine-tune: BD3-LM L' = 4 initialised from the MDLM weights (the paper's recipe, spec 9.2)
  const ft = run('train', '--algo', 'bd3lm', '--block-size', '4', '--init', mdlm, '--data', data, '--out', path.join(dir, 'ft'), '--steps', '2', ...size);
  assert.equal(ft.status, 0, ft.stderr);
  const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'ft', 'config.json'), 'utf8'));
  assert.equal(cfg.model_type, 'bd3lm');
  assert.equal(cfg.block_size, 4);
  const bad = run('train', '--algo', 'bd3lm', '--block-size', '4', '--init', mdlm, '--data', data, '--out', path.join(dir, 'ft2'), '--steps', '1', '--hidden', '64', '--layers', '2', '--heads', '2');
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /--init .*hiddenDim is 32, this run needs 64/);
});
