/**
 * The released models' layout, end to end through `bd3lm` against the mock hub: a config.json as the authors'
 * push_to_hf.py writes it (BD3LMConfig with attn_backend "flex" and remote-code auto_map) and random weights of a
 * tiny shape with the GPT-2 vocabulary; the GPT-2 tokenizer is picked without being named. Likewise an MDLM repo.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { MockHub } from './mock-hub.js';
import { PRESETS, withModelType, type ModelConfig } from '../src/model/config.js';
import { initTensors } from '../src/model/init.js';
import { saveCheckpoint } from '../src/model/checkpoint.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/cli/main.js');
const COMMIT = 'd'.repeat(40);
let hub: MockHub;

/** push_to_hf.py's BD3LMConfig(...) as transformers serialises it (sizes shrunk, every field kept). */
const bd3lmConfigJson = (c: ModelConfig) => ({
  _name_or_path: 'kuleshov-group/bd3lm-owt-block_size16', adaln: true, architectures: ['BD3LM'], attn_backend: 'flex',
  auto_map: {
    AutoConfig: 'kuleshov-group/bd3lm-owt-block_size16--configuration.BD3LMConfig',
    AutoModelForMaskedLM: 'kuleshov-group/bd3lm-owt-block_size16--modeling_bd3lm.BD3LM',
  },
  block_size: c.blockSize, causal: false, cond_dim: c.condDim, cross_attn: true, dropout: 0.1, hidden_dim: c.hiddenDim,
  model_length: c.modelLength, model_type: 'bd3lm', n_blocks: c.nBlocks, n_heads: c.nHeads, return_dict: false,
  sampling_eps_max: 0.999, sampling_eps_min: 0.001, time_conditioning: false, torch_dtype: 'float32',
  transformers_version: '4.49.0', var_min: true, vocab_size: 50258,
});

function repoFiles(cfg: ModelConfig, configJson: unknown): Record<string, Uint8Array> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bd3lm-released-'));
  saveCheckpoint(dir, cfg, initTensors(cfg, 7, 'random'));
  return { 'config.json': Buffer.from(JSON.stringify(configJson, null, 2)), 'model.safetensors': fs.readFileSync(path.join(dir, 'model.safetensors')) };
}

before(async () => {
  hub = await new MockHub().start();
  const small = { ...PRESETS.tiny, vocabSize: 50258, hiddenDim: 16, condDim: 8, nBlocks: 1, nHeads: 2, modelLength: 32 };
  const bd3 = { ...small, blockSize: 16 };
  hub.addRepo('kuleshov-group/bd3lm-owt-block_size16', { refs: { main: COMMIT }, commits: { [COMMIT]: repoFiles(bd3, bd3lmConfigJson(bd3)) } });
  const mdlm = withModelType(small, 'mdlm');
  // mdlm-owt's config (spec 8.4): the MDLM fields, its class-default cond_dim, no block fields
  const mdlmJson = { model_type: 'mdlm', architectures: ['MDLM'], vocab_size: 50258, model_length: 32, hidden_dim: 16, cond_dim: 129, n_blocks: 1, n_heads: 2, scale_by_sigma: true, dropout: 0.1, time_conditioning: false, return_dict: false };
  hub.addRepo('kuleshov-group/mdlm-owt', { refs: { main: COMMIT }, commits: { [COMMIT]: repoFiles(mdlm, mdlmJson) } });
});
after(() => hub.close());

/** `bd3lm ARGS` in a child process (asynchronously: the mock hub answers from this process). */
function bd3lm(args: string[], env: NodeJS.ProcessEnv): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env } });
    let stdout = '', stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

