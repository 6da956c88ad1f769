import { createBackend } from '../tensor/index.js';
import type { BackendName } from '../tensor/backend.js';
import { verifyGolden } from '../eval/conformance.js';
import { numberFlag } from './args.js';
import { BACKEND_OPTION } from './model-flags.js';
import { defineCommand, parseCommand, usageError, type Command } from './options.js';

export const VERIFY = defineCommand({
  name: 'verify',
  summary: "Run the port on a folder of the authors' outputs (format: test/fixtures/bs4/README.txt) and compare every " +
    'array; JSON on stdout, exit 0 only when all are within the tolerance and every sampler trace is identical.',
  args: 'DIR',
  positionals: [1, 1],
  options: {
    ...BACKEND_OPTION,
    tolerance: { value: 'REL', default: '1e-4', help: "largest error allowed, relative to each array's scale" },
  },
});

export const verify: Command = { spec: VERIFY, run: runVerify };

async function runVerify(args: string[]): Promise<number> {
  const parsed = parseCommand(VERIFY, args);
  if (!parsed) return 0;
  const { values, positionals } = parsed;
  const tolerance = numberFlag(values.tolerance, '--tolerance', { gt: 0 }, (m) => usageError(VERIFY, m))!;
  const backend = await createBackend(values.backend as BackendName | undefined);
  const report = await verifyGolden(positionals[0], backend, tolerance);
  process.stdout.write(JSON.stringify(report) + '\n');
  return report.ok ? 0 : 1;
}
