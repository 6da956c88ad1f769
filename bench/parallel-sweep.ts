/**
 * Speed against quality of the parallel samplers: first hitting (one token per model call, the reference) and the
 * confidence-threshold (tau) and entropy-bounded (gamma) rules, on a trained model. For every setting: the same
 * seeds, batch 1, NFE per token, tokens/s, and the samples' generative perplexity under an AR judge (spec 7.4) plus
 * unigram entropy (a collapse into repetition lowers both). One JSON line per setting.
 *   node dist/bench/parallel-sweep.js --judge DIR [--model DIR] [--samples 8] [--length 256] [--top-p 0.9]
 *     [--taus 0.99,0.9,0.7,0.5] [--gammas 0.1,0.5,1,2] [--weights f32|bf16|f16|int8] [--rounds 3] [--record FILE]
 * --rounds N times every setting N times, the settings alternating round by round (the samples are the same each
 * round: seeded); the line gives each round's tokens/s and their median. --record appends the lines to FILE.
 * (an empty --taus / --gammas list leaves those rules out: `--taus '' --gammas ''` runs first hitting alone)
 * A judge with another vocabulary scores the samples' text, tokenized its way (as `bd3lm eval gen-ppl` does with
 * {"text"} samples). Random weights never pass a threshold, so this needs a trained model (default: the embedded one).
 * Each line carries the commit, date and CPU (bench/provenance.ts); README's sweep tables come from these lines.
 */
import { appendFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadModel } from '../src/model/load.js';
import { parseWeightDtype } from '../src/model/storage.js';
import { loadTokenizer } from '../src/data/load-tokenizer.js';
import { generate, type GenerateOptions } from '../src/sampling/generate.js';
import { genPPL } from '../src/eval/genppl.js';
import { provenance } from './provenance.js';
import { median } from './stats.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string' }, judge: { type: 'string' }, samples: { type: 'string' }, length: { type: 'string' },
    'top-p': { type: 'string' }, taus: { type: 'string' }, gammas: { type: 'string' }, weights: { type: 'string' },
    rounds: { type: 'string' }, record: { type: 'string' },
  },
  strict: true,
});
if (!values.judge) throw new Error('--judge DIR (an AR checkpoint) is required');
const model = await loadModel(values.model, { weights: values.weights === undefined ? undefined : parseWeightDtype(values.weights) });
const judge = await loadModel(values.judge, { backend: model.backend });
if (!judge.config.causal) throw new Error(`the judge ${values.judge} is not an AR model`);
// each folder's own tokenizer (its tokenizer.json, else the built-in one its config names), as every command uses
const tok = await loadTokenizer(values.model, model.config);
const judgeTok = judge.config.vocabSize === model.config.vocabSize ? null : await loadTokenizer(values.judge, judge.config);
const n = Number(values.samples ?? 8);
const length = Number(values.length ?? 256);
const topP = Number(values['top-p'] ?? 0.9);
const list = (v: string | undefined, dflt: number[]) => (v === undefined ? dflt : v === '' ? [] : v.split(',').map(Number));

const settings: { name: string; opts: Partial<GenerateOptions> }[] = [
  { name: 'first-hitting', opts: { sampler: 'first-hitting' } },
  ...list(values.taus, [0.99, 0.9, 0.7, 0.5]).map((tau) => ({ name: `threshold tau=${tau}`, opts: { sampler: 'threshold' as const, threshold: tau } })),
  ...list(values.gammas, [0.1, 0.5, 1, 2]).map((g) => ({ name: `entropy gamma=${g}`, opts: { sampler: 'entropy' as const, entropyBound: g } })),
];

const rounds = Number(values.rounds ?? 3);
if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds must be a positive integer, got ${values.rounds}`);

/** one setting's n samples: their tokens (for the judge), model calls, tokens and seconds */
async function run(opts: Partial<GenerateOptions>) {
  const rows: number[][] = [];
  let nfe = 0;
  let tokens = 0;
  let seconds = 0;
  for (let i = 0; i < n; i++) {
    const r = await generate(model, tok, { maxNewTokens: length, topP, seed: i + 1, stopOnEos: false, ...opts }).result();
    rows.push(judgeTok ? judgeTok.encode(r.sequences[0].text) : r.sequences[0].allTokens);
    nfe += r.nfe;
    tokens += r.tokens.length;
    seconds += r.seconds;
  }
  return { rows, nfe, tokens, seconds };
}

// one untimed sample first: the first timed setting would otherwise pay for compiling and warming up the code
await generate(model, tok, { maxNewTokens: length, topP, seed: 1, stopOnEos: false }).result();
const first = new Map<string, Awaited<ReturnType<typeof run>>>();
const speeds = new Map<string, number[]>(settings.map((s) => [s.name, []]));
for (let round = 1; round <= rounds; round++) {
  for (const s of round % 2 ? settings : [...settings].reverse()) {
    const r = await run(s.opts);
    const f = first.get(s.name) ?? (first.set(s.name, r), r);
    if (r.nfe !== f.nfe || r.tokens !== f.tokens) throw new Error(`${s.name}: round ${round} sampled differently from round 1 (the seeded samples must repeat)`);
    speeds.get(s.name)!.push(r.tokens / r.seconds);
    process.stderr.write(`round ${round}/${rounds} ${s.name}: ${(r.tokens / r.seconds).toFixed(1)} tokens/s\n`);
  }
}

// one session id per sweep: the report shows the latest sweep of a file, never a mix of sweeps
const session = new Date().toISOString();
for (const s of settings) {
  const { rows, nfe, tokens } = first.get(s.name)!;
  const q = genPPL(judge, rows);
  const line = {
    session, ...provenance(), bench: 'parallel-sweep', model: values.model ?? 'default', setting: s.name, weights: model.weightDtype, block_size: model.config.blockSize, samples: n, length, top_p: topP, nfe_per_token: nfe / tokens,
    tokens_per_s: median(speeds.get(s.name)!), tokens_per_s_runs: speeds.get(s.name), rounds, gen_ppl: q.pooledPpl, gen_ppl_mean: q.meanPpl, entropy: q.meanEntropy, judge_window: q.window, judge_vocab: judge.config.vocabSize,
  };
  process.stdout.write(JSON.stringify(line) + '\n');
  if (values.record) appendFileSync(values.record, JSON.stringify(line) + '\n');
}
