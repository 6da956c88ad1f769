/**
 * `npm run report`: rewrites every generated table and value of README.md and the model card from the recorded runs
 * in results/ (and models/default's logs); `npm run report -- --check` changes nothing and exits 1 when a table or
 * value differs from what the data gives (CI runs it). Both exit 1 when the prose holds a measured-looking figure
 * that is neither generated nor a listed fixed figure. Tables: bench/report/tables.ts; values: bench/report/values.ts;
 * the figure check: bench/report/figures.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { rewriteBlocks, rewriteValues } from './report/markers.js';
import { FIXED_FILE, loadFixed, untracedFigures } from './report/figures.js';
import { value } from './report/values.js';
import { TABLES } from './report/tables.js';

const { values } = parseArgs({ options: { check: { type: 'boolean' }, root: { type: 'string' } }, strict: true });
const root = path.resolve(values.root ?? path.join(path.dirname(fileURLToPath(import.meta.url)), '../..'));
const stale: string[] = [];
const problems: string[] = [];
const fixed = loadFixed(root);
for (const doc of [...new Set(TABLES.map((t) => t.doc))]) {
  const file = path.join(root, doc);
  const mine = TABLES.filter((t) => t.doc === doc);
  const r = rewriteBlocks(fs.readFileSync(file, 'utf8'), doc, (name) => mine.find((t) => t.name === name)?.render(root));
  const absent = mine.filter((t) => !r.found.includes(t.name)).map((t) => t.name);
  if (absent.length) throw new Error(`${doc}: no block for ${absent.map((n) => `<!-- report:${n} -->`).join(', ')}`);
  const v = rewriteValues(r.text, doc, (name) => value(root, name));
  stale.push(...[...r.changed, ...v.changed].map((n) => `${doc}: ${n}`));
  if (!values.check && (r.changed.length || v.changed.length)) fs.writeFileSync(file, v.text);
  const figures = untracedFigures(doc, v.text, fixed);
  problems.push(...figures.untraced.map((u) => `${doc}:${u.line}: '${u.figure}' is typed by hand (make it a value or a table, or list it in ${FIXED_FILE}): ${u.text}`));
  problems.push(...figures.unused.map((f) => `${doc}: the fixed figure '${f.phrase}' covers no figure any more (remove it from ${FIXED_FILE})`));
}
if (problems.length) {
  process.stderr.write(`report: ${problems.length} figure(s) not traced to a recorded run (bench/report/figures.ts):\n  ${problems.join('\n  ')}\n`);
  process.exitCode = 1;
}
if (values.check) {
  if (stale.length) {
    process.stderr.write(`report: ${stale.length} table(s) differ from the recorded runs (run \`npm run report\`):\n  ${stale.join('\n  ')}\n`);
    process.exitCode = 1;
  } else process.stderr.write('report: every table and value matches the recorded runs\n');
} else process.stderr.write(stale.length ? `report: rewrote ${stale.join(', ')}\n` : 'report: every table already matches the recorded runs\n');
