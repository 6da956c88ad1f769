/**
 * `bd3lm serve`: the OpenAI-style completions and chat server (src/server) on one model. Prints the address on stdout
 * once listening; SIGINT / SIGTERM stop accepting, let the generations in flight finish for up to --drain-timeout
 * seconds, abort the rest (their streams end with an error event) and exit 0.
 */
import * as path from 'node:path';
import { readFileSync } from 'node:fs';
import { createCompletionServer, SERVER_DEFAULTS } from '../server/app.js';
import { ChatTemplate } from '../server/chat-template.js';
import { integerFlag, portFlag, untilStopSignal } from './args.js';
import { defineCommand, parseCommand, usageError, type Command } from './options.js';
import { loadFlaggedModel, MODEL_OPTIONS } from './model-flags.js';

/** seconds the generations in flight may run on after SIGTERM / SIGINT */
const DRAIN_TIMEOUT_S = 30;

export const SERVE = defineCommand({
  name: 'serve',
  summary: 'OpenAI-style completions and chat over HTTP (/v1/completions, /v1/chat/completions, /v1/models, /health, /metrics), streamed block by block.',
  options: {
    ...MODEL_OPTIONS,
    host: { value: 'HOST', default: '127.0.0.1', help: 'address to listen on' },
    port: { value: 'PORT', default: '8080', help: 'port (0: a free one; the address is printed)' },
    'max-tokens-cap': { value: 'N', default: `${SERVER_DEFAULTS.maxTokensCap}`, help: 'largest max_tokens a request may ask for' },
    'max-body': { value: 'SIZE', default: `${SERVER_DEFAULTS.maxBody / 1024}k`, help: 'largest request body (65536, 64k, 1m)' },
    'max-active': { value: 'N', default: `${SERVER_DEFAULTS.maxActive}`, help: 'generations running at once (their model calls are batched)' },
    'max-queue': { value: 'N', default: `${SERVER_DEFAULTS.maxQueue}`, help: 'requests waiting for a slot (more: HTTP 429)' },
    'max-prompt-tokens': { value: 'N', default: `${SERVER_DEFAULTS.maxPromptTokens}`, help: 'longest prompt in tokens (more: HTTP 413)' },
    'max-block-size': { value: 'N', help: "largest block_size a request may ask for (default: the model's trained block size; a block is denoised whole, so its size drives the cost)" },
    'chat-template': { value: 'FILE', help: 'Jinja chat template (as in HF tokenizer_config.json) turning messages into a prompt (default: plain "Role: content" lines)' },
    'api-key': { value: 'KEY[,KEY...]', help: 'require Authorization: Bearer KEY on every route but /health (also $BD3LM_API_KEY, comma-separated)' },
    cors: { value: "ORIGIN[,ORIGIN...]|'*'", help: 'answer CORS preflights and allow these origins (default: off)' },
    'allowed-hosts': { value: "HOST[,HOST...]|'*'", help: 'Host headers accepted besides the loopback names when bound to a loopback address' },
    'drain-timeout': { value: 'S', default: `${DRAIN_TIMEOUT_S}`, help: 'seconds running generations may finish after SIGTERM / SIGINT' },
  },
});

const usage = (msg: string) => usageError(SERVE, msg);

/** "65536", "64k", "1m" (KiB / MiB) → bytes */
function byteSize(v: string, flag: string): number {
  const m = /^(\d+)([km]?)$/i.exec(v.trim());
  if (!m || Number(m[1]) === 0) throw usage(`${flag} must be a positive size such as 65536, 64k or 1m, got '${v}'`);
  return Number(m[1]) * { '': 1, k: 1024, m: 1024 * 1024 }[m[2].toLowerCase() as '' | 'k' | 'm'];
}

/** A comma-separated list flag: undefined when absent, an error when it names nothing. */
function list(v: string | undefined, flag: string): string[] | undefined {
  if (v === undefined) return undefined;
  const items = v.split(',').map((x) => x.trim()).filter(Boolean);
  if (items.length === 0) throw usage(`${flag} needs at least one value, got '${v}'`);
  return items;
}

function readTemplate(file: string | undefined): ChatTemplate | undefined {
  if (file === undefined) return undefined;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw usage(`--chat-template: cannot read ${file}: ${(e as Error).message}`);
  }
  try {
    return new ChatTemplate(text, file);
  } catch (e) {
    throw usage(`--chat-template: ${(e as Error).message}`);
  }
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
    maxPromptTokens: integerFlag(values['max-prompt-tokens'], '--max-prompt-tokens', 1, usage),
    maxBlockSize: values['max-block-size'] === undefined ? undefined : integerFlag(values['max-block-size'], '--max-block-size', 1, usage),
    drainTimeout: integerFlag(values['drain-timeout'], '--drain-timeout', 0, usage),
  };
  const corsList = list(values.cors, '--cors');
  const cors = corsList?.includes('*') ? '*' : corsList;
  const allowedHosts = list(values['allowed-hosts'], '--allowed-hosts');
  if (values['api-key'] !== undefined && values['api-key'].trim() === '') throw usage('--api-key must not be empty');
  const apiKeys = [...(list(values['api-key'], '--api-key') ?? []), ...(list(process.env.BD3LM_API_KEY || undefined, 'BD3LM_API_KEY') ?? [])];
  const chatTemplate = readTemplate(values['chat-template']);
  const maxBody = byteSize(values['max-body'], '--max-body');

  const { dir, model, tok } = await loadFlaggedModel(values);
  const modelId = path.basename(path.resolve(dir));
  const server = createCompletionServer(model, tok, {
    modelId, maxTokensCap: f.maxTokensCap, maxBody, maxActive: f.maxActive, maxQueue: f.maxQueue, maxPromptTokens: f.maxPromptTokens,
    maxBlockSize: f.maxBlockSize, chatTemplate, apiKeys, cors, allowedHosts,
    log: (line) => process.stderr.write(`bd3lm serve: ${line}\n`),
  });
  const addr = await server.listen(f.port, values.host);
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  process.stdout.write(`bd3lm serve: ${modelId} (${model.backend.name}) on http://${host}:${addr.port}\n`);
  await untilStopSignal();
  process.stderr.write(`bd3lm serve: stopping (up to ${f.drainTimeout} s for the ${server.scheduler.active} generations in flight)\n`);
  await server.drain(f.drainTimeout * 1000);
  return 0;
}
