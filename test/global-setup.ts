/**
 * Builds the package once before the tests (CLI tests spawn `node dist/cli/main.js`).
 * A type error fails the run under CI; during local development (other files mid-edit) it
 * only warns, since tsc still emits JavaScript.
 */
import { execFileSync } from 'node:child_process';

export default function setup(): void {
  try {
    execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], { stdio: 'inherit' });
  } catch (error) {
    if (process.env.CI) throw error;
    console.warn('warning: tsc reported errors (see above); tests run against what it emitted');
  }
}
