/**
 * A curve spread over queue workers: every point not already saved becomes a BullMQ job on
 * {@link CURVE_QUEUE}, any number of `surgeon worker` processes measure them, and this side —
 * the only writer of the results store — collects each finished point (polling the jobs' state,
 * so nothing is missed whatever the order of events) and hands it to `onPoint` like
 * {@link runCurve} does, with the points so far in grid order.
 *
 * Job ids are derived from the output folder, the options hash and the grid point, so a curve
 * that is interrupted and run again finds its jobs (waiting, running on a worker, or finished
 * and not yet collected) instead of queueing them twice; a job that failed for good in an
 * earlier run is queued afresh. A collected job is removed from Redis; one that failed for good
 * stays there (BullMQ keeps its error) until the curve is rerun.
 *
 * Failed jobs are retried `attempts` times with exponential backoff; the error of every failed
 * attempt is recorded (see {@link CurveQueueJob}). What travels over the network: the job (paths,
 * options, the grid point; about a kilobyte) and the measured point. Each worker reads the model
 * and the data from the paths itself; no weights or activations go through Redis.
 */
import { Queue, type Job } from 'bullmq';
import { hashOptions } from '../curve/store.js';
import { reusablePoint, type CurveGridPoint, type CurveRunResult } from '../curve/runner.js';
import type { CurvePoint, CurveQueueJob } from '../curve/types.js';
import { redisClient, type QueueAddress } from './connection.js';
import { CURVE_JOB_VERSION, CURVE_QUEUE, type CurveJobData, type CurveJobProgress, type CurveJobResult } from './job.js';

/** A running job as the collector last saw it. */
export interface QueueRunningJob {
  index: number;
  point: CurveGridPoint;
  worker?: string;
  progress?: CurveJobProgress;
}

/** What {@link runCurveOnQueue} reports as it goes. */
export type QueueCurveEvent =
  | { kind: 'queued'; queued: number; attached: number; workers: number }
  | { kind: 'started'; index: number; point: CurveGridPoint; attempt: number; worker?: string }
  | { kind: 'retrying'; index: number; point: CurveGridPoint; attempt: number; attempts: number; error: string }
  | { kind: 'failed'; index: number; point: CurveGridPoint; attempts: number; error: string }
  | { kind: 'status'; done: number; total: number; running: QueueRunningJob[]; waiting: number; workers: number }
  | { kind: 'connection'; state: 'lost' | 'back' }
  | { kind: 'error'; error: string };

/** Options of {@link runCurveOnQueue}. */
export interface QueueCurveOptions {
  address: QueueAddress;
  grid: readonly CurveGridPoint[];
  hashes: { dense: string; prune: string };
  /** Saved points; those matching the hashes are reused, not queued. */
  previous?: readonly CurvePoint[];
  /** Every job's payload but the grid point. */
  job: Omit<CurveJobData, 'version' | 'point' | 'index' | 'total'>;
  /** Tries per job (default 3). */
  attempts?: number;
  /** First retry delay in seconds, doubled at each retry (default 2). */
  backoffSeconds?: number;
  /** How often the jobs' state is read, in ms (default 500). */
  pollMs?: number;
  /**
   * As in {@link runCurve}, plus the jobs of this run as they stand (see {@link QueueCurveResult.jobs})
   * and, for points measured now, the worker that measured it.
   */
  onPoint?: (points: CurvePoint[], point: CurvePoint, reused: boolean, index: number, jobs: readonly CurveQueueJob[], worker?: string) => void;
  onWarning?: (message: string) => void;
  onEvent?: (event: QueueCurveEvent) => void;
}

/** What {@link runCurveOnQueue} returns. */
export interface QueueCurveResult extends CurveRunResult {
  /** The jobs of this run: who measured each point, and the error of every failed attempt. */
  jobs: CurveQueueJob[];
  /** The jobs that failed for good (their points are missing from `points`). */
  failed: CurveQueueJob[];
}

/** The first line of an error message or stack. */
function firstLine(text: string): string {
  return text.split('\n')[0]!.trim();
}

/** The job id of a grid point of the curve written to `out` under `hash`. */
export function curveJobId(out: string, hash: string, g: CurveGridPoint): string {
  return `point-${hashOptions({ out, hash, method: g.method, sparsity: g.sparsity, pattern: g.pattern })}`;
}

