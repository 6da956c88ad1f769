/** Every `bd3lm` command, in the order the overview lists them (a new command is one entry here). */
import type { Command } from './options.js';
import { info } from './info.js';
import { verify } from './verify.js';
import { sample } from './sample.js';
import { evalCommands } from './eval.js';
import { prepareCommand } from './prepare.js';
import { trainCommand } from './train.js';
import { plot } from './plot.js';
import { exportCommand } from './export.js';
import { serve } from './serve.js';
import { web } from './web.js';
import { tokenizerTrainCommand } from './tokenizer.js';
import { convertCommand } from './convert.js';

export const COMMANDS: readonly Command[] = [info, verify, sample, ...evalCommands, tokenizerTrainCommand, prepareCommand, trainCommand, plot, convertCommand, exportCommand, serve, web];
