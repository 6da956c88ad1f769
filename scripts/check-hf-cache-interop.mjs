// Cross-checks the hub cache against Python's huggingface_hub, both ways, on the mock hub of the test suite:
// Python downloads (main, a tag) and bd3lm finds the files offline; bd3lm downloads and Python finds them offline
// (hf_hub_download / snapshot_download with local_files_only, scan_cache_dir without warnings).
// Needs a Python with huggingface_hub and a built tree (npm run build:ts):
//   node scripts/check-hf-cache-interop.mjs [PYTHON]        (default: python3)
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { MockHub } = await import(path.join(root, 'dist/test/mock-hub.js'));
const { resolveModel } = await import(path.join(root, 'dist/src/model/load.js'));
const python = process.argv[2] ?? 'python3';
const fixture = path.join(root, 'test/fixtures/bs4');
const config = fs.readFileSync(path.join(fixture, 'config.json'));
const weights = fs.readFileSync(path.join(fixture, 'model.safetensors'));
const A = 'a'.repeat(40), B = 'b'.repeat(40);
const hub = await new MockHub().start();
hub.addRepo('org/tiny', { refs: { main: A, v1: B }, commits: { [A]: { 'config.json': config, 'model.safetensors': weights }, [B]: { 'config.json': Buffer.from(config.toString().replace('"dropout": 0.1', '"dropout": 0.2')), 'model.safetensors': weights } } });
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bd3lm-interop-'));
const py = (cache, code) => new Promise((resolve, reject) =>
  execFile(python, ['-c', code], { env: { ...process.env, HF_ENDPOINT: hub.endpoint, HF_HUB_CACHE: cache, HF_HUB_DISABLE_TELEMETRY: '1' } }, (e, out, err) => (e ? reject(new Error(err)) : resolve(out.trim().split('\n')))));

try {
  const pyCache = path.join(tmp, 'python');
  await py(pyCache, "from huggingface_hub import hf_hub_download\nfor r in ['main', 'v1']:\n  for f in ['config.json', 'model.safetensors']: hf_hub_download('org/tiny', f, revision=r)");
  const snap = (cache, c) => path.join(cache, 'models--org--tiny', 'snapshots', c);
  assert.equal(await resolveModel('org/tiny', { cacheDir: pyCache, offline: true }), snap(pyCache, A));
  assert.equal(await resolveModel('org/tiny@v1', { cacheDir: pyCache, offline: true }), snap(pyCache, B));

  const ours = path.join(tmp, 'bd3lm');
  for (const id of ['org/tiny', 'org/tiny@v1']) await resolveModel(id, { cacheDir: ours, endpoint: hub.endpoint, progress: false });
  hub.failing = true; // from here on Python must not need the hub
  const out = await py(ours, [
    'import os', "os.environ['HF_HUB_OFFLINE'] = '1'",
    'from huggingface_hub import hf_hub_download, snapshot_download, scan_cache_dir',
    "print(hf_hub_download('org/tiny', 'model.safetensors', local_files_only=True))",
    "print(hf_hub_download('org/tiny', 'config.json', revision='v1', local_files_only=True))",
    "print(snapshot_download('org/tiny', local_files_only=True))",
    `info = scan_cache_dir('${ours}')`,
    "print(len(info.warnings), sorted((r.commit_hash, sorted(r.refs)) for repo in info.repos for r in repo.revisions))",
  ].join('\n'));
  assert.deepEqual(out.slice(0, 3), [path.join(snap(ours, A), 'model.safetensors'), path.join(snap(ours, B), 'config.json'), snap(ours, A)]);
  assert.equal(out[3], `0 [('${A}', ['main']), ('${B}', ['v1'])]`);
  console.log(`ok: Python's huggingface_hub and bd3lm read each other's caches (${(await py(tmp, 'import huggingface_hub; print(huggingface_hub.__version__)').catch(() => ['?']))[0]})`);
} finally {
  await hub.close();
  fs.rmSync(tmp, { recursive: true, force: true });
}
