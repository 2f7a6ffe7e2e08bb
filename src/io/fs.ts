/**
 * File-system helpers shared by the writers.
 */
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { SurgeonInputError } from '../errors.js';

/**
 * Writes `bytes` to `path` atomically: a temporary file `<path>.tmp-<pid>-<random>` in the same
 * folder, then rename. The temporary file is removed on failure.
 * @throws SurgeonInputError naming `path` when it cannot be written.
 */
export function writeFileAtomic(path: string, bytes: Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  try {
    writeFileSync(tmp, bytes);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    const code = (err as NodeJS.ErrnoException).code;
    throw new SurgeonInputError(`${path}: cannot write (${code ?? String(err)}); check that its folder exists and is writable`, { cause: err });
  }
}
