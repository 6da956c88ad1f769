/**
 * `npm run bench`: one JSON object per line. Each case runs in its own process so peak RSS is its own.
 *   node dist/bench/bench.js [--only sgemm,forward] [--backend native,wasm] [--repeat 3] [--record results/FILE.jsonl]
 *   node --expose-gc dist/bench/bench.js --case ID   (one case, as the loop above runs each)
 * --repeat runs the selection that many rounds (cases alternate within a round); --record also appends every line,
 * stamped with the session, round, commit, date and CPU (bench/provenance.ts), for `npm run report`.
 * Figures vary with load: compare ratios measured on one machine (see README).
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CASES, runCase } from './cases.js';
import { provenance } from './provenance.js';

const { values } = parseArgs({
  options: { only: { type: 'string' }, backend: { type: 'string' }, case: { type: 'string' }, repeat: { type: 'string' }, record: { type: 'string' } },
  strict: true,
});
const repeat = Number(values.repeat ?? 1);
if (!Number.isInteger(repeat) || repeat < 1) throw new Error(`--repeat must be a positive integer, got '${values.repeat}'`);

if (values.case) {
  const line = await runCase(values.case);
  process.stdout.write(JSON.stringify(line) + '\n');
} else {
  const only = values.only?.split(',');
  const backends = (values.backend ?? 'native,wasm').split(',');
  const self = fileURLToPath(import.meta.url);
  const session = new Date().toISOString();
  let failed = 0;
  for (let round = 1; round <= repeat; round++) {
    for (const c of CASES) {
      if (only && !only.includes(c.bench)) continue;
      if (!backends.includes(c.backend)) continue;
      const r = spawnSync(process.execPath, ['--expose-gc', self, '--case', c.id], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
      const line = r.status === 0 ? JSON.parse(r.stdout) : { bench: c.bench, backend: c.backend, error: `exit ${r.status}` };
      if (r.status !== 0) failed++;
      process.stdout.write(JSON.stringify({ case: c.id, ...line }) + '\n');
      if (values.record) appendFileSync(values.record, JSON.stringify({ case: c.id, session, round, ...provenance(), ...line }) + '\n');
    }
  }
  process.exitCode = failed ? 1 : 0;
}
