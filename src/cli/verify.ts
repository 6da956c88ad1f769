import { createBackend } from '../tensor/index.js';
import type { BackendName } from '../tensor/backend.js';
import { verifyGolden } from '../eval/conformance.js';
import { parseArgs } from 'node:util';
import { withUsage, positiveNumber, UsageError } from './args.js';

const USAGE = 'bd3lm verify DIR [--backend native|wasm|ref] [--tolerance 1e-4]';

export async function runVerify(args: string[]): Promise<number> {
  const { values, positionals } = withUsage(USAGE, () => parseArgs({ args, options: { backend: { type: 'string' }, tolerance: { type: 'string' } }, allowPositionals: true, strict: true }));
  if (positionals.length !== 1) throw new UsageError(`expected one folder\nusage: ${USAGE}`);
  const name = values.backend;
  if (name !== undefined && !['native', 'wasm', 'ref'].includes(name)) throw new UsageError(`unknown backend '${name}'\nusage: ${USAGE}`);
  const backend = await createBackend(name as BackendName | undefined);
  const report = await verifyGolden(positionals[0], backend, positiveNumber(values.tolerance, '--tolerance', 1e-4));
  process.stdout.write(JSON.stringify(report) + '\n');
  return report.ok ? 0 : 1;
}
