#!/usr/bin/env node
import { UsageError } from './args.js';
import { runInfo } from './info.js';
import { runVerify } from './verify.js';
import { runSample } from './sample.js';
import { runEval } from './eval.js';
import { runPrepare } from './prepare.js';
import { runTrain } from './train.js';
import { runPlot } from './plot.js';

const USAGE = `bd3lm — Block Diffusion language models

Usage: bd3lm <command> [options]

Commands:
  info DIR                 print a checkpoint's config, parameter count and tensor summary
  verify DIR [--backend native|wasm|ref] [--tolerance 1e-4]
                           run the port on a golden folder from the authors' code and compare every array
                           (JSON on stdout; exit 0 only when all are within tolerance)
  sample --model DIR [--prompt TEXT] [--length 512] [--sampler first-hitting|ddpm|threshold|entropy]
         [--top-p P] [--threshold T] [--steps N] [--block-size N] [--batch N] [--seed S] [--stream] [--json]
                           generate text (stats on stderr; 'bd3lm sample --help' for every flag)
  eval gen-ppl --judge DIR SAMPLES.jsonl [--window 1024] [--max-length N] [--per-sample]
                           generative perplexity under an AR judge, entropy, lengths (JSON on stdout)
  prepare --tokenizer gpt2|bytes --length L --out DIR [--valid-fraction F | --valid-docs N] FILE|FOLDER...
                           tokenise and wrap text/JSONL into training datasets DIR/train, DIR/valid
                           ('bd3lm prepare --help' for every flag)
  train --algo bd3lm|mdlm|ar|sedd --data DIR --out DIR [--preset tiny] [--block-size 4] [--steps N] [--resume RUN_DIR] ...
                           train with checkpoints that resume exactly (Ctrl-C saves and stops)
  plot RUN_DIR... [--out FILE.svg]   loss, validation NELBO and clip-search variance curves as SVG

Environment: BD3LM_BACKEND=native|wasm forces a backend; BD3LM_THREADS sets the thread count.
`;

const commands: Record<string, (args: string[]) => Promise<number>> = { info: runInfo, verify: runVerify, sample: runSample, eval: runEval, prepare: runPrepare, train: runTrain, plot: runPlot };

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '-h' || cmd === '--help' || cmd === 'help') {
    process.stdout.write(USAGE);
    return cmd ? 0 : 2;
  }
  const run = commands[cmd];
  if (!run) {
    process.stderr.write(`bd3lm: unknown command '${cmd}'\n\n${USAGE}`);
    return 2;
  }
  return run(rest);
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
