/**
 * Curves spread over machines: the points of a curve as BullMQ jobs on Redis
 * ({@link runCurveOnQueue}), measured by workers ({@link startCurveWorker}) that read the model
 * and data from their paths; the curve's process collects the points and writes the store.
 */
export { checkQueueReachable, DEFAULT_STALLED_SECONDS, parseQueueUrl, redisClient, redisOptions } from './connection.js';
export type { QueueAddress } from './connection.js';
export { CURVE_JOB_VERSION, CURVE_QUEUE, runCurveJob, workerName } from './job.js';
export type { CurveJobData, CurveJobProgress, CurveJobResult } from './job.js';
export { curveJobId, runCurveOnQueue } from './curve.js';
export type { QueueCurveEvent, QueueCurveOptions, QueueCurveResult, QueueRunningJob } from './curve.js';
export { defaultProcessorFile, startCurveWorker } from './worker.js';
export type { CurveWorker, CurveWorkerEvent, CurveWorkerOptions } from './worker.js';
