#!/usr/bin/env node
import { UsageError } from './args.js';
import { runInfo } from './info.js';
import { runVerify } from './verify.js';
import { runSample } from './sample.js';
import { runEval } from './eval.js';
import { runPrepare } from './prepare.js';
import { runTrain } from './train.js';
import { runPlot } from './plot.js';
import { runExport } from './export.js';
import { runServe } from './serve.js';
import { runWeb } from './web.js';
import { runTokenizer } from './tokenizer.js';
import { runConvert } from './convert.js';

const USAGE = `bd3lm — Block Diffusion language models

Usage: bd3lm <command> [options]

Commands:
  info DIR                 print a checkpoint's config, parameter count and tensor summary
  verify DIR [--backend native|wasm|ref] [--tolerance 1e-4]
                           run the port on a golden folder from the authors' code and compare every array
                           (JSON on stdout; exit 0 only when all are within tolerance)
  sample [--model DIR] [--prompt TEXT] [--length 512] [--sampler first-hitting|ddpm|threshold|entropy]
         [--top-p P] [--threshold T] [--steps N] [--block-size N] [--batch N] [--seed S] [--stream] [--json]
                           generate text, by default with the embedded model (stats on stderr; --help for every flag)
  eval gen-ppl --judge DIR SAMPLES.jsonl [--window 1024] [--max-length N] [--per-sample]
                           generative perplexity under an AR judge, entropy, lengths (JSON on stdout)
  tokenizer train --vocab-size N --out DIR FILE|FOLDER...
                           train a byte-level BPE tokenizer (Hugging Face tokenizer.json)
  prepare --tokenizer gpt2|bytes|TOKENIZER_DIR --length L --out DIR [--valid-fraction F | --valid-docs N] FILE|FOLDER...
                           tokenise and wrap text/JSONL into training datasets DIR/train, DIR/valid
                           ('bd3lm prepare --help' for every flag)
  train --algo bd3lm|mdlm|ar|sedd --data DIR --out DIR [--preset tiny] [--block-size 4] [--steps N] [--resume RUN_DIR] ...
                           train with checkpoints that resume exactly (Ctrl-C saves and stops)
  plot RUN_DIR... [--out FILE.svg]   loss, validation NELBO and clip-search variance curves as SVG
  convert FILE.ckpt --config config.json --out DIR [--no-ema]
                           the authors' PyTorch Lightning checkpoint to a model folder (EMA weights by default)
  export DIR --out DIR [--dtype f16|bf16|f32|int8]
                           rewrite a checkpoint with half-precision parameters (half the file size) or int8 weights
  serve [--model DIR] [--host 127.0.0.1] [--port 8080] [--max-tokens-cap 1024] [--max-active 8] [--max-queue 64] ...
                           OpenAI-style completions over HTTP, streamed block by block ('bd3lm serve --help')
  web [--port 8000] [--host 127.0.0.1] [--model DIR]
                           serve the browser page (npm run build:web): the model runs in the browser, in WebAssembly

Environment: BD3LM_BACKEND=native|wasm forces a backend; BD3LM_THREADS sets the thread count.
--model takes a folder or a Hugging Face repo id ORG/NAME[@REV] (HF_ENDPOINT, HF_TOKEN, HF_HUB_CACHE, HF_HUB_OFFLINE).
`;

const commands: Record<string, (args: string[]) => Promise<number>> = { info: runInfo, verify: runVerify, sample: runSample, eval: runEval, prepare: runPrepare, train: runTrain, plot: runPlot, export: runExport, serve: runServe, web: runWeb, tokenizer: runTokenizer, convert: runConvert };

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
