/**
 * `bd3lm sample`: text from a model folder (any model type: BD3-LM, MDLM, SEDD, AR; see `generate`). Text is printed as blocks finish (--stream) or at the end; NFE, tokens/s
 * and the stop reason go to stderr, or everything as one JSON line on stdout (--json). Ctrl-C aborts between two
 * model calls (exit 130). --length counts new tokens; it is rounded up to whole blocks and the output trimmed.
 */
import { generate, type GenerateOptions } from '../sampling/generate.js';
import { DENOISE_MODES, PARALLEL_DEFAULTS, type DenoiseMode } from '../sampling/rules/registry.js';
import { numberFlag } from './args.js';
import { defineCommand, parseCommand, usageError, type Command } from './options.js';
import { loadFlaggedModel, MODEL_OPTIONS } from './model-flags.js';

export const SAMPLE = defineCommand({
  name: 'sample',
  summary: 'Generate text, by default with the embedded model; NFE, tokens/s and the stop reason on stderr.',
  options: {
    ...MODEL_OPTIONS,
    prompt: { value: 'TEXT', help: 'text to continue (default: none, BOS only)' },
    length: { value: 'N', default: '512', help: 'new tokens (rounded up to whole blocks, output trimmed)' },
    sampler: { choices: DENOISE_MODES, default: 'first-hitting', help: 'which masked tokens a step reveals' },
    'top-p': { value: 'P', help: 'nucleus sampling: keep the smallest set of tokens with probability >= P' },
    'top-k': { value: 'K', help: 'keep the K most likely tokens' },
    temperature: { value: 'T', help: 'divide the logits by T (0 = greedy: the most likely token, ties to the lowest id)' },
    threshold: { value: 'TAU', help: `threshold sampler: reveal tokens whose top probability exceeds TAU (default ${PARALLEL_DEFAULTS.threshold})` },
    'entropy-bound': { value: 'GAMMA', help: `entropy sampler: reveal lowest-entropy tokens while their sum stays under GAMMA (default ${PARALLEL_DEFAULTS.entropyBound})` },
    steps: { value: 'N', help: 'denoising steps per block (default: the block size; MDLM: per window, SEDD: in all, default the model length)' },
    'block-size': { value: 'N', help: "block size L' (default: the model's)" },
    batch: { value: 'N', help: 'sequences generated together (default 1)' },
    seed: { value: 'S', help: 'random seed (default: random; a batch uses S, S+1, ...)' },
    'no-bos': { help: 'do not start with BOS' },
    'no-eos-stop': { help: 'keep generating after EOS' },
    'no-cache': { help: 'recompute the whole context at every model call (no KV cache)' },
    stream: { help: 'print each block as it finishes' },
    json: { help: 'print one JSON object (tokens, text, stats) instead of text' },
  },
});

const usage = (msg: string) => usageError(SAMPLE, msg);

const num = (v: string | undefined, flag: string, int: boolean, min: number) => numberFlag(v, flag, { int, min }, usage);

export const sample: Command = { spec: SAMPLE, run: runSample };

async function runSample(args: string[]): Promise<number> {
  const parsed = parseCommand(SAMPLE, args);
  if (!parsed) return 0;
  const { values } = parsed;
  const sampler = values.sampler as DenoiseMode;
  const batch = num(values.batch, '--batch', true, 1) ?? 1;
  if (values.stream && values.json) throw usage('--stream and --json exclude each other');
  if (values.stream && batch > 1) throw usage('--stream prints one sequence; use --batch 1 (or drop --stream)');
  const opts: GenerateOptions = {
    prompt: values.prompt ?? '',
    maxNewTokens: num(values.length, '--length', true, 0)!,
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
  const { model, tok } = await loadFlaggedModel(values);
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
