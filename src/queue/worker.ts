/**
 * A curve worker: a BullMQ Worker on the {@link CURVE_QUEUE} queue that measures curve points
 * (jobs) in sandboxed child processes (./processor.ts), `concurrency` at a time.
 *
 * Locks and take-over: a worker holds a lock on each job it runs and renews it every
 * `stalledSeconds / 2`; the lock expires `stalledSeconds` after the last renewal. Every live
 * worker checks for expired locks every `stalledSeconds / 2` and moves those jobs back to the
 * waiting list, so a job of a killed worker (or of a machine that went away) is started again by
 * another worker within about 2 × `stalledSeconds`. A job that stalls a second time is failed by
 * BullMQ ("job stalled more than allowable limit"). Since jobs run in child processes, a
 * busy worker keeps renewing its locks however long a point takes.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker, type Job } from 'bullmq';
import { DEFAULT_STALLED_SECONDS, redisClient, type QueueAddress } from './connection.js';
import { CURVE_QUEUE, workerName, type CurveJobData, type CurveJobResult } from './job.js';

export { DEFAULT_STALLED_SECONDS };

/** What a worker reports as it goes. */
export type CurveWorkerEvent =
  | { kind: 'started'; jobId: string; data: CurveJobData; attempt: number }
  | { kind: 'completed'; jobId: string; data: CurveJobData; result: CurveJobResult }
  | { kind: 'failed'; jobId: string; data: CurveJobData; error: string; attempt: number; attempts: number }
  | { kind: 'error'; error: string }
  | { kind: 'connection'; state: 'lost' | 'back' };

/** Options of {@link startCurveWorker}. */
export interface CurveWorkerOptions {
  address: QueueAddress;
  /** Jobs run at once, each in its own child process (default 1). */
  concurrency?: number;
  /** Lock duration in seconds (see the module comment; default {@link DEFAULT_STALLED_SECONDS}). */
  stalledSeconds?: number;
  /** The compiled processor module (default: processor.js beside this module). */
  processorFile?: string;
  onEvent?: (event: CurveWorkerEvent) => void;
}

/** A running worker. */
export interface CurveWorker {
  /** `host:pid`. */
  name: string;
  /** Waits for the running jobs to finish (or `force`: abandons them to other workers), then disconnects. */
  close(force?: boolean): Promise<void>;
}

/** The compiled sandbox processor beside this module. */
export function defaultProcessorFile(): string {
  const file = fileURLToPath(new URL('./processor.js', import.meta.url));
  if (!existsSync(file)) throw new Error(`internal: ${file} is missing; run the worker from the built package (npm run build)`);
  return file;
}

/** Starts a worker and resolves once it is connected and waiting for jobs. */
export async function startCurveWorker(options: CurveWorkerOptions): Promise<CurveWorker> {
  const stalledMs = Math.round((options.stalledSeconds ?? DEFAULT_STALLED_SECONDS) * 1000);
  const emit = options.onEvent ?? (() => {});
  // While Redis is away BullMQ reports every failed reconnect as an error: one 'connection' event says it.
  let away = false;
  const connection = await redisClient(options.address, (state) => {
    away = state === 'lost';
    emit({ kind: 'connection', state });
  });
  const worker = new Worker<CurveJobData, CurveJobResult>(CURVE_QUEUE, options.processorFile ?? defaultProcessorFile(), {
    connection,
    concurrency: options.concurrency ?? 1,
    lockDuration: stalledMs,
    lockRenewTime: Math.max(1, Math.floor(stalledMs / 2)),
    stalledInterval: Math.max(1, Math.floor(stalledMs / 2)),
    maxStalledCount: 1,
    name: workerName(),
    autorun: false,
  });
  const attempt = (job: Job<CurveJobData>) => job.attemptsMade + 1;
  worker.on('active', (job) => emit({ kind: 'started', jobId: job.id!, data: job.data, attempt: attempt(job) }));
  worker.on('completed', (job, result) => emit({ kind: 'completed', jobId: job.id!, data: job.data, result }));
  worker.on('failed', (job, error) => {
    if (job) emit({ kind: 'failed', jobId: job.id!, data: job.data, error: error.message, attempt: job.attemptsMade, attempts: job.opts.attempts ?? 1 });
  });
  worker.on('error', (error) => {
    if (!away) emit({ kind: 'error', error: error.message });
  });
  void worker.run().catch((error: Error) => emit({ kind: 'error', error: error.message }));
  await worker.waitUntilReady();
  return {
    name: workerName(),
    close: async (force = false) => {
      await worker.close(force);
      connection.disconnect();
    },
  };
}
