/**
 * Runs a command action with the CLI's error policy: errors caused by the user's input
 * ({@link SurgeonInputError}, commander's usage errors) print one line on stderr and exit 2;
 * anything else is a bug: one line and exit 1, with the stack under --verbose.
 */
import { SurgeonInputError } from '../src/errors.js';

/** Whether the user asked for stack traces (the global --verbose flag, or SURGEON_VERBOSE=1). */
function verbose(): boolean {
  return process.argv.includes('--verbose') || process.env.SURGEON_VERBOSE === '1';
}

/** Prints `error` as the CLI does and returns the exit code (2 for bad input, 1 otherwise). */
export function reportError(error: unknown): number {
  if (error instanceof SurgeonInputError) {
    process.stderr.write(`surgeon: ${oneLine(error.message)}\n`);
    if (verbose() && error.stack) process.stderr.write(`${error.stack}\n`);
    return 2;
  }
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`surgeon: internal error: ${oneLine(message)} (rerun with --verbose for the stack; please report it)\n`);
  if (verbose() && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
  return 1;
}

/** Wraps an async command action so that errors follow the CLI's policy. */
export function action<Args extends unknown[]>(fn: (...args: Args) => Promise<void>): (...args: Args) => Promise<void> {
  return async (...args: Args) => {
    try {
      await fn(...args);
    } catch (error) {
      process.exitCode = reportError(error);
    }
  };
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}
