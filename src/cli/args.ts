/** A bad command line: reported without a stack trace, exit status 2. */
export class UsageError extends Error {}

export interface NumberRule {
  int?: boolean;
  min?: number;
  /** strictly greater than */
  gt?: number;
  max?: number;
}

/**
 * A numeric option's value, checked against the rule; undefined (not given) stays undefined so the library's default
 * applies. `usage` builds the command's usage error.
 */
export function numberFlag(v: string | undefined, flag: string, rule: NumberRule, usage: (msg: string) => UsageError): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  const ok = v.trim() !== '' && Number.isFinite(n) && (!rule.int || Number.isInteger(n)) && (rule.min === undefined || n >= rule.min) &&
    (rule.gt === undefined || n > rule.gt) && (rule.max === undefined || n <= rule.max);
  if (ok) return n;
  const bounds = [rule.min !== undefined ? `>= ${rule.min}` : '', rule.gt !== undefined ? `> ${rule.gt}` : '', rule.max !== undefined ? `<= ${rule.max}` : ''];
  throw usage(`${flag} must be ${rule.int ? 'an integer' : 'a number'}${bounds.filter(Boolean).map((b) => ` ${b}`).join(' and')}, got '${v}'`);
}

/** An integer option that has a default in its table (so always a string). */
export function integerFlag(v: string, flag: string, min: number, usage: (msg: string) => UsageError): number {
  return numberFlag(v, flag, { int: true, min }, usage)!;
}

/** --port: 0 (pick a free one) .. 65535. */
export function portFlag(value: string, usage: (msg: string) => UsageError): number {
  const port = integerFlag(value, '--port', 0, usage);
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
