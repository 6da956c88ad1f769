/**
 * Speed against quality of the parallel samplers: first hitting (one token per model call, the reference) and the
 * confidence-threshold (tau) and entropy-bounded (gamma) rules, on a trained model. For every setting: the same
 * seeds, batch 1, NFE per token, tokens/s, and the samples' generative perplexity under an AR judge (spec 7.4) plus
 * unigram entropy (a collapse into repetition lowers both). One JSON line per setting.
 *   node dist/bench/parallel-sweep.js --judge DIR [--model DIR] [--samples 8] [--length 256] [--top-p 0.9]
 *     [--taus 0.99,0.9,0.7,0.5] [--gammas 0.1,0.5,1,2] [--weights f32|bf16|f16|int8]
 * (an empty --taus / --gammas list leaves those rules out: `--taus '' --gammas ''` runs first hitting alone)
 * A judge with another vocabulary scores the samples' text, tokenized its way (as `bd3lm eval gen-ppl` does with
 * {"text"} samples). Random weights never pass a threshold, so this needs a trained model (default: the embedded one).
 * Each line carries the commit, date and CPU (bench/provenance.ts); README's sweep tables come from these lines.
 */
import { parseArgs } from 'node:util';
import { loadModel } from '../src/model/load.js';
import { parseWeightDtype } from '../src/model/storage.js';
import { tokenizerFor } from '../src/data/tokenizers.js';
import { generate, type GenerateOptions } from '../src/sampling/generate.js';
import { genPPL } from '../src/eval/genppl.js';
import { provenance } from './provenance.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string' }, judge: { type: 'string' }, samples: { type: 'string' }, length: { type: 'string' },
    'top-p': { type: 'string' }, taus: { type: 'string' }, gammas: { type: 'string' }, weights: { type: 'string' },
  },
  strict: true,
});
if (!values.judge) throw new Error('--judge DIR (an AR checkpoint) is required');
const model = await loadModel(values.model, { weights: values.weights === undefined ? undefined : parseWeightDtype(values.weights) });
const judge = await loadModel(values.judge, { backend: model.backend });
if (!judge.config.causal) throw new Error(`the judge ${values.judge} is not an AR model`);
const tok = await tokenizerFor(model.config);
const judgeTok = judge.config.vocabSize === model.config.vocabSize ? null : await tokenizerFor(judge.config);
const n = Number(values.samples ?? 8);
const length = Number(values.length ?? 256);
const topP = Number(values['top-p'] ?? 0.9);
const list = (v: string | undefined, dflt: number[]) => (v === undefined ? dflt : v === '' ? [] : v.split(',').map(Number));

const settings: { name: string; opts: Partial<GenerateOptions> }[] = [
  { name: 'first-hitting', opts: { sampler: 'first-hitting' } },
  ...list(values.taus, [0.99, 0.9, 0.7, 0.5]).map((tau) => ({ name: `threshold tau=${tau}`, opts: { sampler: 'threshold' as const, threshold: tau } })),
  ...list(values.gammas, [0.1, 0.5, 1, 2]).map((g) => ({ name: `entropy gamma=${g}`, opts: { sampler: 'entropy' as const, entropyBound: g } })),
];

// one session id per sweep: the report shows the latest sweep of a file, never a mix of sweeps
const session = new Date().toISOString();
for (const s of settings) {
  const rows: number[][] = [];
  let nfe = 0;
  let tokens = 0;
  let seconds = 0;
  for (let i = 0; i < n; i++) {
    const r = await generate(model, tok, { maxNewTokens: length, topP, seed: i + 1, stopOnEos: false, ...s.opts }).result();
    rows.push(judgeTok ? judgeTok.encode(r.sequences[0].text) : r.sequences[0].allTokens);
    nfe += r.nfe;
    tokens += r.tokens.length;
    seconds += r.seconds;
  }
  const q = genPPL(judge, rows);
  const line = {
    session, ...provenance(), bench: 'parallel-sweep', model: values.model ?? 'default', setting: s.name, weights: model.weightDtype, block_size: model.config.blockSize, samples: n, length, top_p: topP, nfe_per_token: nfe / tokens,
    tokens_per_s: tokens / seconds, gen_ppl: q.pooledPpl, gen_ppl_mean: q.meanPpl, entropy: q.meanEntropy, judge_window: q.window, judge_vocab: judge.config.vocabSize,
  };
  process.stdout.write(JSON.stringify(line) + '\n');
}
