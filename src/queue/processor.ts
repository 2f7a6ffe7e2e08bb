/**
 * The sandboxed BullMQ processor of `surgeon worker`: each job runs in a child process that the
 * worker forks (BullMQ's child pool), so a long synchronous stretch of pruning never blocks the
 * worker's event loop and its job locks keep being renewed; only a worker that dies loses its
 * locks and has its jobs taken over. A child whose worker died (its IPC channel closes) exits at
 * once instead of finishing a job nobody will collect.
 */
import type { SandboxedJob } from 'bullmq';
import { runCurveJob, workerName, type CurveJobData, type CurveJobProgress, type CurveJobResult } from './job.js';

/** Progress is sent to Redis at most this often (ms). */
const PROGRESS_EVERY_MS = 500;

let watchingParent = false;

/** Runs one job (see {@link runCurveJob}); errors keep their name and say which worker they happened on. */
export default async function processCurveJob(job: SandboxedJob<CurveJobData, CurveJobResult>): Promise<CurveJobResult> {
  if (!watchingParent) {
    watchingParent = true;
    process.once('disconnect', () => process.exit(1));
  }
  // The child's parent is the `surgeon worker` process: its pid names the worker.
  const worker = workerName(process.ppid);
  let last = 0;
  const onProgress = (event: CurveJobProgress) => {
    const now = Date.now();
    if (now - last < PROGRESS_EVERY_MS) return;
    last = now;
    void job.updateProgress(event as unknown as object).catch(() => {});
  };
  try {
    return await runCurveJob(job.data, { worker, onProgress });
  } catch (error) {
    const original = error instanceof Error ? error : new Error(String(error));
    const wrapped = new Error(`on worker ${worker}: ${original.message}`);
    wrapped.name = original.name;
    wrapped.stack = `${wrapped.name}: ${wrapped.message}\n${(original.stack ?? '').split('\n').slice(1).join('\n')}`;
    throw wrapped;
  }
}
