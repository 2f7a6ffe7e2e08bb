/** Structured pruning of TF.js layers models: analysis, masked-model agreement, the smaller folder, the CLI. */
import { beforeAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { ClassificationDataset } from '../../src/io/dataset.js';
import { TfjsLayersNetwork } from '../../src/network/tfjs-layers.js';
import { selectBackend, tf } from '../../src/tfjs/backend.js';
import { loadTfjsModel, saveNewModel } from '../../src/tfjs/model.js';
import { analyzeTfjsStructure, pruneStructuredTfjs } from '../../src/structure/tfjs.js';
import { expectBadInput, surgeon } from '../cli/helpers.js';
import { tempDir } from '../tfjs/helpers.js';
import { writeDemoMlpGraphModel } from '../exported-models.js';

let seed = 7;
const rand = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0), seed / 4294967296);
const normal = () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());

/** input 10 → d1(16, relu) → d2(12, tanh) → d3(4). */
function mlp(): tf.LayersModel {
  return tf.sequential({
    layers: [
      tf.layers.dense({ inputShape: [10], units: 16, activation: 'relu', name: 'd1', kernelInitializer: tf.initializers.glorotNormal({ seed: 1 }), biasInitializer: tf.initializers.randomNormal({ seed: 2, stddev: 0.3 }) }),
      tf.layers.dense({ units: 12, activation: 'tanh', name: 'd2', kernelInitializer: tf.initializers.glorotNormal({ seed: 3 }), biasInitializer: tf.initializers.randomNormal({ seed: 4, stddev: 0.3 }) }),
      tf.layers.dense({ units: 4, name: 'd3', kernelInitializer: tf.initializers.glorotNormal({ seed: 5 }), biasInitializer: tf.initializers.randomNormal({ seed: 6, stddev: 0.3 }) }),
    ],
  });
}

/** [8, 8, 2] → conv(6, 3×3) → BN → ReLU → MaxPool 2 → Flatten (3·3·6) → fc(5), BN statistics randomised. */
function cnn(): tf.LayersModel {
  const model = tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [8, 8, 2], filters: 6, kernelSize: 3, name: 'conv', kernelInitializer: tf.initializers.glorotNormal({ seed: 11 }), biasInitializer: tf.initializers.randomNormal({ seed: 12, stddev: 0.3 }) }),
      tf.layers.batchNormalization({ name: 'bn' }),
      tf.layers.activation({ activation: 'relu', name: 'relu' }),
      tf.layers.maxPooling2d({ poolSize: 2, name: 'pool' }),
      tf.layers.flatten({ name: 'flat' }),
      tf.layers.dense({ units: 5, name: 'fc', kernelInitializer: tf.initializers.glorotNormal({ seed: 13 }), biasInitializer: tf.initializers.randomNormal({ seed: 14, stddev: 0.3 }) }),
    ],
  });
  const bn = model.getLayer('bn');
  bn.setWeights([
    tf.tensor(Array.from({ length: 6 }, () => 0.5 + rand())),
    tf.tensor(Array.from({ length: 6 }, () => normal() * 0.3)),
    tf.tensor(Array.from({ length: 6 }, () => normal() * 0.2)),
    tf.tensor(Array.from({ length: 6 }, () => 0.5 + rand())),
  ]);
  return model;
}

/** [9, 9, 1] → c1(4, 3×3, same, relu) → c2(6, 3×3, strides 2, relu) → Flatten (3·3·6) → head(2): a Conv2D consumer of a Conv2D group. */
function cnn2(): tf.LayersModel {
  return tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [9, 9, 1], filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', name: 'c1', kernelInitializer: tf.initializers.glorotNormal({ seed: 21 }), biasInitializer: tf.initializers.randomNormal({ seed: 22, stddev: 0.3 }) }),
      tf.layers.conv2d({ filters: 6, kernelSize: 3, strides: 3, activation: 'relu', name: 'c2', kernelInitializer: tf.initializers.glorotNormal({ seed: 23 }), biasInitializer: tf.initializers.randomNormal({ seed: 24, stddev: 0.3 }) }),
      tf.layers.flatten({ name: 'flat' }),
      tf.layers.dense({ units: 2, name: 'head', kernelInitializer: tf.initializers.glorotNormal({ seed: 25 }) }),
    ],
  });
}

