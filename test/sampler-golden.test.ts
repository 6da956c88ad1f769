/**
 * The semi-AR sampler against the authors' own sampler traces (test/fixtures/bs4 README, "Sampler traces"):
 * every logged random draw is replayed, and every step (window in/out, reuse of p(x0), t), the final sequence and
 * the NFE count must be identical, for first hitting (T = 5000) and the DDPM caching update (T = 4, with the t = 0
 * quirk that writes token 0), with the KV cache (as logged) and without it, on every backend.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { loadCheckpoint } from '../src/model/checkpoint.js';
import { DiT } from '../src/model/dit.js';
import { replayTrace } from '../src/eval/sampler-replay.js';
import { availableBackends, FIXTURES } from './model-helpers.js';

const DIR = path.join(FIXTURES, 'bs4');
const backends = await availableBackends();

for (const { name, backend, why } of backends) {
  for (const mode of ['first_hitting', 'ddpm'] as const) {
    for (const cache of [true, false]) {
      test(`golden replay: ${mode} sampler, ${cache ? 'KV cache' : 'no cache'}, on ${name}`, { skip: backend ? false : why }, () => {
        const ckpt = loadCheckpoint(DIR, { alloc: (n) => backend!.alloc(n) });
        const model = new DiT(ckpt.config, ckpt.tensors, backend!);
        const r = replayTrace(model, DIR, mode, { cache, maskId: 256, bos: 255 });
        assert.deepEqual(r.mismatches, []);
        assert.equal(r.steps, r.expected_steps, 'number of update calls');
        assert.ok(r.final_equal, 'final sequence');
        assert.equal(r.nfe, r.expected_nfe, 'nfe');
        assert.ok(r.draws_consumed, 'every logged draw consumed, none left over');
        assert.ok(r.ok);
        model.dispose();
      });
    }
  }
}
