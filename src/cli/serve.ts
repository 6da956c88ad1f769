/**
 * `bd3lm serve`: the OpenAI-style completions server (src/server) on one model. Prints the address on stdout once
 * listening; SIGINT / SIGTERM abort the generations in flight, close the server and exit 0.
 */
import * as path from 'node:path';
import { createCompletionServer, SERVER_DEFAULTS } from '../server/app.js';
import { integerFlag, portFlag, untilStopSignal } from './args.js';
import { defineCommand, parseCommand, usageError, type Command } from './options.js';
import { loadFlaggedModel, MODEL_OPTIONS } from './model-flags.js';

export const SERVE = defineCommand({
  name: 'serve',
  summary: 'OpenAI-style completions over HTTP (/v1/completions, /v1/models, /health), streamed block by block.',
  options: {
    ...MODEL_OPTIONS,
    host: { value: 'HOST', default: '127.0.0.1', help: 'address to listen on' },
    port: { value: 'PORT', default: '8080', help: 'port (0: a free one; the address is printed)' },
    'max-tokens-cap': { value: 'N', default: `${SERVER_DEFAULTS.maxTokensCap}`, help: 'largest max_tokens a request may ask for' },
    'max-body': { value: 'SIZE', default: `${SERVER_DEFAULTS.maxBody / 1024}k`, help: 'largest request body (65536, 64k, 1m)' },
    'max-active': { value: 'N', default: `${SERVER_DEFAULTS.maxActive}`, help: 'generations running at once' },
    'max-queue': { value: 'N', default: `${SERVER_DEFAULTS.maxQueue}`, help: 'requests waiting for a slot (more: HTTP 429)' },
  },
});

const usage = (msg: string) => usageError(SERVE, msg);

/** "65536", "64k", "1m" (KiB / MiB) → bytes */
function byteSize(v: string, flag: string): number {
  const m = /^(\d+)([km]?)$/i.exec(v.trim());
  if (!m || Number(m[1]) === 0) throw usage(`${flag} must be a positive size such as 65536, 64k or 1m, got '${v}'`);
  return Number(m[1]) * { '': 1, k: 1024, m: 1024 * 1024 }[m[2].toLowerCase() as '' | 'k' | 'm'];
}

export const serve: Command = { spec: SERVE, run: runServe };

async function runServe(args: string[]): Promise<number> {
  const parsed = parseCommand(SERVE, args);
  if (!parsed) return 0;
  const { values } = parsed;
  const f = {
    port: portFlag(values.port, usage),
    maxTokensCap: integerFlag(values['max-tokens-cap'], '--max-tokens-cap', 1, usage),
    maxActive: integerFlag(values['max-active'], '--max-active', 1, usage),
    maxQueue: integerFlag(values['max-queue'], '--max-queue', 0, usage),
  };
  const maxBody = byteSize(values['max-body'], '--max-body');

  const { dir, model, tok } = await loadFlaggedModel(values);
  const modelId = path.basename(path.resolve(dir));
  const server = createCompletionServer(model, tok, {
    modelId, maxTokensCap: f.maxTokensCap, maxBody, maxActive: f.maxActive, maxQueue: f.maxQueue,
    log: (line) => process.stderr.write(`bd3lm serve: ${line}\n`),
  });
  const addr = await server.listen(f.port, values.host);
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  process.stdout.write(`bd3lm serve: ${modelId} (${model.backend.name}) on http://${host}:${addr.port}\n`);
  await untilStopSignal();
  await server.close();
  return 0;
}
