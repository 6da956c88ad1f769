/**
 * One option table per command. The parser (node:util parseArgs), `--help` and the usage line of an error are all
 * generated from it, so help and parser cannot drift. Adding an option is one line in the command's table:
 *
 *   weights: { value: 'DTYPE', choices: WEIGHT_DTYPES, default: 'f32', help: 'weight storage for inference' },
 *   stream: { help: 'print blocks as they finish' },                       // no `value`: a boolean flag
 *
 * Every command also takes -h/--help: its help on stdout, exit 0. Any bad command line is a UsageError (the message
 * and the usage line on stderr, exit 2): an unknown option, a value outside `choices`, a missing `required`
 * option, a positional count outside `positionals`.
 */
import { parseArgs } from 'node:util';
import { UsageError } from './args.js';

export interface Option {
  /** a string option's value as shown ('DIR', 'N'); absent for a boolean flag */
  readonly value?: string;
  /** the only values accepted (shown instead of `value`) */
  readonly choices?: readonly string[];
  /** the value when the option is not given; shown in the help */
  readonly default?: string;
  readonly required?: boolean;
  /** one-letter alias */
  readonly short?: string;
  readonly help: string;
}

export type Options = Readonly<Record<string, Option>>;

export interface CommandSpec<O extends Options = Options> {
  /** as typed after `bd3lm`: 'sample', 'eval ppl' */
  readonly name: string;
  /** one line: what it does (the command list, the head of --help) */
  readonly summary: string;
  /** the positional arguments as shown: 'DIR', 'RUN_DIR...' */
  readonly args?: string;
  /** how many positional arguments: [min, max] (default none) */
  readonly positionals?: readonly [number, number];
  readonly options: O;
  /** paragraphs after the option list */
  readonly notes?: string;
}

/** The parsed values: one of the `choices`, or a string; always there with a default or `required`. */
export type Values<O extends Options> = {
  [K in keyof O]: O[K] extends { value: string } | { choices: readonly string[] }
    ? (O[K] extends { choices: readonly (infer C)[] } ? C : string) | (O[K] extends { default: string } | { required: true } ? never : undefined)
    : boolean | undefined;
};

/** Declares a command (the `const` keeps the table's literals, which type the parsed values). */
export function defineCommand<const O extends Options>(spec: CommandSpec<O>): CommandSpec<O> {
  if ('help' in spec.options) throw new Error(`${spec.name}: --help is built in`);
  return spec;
}

const shown = (o: Option) => (o.choices ? o.choices.join('|') : o.value);

const WIDTH = 112;
const COLUMN = 28;

/** `text` word-wrapped to WIDTH, its first line after `head` (padded to COLUMN), the others indented to COLUMN. */
function hanging(head: string, text: string): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line && COLUMN + line.length + 1 + word.length > WIDTH) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  lines.push(line);
  const first = head.length < COLUMN - 1 ? head.padEnd(COLUMN) : `${head}\n${''.padEnd(COLUMN)}`;
  return first + lines.join(`\n${''.padEnd(COLUMN)}`);
}

/**
 * The usage line: `bd3lm info DIR [--json]`, every option, the required ones without brackets; where that is longer
 * than a line, the required ones and `[options]`.
 */
export function synopsis(spec: CommandSpec): string {
  const opts = Object.entries(spec.options).map(([name, o]) => {
    const s = o.value || o.choices ? `--${name} ${shown(o)}` : `--${name}`;
    return o.required ? s : `[${s}]`;
  });
  const args = spec.args ? [spec.args] : [];
  const full = ['bd3lm', spec.name, ...opts, ...args].join(' ');
  return full.length <= WIDTH - 7 ? full : ['bd3lm', spec.name, ...opts.filter((o) => !o.startsWith('[')), '[options]', ...args].join(' ');
}

/** The whole `--help` text. */
export function helpText(spec: CommandSpec): string {
  const rows = Object.entries(spec.options).map(([name, o]) => {
    const flag = `  ${o.short ? `-${o.short}, ` : ''}--${name}${o.value || o.choices ? ` ${shown(o)}` : ''}`;
    const extra = [o.required ? 'required' : '', o.default !== undefined ? `default ${o.default}` : ''].filter(Boolean);
    return hanging(flag, extra.length ? `${o.help} (${extra.join('; ')})` : o.help);
  });
  rows.push(hanging('  -h, --help', 'print this help'));
  return `usage: ${synopsis(spec)}\n\n${spec.summary}\n\noptions:\n${rows.join('\n')}\n${spec.notes ? `\n${spec.notes.trim()}\n` : ''}`;
}

/** One line (wrapped) per command: name, arguments, summary; for the command overview. */
export function commandList(cmds: readonly Command[]): string {
  return cmds.map(({ spec }) => hanging(`  ${spec.name}${spec.args ? ` ${spec.args}` : ''}`, spec.summary)).join('\n');
}

/** A usage error of this command: the message, then its usage line. */
export function usageError(spec: CommandSpec, message: string): UsageError {
  return new UsageError(`${message}\nusage: ${synopsis(spec)}\n('bd3lm ${spec.name} --help' explains each option)`);
}

const wantsHelp = (args: readonly string[]) => {
  const end = args.indexOf('--');
  return (end < 0 ? args : args.slice(0, end)).some((a) => a === '--help' || a === '-h');
};

/**
 * Parses a command line against the table, or prints the help (stdout) and returns null for -h/--help (the
 * command then exits 0). Throws a UsageError for a bad command line.
 */
export function parseCommand<O extends Options>(spec: CommandSpec<O>, args: string[]): { values: Values<O>; positionals: string[] } | null {
  if (wantsHelp(args)) {
    process.stdout.write(helpText(spec));
    return null;
  }
  const [min, max] = spec.positionals ?? [0, 0];
  const config = Object.fromEntries(
    Object.entries(spec.options).map(([name, o]) => [
      name,
      { type: o.value || o.choices ? ('string' as const) : ('boolean' as const), ...(o.short ? { short: o.short } : {}), ...(o.default !== undefined ? { default: o.default } : {}) },
    ]),
  );
  let parsed;
  try {
    parsed = parseArgs({ args, options: config, allowPositionals: max > 0, strict: true });
  } catch (e) {
    throw usageError(spec, e instanceof Error ? e.message : String(e));
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  const entries = Object.entries(spec.options);
  for (const [name, o] of entries) {
    const v = values[name];
    if (o.choices && typeof v === 'string' && !o.choices.includes(v)) {
      throw usageError(spec, `unknown ${name} '${v}' (--${name} takes ${o.choices.join(', ')})`);
    }
  }
  for (const [name, o] of entries) if (o.required && values[name] === undefined) throw usageError(spec, `--${name} is required`);
  const n = parsed.positionals.length;
  if (n < min || n > max) {
    const want = min === max ? `${min}` : max === Infinity ? `at least ${min}` : `${min} to ${max}`;
    throw usageError(spec, `expected ${want} argument${want === '1' ? '' : 's'} (${spec.args ?? 'none'}), got ${n}`);
  }
  return { values: values as Values<O>, positionals: parsed.positionals };
}

/** A command as `main` dispatches it. */
export interface Command {
  readonly spec: CommandSpec;
  run(args: string[]): Promise<number>;
}
