import { describe, expect, it, beforeAll } from 'vitest';
import { readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { selectBackend, tf } from '../../src/tfjs/backend.js';
import { buildModel } from '../../src/tfjs/arch.js';
import { buildVit } from '../../src/tfjs/vit.js';
import { tileGradient } from '../../src/tfjs/gradients.js';
import { batchOf, crossEntropy, evaluateTfjs, loadTrainingData, logitsOf, range, subset, type TfjsData } from '../../src/tfjs/data.js';
import { loadTfjsModel, prunableViews, saveNewModel, saveTfjsModel } from '../../src/tfjs/model.js';
import { pruneTfjsModel, type TfjsMethod } from '../../src/tfjs/prune.js';
import { trainEpochs } from '../../src/tfjs/train.js';
import { measureTfjsCollapse } from '../../src/tfjs/collapse.js';
import { surgeon } from '../cli/helpers.js';
import { tempDir, TEST_BACKEND, useTestBackend } from './helpers.js';

beforeAll(useTestBackend);

/** Keras layer classes that tfjs-layers registers itself (no custom classes). */
const STANDARD = new Set(['InputLayer', 'Conv2D', 'DepthwiseConv2D', 'Add', 'Reshape', 'LayerNormalization', 'Dense', 'Rescaling', 'Dot', 'Softmax', 'Concatenate', 'Flatten', 'GlobalAveragePooling1D']);

function gradientsOf(model: tf.LayersModel, data: TfjsData): Float32Array[] {
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const grads = tf.tidy(() => {
    const { x, y } = batchOf(data, range(0, data.count));
    const { grads } = tf.variableGrads(() => crossEntropy(logitsOf(model, x, true), y), vars);
    return vars.map((v) => grads[v.name]!);
  });
  const out = grads.map((g) => Float32Array.from(g.dataSync()));
  tf.dispose(grads);
  return out;
}

let data: TfjsData;
let dir: string;
let trained: string;

describe('vit-tiny', () => {
  beforeAll(() => {
    data = loadTrainingData({ inputs: resolve('data/fmnist-train.npz.gz'), scale: 1 / 255, limit: 600 });
    dir = tempDir('surgeon-vit-');
    trained = join(dir, 'trained');
  });

  it('is built from standard layers; every Dense kernel is a prunable view; model.json round-trips', async () => {
    const model = buildModel('vit-tiny', [28, 28, 1], 10, 3);
    expect(model.layers.map((l) => l.getClassName()).filter((c) => !STANDARD.has(c))).toEqual([]);
    const views = prunableViews(model);
    const dense = model.layers.filter((l) => l.getClassName() === 'Dense').map((l) => `${l.name}/kernel`);
    expect(dense.length).toBe(2 * (3 * 2 + 3) + 1); // per block q/k/v × 2 heads, proj, mlp1, mlp2; head
    expect(views.map((v) => v.name)).toEqual(['patch/kernel', 'pos/depthwise_kernel', ...dense]);
    expect(views.find((v) => v.name === 'b1_mlp1/kernel')).toMatchObject({ rows: 128, cols: 64 });
    const src = join(dir, 'fresh');
    await saveNewModel(model, src);
    const again = await loadTfjsModel(src);
    const x = batchOf(data, range(0, 8)).x;
    const [a, b] = [model.predict(x) as tf.Tensor, again.model.predict(x) as tf.Tensor];
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    tf.dispose([x, a, b]);
    model.dispose();
    again.model.dispose();
    expect(() => buildVit([28, 28], 10)).toThrow(/images/);
    expect(() => buildVit([28, 28, 1], 10, { patch: 5 })).toThrow(/patch size 5/);
  });

  it('the fast Tile gradient sums the repetitions', () => {
    const dy = tf.randomNormal([6, 4, 6], 0, 1, 'float32', 3);
    const g = tileGradient(dy, [3, 1, 2], [2, 4, 3]);
    const v = dy.arraySync() as number[][][];
    const want = new Float32Array(6);
    for (let i = 0; i < 6; i++) for (let j = 0; j < 4; j++) for (let k = 0; k < 6; k++) want[(i % 3) * 2 + (k % 2)]! += v[i]![j]![k]!;
    Array.from(g.dataSync()).forEach((value, q) => expect(value).toBeCloseTo(want[q]!, 4));
    tf.dispose([dy, g]);
  });

  it(`gradients on ${TEST_BACKEND} match the cpu backend's`, async () => {
    const small = subset(data, 0, 6);
    const on = async (backend: 'wasm' | 'cpu') => {
      await selectBackend(backend);
      const model = buildVit([28, 28, 1], 10, { dim: 16, heads: 2, seed: 5 });
      const g = gradientsOf(model, small);
      model.dispose();
      return g;
    };
    const cpu = await on('cpu');
    const here = await on(TEST_BACKEND === 'cpu' ? 'cpu' : 'wasm');
    await useTestBackend();
    expect(here.length).toBe(cpu.length);
    let worst = 0;
    here.forEach((g, i) => g.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - cpu[i]![j]!) / (1e-3 + Math.abs(cpu[i]![j]!))))));
    expect(worst).toBeLessThan(2e-2);
    expect(here.every((g) => g.some((v) => v !== 0))).toBe(true);
  });

  it('trains a short epoch on 500 Fashion-MNIST images (200 on cpu)', async () => {
    const model = buildModel('vit-tiny', [28, 28, 1], 10);
    const train = subset(data, 0, TEST_BACKEND === 'cpu' ? 200 : 500);
    const before = await evaluateTfjs(model, train);
    await trainEpochs(model, train, { epochs: 1, batchSize: train.count / 10, lr: 2e-3 });
    const after = await evaluateTfjs(model, train);
    expect(after.loss).toBeLessThan(before.loss - 0.3);
    expect(after.accuracy).toBeGreaterThan(0.25);
    const collapse = await measureTfjsCollapse(model, subset(data, 0, 200), { layers: 'penultimate' });
    expect(collapse.layers.map((l) => [l.name, l.d])).toEqual([['pool', 16 * 64]]);
    expect(Number.isFinite(collapse.layers[0]!.nc1)).toBe(true);
    await saveNewModel(model, trained);
    model.dispose();
  });

  for (const method of ['magnitude', 'woodfisher', 'iobs'] as TfjsMethod[]) {
    it(`${method}: exact sparsity in every pruned kernel; the saved model reloads bit-identically except pruned weights`, async () => {
      const dense = await loadTfjsModel(trained);
      const original = new Map(dense.model.weights.map((w) => [w.originalName, Float32Array.from(w.read().dataSync())]));
      dense.model.dispose();
      const loaded = await loadTfjsModel(trained);
      const calib = subset(data, 500, 48);
      const held = subset(data, 548, 32);
      const allocation = method === 'woodfisher' ? 'global' : 'uniform';
      const { report, masks } = await pruneTfjsModel(loaded.model, calib, held, { method, sparsity: 0.9, allocation, samples: 12, block: 32, iterations: 2 });
      tf.dispose([...masks.values()]);
      expect(report.zeros).toBe(allocation === 'global' ? Math.round(0.9 * report.parameters) : report.layers.reduce((a, l) => a + Math.round(0.9 * l.rows * l.cols), 0));
      const pruned = new Set(report.layers.map((l) => l.weight));
      for (const l of report.layers) {
        const values = loaded.model.weights.find((w) => w.originalName === l.weight)!.read().dataSync();
        const zeros = values.reduce((a, v) => a + (v === 0 ? 1 : 0), 0);
        expect(zeros).toBe(Math.round(l.sparsity * values.length));
        if (allocation === 'uniform') expect(zeros).toBe(Math.round(0.9 * values.length));
      }
      const out = join(dir, method);
      const path = saveTfjsModel(loaded, out);
      expect(readFileSync(path, 'utf8')).toBe(readFileSync(join(trained, 'model.json'), 'utf8'));
      const again = await loadTfjsModel(out);
      const now = new Map(loaded.model.weights.map((w) => [w.originalName, w.read().dataSync()]));
      for (const w of again.model.weights) {
        const v = w.read().dataSync();
        const before = original.get(w.originalName)!;
        v.forEach((x, j) => {
          expect(Object.is(x, now.get(w.originalName)![j])).toBe(true); // what was pruned in memory is what reloads
          if (!pruned.has(w.originalName) || (method === 'magnitude' && x !== 0)) expect(Object.is(x, before[j])).toBe(true);
        });
      }
      loaded.model.dispose();
      again.model.dispose();
    });
  }

  it('surgeon train --arch vit-tiny and surgeon prune --method fisher-iobs from the CLI', () => {
    const env = { SURGEON_TFJS_BACKEND: TEST_BACKEND };
    const inputs = resolve('data/fmnist-train.npz.gz');
    const out = join(dir, 'cli');
    const trainRun = surgeon(['train', '--arch', 'vit-tiny', '--inputs', inputs, '--scale', '1/255', '--limit', '96', '--epochs', '1', '--batch', '32', '--out', out, '--json'], { env });
    expect(trainRun.status, trainRun.stderr).toBe(0);
    expect(JSON.parse(trainRun.stdout)).toMatchObject({ arch: 'vit-tiny', parameters: 81162, samples: 96 });
    const pruneRun = surgeon(['prune', join(out, 'model.json'), '--method', 'fisher-iobs', '--sparsity', '0.8', '--inputs', inputs, '--scale', '1/255', '--calib-samples', '16', '--held-out', '8', '--fisher-samples', '8', '--block', '32', '--iterations', '1', '--out', join(dir, 'cli-pruned'), '--json'], { env });
    expect(pruneRun.status, pruneRun.stderr).toBe(0);
    const report = JSON.parse(pruneRun.stdout) as { zeros: number; parameters: number };
    expect(report.zeros).toBe(Math.round(0.8 * report.parameters));
    rmSync(dir, { recursive: true, force: true });
  });
});
