/**
 * README's first sample: the text the Quick start's main command printed and its stderr summary, from the latest
 * record of `bench/front-page.ts` (every run of a record printed the same text; tokens/s is the median of the runs).
 */
import * as path from 'node:path';
import { num, readJsonl, stampNote, stat } from './runs.js';

const FILE = 'results/front-page.jsonl';

export function frontPage(root: string): string {
  const r = readJsonl(path.join(root, FILE)).filter((x) => x.bench === 'front-page').pop();
  const cmd = `node dist/bench/front-page.js --runs 3 --record ${FILE}`;
  if (!r) return `_No recorded run yet. Record one with \`${cmd}\`, then \`npm run report\`._`;
  const s = stat(r.tokens_per_s as number[]);
  const stderr = r.stderr as string[];
  // the summary line's own tokens/s is the first run's; the median over the runs is what the sentence gives
  const summary = stderr.slice(0, -1).map((l) => `\`${l}\``).join(', ');
  const speed = s ? `${num(s.median)} tokens/s (${num(s.min)}–${num(s.max)}, ${s.n} runs)` : `${stderr[stderr.length - 1]}`;
  return ['```text', String(r.text).replace(/\n+$/, ''), '```', '',
    `then, on stderr, ${summary} and the speed: ${speed} on the native backend (\`${cmd}\`, \`${FILE}\`: ` +
      `${stampNote(r)}).`].join('\n');
}
