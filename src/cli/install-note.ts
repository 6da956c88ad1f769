/**
 * The one line `npm install` ends with (scripts/prepare.sh runs this): which backend the library will pick on this
 * machine, and, when it is not the native addon, what to install to get it. Usage: node install-note.js [BUILD_LOG]
 */
import * as fs from 'node:fs';
import { addonPath, createNativeBackend } from '../tensor/native.js';
import { createWasmBackend } from '../tensor/wasm.js';

const NATIVE_HINT = 'apt-get install python3 make g++ libopenblas-dev, then npm run build:native';

async function note(buildLog: string | undefined): Promise<string> {
  let nativeWhy: string;
  try {
    const be = createNativeBackend();
    const blas = be.info.startsWith('own') ? ` (libopenblas-dev, then npm run build:native, makes large products faster)` : '';
    return `bd3lm: the native backend will run (C addon: ${be.info})${blas}`;
  } catch (e) {
    const built = fs.existsSync(addonPath());
    const log = buildLog && fs.existsSync(buildLog) ? `; build log: ${buildLog}` : '';
    nativeWhy = built ? `the native addon does not load: ${(e as Error).message.split('\n')[0]}` : `the native addon did not build${log}`;
  }
  try {
    const be = await createWasmBackend();
    await be.dispose();
    return `bd3lm: the WebAssembly backend will run (shipped wasm/*.wasm, ${be.info}); ${nativeWhy}. For the faster native one: ${NATIVE_HINT}`;
  } catch (e) {
    return `bd3lm: the TypeScript reference backend will run (slow): wasm: ${(e as Error).message}; ${nativeWhy}`;
  }
}

process.stdout.write((await note(process.argv[2])) + '\n');
