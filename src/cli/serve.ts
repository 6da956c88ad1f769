/**
 * `bd3lm serve`: the OpenAI-style completions server (src/server) on one model. Prints the address on stdout once
 * listening; SIGINT / SIGTERM abort the generations in flight, close the server and exit 0.
 */
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { createCompletionServer, SERVER_DEFAULTS } from '../server/app.js';
import { UsageError, integerFlag, portFlag, untilStopSignal, withUsage } from './args.js';
import { loadFlaggedModel, parseModelFlags } from './model-flags.js';

export const SERVE_USAGE =
  'bd3lm serve [--model DIR|ORG/NAME[@REV] (default: the embedded models/default)] [--quiet] [--host 127.0.0.1] [--port 8080] ' +
  `[--max-tokens-cap ${SERVER_DEFAULTS.maxTokensCap}] [--max-body 64k] [--max-active ${SERVER_DEFAULTS.maxActive}] ` +
  `[--max-queue ${SERVER_DEFAULTS.maxQueue}] [--backend native|wasm|ref] [--weights f32|bf16|f16|int8]`;

const usage = (msg: string) => new UsageError(`${msg}\nusage: ${SERVE_USAGE}`);

/** "65536", "64k", "1m" (KiB / MiB) → bytes */
function byteSize(v: string | undefined, flag: string, fallback: number): number {
  if (v === undefined) return fallback;
  const m = /^(\d+)([km]?)$/i.exec(v.trim());
  if (!m || Number(m[1]) === 0) throw usage(`${flag} must be a positive size such as 65536, 64k or 1m, got '${v}'`);
  return Number(m[1]) * { '': 1, k: 1024, m: 1024 * 1024 }[m[2].toLowerCase() as '' | 'k' | 'm'];
}

export async function runServe(args: string[]): Promise<number> {
  const { values } = withUsage(SERVE_USAGE, () =>
    parseArgs({
      args,
      options: {
        model: { type: 'string' }, host: { type: 'string' }, port: { type: 'string' }, 'max-tokens-cap': { type: 'string' },
        'max-body': { type: 'string' }, 'max-active': { type: 'string' }, 'max-queue': { type: 'string' }, backend: { type: 'string' },
        weights: { type: 'string' }, quiet: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }),
  );
  if (values.help) {
    process.stdout.write(`usage: ${SERVE_USAGE}\n`);
    return 0;
  }
  const modelFlags = parseModelFlags(values, usage);
  const f = {
    port: portFlag(values.port, 8080, usage),
    maxTokensCap: integerFlag(values['max-tokens-cap'], '--max-tokens-cap', 1, SERVER_DEFAULTS.maxTokensCap),
    maxActive: integerFlag(values['max-active'], '--max-active', 1, SERVER_DEFAULTS.maxActive),
    maxQueue: integerFlag(values['max-queue'], '--max-queue', 0, SERVER_DEFAULTS.maxQueue),
  };
  const maxBody = byteSize(values['max-body'], '--max-body', SERVER_DEFAULTS.maxBody);

  const { dir, model, tok } = await loadFlaggedModel(modelFlags);
  const modelId = path.basename(path.resolve(dir));
  const server = createCompletionServer(model, tok, {
    modelId, maxTokensCap: f.maxTokensCap, maxBody, maxActive: f.maxActive, maxQueue: f.maxQueue,
    log: (line) => process.stderr.write(`bd3lm serve: ${line}\n`),
  });
  const addr = await server.listen(f.port, values.host ?? '127.0.0.1');
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  process.stdout.write(`bd3lm serve: ${modelId} (${model.backend.name}) on http://${host}:${addr.port}\n`);
  await untilStopSignal();
  await server.close();
  return 0;
}
