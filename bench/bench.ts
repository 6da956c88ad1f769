/**
 * `npm run bench`: one JSON object per line. Each case runs in its own process so peak RSS is its own.
 *   node dist/bench/bench.js [--only sgemm,forward] [--backend native,wasm]
 *   node --expose-gc dist/bench/bench.js --case ID   (one case, as the loop above runs each)
 * Figures vary with load: compare ratios measured on one machine (see README).
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CASES, runCase } from './cases.js';

const { values } = parseArgs({
  options: { only: { type: 'string' }, backend: { type: 'string' }, case: { type: 'string' } },
  strict: true,
});

if (values.case) {
  const line = await runCase(values.case);
  process.stdout.write(JSON.stringify(line) + '\n');
} else {
  const only = values.only?.split(',');
  const backends = (values.backend ?? 'native,wasm').split(',');
  const self = fileURLToPath(import.meta.url);
  let failed = 0;
  for (const c of CASES) {
    if (only && !only.includes(c.bench)) continue;
    if (!backends.includes(c.backend)) continue;
    const r = spawnSync(process.execPath, ['--expose-gc', self, '--case', c.id], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    if (r.status === 0) process.stdout.write(r.stdout);
    else {
      failed++;
      process.stdout.write(JSON.stringify({ bench: c.bench, backend: c.backend, case: c.id, error: `exit ${r.status}` }) + '\n');
    }
  }
  process.exitCode = failed ? 1 : 0;
}
