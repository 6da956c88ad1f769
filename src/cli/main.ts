#!/usr/bin/env node
/**
 * `bd3lm <command>`: dispatches to the commands of ./commands.js. Each command's option table (src/cli/options.ts) gives its
 * parser and its --help; this list gives the overview. A command named with two words ('eval ppl') is a subcommand:
 * `bd3lm eval` alone or `bd3lm eval --help` lists the group.
 */
import { UsageError } from './args.js';
import { commandList } from './options.js';
import { COMMANDS } from './commands.js';

const ENVIRONMENT = `Environment: BD3LM_BACKEND=native|wasm|ref forces a backend; BD3LM_THREADS sets the kernel threads.
--model takes a folder or a Hugging Face repo id ORG/NAME[@REV] (HF_ENDPOINT, HF_TOKEN, HF_HUB_CACHE, HF_HUB_OFFLINE).`;

const USAGE = `bd3lm — Block Diffusion language models

usage: bd3lm <command> [options]    'bd3lm <command> --help' lists a command's options

commands:
${commandList(COMMANDS)}

${ENVIRONMENT}
`;

async function main(argv: string[]): Promise<number> {
  const [cmd, sub, ...rest] = argv;
  if (!cmd || cmd === '-h' || cmd === '--help') {
    process.stdout.write(USAGE);
    return cmd ? 0 : 2;
  }
  if (cmd === 'help') return main([...argv.slice(1), '--help']); // `bd3lm help sample` = `bd3lm sample --help`
  const two = COMMANDS.find((c) => c.spec.name === `${cmd} ${sub}`);
  if (two) return two.run(rest);
  const one = COMMANDS.find((c) => c.spec.name === cmd);
  if (one) return one.run(argv.slice(1));
  const group = COMMANDS.filter((c) => c.spec.name.startsWith(`${cmd} `));
  if (group.length) {
    const text = `usage: bd3lm ${cmd} <${group.map((c) => c.spec.name.slice(cmd.length + 1)).join('|')}> [options]\n\n${commandList(group)}\n`;
    if (sub === '--help' || sub === '-h') {
      process.stdout.write(text);
      return 0;
    }
    throw new UsageError(`${sub === undefined ? `missing ${cmd} command` : `unknown ${cmd} command '${sub}'`}\n${text}`);
  }
  process.stderr.write(`bd3lm: unknown command '${cmd}'\n\n${USAGE}`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`bd3lm: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = e instanceof UsageError ? 2 : 1;
  },
);
