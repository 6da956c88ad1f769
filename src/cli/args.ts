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

/** --port: 0 (pick a free one) .. 65535. */
export function portFlag(value: string | undefined, fallback: number, usage: (msg: string) => UsageError): number {
  const port = integerFlag(value, '--port', 0, fallback);
  if (port > 65535) throw usage(`--port must be at most 65535, got ${port}`);
  return port;
}

/** Resolves at the first SIGINT or SIGTERM (Ctrl-C), for commands that serve until stopped. */
export function untilStopSignal(): Promise<void> {
  return new Promise((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
