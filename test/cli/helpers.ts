/** Helpers for CLI tests: run the built CLI (fixture paths: ../fixtures.ts). */
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** Result of one CLI run. */
export interface CliResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs `surgeon ARGS` (the built dist/cli/main.js) and returns its exit status and output. */
export function surgeon(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): CliResult {
  const main = resolve(here, '../../dist/cli/main.js');
  const result = spawnSync(process.execPath, [main, ...args], {
    cwd: options.cwd,
    encoding: 'utf8',
    env: { ...process.env, SURGEON_NO_PROGRESS: '1', ...options.env },
    maxBuffer: 64 * 1024 * 1024,
  });
  return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

/** A fresh temporary folder. */
export function tempDir(prefix = 'surgeon-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Asserts the CLI's bad-input contract: exit 2, one line on stderr, no stack trace. */
export function expectBadInput(result: CliResult, pattern: RegExp): void {
  const lines = result.stderr.trim().split('\n');
  if (result.status !== 2 || lines.length !== 1 || !pattern.test(lines[0]!) || /\n\s+at /.test(result.stderr)) {
    throw new Error(`expected exit 2 with one line matching ${pattern}, got ${result.status}:\n${result.stderr}`);
  }
}
