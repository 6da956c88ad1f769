import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Backend, BackendName } from '../src/tensor/backend.js';
import { RefBackend } from '../src/tensor/index.js';
import { loadBackend } from './helpers.js';
import type { ModelConfig } from '../src/model/config.js';
import { PRESETS } from '../src/model/config.js';
import { initTensors } from '../src/model/init.js';
import { DiT } from '../src/model/dit.js';

/** test/fixtures, from the compiled test file in dist/test */
export const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../test/fixtures');

/**
 * The backends this machine has: ref always; native and wasm when they load (else `why`, naming what to install: a
 * test skips with it, which BD3LM_REQUIRE_ALL=1 turns into a failure). A name is never served by another backend.
 */
export async function availableBackends(): Promise<{ name: BackendName; backend?: Backend; why?: string }[]> {
  const out: { name: BackendName; backend?: Backend; why?: string }[] = [{ name: 'ref', backend: new RefBackend() }];
  for (const name of ['native', 'wasm'] as const) {
    const be = await loadBackend(name);
    out.push(typeof be === 'string' ? { name, why: be } : { name, backend: be });
  }
  return out;
}

/** A small random model (all weights non-trivial) of the given shape. */
export function randomModel(backend: Backend, over: Partial<ModelConfig> = {}, seed = 1): DiT {
  const cfg: ModelConfig = {
    ...PRESETS.tiny,
    hiddenDim: 32, condDim: 16, nBlocks: 2, nHeads: 2, vocabSize: 41, modelLength: 16, blockSize: 4,
    ...over,
  };
  return new DiT(cfg, initTensors(cfg, seed, 'random', (n) => backend.alloc(n)), backend);
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}