/** Runs the curve's missing points on the queue's workers; see the module comment. */
export async function runCurveOnQueue(options: QueueCurveOptions): Promise<QueueCurveResult> {
  const emit = options.onEvent ?? (() => {});
  const total = options.grid.length;
  const slots: Array<CurvePoint | undefined> = new Array(total).fill(undefined);
  const warnings: string[] = [];
  const addWarnings = (list: readonly string[]) => {
    for (const w of list) {
      if (warnings.includes(w)) continue;
      warnings.push(w);
      options.onWarning?.(w);
    }
  };
  const current = () => slots.filter((p): p is CurvePoint => p !== undefined);
  let reused = 0;
  const pending = new Map<number, { id: string; record: CurveQueueJob; seenAttempts: number; started: number; worker?: string }>();
  options.grid.forEach((g, index) => {
    const saved = reusablePoint(options, g);
    if (saved) {
      slots[index] = saved;
      reused++;
      options.onPoint?.(current(), saved, true, index, []);
      return;
    }
    const hash = g.method === 'dense' ? options.hashes.dense : options.hashes.prune;
    pending.set(index, {
      id: curveJobId(options.job.out, hash, g),
      record: { method: g.method, sparsity: g.sparsity, pattern: g.pattern, state: 'queued', attempts: 0, errors: [] },
      seenAttempts: 0,
      started: 0,
    });
  });
  const jobs = [...pending.values()].map((p) => p.record);
  const failed: CurveQueueJob[] = [];
  if (pending.size === 0) return { points: current(), reused, computed: 0, warnings, jobs, failed };

  // While Redis is away every failed reconnect is an error: one 'connection' event says it.
  let away = false;
  const connection = await redisClient(options.address, (state) => {
    away = state === 'lost';
    emit({ kind: 'connection', state });
  });
  const queue = new Queue<CurveJobData, CurveJobResult>(CURVE_QUEUE, { connection });
  queue.on('error', (error: Error) => {
    if (!away) emit({ kind: 'error', error: error.message });
  });
  const attempts = options.attempts ?? 3;
  const jobOptions = {
    attempts,
    backoff: { type: 'exponential' as const, delay: Math.round((options.backoffSeconds ?? 2) * 1000) },
    removeOnComplete: false,
    removeOnFail: false,
  };
  let computed = 0;
  try {
    let queued = 0;
    let attached = 0;
    const add = async (index: number) => {
      const data: CurveJobData = { ...options.job, version: CURVE_JOB_VERSION, point: options.grid[index]!, index, total };
      await queue.add('point', data, { ...jobOptions, jobId: pending.get(index)!.id });
    };
    for (const [index, p] of pending) {
      const existing = await queue.getJob(p.id);
      if (existing && (await existing.getState()) === 'failed') await existing.remove();
      else if (existing) {
        attached++;
        continue;
      }
      await add(index);
      queued++;
    }
    emit({ kind: 'queued', queued, attached, workers: await queue.getWorkersCount() });

    const pollMs = options.pollMs ?? 500;
    let lastStatus = 0;
    while (pending.size > 0) {
      const running: QueueRunningJob[] = [];
      let waiting = 0;
      for (const [index, p] of [...pending]) {
        const g = options.grid[index]!;
        // The state first, then the job: its fields are at least as new as the state.
        const state = await queue.getJobState(p.id);
        const job = state === 'unknown' ? undefined : ((await queue.getJob(p.id)) as Job<CurveJobData, CurveJobResult> | undefined);
        if (!job) {
          // removed by hand (or by an `obliterate`): queue it again
          await add(index);
          continue;
        }
        // Failed attempts (BullMQ counts the successful one in attemptsMade too) and their errors:
        // BullMQ keeps each failed attempt's stack, whose first line is the error.
        const failures = state === 'completed' ? Math.max(0, job.attemptsMade - 1) : job.attemptsMade;
        if (failures > p.seenAttempts) {
          const errors = (job.stacktrace ?? []).map(firstLine);
          p.record.errors = errors.length >= failures ? errors.slice(-failures) : [...p.record.errors, job.failedReason ?? 'unknown error'];
          p.record.attempts = failures;
          p.seenAttempts = failures;
          if (state !== 'failed' && state !== 'completed') emit({ kind: 'retrying', index, point: g, attempt: failures, attempts, error: p.record.errors.at(-1) ?? job.failedReason ?? '' });
        }
        if (state === 'completed') {
          const result = job.returnvalue;
          slots[index] = result.point;
          p.record.state = 'done';
          p.record.worker = result.worker;
          addWarnings(result.warnings);
          pending.delete(index);
          computed++;
          options.onPoint?.(current(), result.point, false, index, jobs, result.worker);
          await job.remove().catch(() => {});
        } else if (state === 'failed') {
          p.record.state = 'failed';
          pending.delete(index);
          failed.push(p.record);
          emit({ kind: 'failed', index, point: g, attempts: job.attemptsMade, error: job.failedReason ?? 'unknown error' });
        } else if (state === 'active') {
          const progress = typeof job.progress === 'object' && job.progress !== null ? (job.progress as unknown as CurveJobProgress) : undefined;
          const worker = progress?.worker;
          const started = job.attemptsStarted ?? 1;
          // Announced once the job's first progress names its worker (again when another worker takes it over).
          if (worker !== undefined && (worker !== p.worker || started > p.started)) {
            emit({ kind: 'started', index, point: g, attempt: job.attemptsMade + 1, worker });
            p.started = started;
            p.worker = worker;
          }
          running.push({ index, point: g, ...(worker ? { worker } : {}), ...(progress ? { progress } : {}) });
        } else {
          waiting++;
        }
      }
      const now = Date.now();
      if (pending.size > 0 && now - lastStatus >= 1000) {
        lastStatus = now;
        emit({ kind: 'status', done: total - pending.size - failed.length, total, running, waiting, workers: await queue.getWorkersCount() });
      }
      if (pending.size > 0) await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
  } finally {
    await queue.close().catch(() => {});
    connection.disconnect();
  }
  return { points: current(), reused, computed, warnings, jobs, failed };
}
