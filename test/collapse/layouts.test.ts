/**
 * Collapse on any tensor layout: the batch axis found from the batch size (../runtime/batch-axis.ts),
 * graph inputs measured from the feeds, sequence-first [T, N, d] tensors, ambiguous layouts.
 * Models are built here (./layout-models.ts); no shared fixtures.
 */
import { describe, expect, it } from 'vitest';
import { SurgeonInputError } from '../../src/errors.js';
import { readOnnxModel } from '../../src/io/onnx/model.js';
import { collapseStats, type FeatureArray } from '../../src/collapse/accumulate.js';
import { measureCollapse, type Classifier } from '../../src/collapse/measure.js';
import { measureModelCollapse, type LayerCollapse, type ModelCollapse } from '../../src/collapse/model.js';
import { featureAxes, findClassifier, selectCollapseTensors } from '../../src/collapse/select.js';
import { BatchLayout, findBatchAxis, perSampleShape, toSampleMajor } from '../../src/runtime/batch-axis.js';
import { captureTensors } from '../../src/runtime/capture.js';
import { featuresClassifier, flattenedTokensClassifier, labelledData, SEQ, sequenceFirstClassifier } from './layout-models.js';

const METRICS = [
  'nc1', 'nc1Kept', 'traceRatio', 'cdnv', 'withinTotalRatio', 'etf', 'equinorm', 'equiangularity', 'equiangularityMaxDev',
  'orthogonalFrame', 'effectiveRank', 'stableRank', 'traceWithin', 'traceBetween',
] as const;

function relErr(a: number, b: number): number {
  return a === b ? 0 : Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b));
}

/** The metrics of `layer` against those computed directly from `features` (n × d) with the pure functions. */
function expectDirect(layer: LayerCollapse, features: FeatureArray, labels: Int32Array, K: number, classifier?: Classifier): void {
  const n = labels.length;
  const d = features.length / n;
  expect(layer.d).toBe(d);
  const direct = measureCollapse(collapseStats(features, labels, n, { K, d }), classifier ? { classifier } : {});
  expect(direct.nc1 > 0 && Number.isFinite(direct.nc1) && direct.traceBetween > 0).toBe(true);
  for (const key of METRICS) expect(relErr(layer[key], direct[key]), `${layer.name} ${key}: ${layer[key]} vs ${direct[key]}`).toBeLessThan(1e-9);
  expect(layer.numericalRank).toBe(direct.numericalRank);
  if (classifier) {
    expect(relErr(layer.nc3!, direct.nc3!), 'nc3').toBeLessThan(1e-9);
    expect(relErr(layer.nc3Dual!, direct.nc3Dual!), 'nc3Dual').toBeLessThan(1e-9);
  }
}

/** The one-line SurgeonInputError `promise` rejects with. */
async function inputError(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SurgeonInputError);
  const message = (error as Error).message;
  expect(message.split('\n')).toHaveLength(1);
  return message;
}

