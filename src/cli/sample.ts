/**
 * `bd3lm sample`: text from a model folder. Text is printed as blocks finish (--stream) or at the end; NFE, tokens/s
 * and the stop reason go to stderr, or everything as one JSON line on stdout (--json). Ctrl-C aborts between two
 * model calls (exit 130). --length counts new tokens; it is rounded up to whole blocks and the output trimmed.
 */
import { parseArgs } from 'node:util';
import { generate, type GenerateOptions } from '../sampling/generate.js';
import { DENOISE_MODES, type DenoiseMode } from '../sampling/block.js';
import { UsageError, withUsage } from './args.js';
import { loadFlaggedModel, parseModelFlags } from './model-flags.js';

export const SAMPLE_USAGE =
  'bd3lm sample [--model DIR|ORG/NAME[@REV] (default: the embedded models/default)] [--quiet] [--prompt TEXT] [--length 512] [--sampler first-hitting|ddpm|threshold|entropy] [--top-p 0.9] ' +
  '[--top-k K] [--temperature T] [--threshold 0.9] [--entropy-bound 1] [--steps N] [--block-size N] [--batch N] [--seed 1] ' +
  '[--no-bos] [--no-eos-stop] [--no-cache] [--stream] [--json] [--backend native|wasm|ref] [--weights f32|bf16|f16|int8]';

const usage = (msg: string) => new UsageError(`${msg}\nusage: ${SAMPLE_USAGE}`);

function num(v: string | undefined, flag: string, int: boolean, min: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || (int && !Number.isInteger(n)) || n < min) {
    throw usage(`${flag} must be ${int ? 'an integer' : 'a number'} >= ${min}, got '${v}'`);
  }
  return n;
}

export async function runSample(args: string[]): Promise<number> {
  const { values } = withUsage(SAMPLE_USAGE, () =>
    parseArgs({
      args,
      options: {
        model: { type: 'string' }, prompt: { type: 'string' }, length: { type: 'string' }, sampler: { type: 'string' },
        'top-p': { type: 'string' }, 'top-k': { type: 'string' }, temperature: { type: 'string' }, threshold: { type: 'string' },
        'entropy-bound': { type: 'string' }, steps: { type: 'string' }, 'block-size': { type: 'string' }, batch: { type: 'string' },
        seed: { type: 'string' }, 'no-bos': { type: 'boolean' }, 'no-eos-stop': { type: 'boolean' }, 'no-cache': { type: 'boolean' },
        stream: { type: 'boolean' }, json: { type: 'boolean' }, quiet: { type: 'boolean' }, backend: { type: 'string' }, weights: { type: 'string' }, help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }),
  );
  if (values.help) {
    process.stdout.write(`usage: ${SAMPLE_USAGE}\n`);
    return 0;
  }
  const sampler = (values.sampler ?? 'first-hitting') as DenoiseMode;
  if (!DENOISE_MODES.includes(sampler)) throw usage(`unknown sampler '${values.sampler}' (expected ${DENOISE_MODES.join(', ')})`);
  const modelFlags = parseModelFlags(values, usage);
  const batch = num(values.batch, '--batch', true, 1) ?? 1;
  if (values.stream && values.json) throw usage('--stream and --json exclude each other');
  if (values.stream && batch > 1) throw usage('--stream prints one sequence; use --batch 1 (or drop --stream)');
  const opts: GenerateOptions = {
    prompt: values.prompt ?? '',
    maxNewTokens: num(values.length, '--length', true, 0) ?? 512,
    sampler,
    topP: num(values['top-p'], '--top-p', false, 0),
    topK: num(values['top-k'], '--top-k', true, 0),
    temperature: num(values.temperature, '--temperature', false, 0),
    threshold: num(values.threshold, '--threshold', false, 0),
    entropyBound: num(values['entropy-bound'], '--entropy-bound', false, 0),
    steps: num(values.steps, '--steps', true, 1),
    blockSize: num(values['block-size'], '--block-size', true, 1),
    batch,
    seed: num(values.seed, '--seed', true, 0),
    addBos: !values['no-bos'],
    stopOnEos: !values['no-eos-stop'],
    cache: !values['no-cache'],
  };
  const { model, tok } = await loadFlaggedModel(modelFlags);
  const ac = new AbortController();
  const onInt = () => ac.abort();
  process.once('SIGINT', onInt);
  try {
    let gen;
    try {
      gen = generate(model, tok, { ...opts, signal: ac.signal });
    } catch (e) {
      throw usage(e instanceof Error ? e.message : String(e)); // option errors found by generate's checks
    }
    for (const w of gen.warnings) process.stderr.write(`bd3lm: warning: ${w}\n`);
    for await (const ev of gen) {
      if (ev.type === 'block' && values.stream) process.stdout.write(ev.text);
      if (ev.type !== 'done') continue;
      if (values.json) {
        const { type: _t, ...rest } = ev;
        process.stdout.write(JSON.stringify(rest) + '\n');
        continue;
      }
      if (values.stream) process.stdout.write('\n');
      else if (ev.sequences.length === 1) process.stdout.write(ev.text + '\n');
      else ev.sequences.forEach((s, b) => process.stdout.write(`=== sample ${b} (seed ${s.seed}) ===\n${s.text}\n`));
      ev.sequences.forEach((s, b) =>
        process.stderr.write(`${ev.sequences.length > 1 ? `sample ${b}: ` : ''}nfe ${s.nfe}, ${s.tokens.length} tokens, stop: ${s.stopReason}\n`),
      );
      process.stderr.write(`${ev.tokensPerSecond.toFixed(1)} tokens/s (${ev.seconds.toFixed(2)} s, ${ev.modelCalls} model calls)\n`);
    }
    return 0;
  } catch (e) {
    if (e instanceof Error && e.name === 'AbortError') {
      process.stderr.write('\nbd3lm: aborted\n');
      return 130;
    }
    throw e;
  } finally {
    process.removeListener('SIGINT', onInt);
  }
}
