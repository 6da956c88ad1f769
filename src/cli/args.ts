/** A bad command line: reported without a stack trace, exit status 2. */
export class UsageError extends Error {}

/** Runs a parseArgs call, turning its errors into a UsageError that carries the command's usage line. */
export function withUsage<T>(usage: string, parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    throw new UsageError(`${e instanceof Error ? e.message : String(e)}\nusage: ${usage}`);
  }
}

export function positiveNumber(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${flag} must be a positive number, got '${value}'`);
  return n;
}

export function integerFlag(value: string | undefined, flag: string, min: number, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < min) throw new UsageError(`${flag} must be an integer >= ${min}, got '${value}'`);
  return n;
}