describe('findBatchAxis / toSampleMajor / BatchLayout', () => {
  it('axis 0 when it alone has the batch size; otherwise the unique axis of that size', () => {
    expect(findBatchAxis('h', [8, 16], 8)).toBe(0);
    expect(findBatchAxis('h', [5, 8, 16], 8)).toBe(1); // [T, N, d]
    expect(findBatchAxis('h', [16, 8], 8)).toBe(1); // [d, N]
    expect(findBatchAxis('h', [8], 8)).toBe(0);
  });

  it('excluded (feature) axes are no candidates, so [N, d] with d = N is not ambiguous', () => {
    expect(findBatchAxis('h', [8, 8], 8, { exclude: [-1] })).toBe(0);
    expect(findBatchAxis('h', [8, 8, 16], 8, { exclude: [0] })).toBe(1);
    expect(() => findBatchAxis('h', [8, 8], 8, { exclude: [5, -7] })).toThrowError(/ambiguous/); // out-of-range exclusions are ignored
  });

  it('no axis or several: one line naming the tensor, its shape and the fix', () => {
    expect(() => findBatchAxis('h', [32, 16], 8)).toThrowError(SurgeonInputError);
    expect(() => findBatchAxis('h', [32, 16], 8)).toThrowError(/^tensor 'h' has shape \[32, 16\] for a batch of 8 samples: no axis has size 8.*--layers$/);
    expect(() => findBatchAxis('h', [8, 8, 16], 8)).toThrowError(/^tensor 'h' has shape \[8, 8, 16\] for a batch of 8 samples: axes 0 and 1 both have size 8, so which one holds the samples is ambiguous; pass another --batch \(e\.g\. --batch 7\)/);
    expect(() => findBatchAxis('h', [8, 8, 8, 5], 8, { batchFlag: '--eval-batch' })).toThrowError(/axes 0, 1, 2 all have size 8.*pass another --eval-batch \(e\.g\. --eval-batch 7\)/);
    expect(() => findBatchAxis('h', [32, 16], 8, { tensorAdvice: 'do X' })).toThrowError(/; do X$/);
  });

  it('sample n of a [T, N, d] tensor is its [T, d] slice, T-major (the batch-first [N, T, d] per sample)', () => {
    const [T, N, d] = [3, 4, 2];
    const x = Float32Array.from({ length: T * N * d }, (_, i) => i);
    const out = toSampleMajor(x, [T, N, d], 1);
    expect(out).toBeInstanceOf(Float32Array);
    for (let n = 0; n < N; n++) for (let t = 0; t < T; t++) for (let j = 0; j < d; j++) expect(out[n * T * d + t * d + j]).toBe(x[(t * N + n) * d + j]);
    expect(perSampleShape([T, N, d], 1)).toEqual([T, d]);
    // [d, N] → rows of the transpose; axis 0 and leading size-1 axes are returned as they are.
    expect(Array.from(toSampleMajor(Float64Array.from([1, 2, 3, 4, 5, 6]), [3, 2], 1))).toEqual([1, 3, 5, 2, 4, 6]);
    expect(toSampleMajor(x, [T, N, d], 0)).toBe(x);
    expect(toSampleMajor(x, [1, T * N, d], 1)).toBe(x);
  });

  it('detects once on the first batch; a last batch whose size equals another axis is still read on that axis', () => {
    const layout = new BatchLayout('h');
    const first = layout.features(new Float32Array(3 * 5 * 2), [3, 5, 2], 5);
    expect([layout.axis, first.shape]).toEqual([1, [3, 2]]);
    const last = layout.features(Float32Array.from({ length: 3 * 3 * 2 }, (_, i) => i), [3, 3, 2], 3); // T = 3 = last batch
    expect(last.shape).toEqual([3, 2]);
    expect(Array.from(last.data.subarray(0, 6))).toEqual([0, 1, 6, 7, 12, 13]);
    expect(() => layout.features(new Float32Array(3 * 5 * 2), [3, 5, 2], 3)).toThrowError(/batch axis 1 \(\[3, 5, 2\] on the first batch\) should have size 3/);
    const known = new BatchLayout('x', {}, 0);
    expect(known.features(new Float32Array(16), [4, 4], 4).shape).toEqual([4]);
  });
});

describe('collapse of a features-only classifier (the penultimate features are the graph input)', () => {
  const { bytes, W, b } = featuresClassifier();
  const model = readOnnxModel(bytes);
  const data = labelledData(150, [16], 4, 11, 'features');
  const train = labelledData(90, [16], 4, 12, 'features');

  it('finds the classifier on the graph input and measures the input from the feeds, exactly', async () => {
    const classifier = findClassifier(model)!;
    expect(classifier).toMatchObject({ layer: 'head.weight', input: 'features', K: 4, d: 16 });
    expect(selectCollapseTensors(model).map((t) => [t.name, t.penultimate])).toEqual([['features', true]]);
    // batch 64: a last batch of 22; the train pass and pass 2 have nothing to fetch.
    const result = await measureModelCollapse(model, data, { batchSize: 64, train });
    expect(result.layers.map((l) => [l.name, l.penultimate, l.shape])).toEqual([['features', true, [16]]]);
    expect(result.classifier).toEqual({ name: 'head.weight', input: 'features', K: 4, d: 16 });
    expect(result.nc4MeansFrom).toBe('train');
    expectDirect(result.layers[0]!, data.x, data.labels!, 4, { W, K: 4, d: 16, b });
    // Accuracy: the arg-max of x·Wᵀ + b, computed here (values are exact in float32).
    let correct = 0;
    for (let i = 0; i < data.count; i++) {
      let best = 0;
      let bestValue = -Infinity;
      for (let k = 0; k < 4; k++) {
        let z = b[k]!;
        for (let j = 0; j < 16; j++) z += data.x[i * 16 + j]! * W[k * 16 + j]!;
        if (z > bestValue) [best, bestValue] = [k, z];
      }
      if (best === data.labels![i]) correct++;
    }
    expect(result.accuracy).toBe(correct / data.count);
    // The batch size (16 = d: the input is [16, 16]) changes nothing.
    const other = await measureModelCollapse(model, data, { batchSize: 16, train });
    for (const key of METRICS) expect(relErr(other.layers[0]![key], result.layers[0]![key])).toBeLessThan(1e-12);
  });
});

