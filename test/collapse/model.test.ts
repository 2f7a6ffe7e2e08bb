/**
 * Model-level collapse measurement on the shared PyTorch fixtures (skipped visibly when absent),
 * and on the demo MLP of data/ and test/fixtures' tiny CNN (always).
 */
import { describe, expect, it } from 'vitest';
import { readOnnxModel, type OnnxModel } from '../../src/io/onnx/model.js';
import { loadDataset, type ClassificationDataset } from '../../src/io/dataset.js';
import { SurgeonInputError } from '../../src/errors.js';
import { measureModelCollapse, type ModelCollapse } from '../../src/collapse/model.js';
import { findClassifier, selectCollapseTensors } from '../../src/collapse/select.js';
import { ClassMeansAccumulator } from '../../src/collapse/accumulate.js';
import { nc4 } from '../../src/collapse/nc4.js';
import { captureTensors } from '../../src/runtime/capture.js';
import { argmax } from '../../src/eval/metrics.js';

import { demoData, describeShared, fixture, HAVE_FIXTURES as HAVE, tiny } from '../fixtures.js';

const model = (name: string): OnnxModel => readOnnxModel(fixture(`fmnist-${name}.onnx`));
const testSet = (m: OnnxModel, limit: number) =>
  loadDataset({ inputs: fixture('fmnist-test-images.npy'), labels: fixture('fmnist-test-labels.npy'), scale: 1 / 255, limit }, m) as ClassificationDataset;
const calibSet = (m: OnnxModel, limit: number) =>
  loadDataset({ inputs: fixture('fmnist-calib-images.npy'), labels: fixture('fmnist-calib-labels.npy'), scale: 1 / 255, limit }, m) as ClassificationDataset;

const MLP_LAYERS = ['/net/net.0/Flatten_output_0', '/net/net.2/Relu_output_0', '/net/net.4/Relu_output_0'];
const METRICS = ['nc1', 'traceRatio', 'cdnv', 'withinTotalRatio', 'etf', 'equinorm', 'equiangularity', 'nc4', 'effectiveRank', 'stableRank'] as const;

function relErr(a: number, b: number): number {
  return a === b ? 0 : Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b));
}

