/**
 * `bd3lm web`: serves the browser page (built by `npm run build:web` into web/dist), the model's config.json and
 * model.safetensors under /model/ and the WebAssembly kernels under /wasm/. The browser does all the inference;
 * this is a static file server. Runs until interrupted (Ctrl-C: exit 0).
 */
import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import type { AddressInfo } from 'node:net';
import { CONFIG_FILE, WEIGHTS_FILE } from '../model/checkpoint.js';
import { resolveModel } from '../model/load.js';
import { packageRoot } from '../tensor/package-root.js';
import { createStaticServer, type Mount } from '../web/static-server.js';
import { portFlag, untilStopSignal } from './args.js';
import { defineCommand, parseCommand, usageError, type Command } from './options.js';

export const WEB = defineCommand({
  name: 'web',
  summary: 'Serve the browser page (npm run build:web builds it): the model runs in the browser, in WebAssembly.',
  options: {
    port: { value: 'PORT', default: '8000', help: 'port (0: a free one; the address is printed)' },
    host: { value: 'HOST', default: '127.0.0.1', help: 'address to listen on' },
    model: { value: 'DIR|ORG/NAME[@REV]', help: 'checkpoint folder or Hugging Face repo id the page loads (a repo id is downloaded into the hub cache first; default: the embedded models/default)' },
    quiet: { help: 'no download progress bar' },
  },
});

export const web: Command = { spec: WEB, run: runWeb };

/** A Hugging Face cache snapshot (REPO/snapshots/COMMIT) links its files into REPO/blobs: REPO, else undefined. */
function hubRepoFolder(dir: string): string | undefined {
  const parent = nodePath.dirname(nodePath.resolve(dir));
  return nodePath.basename(parent) === 'snapshots' ? nodePath.dirname(parent) : undefined;
}

/** The mounts of the page, or an error saying which part is missing and how to build it. */
export async function webMounts(modelDir: string): Promise<Mount[]> {
  const root = await packageRoot();
  const page = nodePath.join(root, 'web', 'dist');
  const wasm = nodePath.join(root, 'wasm');
  if (!fs.existsSync(nodePath.join(page, 'index.html')))
    throw new Error(`the browser page is not built (no ${page}/index.html): run npm run build:web`);
  if (!fs.existsSync(wasm) || !fs.readdirSync(wasm).some((f) => f.endsWith('.wasm')))
    throw new Error(`no WebAssembly kernels in ${wasm}: run npm run build:wasm`);
  for (const f of [CONFIG_FILE, WEIGHTS_FILE])
    if (!fs.existsSync(nodePath.join(modelDir, f))) throw new Error(`${modelDir} has no ${f} (--model DIR names a checkpoint folder)`);
  const model = new Set([CONFIG_FILE, WEIGHTS_FILE, 'tokenizer.json']); // tokenizer.json when the folder has one
  return [
    { prefix: '/', dir: page },
    { prefix: '/model/', dir: modelDir, only: (f) => model.has(f), realRoot: hubRepoFolder(modelDir) },
    { prefix: '/wasm/', dir: wasm, only: (f) => f.endsWith('.wasm') },
  ];
}

async function runWeb(args: string[]): Promise<number> {
  const parsed = parseCommand(WEB, args);
  if (!parsed) return 0;
  const { values } = parsed;
  const port = portFlag(values.port, (msg) => usageError(WEB, msg));
  const host = values.host;
  const modelDir = nodePath.resolve(await resolveModel(values.model, values.quiet ? { progress: false } : undefined)); // a repo id is downloaded into the hub cache first
  const server = createStaticServer(await webMounts(modelDir));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const { port: bound } = server.address() as AddressInfo;
  const shown = host.includes(':') ? `[${host}]` : host;
  process.stdout.write(`bd3lm web: serving http://${shown}:${bound}/ (model ${modelDir}); Ctrl-C stops\n`);
  await untilStopSignal();
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
  return 0;
}
