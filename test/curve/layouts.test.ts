/**
 * runCurve on models whose collapse tensors are not batch-first: sequence-first tensors are
 * measured; a tensor that cannot be measured costs the profile (or the point's collapse), said
 * once, and the curve goes on. Models from ../collapse/layout-models.ts; no shared fixtures.
 */
import { describe, expect, it } from 'vitest';
import { readOnnxModel } from '../../src/io/onnx/model.js';
import { curveGrid, runCurve } from '../../src/curve/runner.js';
import { measureModelCollapse } from '../../src/collapse/model.js';
import { SurgeonInputError } from '../../src/errors.js';
import { flattenedTokensClassifier, labelledData, SEQ, sequenceFirstClassifier, singleTokenClassifier } from '../collapse/layout-models.js';

const unstructured = { kind: 'unstructured' as const };
const grid = curveGrid(['magnitude'], [0.3, 0.6], unstructured); // dense*, magnitude@0.3, magnitude@0.6*
const base = { grid, pattern: unstructured, collapse: 'penultimate' as const, hashes: { dense: 'D', prune: 'P' } };

describe('runCurve on any tensor layout', () => {
  it('a sequence-first encoder: the profile includes the [T, N, d] tensor, no warnings', async () => {
    const model = readOnnxModel(sequenceFirstClassifier().bytes);
    const evaluation = labelledData(40, [4, 5], 3, 21, SEQ.input);
    const warned: string[] = [];
    const run = await runCurve({ ...base, model, evaluation, onWarning: (w) => warned.push(w) });
    expect(run.warnings).toEqual([]);
    expect(warned).toEqual([]);
    expect(run.points.map((p) => p.collapse?.layers?.map((l) => l.name))).toEqual([[SEQ.seqFirst, SEQ.pooled], undefined, [SEQ.seqFirst, SEQ.pooled]]);
    for (const p of run.points) expect(p.collapse!.tensor).toBe(SEQ.pooled);
  });

  it('a tensor without a batch axis in the profile: penultimate collapse only, the reason said once', async () => {
    const model = readOnnxModel(flattenedTokensClassifier());
    const evaluation = labelledData(40, [4, 5], 3, 22, SEQ.input);
    const warned: string[] = [];
    const run = await runCurve({ ...base, model, evaluation, batchSize: 16, onWarning: (w) => warned.push(w) });
    expect(warned).toEqual([
      "per-layer collapse profile not measured (penultimate features only): tensor '/encoder/Reshape_out0' has shape [64, 5] for a batch of 16 samples: no axis has size 16, so its samples cannot be told apart (the batch is merged into another axis or reduced away); pick a tensor that keeps one axis per sample in --layers",
    ]);
    expect(run.warnings).toEqual(warned);
    for (const p of run.points) {
      expect(p.accuracy).toBeGreaterThanOrEqual(0);
      expect(p.collapse).toMatchObject({ tensor: '/pool/ReduceMean_out0' });
      expect(p.collapse!.nc1).toBeGreaterThan(0);
      expect(p.collapse!.layers).toBeUndefined();
      expect(p.note).toBeUndefined();
    }
  });

  it('penultimate features that cannot be measured: accuracy and null collapse at every point, one warning naming the batch flag', async () => {
    const model = readOnnxModel(singleTokenClassifier());
    const evaluation = labelledData(24, [1, 5], 3, 23, SEQ.input);
    const warned: string[] = [];
    const run = await runCurve({
      ...base,
      model,
      evaluation,
      batchSize: 1,
      collapseAdvice: { batchFlag: '--eval-batch', tensorAdvice: 'unused' },
      onWarning: (w) => warned.push(w),
    });
    expect(warned).toHaveLength(1);
    expect(warned[0]).toMatch(/^collapse not measured: tensor '\/encoder\/Relu_out0' has shape \[1, 1, 6\] for a batch of 1 sample: axes 0 and 1 both have size 1, .*pass another --eval-batch \(e\.g\. --eval-batch 2\)/);
    expect(run.warnings).toEqual(warned);
    expect(run.points).toHaveLength(3);
    for (const p of run.points) {
      expect(p.accuracy).toBeGreaterThanOrEqual(0);
      expect(p.samples).toBe(24);
      expect(p.collapse).toBeNull();
      expect(p.note).toBe('collapse not measured (see warnings)');
    }
    // Another batch size measures it.
    const fixed = await runCurve({ ...base, grid: grid.slice(0, 1), model, evaluation, batchSize: 5 });
    expect(fixed.warnings).toEqual([]);
    expect(fixed.points[0]!.collapse!.nc1).toBeGreaterThan(0);
  });

  it('only SurgeonInputError becomes a warning; any other error ends the run', async () => {
    const model = readOnnxModel(sequenceFirstClassifier().bytes);
    const evaluation = labelledData(20, [4, 5], 3, 24, SEQ.input);
    const broken = new Error('a bug');
    await expect(runCurve({ ...base, grid: grid.slice(0, 1), model, evaluation, deps: { measureModelCollapse: () => Promise.reject(broken) } })).rejects.toBe(broken);
    // A bug on the fallback measurement is not swallowed either.
    let calls = 0;
    const failing = runCurve({
      ...base,
      grid: grid.slice(0, 1),
      model,
      evaluation,
      deps: {
        measureModelCollapse: (m, d, o) => (++calls === 1 ? Promise.reject(new SurgeonInputError('no batch axis')) : calls === 2 ? Promise.reject(broken) : measureModelCollapse(m, d, o)),
      },
    });
    await expect(failing).rejects.toBe(broken);
  });
});
