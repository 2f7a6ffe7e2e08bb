/**
 * One curve point as a queue job, run in this process (no Redis): the job opens model and data
 * from its paths and gives the point a local curve gives; a model file that is not the curve's,
 * and a job of another version, are refused in one line.
 */
import { describe, expect, it } from 'vitest';
import { curveGrid, runCurve } from '../../src/curve/runner.js';
import { modelFingerprint } from '../../src/curve/store.js';
import type { CurvePoint } from '../../src/curve/types.js';
import { loadDataset, type DatasetSpec } from '../../src/io/dataset.js';
import { openNetwork } from '../../src/network/open.js';
import { curveJobId } from '../../src/queue/curve.js';
import { CURVE_JOB_VERSION, runCurveJob, type CurveJobData } from '../../src/queue/job.js';
import { tiny } from '../fixtures.js';

const unstructured = { kind: 'unstructured' as const };
const evaluation: DatasetSpec = { inputs: tiny('tiny-test-images.npy'), labels: tiny('tiny-test-labels.npy'), scale: 1 / 255 };
const calibration: DatasetSpec = { inputs: tiny('tiny-train-images.npy'), labels: tiny('tiny-train-labels.npy'), scale: 1 / 255 };
const hashes = { dense: 'D', prune: 'P' };
const prune = { calibSamples: 128, threads: 2 };

function measured(p: CurvePoint): Omit<CurvePoint, 'seconds' | 'finishedAt'> {
  const { seconds: _s, finishedAt: _f, ...rest } = p;
  return rest;
}

describe('curve jobs', () => {
  const grid = curveGrid(['sparsegpt'], [0.6], unstructured);
  const job = (index: number, sha256: string): CurveJobData => ({
    version: CURVE_JOB_VERSION,
    out: '/nowhere/curve',
    model: { path: tiny('tiny-mlp.onnx'), sha256, open: {} },
    evaluation,
    calibration,
    point: grid[index]!,
    index,
    total: grid.length,
    pattern: unstructured,
    collapse: 'penultimate',
    prune,
    hashes,
    threads: 2,
  });

  it('a job gives the point of a local curve, with its progress and the worker named', async () => {
    const model = await openNetwork(tiny('tiny-mlp.onnx'));
    const local = await runCurve({
      model,
      evaluation: loadDataset(evaluation, { inputs: model.inputs }),
      calibration: loadDataset(calibration, { inputs: model.inputs }),
      grid,
      pattern: unstructured,
      collapse: 'penultimate',
      prune,
      hashes,
    });
    const { sha256 } = modelFingerprint(model);
    model.dispose();
    for (let index = 0; index < grid.length; index++) {
      const phases = new Set<string>();
      const result = await runCurveJob(job(index, sha256), { worker: 'here:1', onProgress: (e) => phases.add(`${e.phase}@${e.worker}`) });
      expect(measured(result.point)).toEqual(measured(local.points[index]!));
      expect(result.worker).toBe('here:1');
      expect([...phases]).toEqual(index === 0 ? ['eval@here:1', 'collapse@here:1'] : ['prune@here:1', 'eval@here:1', 'collapse@here:1']);
    }
  });

  it('a model file that is not the curve\'s, and a job of another version, are refused naming the fix', async () => {
    await expect(runCurveJob(job(1, '0'.repeat(64)))).rejects.toThrow(/tiny-mlp\.onnx differs from the curve's model \(SHA-256 [0-9a-f]{12}… here, 000000000000… there\); give every worker the same model file at the same path$/);
    await expect(runCurveJob({ ...job(1, '0'.repeat(64)), version: 2 as typeof CURVE_JOB_VERSION })).rejects.toThrow(/^job of version 2, this worker runs version 1; run the same surgeon version on the curve's machine and every worker$/);
  });

  it('job ids: one per output folder, options hash and point', () => {
    const [dense, point] = grid;
    const id = curveJobId('/a', 'P', point!);
    expect(id).toMatch(/^point-[0-9a-f]{16}$/);
    expect(curveJobId('/a', 'P', { ...point! })).toBe(id);
    expect(new Set([id, curveJobId('/b', 'P', point!), curveJobId('/a', 'Q', point!), curveJobId('/a', 'P', dense!), curveJobId('/a', 'P', { ...point!, sparsity: 0.7 })]).size).toBe(5);
  });
});