describe('collapse of a sequence-first encoder classifier ([T, N, d] tensors)', () => {
  const { bytes, W1, W2, T, d, h, K } = sequenceFirstClassifier();
  const model = readOnnxModel(bytes);
  const N = 52; // batches of 16 end with one of 4 = T
  const data = labelledData(N, [T, d], K, 13, SEQ.input);

  /** relu(x[n, t, :] · W1), per sample T-major, and its mean over t (exact in float32). */
  const relu = new Float32Array(N * T * h);
  const pooled = new Float32Array(N * h);
  for (let n = 0; n < N; n++) {
    for (let t = 0; t < T; t++) {
      for (let j = 0; j < h; j++) {
        let z = 0;
        for (let k = 0; k < d; k++) z += data.x[(n * T + t) * d + k]! * W1[k * h + j]!;
        relu[(n * T + t) * h + j] = Math.max(0, z);
        pooled[n * h + j] += Math.max(0, z) / T;
      }
    }
  }
  let all: ModelCollapse;

  it('the feature axes known from the weights: the contracted axis of inputs, the output axis through Relu', () => {
    const axes = featureAxes(model);
    expect(axes.get(SEQ.seqFirst)).toEqual([-1]);
    expect(axes.get(SEQ.relu)).toEqual([-1]);
    expect(axes.get(SEQ.pooled)).toEqual([-1]);
    expect(axes.get(SEQ.input)).toBeUndefined();
  });

  it('onnxruntime writes [T, N, d]; the layout reads sample n as x[n] (T-major)', async () => {
    const seen: number[] = [];
    const layout = new BatchLayout(SEQ.seqFirst);
    await captureTensors(model, data, [SEQ.seqFirst], (batch) => {
      const t = batch.tensors[SEQ.seqFirst]!;
      expect(t.dims).toEqual([T, batch.count, d]);
      const { data: rows, shape } = layout.features(t.data as Float32Array, t.dims, batch.count);
      expect(shape).toEqual([T, d]);
      expect(Array.from(rows)).toEqual(Array.from(data.x.subarray(batch.start * T * d, (batch.start + batch.count) * T * d)));
      seen.push(batch.count);
    }, { batchSize: 16 });
    expect(seen).toEqual([16, 16, 16, 4]);
  });

  it('every tensor equals the batch-first features computed directly (last batch partial, of size T)', async () => {
    all = await measureModelCollapse(model, data, { layers: 'all', batchSize: 16 });
    expect(all.layers.map((l) => [l.name, l.shape, l.penultimate ?? false])).toEqual([
      [SEQ.seqFirst, [T, d], false],
      [SEQ.relu, [T, h], false],
      [SEQ.pooled, [h], true],
    ]);
    expectDirect(all.layers[0]!, data.x, data.labels!, K);
    expectDirect(all.layers[1]!, relu, data.labels!, K);
    expectDirect(all.layers[2]!, pooled, data.labels!, K, { W: W2, K, d: h, b: new Float32Array(K) });
    expect(all.classifier).toMatchObject({ name: 'head.weight', input: SEQ.pooled });
  });

  it('T = batch size is ambiguous: one line naming the tensor, its shape and another --batch; that batch then works', async () => {
    const message = await inputError(measureModelCollapse(model, data, { batchSize: T }));
    expect(message).toBe(
      `tensor '${SEQ.seqFirst}' has shape [4, 4, 5] for a batch of 4 samples: axes 0 and 1 both have size 4, so which one holds the samples is ambiguous; pass another --batch (e.g. --batch 3) so that only the batch axis has the batch size`,
    );
    // Batches of 6 (= h: the [6, 6] pooled tensor's feature axis is known) and 3 (last batch 1).
    for (const batchSize of [6, 3]) {
      const again = await measureModelCollapse(model, data, { layers: 'all', batchSize });
      again.layers.forEach((l, i) => {
        for (const key of METRICS) expect(relErr(l[key], all.layers[i]![key]), `${batchSize} ${l.name} ${key}`).toBeLessThan(1e-12);
      });
    }
  });

});

describe('collapse of a tensor without a batch axis ([N·T, d], as multi-head attention exports its output projection)', () => {
  const model = readOnnxModel(flattenedTokensClassifier());
  const data = labelledData(40, [4, 5], 3, 17, SEQ.input);

  it('is refused in one line naming the tensor, its shape and the fix; the penultimate features still work', async () => {
    const message = await inputError(measureModelCollapse(model, data, { batchSize: 16 }));
    expect(message).toBe(
      "tensor '/encoder/Reshape_out0' has shape [64, 5] for a batch of 16 samples: no axis has size 16, so its samples cannot be told apart (the batch is merged into another axis or reduced away); pick a tensor that keeps one axis per sample in --layers",
    );
    const penultimate = await measureModelCollapse(model, data, { batchSize: 16, layers: 'penultimate' });
    expect(penultimate.layers.map((l) => [l.name, l.shape])).toEqual([['/pool/ReduceMean_out0', [6]]]);
  });
});
