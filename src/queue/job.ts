/**
 * One curve point as a queue job: what travels through Redis (paths, options, the grid point —
 * never tensors or activations) and what comes back (the measured point). A worker runs the job
 * with {@link runCurveJob}: it opens the model and the data from the paths itself, checks that
 * its model file is the curve's (SHA-256), and measures the point with the same function as a
 * local curve ({@link measurePoint}), so both give the same numbers.
 */
import { hostname, tmpdir } from 'node:os';
import { SurgeonInputError } from '../errors.js';
import { loadDataset, type DatasetSpec } from '../io/dataset.js';
import { openNetwork } from '../network/open.js';
import type { OpenNetworkOptions } from '../network/types.js';
import type { SparsityPattern } from '../pruners/types.js';
import { bytesOnDisk, type PointStorage } from '../curve/bytes.js';
import { measurePoint, type CurveGridPoint, type CurveProgress, type CurveRunOptions } from '../curve/runner.js';
import { modelFingerprint } from '../curve/store.js';
import type { CurveCollapseMode, CurvePoint } from '../curve/types.js';

/** The BullMQ queue every curve and worker use (a Redis database may hold several curves' jobs). */
export const CURVE_QUEUE = 'surgeon-curve';

/** Version of {@link CurveJobData}; a worker refuses jobs of another version (older or newer surgeon). */
export const CURVE_JOB_VERSION = 1;

/** The payload of one job (plain JSON). Paths are absolute, as the curve's machine sees them. */
export interface CurveJobData {
  version: typeof CURVE_JOB_VERSION;
  /** The curve's output folder on the curve's machine (for messages; workers never write it). */
  out: string;
  model: { path: string; sha256: string; open: OpenNetworkOptions };
  evaluation: DatasetSpec;
  calibration?: DatasetSpec;
  point: CurveGridPoint;
  /** The point's place in the curve's grid. */
  index: number;
  total: number;
  pattern: SparsityPattern;
  collapse: CurveCollapseMode;
  prune: NonNullable<CurveRunOptions['prune']>;
  hashes: { dense: string; prune: string };
  threads: number;
  batchSize?: number;
  collapseAdvice?: CurveRunOptions['collapseAdvice'];
  /** How the point's model would be stored, for its `bytes` (measured in the worker's temporary folder). */
  storage?: PointStorage;
}

/** What a finished job returns. */
export interface CurveJobResult {
  point: CurvePoint;
  /** Collapse warnings of this point (see runner.ts). */
  warnings: string[];
  /** The worker that measured it: `host:pid` of the `surgeon worker` process. */
  worker: string;
}

/** Live progress a job reports (BullMQ job progress). */
export interface CurveJobProgress extends Pick<CurveProgress, 'phase' | 'fraction' | 'detail'> {
  worker: string;
}

/** `host:pid` of a worker process. */
export function workerName(pid: number = process.pid): string {
  return `${hostname()}:${pid}`;
}

/**
 * Runs one job: opens the model and data named in `data`, refuses a model file that is not the
 * curve's, and measures the point.
 * @throws SurgeonInputError for a missing or different model, missing data, a job of another version.
 */
export async function runCurveJob(
  data: CurveJobData,
  options: { worker?: string; onProgress?: (event: CurveJobProgress) => void } = {},
): Promise<CurveJobResult> {
  const worker = options.worker ?? workerName();
  if (data.version !== CURVE_JOB_VERSION) {
    throw new SurgeonInputError(`job of version ${String(data.version)}, this worker runs version ${CURVE_JOB_VERSION}; run the same surgeon version on the curve's machine and every worker`);
  }
  const model = await openNetwork(data.model.path, data.model.open);
  try {
    const { sha256 } = modelFingerprint(model);
    if (sha256 !== data.model.sha256) {
      throw new SurgeonInputError(
        `${data.model.path} differs from the curve's model (SHA-256 ${sha256.slice(0, 12)}… here, ${data.model.sha256.slice(0, 12)}… there); give every worker the same model file at the same path`,
      );
    }
    const evaluation = loadDataset(data.evaluation, { inputs: model.inputs });
    const calibration = data.calibration ? loadDataset(data.calibration, { inputs: model.inputs }) : undefined;
    const warnings: string[] = [];
    const point = await measurePoint(
      {
        model,
        evaluation,
        ...(calibration ? { calibration } : {}),
        pattern: data.pattern,
        collapse: data.collapse,
        prune: data.prune,
        hashes: data.hashes,
        threads: data.threads,
        ...(data.batchSize !== undefined ? { batchSize: data.batchSize } : {}),
        ...(data.collapseAdvice ? { collapseAdvice: data.collapseAdvice } : {}),
        ...(data.storage ? { measureBytes: bytesOnDisk(tmpdir(), data.storage) } : {}),
      },
      data.point,
      { index: data.index, total: data.total },
      (message) => {
        if (!warnings.includes(message)) warnings.push(message);
      },
      options.onProgress && ((e) => options.onProgress!({ phase: e.phase, fraction: e.fraction, ...(e.detail !== undefined ? { detail: e.detail } : {}), worker })),
    );
    return { point, warnings, worker };
  } finally {
    model.dispose();
  }
}
