/**
 * `--help` everywhere: every command and subcommand prints its usage on stdout and exits 0; an unknown option prints
 * the usage on stderr and exits 2. Help and parser come from one table: every option the help lists is one the
 * parser accepts, and the other way round.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { COMMANDS } from '../src/cli/commands.js';
import { defineCommand, helpText, parseCommand } from '../src/cli/options.js';
import { UsageError } from '../src/cli/args.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/cli/main.js');
const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });

/** the long options a help text lists in its option column */
const listed = (help: string) => [...help.matchAll(/^ {2}(?:-\w, )?--([a-z0-9-]+)/gm)].map((m) => m[1]);

test('the overview lists every command; no command is an error (exit 2), --help is not (exit 0)', () => {
  const h = run('--help');
  assert.equal(h.status, 0);
  for (const { spec } of COMMANDS) assert.match(h.stdout, new RegExp(`^  ${spec.name}\\b`, 'm'), spec.name);
  const none = run();
  assert.equal(none.status, 2);
  assert.equal(run('nonsense').status, 2);
});

for (const { spec } of COMMANDS) {
  const words = spec.name.split(' ');
  test(`${spec.name}: --help on stdout (exit 0, every option listed); an unknown option is the usage on stderr (exit 2)`, () => {
    const h = run(...words, '--help');
    assert.equal(h.status, 0, h.stderr);
    assert.equal(h.stderr, '');
    assert.match(h.stdout, new RegExp(`^usage: bd3lm ${spec.name} `));
    assert.deepEqual(listed(h.stdout), [...Object.keys(spec.options), 'help']);
    const bad = run(...words, '--bogus');
    assert.equal(bad.status, 2);
    assert.equal(bad.stdout, '');
    assert.match(bad.stderr, /Unknown option '--bogus'/);
    assert.match(bad.stderr, new RegExp(`usage: bd3lm ${spec.name} `));
  });
}

test('-h, `bd3lm help CMD` and --help after a bad option all print the help; `bd3lm eval --help` lists the group', () => {
  const want = run('eval', 'ppl', '--help').stdout;
  for (const form of [['eval', 'ppl', '-h'], ['help', 'eval', 'ppl'], ['eval', 'ppl', '--bogus', '--help']]) {
    const h = run(...form);
    assert.equal(h.status, 0, form.join(' '));
    assert.equal(h.stdout, want, form.join(' '));
  }
  const group = run('eval', '--help');
  assert.equal(group.status, 0);
  for (const sub of ['ppl', 'variance', 'gen-ppl']) assert.match(group.stdout, new RegExp(`^  eval ${sub}\\b`, 'm'));
  const unknown = run('eval', 'bleu');
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /unknown eval command 'bleu'\nusage: bd3lm eval <ppl\|variance\|gen-ppl>/);
});

test('every option a help lists is one its parser knows (and a value outside `choices` is refused by name)', () => {
  for (const { spec } of COMMANDS) {
    for (const name of listed(helpText(spec)).filter((n) => n !== 'help')) {
      const o = spec.options[name];
      const args = o.value || o.choices ? [`--${name}`, o.choices ? o.choices[0] : '1'] : [`--${name}`];
      try {
        parseCommand(spec, args);
      } catch (e) {
        assert.ok(e instanceof UsageError);
        assert.doesNotMatch(e.message, /Unknown option/, `${spec.name} --${name}`);
      }
      if (o.choices) {
        assert.throws(() => parseCommand(spec, [`--${name}`, 'no-such-choice']), (e: Error) =>
          e instanceof UsageError && e.message.startsWith(`unknown ${name} 'no-such-choice' (--${name} takes ${o.choices!.join(', ')})`));
      }
    }
  }
});

test('the table decides: required options, defaults, choices typed, positional counts', () => {
  const spec = defineCommand({
    name: 'demo',
    summary: 'a demo',
    args: 'FILE...',
    positionals: [1, 2],
    options: {
      mode: { choices: ['a', 'b'], default: 'a', help: 'the mode' },
      out: { value: 'DIR', required: true, help: 'where' },
      fast: { short: 'f', help: 'go fast' },
    },
  });
  const p = parseCommand(spec, ['--out', 'o', '-f', 'x'])!;
  assert.deepEqual({ ...p.values }, { mode: 'a', out: 'o', fast: true });
  assert.deepEqual(p.positionals, ['x']);
  assert.throws(() => parseCommand(spec, ['x']), /--out is required\nusage: bd3lm demo \[--mode a\|b\] --out DIR \[--fast\] FILE\.\.\./);
  assert.throws(() => parseCommand(spec, ['--out', 'o']), /expected 1 to 2 arguments \(FILE\.\.\.\), got 0/);
  assert.throws(() => parseCommand(spec, ['--out', 'o', 'x', 'y', 'z']), /got 3/);
  assert.throws(() => defineCommand({ name: 'x', summary: '', options: { help: { help: 'mine' } } }), /--help is built in/);
  const h = helpText(spec);
  assert.match(h, /--mode a\|b +the mode \(default a\)/);
  assert.match(h, /--out DIR +where \(required\)/);
  assert.match(h, /-f, --fast +go fast/);
});
