/**
 * Side-by-side runs: the arms of a group (bench/groups.ts) alternated round by round in one session on one machine,
 * this project's cases in their own process each (as `npm run bench`) and the authors' code through refbench's
 * run_ref.py (Debian's python3-torch; a development tool, never needed by the tests). Every run is appended to
 * --out with the session, round, commit, date and CPU; `npm run report` turns them into README's tables.
 *   node dist/bench/side-by-side.js --groups sample-tiny-4-first-hitting,... [--table sampling] [--rounds 3]
 *     [--out results/side-by-side.jsonl] [--refbench ../shared/refbench] [--python /usr/bin/python3]
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { GROUPS, type Arm } from './groups.js';
import { provenance } from './provenance.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const { values } = parseArgs({
  options: {
    groups: { type: 'string' }, table: { type: 'string' }, rounds: { type: 'string' }, out: { type: 'string' },
    refbench: { type: 'string' }, python: { type: 'string' },
  },
  strict: true,
});
const rounds = Number(values.rounds ?? 3);
if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds must be a positive integer, got '${values.rounds}'`);
const wanted = values.groups?.split(',');
const groups = GROUPS.filter((g) => (wanted ? wanted.includes(g.id) : g.table === values.table));
if (!groups.length) throw new Error(`no group selected: give --groups (${GROUPS.map((g) => g.id).join(', ')}) or --table (model, sampling, half, batch, smoke)`);
for (const id of wanted ?? []) if (!GROUPS.some((g) => g.id === id)) throw new Error(`unknown group '${id}'`);
const out = values.out ?? path.join(root, 'results/side-by-side.jsonl');
const refbench = path.resolve(values.refbench ?? path.join(root, '../shared/refbench'));
const python = values.python ?? '/usr/bin/python3';
if (groups.some((g) => g.arms.some((a) => 'ref' in a)) && !existsSync(path.join(refbench, 'run_ref.py')))
  throw new Error(`${path.join(refbench, 'run_ref.py')} not found: give --refbench DIR (the authors' code, ../shared/refbench)`);

/** one run of an arm: its result line (with tokens_per_s) */
function runArm(arm: Arm): Record<string, unknown> {
  if ('ours' in arm) {
    const r = spawnSync(process.execPath, [path.join(here, 'bench.js'), '--case', arm.ours], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    if (r.status !== 0) throw new Error(`bench case ${arm.ours} exited with ${r.status}`);
    return JSON.parse(r.stdout);
  }
  // PASSIVE: idle OpenMP threads otherwise spin and slow the reference 2-4x (refbench/README.md)
  const r = spawnSync(python, [path.join(refbench, 'run_ref.py'), '--case', JSON.stringify(arm.ref)], {
    encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' },
  });
  const line = r.stdout?.split('\n').find((l) => l.startsWith('RESULT '));
  if (r.status !== 0 || !line) throw new Error(`${python} ${path.join(refbench, 'run_ref.py')} --case ${JSON.stringify(arm.ref)} exited with ${r.status} and no RESULT line`);
  return JSON.parse(line.slice('RESULT '.length));
}

const session = new Date().toISOString();
for (let round = 1; round <= rounds; round++) {
  for (const g of groups) {
    // alternate the order too, so neither side always runs first in a round
    const arms = round % 2 ? g.arms : [...g.arms].reverse();
    for (const arm of arms) {
      const result = runArm(arm);
      const rec = { group: g.id, arm: arm.label, side: 'ours' in arm ? 'ours' : 'reference', session, round, ...provenance(), result };
      appendFileSync(out, JSON.stringify(rec) + '\n');
      process.stderr.write(`${g.id} round ${round}/${rounds} ${arm.label}: ${result.tokens_per_s} tokens/s\n`);
    }
  }
}
