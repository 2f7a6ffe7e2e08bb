import { beforeAll, describe, expect, it } from 'vitest';
import { readOnnxModel, type OnnxModel } from '../../src/io/onnx/model.js';
import { loadDataset, type ClassificationDataset } from '../../src/io/dataset.js';
import { pruneModel } from '../../src/prune/model.js';
import { HeldOutModelLoss } from '../../src/prune/select.js';
import { asNetwork } from '../../src/network/onnx.js';
import { sparsegptPrune } from '../../src/pruners/sparsegpt.js';
import { PRUNERS, type PrunerEntry } from '../../src/pruners/registry.js';
import { demoData } from '../fixtures.js';

describe('model-level selection in pruneModel (demo MLP)', () => {
  let model: OnnxModel;
  let calib: ClassificationDataset;
  beforeAll(() => {
    model = readOnnxModel(demoData('fmnist-mlp.onnx'));
    calib = loadDataset({ inputs: demoData('fmnist-train.npz.gz'), scale: 1 / 255, limit: 160 }, { inputs: model.inputs }) as ClassificationDataset;
  });

  /**
   * A constructed case of iterations that overfit: with more than one iteration the method
   * returns the one-shot solution with every third weight's sign flipped (iterates fitted to the
   * wrong statistics); its first step (`iterations: 1`) is the one-shot solution itself.
   */
  const overfitting: PrunerEntry = {
    ...PRUNERS.sparsegpt,
    firstStep: { iterations: 1 },
    prune: async (problem, options, engine) => {
      const first = await sparsegptPrune(problem, options, engine);
      if (options.iterations === 1) return first;
      return { ...first, W: Float32Array.from(first.W, (w, i) => (i % 3 === 0 ? -w : w)) };
    },
  };
  const weights = (m: OnnxModel) => asNetwork(m).layers().map((l) => Array.from(l.read()));

  it('returns the first step where the iterations make the held-out model loss worse; --select layer returns the iterated model', async () => {
    const options = { method: 'overfit', pruner: overfitting, sparsity: 0.5, calibSamples: 96, heldOutSamples: 64, iterations: 3 };
    const byModel = await pruneModel(model, calib, { ...options, select: 'model' });
    const byLayer = await pruneModel(model, calib, { ...options, select: 'layer' });
    const plain = await pruneModel(model, calib, { ...options, method: 'sparsegpt', pruner: undefined, iterations: undefined });
    const selection = byModel.report.selection!;
    expect(selection.loss).toBe('nll');
    expect(selection.chosen).toBe('first');
    expect(selection.losses.first).toBeLessThan(selection.losses.iterated);
    expect(byLayer.report.selection).toBeUndefined();
    // The model returned is the one-shot model, weight for weight; --select layer's is the iterated one.
    expect(weights(byModel.model)).toEqual(weights(plain.model));
    expect(weights(byLayer.model)).not.toEqual(weights(plain.model));
    // The losses are the models' held-out losses, measured again.
    const loss = (await HeldOutModelLoss.create(asNetwork(model), calib, [96, 160], { batchSize: 64, threads: 1 }))!;
    expect(await loss.measure(asNetwork(byModel.model))).toBeCloseTo(selection.losses.first, 6);
    expect(await loss.measure(asNetwork(byLayer.model))).toBeCloseTo(selection.losses.iterated, 6);
  });

  it('iobs: the model returned is the one of lower held-out loss, and no check runs for one iteration', async () => {
    const options = { method: 'iobs', sparsity: 0.7, calibSamples: 96, heldOutSamples: 64, projection: 'sparsegpt', blocksize: 16, iterations: 4, step: 0.3 };
    const { model: pruned, report } = await pruneModel(model, calib, options);
    const s = report.selection!;
    expect(s.losses[s.chosen]).toBe(Math.min(s.losses.first, s.losses.iterated));
    const loss = (await HeldOutModelLoss.create(asNetwork(model), calib, [96, 160], { batchSize: 64, threads: 1 }))!;
    expect(await loss.measure(asNetwork(pruned))).toBeCloseTo(s.losses[s.chosen], 6);
    const once = await pruneModel(model, calib, { ...options, iterations: 1 });
    expect(once.report.selection).toBeUndefined();
    expect(await loss.measure(asNetwork(once.model))).toBeCloseTo(s.losses.first, 6);
  });

  it('without labels the loss is the KL divergence from the dense model: 0 for the dense model itself', async () => {
    const unlabeled = { ...calib, labels: undefined } as ClassificationDataset;
    const network = asNetwork(model);
    const loss = (await HeldOutModelLoss.create(network, unlabeled, [96, 160], { batchSize: 32, threads: 1 }))!;
    expect(loss.kind).toBe('kl');
    expect(await loss.measure(network)).toBeCloseTo(0, 10);
    const { model: pruned } = await pruneModel(model, calib, { method: 'magnitude', sparsity: 0.8 });
    expect(await loss.measure(asNetwork(pruned))).toBeGreaterThan(1e-3);
  });

  it('--select model without held-out samples is one clear error', async () => {
    await expect(pruneModel(model, calib, { method: 'iobs', sparsity: 0.5, calibSamples: 160, heldOutSamples: 0, select: 'model' })).rejects.toThrow(/none are held out/);
    // By default there is simply no check (and no `selection` in the report).
    expect((await pruneModel(model, calib, { method: 'iobs', sparsity: 0.5, calibSamples: 160, heldOutSamples: 0 })).report.selection).toBeUndefined();
  });
});
