/**
 * Helpers for the queue tests: a private redis-server on a free loopback port (tests that need
 * one skip visibly when Debian's redis-server is not installed), and the built CLI as a child
 * process whose stderr can be waited on.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe } from 'vitest';
import type { CliResult } from '../cli/helpers.js';

const here = dirname(fileURLToPath(import.meta.url));
const MAIN = resolve(here, '../../dist/cli/main.js');

/** Whether `redis-server` can be run. */
export const HAVE_REDIS = spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).status === 0;
/** The visible skip reason. */
export const NEEDS_REDIS = 'needs redis-server: apt-get install redis-server';

/** A describe block that needs redis-server: skipped, with the reason in its title and on stderr, when it is missing. */
export function describeRedis(title: string, body: () => void): void {
  if (!HAVE_REDIS) console.warn(`SKIPPED (${NEEDS_REDIS}): ${title}`);
  describe.skipIf(!HAVE_REDIS)(HAVE_REDIS ? title : `${title} (skipped: ${NEEDS_REDIS})`, body);
}

/** A loopback port nobody listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolvePort(port));
    });
  });
}

/** A private redis-server (no persistence) on a free loopback port; `stop` ends it. */
export async function startRedis(): Promise<{ url: string; port: number; stop: () => Promise<void> }> {
  const port = await freePort();
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  proc.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  const deadline = Date.now() + 10_000;
  while (!/Ready to accept connections/.test(log)) {
    if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`redis-server did not start:\n${log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `redis://127.0.0.1:${port}/0`,
    port,
    stop: () => stopProcess(proc),
  };
}

/** Sends SIGTERM (SIGKILL after 10 s) and waits for the exit. */
export async function stopProcess(proc: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  proc.kill(signal);
  const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** A running `surgeon ARGS`. */
export interface RunningCli {
  proc: ChildProcess;
  /** stderr so far. */
  stderr(): string;
  /** Resolves when stderr matches `pattern` (rejects after `timeoutMs`, or when the process ends first). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** Exit status and output. */
  done: Promise<CliResult>;
}

/** Starts `surgeon ARGS` (the built CLI) in the background. */
export function spawnSurgeon(args: string[], options: { cwd?: string } = {}): RunningCli {
  const proc = spawn(process.execPath, [MAIN, ...args], { cwd: options.cwd, env: { ...process.env, SURGEON_NO_PROGRESS: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<CliResult>((r) => proc.once('close', (code, signal) => r({ status: code ?? (signal ? 128 : -1), stdout, stderr })));
  let ended = false;
  void done.then(() => (ended = true));
  return {
    proc,
    stderr: () => stderr,
    waitFor: async (pattern, timeoutMs = 60_000) => {
      const deadline = Date.now() + timeoutMs;
      while (!pattern.test(stderr)) {
        if (ended) throw new Error(`surgeon ${args[0]} ended before printing ${pattern}:\n${stderr}`);
        if (Date.now() > deadline) throw new Error(`surgeon ${args[0]} did not print ${pattern} within ${timeoutMs / 1000} s:\n${stderr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    done,
  };
}
