/**
 * The semi-AR sampler against the authors' own sampler traces (test/fixtures/bs4 README, "Sampler traces"):
 * every logged random draw is replayed, and every step (window in/out, reuse of p(x0), t), the final sequence and
 * the NFE count must be identical, for first hitting (T = 5000) and the DDPM caching update (T = 4, with the t = 0
 * quirk that writes token 0), with the KV cache (as logged) and without it, on every backend.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadCheckpoint } from '../src/model/checkpoint.js';
import { DiT } from '../src/model/dit.js';
import { npyToFloat64, npyToInt32, readNpy } from '../src/model/npy.js';
import { ReplayRandom } from '../src/sampling/random.js';
import { sampleSemiAR } from '../src/sampling/semi-ar.js';
import type { StepTrace } from '../src/sampling/block.js';
import { availableBackends, FIXTURES } from './model-helpers.js';

const DIR = path.join(FIXTURES, 'bs4');

interface GoldenStep { t: number; dt: number; used_cache: boolean; x_in: number[]; x_out: number[] }
interface GoldenTrace {
  mode: 'first_hitting' | 'ddpm'; T: number; block_size: number; seqlen: number; nucleus_p: number;
  nfes: number; np_rand: number[]; randint: number[]; n_rand_like: number; steps: GoldenStep[]; final: number[];
}

function loadTrace(mode: 'first_hitting' | 'ddpm') {
  const trace = JSON.parse(fs.readFileSync(path.join(DIR, `sample_${mode}.json`), 'utf8')) as GoldenTrace;
  const randLike = readNpy(path.join(DIR, `sample_${mode}_rand_like.npy`));
  const final = npyToInt32(readNpy(path.join(DIR, `sample_${mode}_final.npy`)));
  return { trace, randLike: npyToFloat64(randLike), chunk: randLike.shape.slice(1).reduce((a, b) => a * b, 1), final };
}

const backends = await availableBackends();

for (const { name, backend, why } of backends) {
  for (const mode of ['first_hitting', 'ddpm'] as const) {
    for (const cache of [true, false]) {
      test(`golden replay: ${mode} sampler, ${cache ? 'KV cache' : 'no cache'}, on ${name}`, { skip: backend ? false : why }, () => {
        const { trace, randLike, chunk, final } = loadTrace(mode);
        assert.equal(randLike.length / chunk, trace.n_rand_like);
        const ckpt = loadCheckpoint(DIR, { alloc: (n) => backend!.alloc(n) });
        const model = new DiT(ckpt.config, ckpt.tensors, backend!);
        const random = new ReplayRandom({ uniform: trace.np_rand, randint: trace.randint, uniforms: randLike, chunk });
        const steps: StepTrace[] = [];
        const r = sampleSemiAR(model, {
          length: trace.seqlen, blockSize: trace.block_size, steps: trace.T,
          mode: mode === 'ddpm' ? 'ddpm' : 'first-hitting', topP: trace.nucleus_p, cache, random,
          maskId: 256, bos: 255, onStep: (s) => steps.push(s),
        });
        assert.equal(steps.length, trace.steps.length, 'number of update calls');
        for (let i = 0; i < steps.length; i++) {
          const a = steps[i];
          const e = trace.steps[i];
          const at = `step ${i}`;
          assert.deepEqual(Array.from(a.xIn), e.x_in, `${at}: x_in`);
          assert.deepEqual(Array.from(a.xOut), e.x_out, `${at}: x_out`);
          assert.equal(a.usedCache, e.used_cache, `${at}: used_cache`);
          assert.ok(Math.abs(a.t[0] - e.t) <= 1e-6, `${at}: t ${a.t[0]} vs ${e.t}`);
          assert.ok(Math.abs(a.dt - e.dt) <= 1e-12, `${at}: dt`);
        }
        assert.deepEqual(Array.from(r.tokens), Array.from(final), 'final sequence');
        assert.deepEqual(trace.final, Array.from(final));
        assert.equal(r.nfe, trace.nfes, 'nfe');
        assert.equal(r.stopReason, 'length');
        // every logged draw consumed, none left over
        assert.deepEqual(random.consumed(), { uniform: trace.np_rand.length, randint: trace.randint.length, uniforms: trace.n_rand_like });
        model.dispose();
      });
    }
  }
}