test('bd3lm sample --model kuleshov-group/bd3lm-owt-block_size16: downloaded, flex config accepted, GPT-2 tokens', async () => {
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'bd3lm-released-cache-'));
  const env = { HF_ENDPOINT: hub.endpoint, HF_HUB_CACHE: cache, HF_TOKEN: '' };
  const r = await bd3lm(['sample', '--model', 'kuleshov-group/bd3lm-owt-block_size16', '--prompt', 'Hello world', '--length', '16', '--seed', '1', '--json'], env);
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.deepEqual(j.sequences[0].allTokens.slice(0, 3), [50256, 15496, 995], 'BOS, then "Hello world" in GPT-2 BPE');
  assert.equal(j.tokens.length, 16);
  assert.ok(j.tokens.every((t: number) => t >= 0 && t < 50257), 'no mask id 50257 left');
  assert.ok(fs.existsSync(path.join(cache, 'models--kuleshov-group--bd3lm-owt-block_size16', 'snapshots', COMMIT, 'model.safetensors')));
  // offline afterwards, and info reads the released config
  const info = await bd3lm(['info', 'kuleshov-group/bd3lm-owt-block_size16', '--json'], { ...env, HF_HUB_OFFLINE: '1' });
  assert.equal(info.status, 0, info.stderr);
  const d = JSON.parse(info.stdout);
  assert.equal(d.config.blockSize, 16);
  assert.equal(d.config.modelType, 'bd3lm');
  assert.deepEqual(d.problems, []);
});

test('kuleshov-group/mdlm-owt: the MDLM layout loads (cond_dim from the weights)', async () => {
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'bd3lm-released-cache-'));
  const r = await bd3lm(['info', 'kuleshov-group/mdlm-owt', '--json'], { HF_ENDPOINT: hub.endpoint, HF_HUB_CACHE: cache });
  assert.equal(r.status, 0, r.stderr);
  const d = JSON.parse(r.stdout);
  assert.equal(d.config.modelType, 'mdlm');
  assert.equal(d.config.condDim, 8);
  assert.equal(d.config.blockSize, 32);
  assert.deepEqual(d.problems, []);
});

test('bd3lm web --model ORG/NAME serves the downloaded snapshot', async () => {
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'bd3lm-released-cache-'));
  const p = spawn(process.execPath, [CLI, 'web', '--port', '0', '--model', 'kuleshov-group/mdlm-owt'], { env: { ...process.env, HF_ENDPOINT: hub.endpoint, HF_HUB_CACHE: cache } });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      p.stdout.on('data', (d) => {
        out += d;
        const m = /serving (http:\/\/\S+\/)/.exec(out);
        if (m) resolve(m[1]);
      });
      p.on('exit', (code) => reject(new Error(`bd3lm web exited ${code}`)));
    });
    const served = Buffer.from(await (await fetch(`${url}model/model.safetensors`)).arrayBuffer());
    const repo = hub.repos.get('kuleshov-group/mdlm-owt')!;
    assert.ok(served.equals(repo.commits[COMMIT]['model.safetensors']));
  } finally {
    p.kill('SIGTERM');
  }
});

test('the download progress bar is drawn on a terminal, and not with --quiet', { skip: fs.existsSync('/usr/bin/script') ? false : 'no script(1) for a pseudo-terminal' }, async () => {
  for (const quiet of [false, true]) {
    const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'bd3lm-released-cache-'));
    const cmd = [process.execPath, CLI, 'info', 'kuleshov-group/mdlm-owt', ...(quiet ? ['--quiet'] : [])].map((a) => `'${a}'`).join(' ');
    // script(1) runs the command on a pseudo-terminal, as a user's shell would
    const r = await new Promise<string>((resolve) => {
      const p = spawn('/usr/bin/script', ['-qec', `${cmd} >/dev/null`, '/dev/null'], { env: { ...process.env, HF_ENDPOINT: hub.endpoint, HF_HUB_CACHE: cache } });
      let out = '';
      p.stdout.on('data', (d) => (out += d));
      p.on('close', () => resolve(out));
    });
    if (quiet) assert.doesNotMatch(r, /model\.safetensors \[/);
    else assert.match(r, /model\.safetensors \[#{24}\] \d+\.\d MB \/ \d+\.\d MB .* MB\/s {2}ETA /);
  }
});
