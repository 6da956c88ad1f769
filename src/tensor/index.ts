/**
 * Backend selection. Order: explicit name, else $BD3LM_BACKEND, else native when the addon loads, else wasm.
 * A native backend that fails to load is reported on stderr before falling back to wasm.
 */
import type { Backend, BackendName } from './backend.js';
import { RefBackend } from './ref.js';

export type * from './backend.js';
export { RefBackend } from './ref.js';
export { Rng } from './rng.js';

export const BACKEND_NAMES: readonly BackendName[] = ['native', 'wasm', 'ref'];
const NAMES = BACKEND_NAMES;

async function loadNative(): Promise<Backend> {
  const { createNativeBackend } = await import('./native.js');
  return createNativeBackend();
}

// A variable specifier keeps this file compiling whether or not wasm.ts is present in the tree.
const WASM_MODULE = './wasm.js';

async function loadWasm(): Promise<Backend> {
  const mod = (await import(WASM_MODULE)) as { createWasmBackend(): Promise<Backend> };
  return mod.createWasmBackend();
}

function reason(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export async function createBackend(name?: BackendName): Promise<Backend> {
  const env = process.env.BD3LM_BACKEND?.trim();
  let wanted: BackendName | undefined = name;
  if (!wanted && env) {
    if (!(NAMES as readonly string[]).includes(env)) {
      throw new Error(`BD3LM_BACKEND=${env} is not one of ${NAMES.join(', ')}`);
    }
    wanted = env as BackendName;
  }
  if (wanted === 'ref') return new RefBackend();
  if (wanted === 'wasm') return loadWasm();

  let nativeErr: unknown;
  try {
    return await loadNative();
  } catch (e) {
    nativeErr = e;
    // whether asked for or just preferred, a missing addon is worth one line: it is several times slower
    process.stderr.write(`bd3lm: native backend unavailable (${reason(e)}); using wasm\n`);
  }
  try {
    return await loadWasm();
  } catch (e) {
    if (wanted === 'native') throw new Error(`no compiled backend available: native: ${reason(nativeErr)}; wasm: ${reason(e)}`);
    // nothing compiled (a fresh `npm install` without clang / node-gyp): the TypeScript reference still runs
    process.stderr.write(`bd3lm: wasm backend unavailable (${reason(e)}); using the TypeScript reference backend (slow)\n`);
    return new RefBackend();
  }
}