/** input 8 → a(8) → b(8); add(a, b) → out(3). */
function residual(): tf.LayersModel {
  const x = tf.input({ shape: [8], name: 'x' });
  const a = tf.layers.dense({ units: 8, activation: 'relu', name: 'a' }).apply(x) as tf.SymbolicTensor;
  const b = tf.layers.dense({ units: 8, name: 'b' }).apply(a) as tf.SymbolicTensor;
  const s = tf.layers.add({ name: 'sum' }).apply([a, b]) as tf.SymbolicTensor;
  const y = tf.layers.dense({ units: 3, name: 'out' }).apply(s) as tf.SymbolicTensor;
  return tf.model({ inputs: x, outputs: y });
}

function data(model: tf.LayersModel, count: number): ClassificationDataset {
  const sampleShape = model.inputs[0]!.shape.slice(1) as number[];
  const size = sampleShape.reduce((a, b) => a * b, 1);
  return { kind: 'classification', inputName: model.inputNames[0]!, x: Float32Array.from({ length: count * size }, () => normal()), sampleShape, count };
}

function predict(model: tf.LayersModel, d: ClassificationDataset): Float32Array {
  return tf.tidy(() => (model.predict(tf.tensor(d.x as Float32Array, [d.count, ...d.sampleShape])) as tf.Tensor).dataSync() as Float32Array).slice();
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

const weight = (model: tf.LayersModel, name: string) => model.weights.find((w) => w.originalName === name)!;
const values = (model: tf.LayersModel, name: string) => Float32Array.from(weight(model, name).read().dataSync() as Float32Array);
const setValues = (model: tf.LayersModel, name: string, v: Float32Array) => weight(model, name).write(tf.tensor(v, weight(model, name).shape as number[]));

/** The `remove` units of smallest ‖kernel column‖² + bias² (structured magnitude), computed here independently. */
function smallestUnits(model: tf.LayersModel, layer: string, remove: number): number[] {
  const k = values(model, `${layer}/kernel`);
  const b = values(model, `${layer}/bias`);
  const units = b.length;
  const norms = Array.from({ length: units }, (_, u) => {
    let s = b[u]! ** 2;
    for (let i = u; i < k.length; i += units) s += k[i]! ** 2;
    return s;
  });
  return Array.from(norms.keys()).sort((x, y) => norms[x]! - norms[y]! || x - y).slice(0, remove);
}

/** Zeroes the consumer kernel rows (inputs p·units + u) of the removed units: the masked model. */
function maskConsumer(model: tf.LayersModel, consumer: string, units: number, removed: readonly number[]): void {
  const k = values(model, `${consumer}/kernel`);
  const shape = weight(model, `${consumer}/kernel`).shape as number[];
  const out = shape[shape.length - 1]!;
  const inputs = k.length / out;
  for (const u of removed) for (let i = u; i < inputs; i += units) k.fill(0, i * out, (i + 1) * out);
  setValues(model, `${consumer}/kernel`, k);
}

async function saved(model: tf.LayersModel, dir: string, name: string): Promise<TfjsLayersNetwork> {
  const path = await saveNewModel(model, join(dir, name));
  return new TfjsLayersNetwork(await loadTfjsModel(path));
}

describe('structured pruning of TF.js layers models', () => {
  const dir = tempDir('surgeon-structure-tfjs-');
  beforeAll(async () => {
    await selectBackend('cpu');
  });

  it('finds the Dense and Conv2D groups through BatchNormalization, pooling and Flatten', async () => {
    const m = await saved(mlp(), dir, 'mlp-plan');
    const plan = analyzeTfjsStructure(m);
    expect(plan.groups.map((g) => [g.name, g.kind, g.units, g.consumers.map((c) => c.node)])).toEqual([
      ['d1/kernel', 'neurons', 16, ['d2']],
      ['d2/kernel', 'neurons', 12, ['d3']],
    ]);
    expect(plan.blocked).toEqual([expect.objectContaining({ name: 'd3/kernel', reason: expect.stringMatching(/model output/) })]);
    const c = await saved(cnn(), dir, 'cnn-plan');
    const cplan = analyzeTfjsStructure(c);
    expect(cplan.groups).toHaveLength(1);
    const g = cplan.groups[0]!;
    expect([g.kind, g.units, g.consumers[0]!.node, g.consumers[0]!.span, g.slices.map((s) => s.tensor)]).toEqual(['channels', 6, 'fc', 9, ['bn/gamma', 'bn/beta', 'bn/moving_mean', 'bn/moving_variance']]);
    // a functional model whose graph is a chain is analysed as the Sequential one
    const x = tf.input({ shape: [10], name: 'x' });
    const h = tf.layers.dropout({ rate: 0.1, name: 'drop' }).apply(tf.layers.dense({ units: 7, activation: 'relu', name: 'f1' }).apply(x)) as tf.SymbolicTensor;
    const f = await saved(tf.model({ inputs: x, outputs: tf.layers.dense({ units: 2, name: 'f2' }).apply(h) as tf.SymbolicTensor }), dir, 'functional');
    expect(analyzeTfjsStructure(f).groups.map((g) => [g.name, g.units, g.consumers[0]!.node, g.tensors])).toEqual([['f1/kernel', 7, 'f2', ['f1', 'drop']]]);
    m.dispose();
    c.dispose();
    f.dispose();
  });

  it('leaves the groups of a residual Add alone, with the reason', async () => {
    const r = await saved(residual(), dir, 'res');
    const plan = analyzeTfjsStructure(r);
    expect(plan.groups).toEqual([]);
    const byName = new Map(plan.blocked.map((b) => [b.name, b.reason]));
    expect(byName.get('a/kernel')).toMatch(/read by several layers \(b, sum\)/);
    expect(byName.get('b/kernel')).toMatch(/'sum' \(Add\) is not followed through \(it merges the units with another tensor\)/);
    await expect(pruneStructuredTfjs(r, undefined, { structure: 'neurons', method: 'magnitude', sparsity: 0.25 })).rejects.toThrow(/no group of neurons can shrink in this model \(a\/kernel: .*; b\/kernel: .*Add/);
    r.dispose();
  });

  it('magnitude: the smaller MLP and CNNs compute the masked dense models (to 1e-5), reload with tfjs with the smaller kernels', async () => {
    const cases = [
      { name: 'mlp', build: mlp, structure: 'neurons', chain: [['d1', 'd2', 16], ['d2', 'd3', 12]], shapes: { 'd1/kernel': [10, 8], 'd1/bias': [8], 'd2/kernel': [8, 6], 'd3/kernel': [6, 4] } },
      { name: 'cnn', build: cnn, structure: 'channels', chain: [['conv', 'fc', 6]], shapes: { 'conv/kernel': [3, 3, 2, 3], 'bn/gamma': [3], 'bn/moving_variance': [3], 'fc/kernel': [27, 5] } },
      { name: 'cnn2', build: cnn2, structure: 'channels', chain: [['c1', 'c2', 4], ['c2', 'head', 6]], shapes: { 'c1/kernel': [3, 3, 1, 2], 'c2/kernel': [3, 3, 2, 3], 'head/kernel': [27, 2] } },
    ] as const;
    for (const { name, build, structure, chain, shapes: expected } of cases) {
      const network = await saved(build(), dir, `${name}-dense`);
      const d = data(network.model, 40);
      const { model, report } = await pruneStructuredTfjs(network, undefined, { structure, method: 'magnitude', sparsity: 0.5 });
      const pruned = predict(model.model, d);
      // the masked model: each group's smallest units (norms taken after the earlier groups' columns were dropped), their consumer inputs zeroed
      const masked = (await network.clone()) as TfjsLayersNetwork;
      for (const [producer, consumer, units] of chain) maskConsumer(masked.model, consumer, units, smallestUnits(masked.model, producer, Math.round(0.5 * units)));
      expect(maxDiff(pruned, predict(masked.model, d))).toBeLessThan(1e-5);
      expect(report.groups.map((g) => g.removed)).toEqual(chain.map(([, , units]) => Math.round(0.5 * units)));
      expect(report.after.parameters).toBeLessThan(report.before.parameters);
      expect(report.after.macs).toBeLessThan(report.before.macs);
      const out = await model.save(join(dir, `${name}-small`));
      const back = await loadTfjsModel(out.path);
      const shapes = Object.fromEntries(back.model.weights.map((w) => [w.originalName, w.shape]));
      for (const [w, shape] of Object.entries(expected)) expect([w, shapes[w]]).toEqual([w, shape]);
      expect(maxDiff(predict(back.model, d), pruned)).toBeLessThan(1e-6);
      back.model.dispose();
      model.dispose();
      masked.dispose();
      network.dispose();
    }
  });

  it('obs and iobs: units whose outgoing weights are zero are removed and the outputs do not change (to 1e-6)', async () => {
    const cases = [
      { name: 'mlp', build: mlp, structure: 'neurons', sparsity: 0.25, dead: [['d2', 16, [1, 4, 9, 12]], ['d3', 12, [0, 5, 7]]], kernel: ['d2/kernel', 12], method: 'obs' },
      { name: 'mlp', build: mlp, structure: 'neurons', sparsity: 0.25, dead: [['d2', 16, [1, 4, 9, 12]], ['d3', 12, [0, 5, 7]]], kernel: ['d2/kernel', 12], method: 'iobs' },
      { name: 'cnn', build: cnn, structure: 'channels', sparsity: 1 / 3, dead: [['fc', 6, [0, 3]]], kernel: ['fc/kernel', 36], method: 'obs' },
      { name: 'cnn2', build: cnn2, structure: 'channels', sparsity: 0.25, dead: [['c2', 4, [1]], ['head', 6, [2, 4]]], kernel: ['c2/kernel', 3], method: 'obs' },
    ] as const;
    for (const { name, build, structure, sparsity, dead, kernel, method } of cases) {
      const m = build();
      for (const [consumer, units, removed] of dead) maskConsumer(m, consumer, units, removed);
      const network = await saved(m, dir, `${name}-${method}-dead`);
      const d = data(network.model, 64);
      const { model, report } = await pruneStructuredTfjs(network, d, { structure, method, sparsity });
      expect(report.groups.map((g) => g.removed)).toEqual(dead.map(([, , removed]) => removed.length));
      expect(maxDiff(predict(model.model, d), predict(network.model, d))).toBeLessThan(1e-6);
      const w = model.model.weights.find((v) => v.originalName === kernel[0])!;
      expect(w.shape[w.shape.length - 2]).toBe(kernel[1]);
      model.dispose();
      network.dispose();
    }
  });

  it('obs corrects the kept consumer columns: lower calibration error than dropping them (wanda selection of the same units is not required)', async () => {
    const network = await saved(mlp(), dir, 'mlp-obs');
    const d = data(network.model, 128);
    const obs = await pruneStructuredTfjs(network, d, { structure: 'neurons', method: 'obs', sparsity: 0.5 });
    const wanda = await pruneStructuredTfjs(network, d, { structure: 'neurons', method: 'wanda', sparsity: 0.5 });
    expect(obs.report.groups[0]!.error!).toBeLessThan(wanda.report.groups[0]!.error!);
    expect(obs.report.groups[0]!.dampingUsed[0]).toBeGreaterThan(0);
    obs.model.dispose();
    wanda.model.dispose();
    network.dispose();
  });

  it('surgeon prune --structure neurons on a TF.js MLP writes a smaller folder; heads, the input folder and graph models are refused', async () => {
    const src = join(dir, 'cli-mlp');
    await saveNewModel(mlp(), src);
    const out = join(dir, 'cli-mlp-small');
    const result = surgeon(['prune', join(src, 'model.json'), '--structure', 'neurons', '--method', 'magnitude', '--sparsity', '0.25', '--out', out, '--json', '--backend', 'cpu']);
    expect(result.status, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.format).toBe('tfjs-layers');
    expect(report.groups.map((g: { removed: number }) => g.removed)).toEqual([4, 3]);
    expect(report.latency).toBeNull();
    expect(report.note).toMatch(/latency not measured/);
    expect(report.bytes.after).toBeLessThan(report.bytes.before);
    const back = await loadTfjsModel(out);
    expect(back.model.weights.map((w) => w.shape)).toEqual([[10, 12], [12], [12, 9], [9], [9, 4], [4]]);
    back.model.dispose();
    expectBadInput(surgeon(['prune', src, '--structure', 'heads', '--method', 'magnitude', '--sparsity', '0.25', '--out', join(dir, 'h'), '--backend', 'cpu']), /--structure heads applies to ONNX models only/);
    expectBadInput(surgeon(['prune', src, '--structure', 'neurons', '--method', 'magnitude', '--sparsity', '0.25', '--out', src, '--backend', 'cpu']), /is the input model/);
    const graph = writeDemoMlpGraphModel(join(dir, 'graph'));
    expectBadInput(surgeon(['prune', graph, '--structure', 'neurons', '--method', 'magnitude', '--sparsity', '0.25', '--out', join(dir, 'g'), '--backend', 'cpu']), /^surgeon: --structure applies to ONNX and TF.js layers models; structured pruning of tfjs-graph models is not implemented \(drop --structure, or export a TF.js layers model\)$/);
    rmSync(dir, { recursive: true, force: true });
  });
});
