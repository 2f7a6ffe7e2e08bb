import { describe, expect, it, beforeAll } from 'vitest';
import { resolve } from 'node:path';
import { tf } from '../../src/tfjs/backend.js';
import { loadTrainingData, type TfjsData } from '../../src/tfjs/data.js';
import { trainEpochs } from '../../src/tfjs/train.js';
import { measureTfjsCollapse } from '../../src/tfjs/collapse.js';
import { selectTfjsCollapseTensors } from '../../src/tfjs/collapse-plan.js';
import { collapseStats, measureCollapse } from '../../src/collapse/index.js';
import { SurgeonInputError } from '../../src/errors.js';
import { tinyCnn, tinyData, useTestBackend } from './helpers.js';

beforeAll(useTestBackend);

/** flatten → 32 relu → 16 relu → 10 on 28×28×1. */
function tinyMlp(): tf.LayersModel {
  const init = (s: number) => tf.initializers.glorotUniform({ seed: s });
  return tf.sequential({
    layers: [
      tf.layers.flatten({ inputShape: [28, 28, 1], name: 'flatten' }),
      tf.layers.dense({ units: 32, activation: 'relu', name: 'fc1', kernelInitializer: init(1) }),
      tf.layers.dense({ units: 16, activation: 'relu', name: 'fc2', kernelInitializer: init(2) }),
      tf.layers.dense({ units: 10, name: 'fc3', kernelInitializer: init(3) }),
    ],
  });
}

let data: TfjsData;
let mlp: tf.LayersModel;

describe('tfjs collapse', () => {
  beforeAll(async () => {
    data = loadTrainingData({ inputs: resolve('data/fmnist-train.npz.gz'), scale: 1 / 255, limit: 1000 });
    mlp = tinyMlp();
    await trainEpochs(mlp, data, { epochs: 1, batchSize: 32, lr: 3e-3 });
  });

  it('penultimate NC1 equals collapseStats + measureCollapse on the truncated model’s features', async () => {
    const result = await measureTfjsCollapse(mlp, data, { batchSize: 100 });
    expect(result.layers.map((l) => [l.name, l.d, l.feeds])).toEqual([
      ['flatten', 784, ['fc1/kernel']],
      ['fc1', 32, ['fc2/kernel']],
      ['fc2', 16, ['fc3/kernel']],
    ]);
    expect(result.classifier).toEqual({ name: 'fc3/kernel', input: 'fc2', K: 10, d: 16 });
    const pen = result.layers.find((l) => l.penultimate)!;
    expect(pen.name).toBe('fc2');

    // independent: the truncated model's features in one predict, both passes in memory
    const truncated = tf.model({ inputs: mlp.inputs, outputs: mlp.getLayer('fc3').input as tf.SymbolicTensor });
    const x = tf.tensor(data.x, [data.count, 28, 28, 1]);
    const feats = truncated.predict(x, { batchSize: 100 }) as tf.Tensor;
    const features = feats.dataSync() as Float32Array;
    const logits = mlp.predict(x, { batchSize: 100 }) as tf.Tensor;
    const pred = logits.argMax(1).dataSync();
    tf.dispose([x, feats, logits]);
    const kernel = mlp.getLayer('fc3').getWeights()[0]!.dataSync();
    const W = new Float32Array(10 * 16);
    for (let i = 0; i < 16; i++) for (let k = 0; k < 10; k++) W[k * 16 + i] = kernel[i * 10 + k]!;
    const m = measureCollapse(collapseStats(features, data.labels, data.count, { K: 10, d: 16 }), { classifier: { W, K: 10, d: 16 } });
    expect(Math.abs(pen.nc1 - m.nc1)).toBeLessThan(1e-9 * Math.max(1, m.nc1));
    expect(pen.etf).toBeCloseTo(m.etf, 9);
    expect(pen.nc3).toBeCloseTo(m.nc3!, 9);
    let correct = 0;
    pred.forEach((p, i) => (correct += p === data.labels[i] ? 1 : 0));
    expect(result.accuracy).toBe(correct / data.count);
    expect(result.accuracy).toBeGreaterThan(0.5);
    expect(result.balancedness?.map((b) => `${b.lower}→${b.upper}`)).toEqual(['fc1/kernel→fc2/kernel', 'fc2/kernel→fc3/kernel']);
    for (const l of result.layers) {
      expect(l.nc4).toBeGreaterThanOrEqual(0);
      expect(l.nc4).toBeLessThanOrEqual(1);
    }
  });

  it('layer selection: penultimate, all, names, and unknown names list the valid ones', () => {
    const cnn = tinyCnn();
    expect(selectTfjsCollapseTensors(cnn).map((t) => [t.name, t.feeds, t.isInput])).toEqual([
      [cnn.inputs[0]!.sourceLayer.name, ['conv'], true],
      ['flat', ['fc1'], false],
      ['fc1', ['fc2'], false],
    ]);
    expect(selectTfjsCollapseTensors(cnn, 'penultimate').map((t) => t.name)).toEqual(['fc1']);
    expect(selectTfjsCollapseTensors(cnn, 'all').map((t) => t.name)).toContain('pool');
    expect(selectTfjsCollapseTensors(cnn, ['fc2/kernel', 'pool']).map((t) => t.name)).toEqual(['pool', 'fc1']);
    expect(() => selectTfjsCollapseTensors(cnn, ['nope'])).toThrow(SurgeonInputError);
    expect(() => selectTfjsCollapseTensors(cnn, ['nope'])).toThrow(/unknown layer 'nope'; valid: .*fc1.*fc2\/kernel/);
    cnn.dispose();
  });

  it('a CNN: conv input is the data, NC4 against train means, missing class rejected', async () => {
    const cnn = tinyCnn();
    const r = await measureTfjsCollapse(cnn, tinyData(60), { train: tinyData(30, 5), batchSize: 16 });
    expect(r.nc4MeansFrom).toBe('train');
    expect(r.layers[0]!.d).toBe(64);
    expect(r.layers.every((l) => Number.isFinite(l.nc1))).toBe(true);
    const two = tinyData(60);
    two.labels = two.labels.map((y) => (y === 2 ? 1 : y));
    await expect(measureTfjsCollapse(cnn, two)).rejects.toThrow(/class 2 has no samples/);
    cnn.dispose();
  });
});
