/**
 * What stored weights (bf16, f16, int8, w8a8) change against fp32: the logits of one forward
 * (`bench.js --only logits`, deterministic, so one run is the figure), and for int8 / w8a8 the default model's
 * held-out NELBO and the generative perplexity of its samples.
 */
import * as path from 'node:path';
import { header, num, provenanceNote, readJsonl, row, type Rec } from './runs.js';
import { WEIGHTS_LOGITS, weightLogits } from './values.js';

const MODELS = ['golden', 'default', 'tiny', 'small'];
const ABOUT: Record<string, string> = {
  golden: 'the test checkpoint, L = 32',
  default: 'the embedded default model, stored in fp16, L = 256',
  tiny: 'random weights, L = 256',
  small: 'random weights, L = 256',
};

/** one row per model and storage in `weights`, from the latest session of the record file */
export function logitChange(weights: string[], remark = ''): (root: string) => string {
  return (root) => {
    const recs = weightLogits(root).filter((r) => r.backend === 'native');
    const rows: string[] = [];
    const used: Rec[] = [];
    for (const m of MODELS) {
      for (const w of weights) {
        const runs = recs.filter((r) => r.model === m && r.weights === w);
        if (!runs.length) continue;
        const r = runs[runs.length - 1];
        for (const o of runs) if (o.max_rel_diff !== r.max_rel_diff) throw new Error(`${WEIGHTS_LOGITS}: runs of ${o.case} in one session disagree`);
        used.push(...runs);
        rows.push(row([m, w, Number(r.max_rel_diff).toExponential(2), Number(r.max_prob_tv).toExponential(2), `${num(100 * Number(r.argmax_agree))} %`]));
      }
    }
    const cmd = `node dist/bench/bench.js --only logits --record ${WEIGHTS_LOGITS}`;
    if (!rows.length) return `_No recorded runs yet (logits with stored weights). Record them with \`${cmd}\`, then \`npm run report\`._`;
    const models = MODELS.filter((m) => used.some((r) => r.model === m)).map((m) => `${m}: ${ABOUT[m]}`).join('; ');
    return [header(['model', 'weights', 'max abs logit change / max abs logit', 'max total variation of p', 'argmax agreement']), ...rows, '',
      `Against the same model's fp32 logits, one vectorised forward with about half the x_t tokens masked (${models}; \`${cmd}\`): ` +
        `${provenanceNote(used)}.${remark ? ` ${remark}` : ''}`].join('\n');
  };
}

/** the default model's held-out NELBO with f32, int8 and w8a8 weights (one draw of t, the same for all), and Gen PPL of its samples */
export function int8Quality(root: string): string {
  const nelbo = readJsonl(path.join(root, 'results/int8-accuracy.jsonl')).filter((r) => r.bench === 'nelbo' && r.bits_per_byte_f32 !== undefined).pop();
  const gen = readJsonl(path.join(root, 'results/int8-genppl.jsonl')).pop();
  if (!nelbo || !gen) return '_No recorded runs yet (int8 / w8a8 quality): see `results/int8-genppl.jsonl` for the commands._';
  const g = gen.genppl as Record<string, Rec>;
  const judge = (gen.judge as Rec).held_out as Rec;
  const rows = ['f32', 'int8', 'w8a8'].map((w) => row([w, Number(nelbo[`bits_per_byte_${w}`]).toFixed(5), Number(nelbo[`ppl_${w}`]).toFixed(2),
    Number(g[w].pooledPpl).toFixed(1), num(Number((g[w].length as Rec).mean))]));
  return [header(['weights', 'held-out NELBO, bits per byte', 'perplexity bound', 'Gen PPL of 8 samples (pooled)', 'mean sample length']), ...rows, '',
    `NELBO: \`${nelbo.command}\` on the model card's held-out split, one Monte-Carlo draw of t (seed ${nelbo.seed}), the same draw for every column, ` +
      `so the rows compare (the model card's figure is the mean of 8 draws); ${String(nelbo.date).slice(0, 10)}, commit ${nelbo.commit}. ` +
      `Gen PPL: \`${gen.samples}\`, under an AR judge of the same tokenizer trained for it (\`${(gen.judge as Rec).how}\`; held out ` +
      `${Number(judge.bits_per_byte).toFixed(2)} bits per byte); a sample stops early at an end-of-text token; ${String(gen.date).slice(0, 10)}, ` +
      `commit ${gen.commit} (\`results/int8-accuracy.jsonl\`, \`results/int8-genppl.jsonl\`).`].join('\n');
}