describeShared('measureModelCollapse on fmnist-mlp', () => {
  const mlp = HAVE ? model('mlp') : undefined!;
  let result: ModelCollapse;

  it('default layers: the three Gemm inputs, the last one being the penultimate features', () => {
    const tensors = selectCollapseTensors(mlp);
    expect(tensors.map((t) => t.name)).toEqual(MLP_LAYERS);
    expect(tensors.map((t) => t.feeds)).toEqual([['net.1.weight'], ['net.3.weight'], ['net.5.weight']]);
    expect(tensors.map((t) => t.penultimate)).toEqual([false, false, true]);
    const cls = findClassifier(mlp)!;
    expect(cls).toMatchObject({ layer: 'net.5.weight', input: MLP_LAYERS[2], output: 'logits', K: 10, d: 128 });
    const { W, b } = cls.read();
    expect(W.length).toBe(1280);
    expect(b?.length).toBe(10);
    expect(selectCollapseTensors(mlp, 'penultimate').map((t) => t.name)).toEqual([MLP_LAYERS[2]]);
    expect(selectCollapseTensors(mlp, 'all').map((t) => t.name)).toEqual(MLP_LAYERS); // its Relu outputs are layer inputs
    // layer names stand for their input; graph order whatever the order given; duplicates dropped
    expect(selectCollapseTensors(mlp, ['net.5.weight', '/net/net.1/Gemm_output_0', MLP_LAYERS[2]!]).map((t) => t.name)).toEqual([
      '/net/net.1/Gemm_output_0',
      MLP_LAYERS[2],
    ]);
  });

  it('an unknown layer name is a SurgeonInputError listing the valid ones', () => {
    expect(() => selectCollapseTensors(mlp, ['nope'])).toThrowError(SurgeonInputError);
    expect(() => selectCollapseTensors(mlp, ['nope'])).toThrowError(/unknown layer 'nope'.*net\.1\.weight.*\/net\/net\.2\/Relu_output_0/);
  });

  it('1,000 test images: finite metrics for every layer, NC3 on the penultimate one', async () => {
    const phases = new Set<string>();
    let last = 0;
    result = await measureModelCollapse(mlp, testSet(mlp, 1000), {
      onProgress: (done, total, phase) => {
        phases.add(phase);
        expect(done).toBeGreaterThan(last);
        last = done;
        expect(total).toBe(2000);
      },
    });
    expect(last).toBe(2000);
    expect([...phases]).toEqual(['means', 'covariance']);
    expect(result.samples).toBe(1000);
    expect(result.K).toBe(10);
    expect(result.nc4MeansFrom).toBe('eval');
    expect(result.accuracy).toBeGreaterThan(0.85);
    expect(result.layers.map((l) => l.name)).toEqual(MLP_LAYERS);
    expect(result.layers.map((l) => l.d)).toEqual([784, 256, 128]);
    for (const layer of result.layers) {
      for (const key of METRICS) expect(Number.isFinite(layer[key]), `${layer.name} ${key}`).toBe(true);
      expect(layer.nc1Kept).toBe(9);
      expect(layer.withinTotalRatio).toBeGreaterThan(0);
      expect(layer.withinTotalRatio).toBeLessThan(1);
      expect(layer.nc4).toBeGreaterThanOrEqual(0);
      expect(layer.nc4).toBeLessThanOrEqual(1);
    }
    const [first, second, penultimate] = result.layers;
    expect(first!.nc3).toBeUndefined();
    expect(second!.nc3).toBeUndefined();
    expect(penultimate!.penultimate).toBe(true);
    expect(Number.isFinite(penultimate!.nc3)).toBe(true);
    expect(Number.isFinite(penultimate!.nc3Dual)).toBe(true);
    expect(penultimate!.nc3!).toBeLessThan(2);
    expect(result.classifier).toEqual({ name: 'net.5.weight', input: MLP_LAYERS[2], K: 10, d: 128 });
    expect(result.balancedness?.map((b) => [b.lower, b.upper])).toEqual([
      ['net.1.weight', 'net.3.weight'],
      ['net.3.weight', 'net.5.weight'],
    ]);
    for (const b of result.balancedness!) expect(Number.isFinite(b.value)).toBe(true);
  });

  it('streaming: batches of 64 and of 1,000 agree to 1e-9 relative', async () => {
    const data = testSet(mlp, 1000);
    const small = await measureModelCollapse(mlp, data, { batchSize: 64 });
    const large = await measureModelCollapse(mlp, data, { batchSize: 1000 });
    expect(small.accuracy).toBe(large.accuracy);
    small.layers.forEach((layer, i) => {
      const other = large.layers[i]!;
      for (const key of [...METRICS, 'nc3', 'nc3Dual', 'traceWithin', 'traceBetween'] as const) {
        if (layer[key] === undefined) continue;
        expect(relErr(layer[key]!, other[key]!), `${layer.name} ${key}`).toBeLessThan(1e-9);
      }
    });
  });

  it('NC4 equals the nc4() reference on captured features and logits', async () => {
    const data = testSet(mlp, 300);
    const train = calibSet(mlp, 500);
    const tensor = MLP_LAYERS[2]!;
    const means = new ClassMeansAccumulator({ K: 10, d: 128 });
    await captureTensors(mlp, train, [tensor], (b) => means.addBatch(b.tensors[tensor]!.data as Float32Array, b.labels!, b.count));
    const trainMeans = means.finalize();
    let counts: ReturnType<typeof nc4> | undefined;
    await captureTensors(mlp, data, [tensor, 'logits'], (b) => {
      const logits = b.tensors['logits']!.data as Float32Array;
      const preds = new Int32Array(b.count);
      for (let i = 0; i < b.count; i++) preds[i] = argmax(logits, i * 10, 10);
      counts = nc4(b.tensors[tensor]!.data as Float32Array, preds, trainMeans, counts);
    }, { batchSize: 37 });
    const result = await measureModelCollapse(mlp, data, { train, layers: 'penultimate', batchSize: 50 });
    expect(result.nc4MeansFrom).toBe('train');
    expect(result.trainSamples).toBe(500);
    expect(result.layers[0]!.nc4).toBe(counts!.rate);
  });

  it('deep collapse: on the training split the penultimate NC1 is below the input layer NC1', async () => {
    const r = await measureModelCollapse(mlp, calibSet(mlp, 2000), { layers: 'default' });
    const input = r.layers[0]!;
    const penultimate = r.layers.find((l) => l.penultimate)!;
    expect(r.samples).toBe(2000);
    expect(penultimate.nc1).toBeLessThan(input.nc1);
    expect(penultimate.cdnv).toBeLessThan(input.cdnv);
  });

  describe('bad input', () => {
    const data = HAVE ? testSet(mlp, 400) : undefined!;
    const withLabels = (labels: Int32Array): ClassificationDataset => ({ ...data, labels, numClasses: Math.max(...labels) + 1 });

    it('no labels', async () => {
      const { labels: _, numClasses: __, ...unlabelled } = data;
      await expect(measureModelCollapse(mlp, unlabelled)).rejects.toThrowError(/collapse needs labels; pass --labels FILE or --dataset fashion-mnist/);
    });
    it('a class missing', async () => {
      const labels = data.labels!.map((y) => (y === 3 ? 4 : y));
      await expect(measureModelCollapse(mlp, withLabels(labels))).rejects.toThrowError(/class 3 has no samples/);
    });
    it('a single class', async () => {
      await expect(measureModelCollapse(mlp, withLabels(new Int32Array(400)))).rejects.toThrowError(/at least 2 classes.*only class 0/);
    });
    it('a label beyond the model outputs', async () => {
      const labels = data.labels!.slice();
      labels[7] = 12;
      await expect(measureModelCollapse(mlp, withLabels(labels))).rejects.toThrowError(/label 12 of sample 7 is outside the model's 10 classes/);
    });
    it('a class missing from the train split', async () => {
      const train = calibSet(mlp, 300);
      const labels = train.labels!.map((y) => (y === 9 ? 0 : y));
      await expect(measureModelCollapse(mlp, data, { train: { ...train, labels } })).rejects.toThrowError(/class 9 has no samples among the 300 train labels/);
    });
    it('NaN features (a NaN weight upstream) name the tensor', async () => {
      const broken = model('mlp');
      const w = broken.readInitializer('net.1.weight');
      w[5] = NaN;
      broken.setInitializer('net.1.weight', w);
      const run = measureModelCollapse(broken, data, { layers: ['/net/net.1/Gemm_output_0'] });
      await expect(run).rejects.toThrowError(SurgeonInputError);
      await expect(measureModelCollapse(broken, data, { layers: ['/net/net.1/Gemm_output_0'] })).rejects.toThrowError(
        /sample 0 of layer "\/net\/net\.1\/Gemm_output_0" has a non-finite feature/,
      );
    });
    it('a non-float tensor', async () => {
      await expect(measureModelCollapse(model('vit'), testSet(model('vit'), 50), { layers: ['/Shape_output_0'] })).rejects.toThrowError(/holds int64 values/);
    });
  });
});

describeShared('measureModelCollapse on conv and token tensors', () => {
  it('fmnist-cnn: feature maps are flattened (d = C·H·W); all adds the Relu outputs', async () => {
    const cnn = model('cnn');
    const r = await measureModelCollapse(cnn, testSet(cnn, 300), { layers: 'all', balancedness: false });
    const byName = new Map(r.layers.map((l) => [l.name, l]));
    expect(r.layers.map((l) => l.name)).toEqual([
      'input',
      '/f/f.2/Relu_output_0',
      '/f/f.3/MaxPool_output_0',
      '/f/f.6/Relu_output_0',
      '/f/f.8/Flatten_output_0',
      '/head/head.1/Relu_output_0',
    ]);
    expect(byName.get('input')!.d).toBe(784);
    expect(byName.get('/f/f.2/Relu_output_0')).toMatchObject({ role: 'activation', shape: [16, 26, 26], d: 10816 });
    expect(byName.get('/f/f.3/MaxPool_output_0')).toMatchObject({ role: 'layer-input', shape: [16, 13, 13], d: 2704, layer: 'onnx::Conv_35' });
    expect(r.layers.filter((l) => l.nc3 !== undefined).map((l) => l.name)).toEqual(['/head/head.1/Relu_output_0']);
    expect(r.balancedness).toBeUndefined();
    for (const l of r.layers) expect(Number.isFinite(l.nc1)).toBe(true);
  });

  it('fmnist-vit: token tensors give d = T·D; the classifier follows the class-token LayerNorm', async () => {
    const vit = model('vit');
    const tensors = selectCollapseTensors(vit);
    expect(tensors).toHaveLength(18); // embed + 4 blocks × (qkv, proj, fc1, fc2) + head
    expect(tensors.at(-1)).toMatchObject({ name: '/ln/LayerNormalization_output_0', penultimate: true, feeds: ['head.weight'] });
    const r = await measureModelCollapse(vit, testSet(vit, 200), { layers: ['head.weight', '/blocks.0/ln1/LayerNormalization_output_0'] });
    expect(r.layers.map((l) => [l.name, l.shape, l.d])).toEqual([
      ['/blocks.0/ln1/LayerNormalization_output_0', [17, 64], 1088],
      ['/ln/LayerNormalization_output_0', [64], 64],
    ]);
    expect(r.layers[1]!.nc3).toBeDefined();
    expect(r.classifier).toMatchObject({ name: 'head.weight', K: 10, d: 64 });
  });
});

describe('measureModelCollapse on the demo MLP (data/) and test/fixtures/tiny-cnn', () => {
  const demo = readOnnxModel(demoData('fmnist-mlp.onnx'));
  const demoSet = (file: string, limit: number) => loadDataset({ inputs: demoData(file), scale: 1 / 255, limit }, demo) as ClassificationDataset;
  const LAYERS = ['/flatten/Flatten_output_0', '/relu1/Relu_output_0', '/relu2/Relu_output_0'];

  it('default layers, finite metrics, NC3 and the classifier on the penultimate layer, balancedness of consecutive Gemms', async () => {
    expect(selectCollapseTensors(demo).map((t) => [t.name, t.feeds, t.penultimate])).toEqual([
      [LAYERS[0], ['fc1.weight'], false],
      [LAYERS[1], ['fc2.weight'], false],
      [LAYERS[2], ['fc3.weight'], true],
    ]);
    const r = await measureModelCollapse(demo, demoSet('fmnist-test.npz.gz', 500));
    expect([r.samples, r.K, r.nc4MeansFrom]).toEqual([500, 10, 'eval']);
    expect(r.accuracy).toBeGreaterThan(0.75);
    expect(r.layers.map((l) => [l.name, l.d])).toEqual([[LAYERS[0], 784], [LAYERS[1], 128], [LAYERS[2], 64]]);
    for (const layer of r.layers) {
      for (const key of METRICS) expect(Number.isFinite(layer[key]), `${layer.name} ${key}`).toBe(true);
      expect(layer.withinTotalRatio).toBeGreaterThan(0);
      expect(layer.withinTotalRatio).toBeLessThan(1);
    }
    expect(r.layers.map((l) => l.nc3 === undefined)).toEqual([true, true, false]);
    expect(r.classifier).toEqual({ name: 'fc3.weight', input: LAYERS[2], K: 10, d: 64 });
    expect(r.balancedness?.map((b) => [b.lower, b.upper])).toEqual([
      ['fc1.weight', 'fc2.weight'],
      ['fc2.weight', 'fc3.weight'],
    ]);
  });

  it('streaming: batches of 64 and of 500 agree to 1e-9 relative', async () => {
    const data = demoSet('fmnist-test.npz.gz', 500);
    const small = await measureModelCollapse(demo, data, { batchSize: 64 });
    const large = await measureModelCollapse(demo, data, { batchSize: 500 });
    expect(small.accuracy).toBe(large.accuracy);
    small.layers.forEach((layer, i) => {
      for (const key of [...METRICS, 'nc3', 'traceWithin', 'traceBetween'] as const) {
        if (layer[key] === undefined) continue;
        expect(relErr(layer[key]!, large.layers[i]![key]!), `${layer.name} ${key}`).toBeLessThan(1e-9);
      }
    });
  });

  it('deep collapse: on its training images the penultimate NC1 and CDNV are below those of the input', async () => {
    const r = await measureModelCollapse(demo, demoSet('fmnist-train.npz.gz', 2000));
    const [input, , penultimate] = r.layers;
    expect(penultimate!.nc1).toBeLessThan(input!.nc1);
    expect(penultimate!.cdnv).toBeLessThan(input!.cdnv);
  });

  it('tiny-cnn: feature maps are flattened (d = C·H·W); all adds the Relu outputs', async () => {
    const cnn = readOnnxModel(tiny('tiny-cnn.onnx'));
    const data = loadDataset({ inputs: tiny('tiny-test-images.npy'), labels: tiny('tiny-test-labels.npy'), scale: 1 / 255 }, cnn) as ClassificationDataset;
    const r = await measureModelCollapse(cnn, data, { layers: 'all', balancedness: false });
    expect(r.layers.map((l) => [l.name, l.shape, l.d])).toEqual([
      ['input', [1, 8, 8], 64],
      ['/relu1/Relu_output_0', [4, 6, 6], 144],
      ['/relu2/Relu_output_0', [4, 6, 6], 144],
      ['/flatten/Flatten_output_0', [36], 36],
      ['/relu3/Relu_output_0', [16], 16],
    ]);
    expect(r.layers.filter((l) => l.nc3 !== undefined).map((l) => l.name)).toEqual(['/relu3/Relu_output_0']);
    expect(r.classifier).toMatchObject({ name: 'fc2.weight', K: 4, d: 16 });
    for (const l of r.layers) expect(Number.isFinite(l.nc1)).toBe(true);
  });
});
