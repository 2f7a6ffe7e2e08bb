#!/usr/bin/env node
/** The `surgeon` command line: thin commands that validate, call the library and print. */
import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { inspectCommand } from './commands/inspect.js';
import { evalCommand } from './commands/eval.js';
import { collapseCommand } from './commands/collapse.js';
import { pruneCommand } from './commands/prune.js';
import { curveCommand } from './commands/curve.js';
import { demoCommand } from './commands/demo.js';
import { trainCommand } from './commands/train.js';
import { workerCommand } from './commands/worker.js';

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

const program = new Command('surgeon')
  .description('curvature-aware pruning (I-OBS, SparseGPT, OBC, IHT, Wanda, magnitude) of ONNX models, with neural-collapse metrics')
  .version(version())
  .option('--verbose', 'show stack traces on errors')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride()
  .configureOutput({ outputError: (text, write) => write(text.split('\n')[0]!.replace(/^error: /, 'surgeon: ') + '\n') });

for (const command of [inspectCommand(), evalCommand(), pruneCommand(), collapseCommand(), trainCommand(), curveCommand(), workerCommand(), demoCommand()]) {
  command.exitOverride().configureOutput({ outputError: (text, write) => write(text.split('\n')[0]!.replace(/^error: /, 'surgeon: ') + '\n') });
  program.addCommand(command);
}

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // --help and --version exit 0; usage errors exit 2.
    process.exitCode = error.exitCode === 0 ? 0 : 2;
  } else {
    throw error;
  }
}
