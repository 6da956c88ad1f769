/**
 * `bd3lm serve`: the OpenAI-style completions and chat server (src/server) on one model. Prints the address on stdout
 * once listening; SIGINT / SIGTERM stop accepting, let the generations in flight finish for up to --drain-timeout
 * seconds, abort the rest (their streams end with an error event) and exit 0.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { createCompletionServer, SERVER_DEFAULTS } from '../server/app.js';
import { ChatTemplate } from '../server/chat-template.js';
import { UsageError, integerFlag, portFlag, untilStopSignal, withUsage } from './args.js';
import { loadFlaggedModel, parseModelFlags } from './model-flags.js';

/** seconds the generations in flight may run on after SIGTERM / SIGINT */
const DRAIN_TIMEOUT_S = 30;

export const SERVE_USAGE =
  'bd3lm serve [--model DIR (default: the embedded models/default)] [--host 127.0.0.1] [--port 8080] ' +
  `[--max-tokens-cap ${SERVER_DEFAULTS.maxTokensCap}] [--max-body 64k] [--max-active ${SERVER_DEFAULTS.maxActive}] ` +
  `[--max-queue ${SERVER_DEFAULTS.maxQueue}] [--max-prompt-tokens ${SERVER_DEFAULTS.maxPromptTokens}] [--max-block-size N (default: the model's)] ` +
  `[--chat-template FILE] [--api-key KEY ...] [--cors ORIGIN[,ORIGIN...]|'*'] [--allowed-hosts HOST[,HOST...]|'*'] ` +
  `[--drain-timeout ${DRAIN_TIMEOUT_S}] [--backend native|wasm|ref] [--weights f32|bf16|f16]`;

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
        weights: { type: 'string' }, help: { type: 'boolean', short: 'h' }, 'max-prompt-tokens': { type: 'string' },
        'max-block-size': { type: 'string' }, 'chat-template': { type: 'string' }, 'api-key': { type: 'string', multiple: true },
        cors: { type: 'string' }, 'allowed-hosts': { type: 'string' }, 'drain-timeout': { type: 'string' },
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
    maxPromptTokens: integerFlag(values['max-prompt-tokens'], '--max-prompt-tokens', 1, SERVER_DEFAULTS.maxPromptTokens),
    maxBlockSize: values['max-block-size'] === undefined ? undefined : integerFlag(values['max-block-size'], '--max-block-size', 1, 0),
    drainTimeout: integerFlag(values['drain-timeout'], '--drain-timeout', 0, DRAIN_TIMEOUT_S),
  };
  const list = (v: string | undefined, flag: string) => {
    if (v === undefined) return undefined;
    const items = v.split(',').map((x) => x.trim()).filter(Boolean);
    if (items.length === 0) throw usage(`${flag} needs at least one value, got '${v}'`);
    return items;
  };
  const corsList = list(values.cors, '--cors');
  const cors = corsList?.includes('*') ? '*' : corsList;
  const allowedHosts = list(values['allowed-hosts'], '--allowed-hosts');
  // keys from the flag (repeatable) and from BD3LM_API_KEY (comma-separated)
  const apiKeys = [...(values['api-key'] ?? []), ...(list(process.env.BD3LM_API_KEY || undefined, 'BD3LM_API_KEY') ?? [])];
  if (apiKeys.some((k) => k.trim() === '')) throw usage('--api-key must not be empty');
  let chatTemplate: ChatTemplate | undefined;
  if (values['chat-template'] !== undefined) {
    const file = values['chat-template'];
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw usage(`--chat-template: cannot read ${file}: ${(e as Error).message}`);
    }
    try {
      chatTemplate = new ChatTemplate(text, file);
    } catch (e) {
      throw usage(`--chat-template: ${(e as Error).message}`);
    }
  }
  const maxBody = byteSize(values['max-body'], '--max-body', SERVER_DEFAULTS.maxBody);

  const { dir, model, tok } = await loadFlaggedModel(modelFlags);
  const modelId = path.basename(path.resolve(dir));
  const server = createCompletionServer(model, tok, {
    modelId, maxTokensCap: f.maxTokensCap, maxBody, maxActive: f.maxActive, maxQueue: f.maxQueue, maxPromptTokens: f.maxPromptTokens,
    maxBlockSize: f.maxBlockSize, chatTemplate, apiKeys, cors, allowedHosts,
    log: (line) => process.stderr.write(`bd3lm serve: ${line}\n`),
  });
  const addr = await server.listen(f.port, values.host ?? '127.0.0.1');
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  process.stdout.write(`bd3lm serve: ${modelId} (${model.backend.name}) on http://${host}:${addr.port}\n`);
  await untilStopSignal();
  process.stderr.write(`bd3lm serve: stopping (up to ${f.drainTimeout} s for the ${server.scheduler.active} generations in flight)\n`);
  await server.drain(f.drainTimeout * 1000);
  return 0;
}
