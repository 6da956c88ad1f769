/**
 * Where and when a recorded run was made, stamped on every line a bench writes to results/: the commit (and whether
 * the tree had uncommitted changes), the date, the CPU model and core count, Node's version. The report
 * (bench/report.ts) groups runs by session and prints these beside every table.
 */
import { spawnSync } from 'node:child_process';
import * as os from 'node:os';

export interface Provenance {
  commit: string;
  dirty: boolean;
  date: string;
  cpu: string;
  cores: number;
  node: string;
}

function git(args: string[]): string | null {
  const r = spawnSync('git', args, { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

export function provenance(): Provenance {
  const commit = git(['rev-parse', '--short=12', 'HEAD']) ?? 'unknown';
  // results/ is where the records themselves are appended: a change there is not a change of the code measured
  const status = git(['status', '--porcelain', '--untracked-files=no', '--', '.', ':(exclude)results']);
  return {
    commit, dirty: status === null ? true : status.length > 0, date: new Date().toISOString(),
    cpu: os.cpus()[0]?.model.trim() ?? 'unknown', cores: os.cpus().length, node: process.version,
  };
}
