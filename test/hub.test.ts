/**
 * Repo ids, the shared huggingface_hub cache and downloads, against a mock hub on 127.0.0.1 (test/mock-hub.ts), never
 * the network: download, resume after a cut connection and across runs, corrupted blobs, offline hit and miss, a
 * cache laid out as Python writes it, revision pinning, and the errors for tokens, names, revisions and the network.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { MockHub, gitSha1, sha256 } from './mock-hub.js';
import { FIXTURES } from './model-helpers.js';
import { resolveModel, loadModel } from '../src/model/load.js';
import { repoIdProblem, parseRepoRef } from '../src/hub/repo-id.js';
import { progressLine } from '../src/hub/progress.js';
import { loadCheckpoint } from '../src/model/checkpoint.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/cli/main.js');
const config = fs.readFileSync(path.join(FIXTURES, 'bs4', 'config.json'));
const weights = fs.readFileSync(path.join(FIXTURES, 'bs4', 'model.safetensors'));
const configV1 = Buffer.from(config.toString().replace('"dropout": 0.1', '"dropout": 0.2'));
const C_MAIN = 'a'.repeat(40);
const C_V1 = 'b'.repeat(40);
const W = sha256(weights);
const TOKENIZER = Buffer.from('{"version":"1.0","model":{"type":"BPE"}}');

let hub: MockHub;
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'bd3lm-hub-'));

before(async () => {
  hub = await new MockHub().start();
  const files = { 'config.json': config, 'model.safetensors': weights };
  hub.addRepo('org/tiny', { refs: { main: C_MAIN, v1: C_V1 }, commits: { [C_MAIN]: files, [C_V1]: { ...files, 'config.json': configV1 } } });
  hub.addRepo('org/private', { refs: { main: C_MAIN }, commits: { [C_MAIN]: files }, token: 'hf_secret' });
  hub.addRepo('org/gated', { refs: { main: C_MAIN }, commits: { [C_MAIN]: files }, token: 'hf_secret', gated: true });
  hub.addRepo('org/with-tokenizer', { refs: { main: C_MAIN }, commits: { [C_MAIN]: { ...files, 'tokenizer.json': TOKENIZER } } });
  hub.addRepo('org/ckpt-only', { refs: { main: C_MAIN }, commits: { [C_MAIN]: { 'config.json': config, 'last.ckpt': weights } } });
});
after(() => hub.close());

const opts = (cacheDir: string, extra = {}) => ({ endpoint: hub.endpoint, cacheDir, progress: false, token: '', ...extra });
const requests = () => hub.log.splice(0);

test('repo ids: accepted and refused names (huggingface_hub rules)', () => {
  assert.deepEqual(parseRepoRef('kuleshov-group/bd3lm-owt-block_size16'), { repo: 'kuleshov-group/bd3lm-owt-block_size16', revision: 'main' });
  assert.deepEqual(parseRepoRef('org/name@v1.0'), { repo: 'org/name', revision: 'v1.0' });
  for (const [bad, why] of [
    ['org', /exactly one "\/"/], ['a/b/c', /exactly one/], ['org/', /empty/], ['org/na me', /letters, digits/], ['org/x--y', /"--"/],
    ['org/x..y', /"\.\."/], ['org/x.git', /\.git/], ['org/-x', /start or end/], ['org/x@', /revision after "@" is empty/], [`org/${'x'.repeat(100)}`, /96/],
  ] as const) assert.match(repoIdProblem(bad) ?? '', why, bad);
  assert.equal(repoIdProblem('org/x@refs/pr/1'), undefined);
});

test('download into an empty cache: the huggingface_hub layout, blobs named by their hashes, the token kept from storage', async () => {
  const cache = tmp();
  requests();
  const dir = await resolveModel('org/tiny', opts(cache, { token: 'hf_any' }));
  const repoDir = path.join(cache, 'models--org--tiny');
  assert.equal(dir, path.join(repoDir, 'snapshots', C_MAIN));
  assert.equal(fs.readFileSync(path.join(repoDir, 'refs', 'main'), 'utf8'), C_MAIN);
  assert.equal(fs.readlinkSync(path.join(dir, 'model.safetensors')), `../../blobs/${W}`);
  assert.equal(fs.readlinkSync(path.join(dir, 'config.json')), `../../blobs/${gitSha1(config)}`);
  assert.deepEqual(fs.readdirSync(path.join(repoDir, 'blobs')).sort(), [W, gitSha1(config)].sort());
  assert.ok(fs.readFileSync(path.join(dir, 'model.safetensors')).equals(weights));
  const log = requests();
  assert.ok(log.some((r) => r.path === `/lfs/${W}` && r.method === 'GET'));
  assert.ok(log.filter((r) => r.path.startsWith('/org/')).every((r) => r.auth === 'Bearer hf_any'), 'the hub gets the token');
  assert.ok(log.filter((r) => r.path.startsWith('/lfs/')).every((r) => r.auth === undefined), 'the storage host does not');
  // the model loads from there and is the fixture's
  const a = loadCheckpoint(dir), b = loadCheckpoint(path.join(FIXTURES, 'bs4'));
  for (const [k, v] of b.tensors) assert.deepEqual(a.tensors.get(k), v, k);
  // a second resolve is a cache hit: no request at all
  assert.equal(await resolveModel('org/tiny', opts(cache)), dir);
  assert.deepEqual(requests(), []);
});

test('resume: a connection cut half-way is resumed with Range; a .incomplete from an earlier run too', async () => {
  const cache = tmp();
  requests();
  hub.cutOnce.add(W);
  const dir = await resolveModel('org/tiny', opts(cache));
  assert.ok(fs.readFileSync(path.join(dir, 'model.safetensors')).equals(weights));
  const gets = requests().filter((r) => r.path === `/lfs/${W}`);
  assert.equal(gets.length, 2);
  assert.equal(gets[0].range, undefined);
  const from = Number(/^bytes=(\d+)-$/.exec(gets[1].range ?? '')?.[1]);
  assert.ok(from > 0 && from <= weights.length >> 1, `resumed at ${from}, where the cut connection stopped`);

  const cache2 = tmp();
  const blobs = path.join(cache2, 'models--org--tiny', 'blobs');
  fs.mkdirSync(blobs, { recursive: true });
  fs.writeFileSync(path.join(blobs, `${W}.incomplete`), weights.subarray(0, 1000));
  const dir2 = await resolveModel('org/tiny', opts(cache2));
  assert.ok(fs.readFileSync(path.join(dir2, 'model.safetensors')).equals(weights));
  assert.deepEqual(requests().filter((r) => r.path === `/lfs/${W}`).map((r) => r.range), ['bytes=1000-']);
  assert.ok(!fs.existsSync(path.join(blobs, `${W}.incomplete`)));
});

test('a corrupted blob (sha256 against X-Linked-Etag) is refused and deleted; nothing appears in snapshots/', async () => {
  const cache = tmp();
  const repoDir = path.join(cache, 'models--org--tiny');
  hub.corrupt.add(W);
  try {
    await assert.rejects(resolveModel('org/tiny', opts(cache)), new RegExp(`model.safetensors of org/tiny arrived corrupted \\(sha256 [0-9a-f]{64}, but the hub says ${W}\\)`));
  } finally {
    hub.corrupt.delete(W);
  }
  assert.ok(!fs.existsSync(path.join(repoDir, 'snapshots')), 'no snapshot folder');
  assert.ok(!fs.existsSync(path.join(repoDir, 'refs')), 'no ref');
  assert.deepEqual(fs.readdirSync(path.join(repoDir, 'blobs')).filter((f) => f.startsWith(W)), [], 'neither blob nor .incomplete');
  // a bad prefix left by an earlier run is caught the same way
  fs.writeFileSync(path.join(repoDir, 'blobs', `${W}.incomplete`), Buffer.alloc(500, 7));
  await assert.rejects(resolveModel('org/tiny', opts(cache)), /arrived corrupted/);
  assert.ok(!fs.existsSync(path.join(repoDir, 'snapshots')));
  // and the next run starts clean and succeeds
  const dir = await resolveModel('org/tiny', opts(cache));
  assert.ok(fs.readFileSync(path.join(dir, 'model.safetensors')).equals(weights));
});

test("a repo's tokenizer.json comes with the model; a repo without one is recorded as such (.no_exist), as huggingface_hub does", async () => {
  const cache = tmp();
  requests();
  const dir = await resolveModel('org/with-tokenizer', opts(cache));
  assert.ok(fs.readFileSync(path.join(dir, 'tokenizer.json')).equals(TOKENIZER));
  assert.equal(fs.readlinkSync(path.join(dir, 'tokenizer.json')), `../../blobs/${gitSha1(TOKENIZER)}`);
  requests();
  assert.equal(await resolveModel('org/with-tokenizer', opts(cache)), dir);
  assert.deepEqual(requests(), [], 'a cache hit');
  // without one: the model alone, the absence recorded, and the next resolve asks nothing
  const dir2 = await resolveModel('org/tiny', opts(cache));
  assert.ok(!fs.existsSync(path.join(dir2, 'tokenizer.json')));
  assert.ok(fs.existsSync(path.join(cache, 'models--org--tiny', '.no_exist', C_MAIN, 'tokenizer.json')));
  requests();
  await resolveModel('org/tiny', opts(cache));
  assert.deepEqual(requests(), []);
  // a cache from before (the model, no tokenizer.json, no record): offline it is used as it is; online only the
  // tokenizer is fetched, the weights are not downloaded again
  fs.rmSync(path.join(dir, 'tokenizer.json'));
  fs.rmSync(path.join(cache, 'models--org--with-tokenizer', 'blobs', gitSha1(TOKENIZER)));
  assert.equal(await resolveModel('org/with-tokenizer', opts(cache, { offline: true })), dir);
  assert.deepEqual(requests(), []);
  assert.equal(await resolveModel('org/with-tokenizer', opts(cache)), dir);
  assert.ok(fs.readFileSync(path.join(dir, 'tokenizer.json')).equals(TOKENIZER));
  const gets = requests().filter((r) => r.method === 'GET').map((r) => r.path);
  assert.deepEqual(gets, ['/org/with-tokenizer/resolve/main/tokenizer.json']);
  // the hub unreachable: the cached model still resolves (only the optional file was missing)
  fs.rmSync(path.join(dir, 'tokenizer.json'));
  assert.equal(await resolveModel('org/with-tokenizer', opts(cache, { endpoint: 'http://127.0.0.1:9' })), dir);
});

test('offline: a hit needs no network, a miss names the cache path and HF_HUB_OFFLINE', async () => {
  const cache = tmp();
  requests();
  await assert.rejects(resolveModel('org/tiny', opts(cache, { offline: true })), (e: Error) => {
    assert.match(e.message, /HF_HUB_OFFLINE=1/);
    assert.ok(e.message.includes(path.join(cache, 'models--org--tiny')), e.message);
    return true;
  });
  assert.deepEqual(requests(), []);
  await resolveModel('org/tiny', opts(cache));
  requests();
  const m = await loadModel('org/tiny', { backend: 'ref', hub: opts(cache, { offline: true }) });
  assert.equal(m.config.blockSize, 4);
  assert.deepEqual(requests(), []);
});

test('a cache written the way Python huggingface_hub writes it is used as is', async () => {
  const cache = tmp();
  const repoDir = path.join(cache, 'models--kuleshov-group--bd3lm-owt-block_size4');
  const commit = 'c'.repeat(40);
  for (const d of ['blobs', `snapshots/${commit}`, 'refs']) fs.mkdirSync(path.join(repoDir, d), { recursive: true });
  fs.writeFileSync(path.join(repoDir, 'blobs', W), weights);
  fs.writeFileSync(path.join(repoDir, 'blobs', gitSha1(config)), config);
  fs.symlinkSync(`../../blobs/${W}`, path.join(repoDir, 'snapshots', commit, 'model.safetensors'));
  fs.symlinkSync(`../../blobs/${gitSha1(config)}`, path.join(repoDir, 'snapshots', commit, 'config.json'));
  fs.writeFileSync(path.join(repoDir, 'refs', 'main'), commit); // Python writes the hash without a newline
  fs.mkdirSync(path.join(repoDir, '.no_exist', commit), { recursive: true }); // Python's negative cache: ignored
  requests();
  // found through HF_HUB_CACHE in a child process, as a user would: `bd3lm info ORG/NAME`
  const r = spawnSync(process.execPath, [CLI, 'info', 'kuleshov-group/bd3lm-owt-block_size4', '--json'], {
    encoding: 'utf8', env: { ...process.env, HF_HUB_CACHE: cache, HF_ENDPOINT: hub.endpoint, HF_HUB_OFFLINE: '1' },
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).dir, path.join(repoDir, 'snapshots', commit));
  // HF_HOME/hub when HF_HUB_CACHE is not set
  const home = tmp();
  fs.renameSync(cache, path.join(home, 'hub'));
  const env: NodeJS.ProcessEnv = { ...process.env, HF_HOME: home, HF_ENDPOINT: hub.endpoint, HF_HUB_OFFLINE: '1' };
  delete env.HF_HUB_CACHE;
  const r2 = spawnSync(process.execPath, [CLI, 'info', 'kuleshov-group/bd3lm-owt-block_size4'], { encoding: 'utf8', env });
  assert.equal(r2.status, 0, r2.stderr);
  assert.deepEqual(requests(), []);
});

test('revision pinning: a tag and a commit get their own snapshot; shared blobs are not downloaded twice', async () => {
  const cache = tmp();
  const repoDir = path.join(cache, 'models--org--tiny');
  requests();
  const v1 = await resolveModel('org/tiny@v1', opts(cache));
  assert.equal(v1, path.join(repoDir, 'snapshots', C_V1));
  assert.equal(fs.readFileSync(path.join(repoDir, 'refs', 'v1'), 'utf8'), C_V1);
  assert.match(fs.readFileSync(path.join(v1, 'config.json'), 'utf8'), /"dropout": 0.2/);
  requests();
  const main = await resolveModel('org/tiny', opts(cache));
  assert.equal(main, path.join(repoDir, 'snapshots', C_MAIN));
  assert.match(fs.readFileSync(path.join(main, 'config.json'), 'utf8'), /"dropout": 0.1/);
  assert.ok(!requests().some((r) => r.path.startsWith('/lfs/')), 'the weights blob is shared between the revisions');
  // a commit hash pins without a ref, and answers from the cache
  assert.equal(await resolveModel(`org/tiny@${C_V1}`, opts(cache, { offline: true })), v1);
  const fresh = tmp();
  assert.equal(await resolveModel(`org/tiny@${C_V1}`, opts(fresh)), path.join(fresh, 'models--org--tiny', 'snapshots', C_V1));
  assert.ok(!fs.existsSync(path.join(fresh, 'models--org--tiny', 'refs')));
  await assert.rejects(resolveModel('org/tiny@nope', opts(tmp())), /org\/tiny has no revision 'nope'/);
});

test('errors: tokens, gated repos, unknown repos and files, malformed ids, the network, a failing hub', async () => {
  const cache = tmp();
  await assert.rejects(resolveModel('org/private', opts(cache)), /HTTP 401: org\/private does not exist, or is private or gated: set HF_TOKEN/);
  await assert.rejects(resolveModel('org/private', opts(cache, { token: 'hf_wrong' })), /HTTP 403: HF_TOKEN gives no access to org\/private/);
  await assert.rejects(resolveModel('org/gated', opts(cache)), /org\/gated is gated: accept its conditions.*HF_TOKEN/);
  assert.ok(await resolveModel('org/private', opts(cache, { token: 'hf_secret' })));
  const prev = process.env.HF_TOKEN;
  process.env.HF_TOKEN = 'hf_secret';
  try {
    assert.ok(await resolveModel('org/gated', { endpoint: hub.endpoint, cacheDir: cache, progress: false }), 'HF_TOKEN is read');
  } finally {
    if (prev === undefined) delete process.env.HF_TOKEN;
    else process.env.HF_TOKEN = prev;
  }
  await assert.rejects(resolveModel('org/missing', opts(cache)), /'org\/missing' is no local folder, and .*org\/missing does not exist/);
  await assert.rejects(resolveModel('org/ckpt-only', opts(cache)), /org\/ckpt-only has no file model.safetensors/);
  await assert.rejects(resolveModel('org/x--y', opts(cache)), /'org\/x--y' is no local folder, and not a repo id ORG\/NAME\[@REVISION\]: "--"/);
  await assert.rejects(loadModel(path.join(cache, 'no', 'such', 'dir')), /checkpoint directory does not exist/);
  await assert.rejects(resolveModel('org/tiny', opts(tmp(), { endpoint: 'http://127.0.0.1:9' })), /cannot reach http:\/\/127\.0\.0\.1:9 .*HF_HUB_OFFLINE=1/);
  hub.failing = true;
  try {
    await assert.rejects(resolveModel('org/tiny', opts(tmp())), /the hub answered HTTP 500/);
  } finally {
    hub.failing = false;
  }
  assert.ok(!fs.existsSync(path.join(cache, 'models--org--missing', 'snapshots')));
});

test('progress line: bytes, rate and ETA', () => {
  const line = progressLine({ file: 'model.safetensors', loaded: 340e6, total: 680e6 }, 10, 0);
  assert.equal(line, 'model.safetensors [############............] 340.0 MB / 680.0 MB  34.0 MB/s  ETA 10s');
});
