/**
 * `npm run report`: rewrites every generated table of README.md and the model card from the recorded runs in
 * results/ (and models/default's logs); `npm run report -- --check` changes nothing and exits 1 when a table differs
 * from what the data gives (CI runs it). Tables: bench/report/tables.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { rewriteBlocks } from './report/markers.js';
import { TABLES } from './report/tables.js';

const { values } = parseArgs({ options: { check: { type: 'boolean' }, root: { type: 'string' } }, strict: true });
const root = path.resolve(values.root ?? path.join(path.dirname(fileURLToPath(import.meta.url)), '../..'));
const stale: string[] = [];
for (const doc of [...new Set(TABLES.map((t) => t.doc))]) {
  const file = path.join(root, doc);
  const mine = TABLES.filter((t) => t.doc === doc);
  const r = rewriteBlocks(fs.readFileSync(file, 'utf8'), doc, (name) => mine.find((t) => t.name === name)?.render(root));
  const absent = mine.filter((t) => !r.found.includes(t.name)).map((t) => t.name);
  if (absent.length) throw new Error(`${doc}: no block for ${absent.map((n) => `<!-- report:${n} -->`).join(', ')}`);
  stale.push(...r.changed.map((n) => `${doc}: ${n}`));
  if (!values.check && r.changed.length) fs.writeFileSync(file, r.text);
}
if (values.check) {
  if (stale.length) {
    process.stderr.write(`report: ${stale.length} table(s) differ from the recorded runs (run \`npm run report\`):\n  ${stale.join('\n  ')}\n`);
    process.exitCode = 1;
  } else process.stderr.write('report: every table matches the recorded runs\n');
} else process.stderr.write(stale.length ? `report: rewrote ${stale.join(', ')}\n` : 'report: every table already matches the recorded runs\n');
