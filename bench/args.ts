/** The command-line helpers shared by the benchmark scripts. */
import { existsSync, readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { resolve } from 'node:path';
/** The value after `--name` on the command line, or `fallback`. */
export function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

/** A resumable results file: its path (`--out`, else `defaultOut`), its content, and whether points are recomputed. */
export interface ResumableResults<T> {
  out: string;
  results: T;
  /** `--recompute`: the selected points are measured again and replace the stored ones. */
  recompute: boolean;
}

/**
 * Reads `--out` (default `defaultOut`) unless `--fresh` or absent; else starts from the machine,
 * Node version, `setup` and `init`'s fields.
 */
export function resumableResults<T>(defaultOut: string, setup: Record<string, string>, init: Omit<T, 'machine' | 'node' | 'setup'>): ResumableResults<T> {
  const out = resolve(arg('out', defaultOut));
  const fresh = process.argv.includes('--fresh');
  const results =
    !fresh && existsSync(out)
      ? (JSON.parse(readFileSync(out, 'utf8')) as T)
      : ({ machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30) }, node: process.version, setup, ...init } as T);
  return { out, results, recompute: process.argv.includes('--recompute') };
}
