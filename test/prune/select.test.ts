import { beforeAll, describe, expect, it } from 'vitest';
import { readOnnxModel, type OnnxModel } from '../../src/io/onnx/model.js';
import { loadDataset, type ClassificationDataset } from '../../src/io/dataset.js';
import { pruneModel } from '../../src/prune/model.js';
import { HeldOutModelLoss, selectStage, type StageAnswer } from '../../src/prune/select.js';
import { asNetwork } from '../../src/network/onnx.js';
import { sparsegptPrune } from '../../src/pruners/sparsegpt.js';
import { PRUNERS, type PrunerEntry } from '../../src/pruners/registry.js';
import type { LayerPruneResult } from '../../src/pruners/types.js';
import { demoData } from '../fixtures.js';

/** A layer that remembers what was written into it. */
function fakeLayer(initial: number): { write(W: Float32Array): void; value: number } {
  const layer = { value: initial, write: (W: Float32Array) => void (layer.value = W[0]!) };
  return layer;
}

function answer(value: number, alternatives: Record<string, number>): LayerPruneResult {
  return {
    W: Float32Array.of(value),
    mask: Uint8Array.of(1),
    loss: value,
    dampingUsed: 0,
    seconds: 0,
    alternatives: Object.entries(alternatives).map(([label, v]) => ({ label, W: Float32Array.of(v), mask: Uint8Array.of(1), loss: v })),
  };
}

describe('selectStage', () => {
  it('keeps the candidate of lowest score for every layer that offers it, and writes it', async () => {
    const a = fakeLayer(5);
    const b = fakeLayer(7);
    const answers: StageAnswer<ReturnType<typeof fakeLayer>>[] = [
      { layer: a, result: answer(5, { first: 1 }) },
      { layer: b, result: answer(7, {}) }, // offers nothing: keeps its answer under every label
    ];
    const seen: Array<[number, number]> = [];
    const choice = await selectStage(answers, async () => {
      seen.push([a.value, b.value]);
      return a.value + b.value;
    });
    expect(seen).toEqual([[5, 7], [1, 7]]);
    expect(choice).toEqual({ losses: { answer: 12, first: 8 }, chosen: 'first' });
    expect([a.value, b.value]).toEqual([1, 7]);
    expect(answers[0]!.candidate).toBe('first');
    expect(Array.from(answers[0]!.result.W)).toEqual([1]);
    expect(answers[1]!.candidate).toBeUndefined();
  });

  it('keeps the answers on ties and restores them after scoring', async () => {
    const a = fakeLayer(3);
    const answers: StageAnswer<ReturnType<typeof fakeLayer>>[] = [{ layer: a, result: answer(3, { first: 4, other: 9 }) }];
    const choice = await selectStage(answers, async () => 1);
    expect(choice.chosen).toBe('answer');
    expect(a.value).toBe(3);
    expect(answers[0]!.candidate).toBeUndefined();
  });
});

describe('model-level selection in pruneModel (demo MLP)', () => {
  let model: OnnxModel;
  let calib: ClassificationDataset;
  beforeAll(() => {
    model = readOnnxModel(demoData('fmnist-mlp.onnx'));
    calib = loadDataset({ inputs: demoData('fmnist-train.npz.gz'), scale: 1 / 255, limit: 160 }, { inputs: model.inputs }) as ClassificationDataset;
  });

  /**
   * A constructed case of iterates that overfit: the "answer" is the one-shot solution with
   * every third weight's sign flipped (an iterate fitted to the wrong statistics), and
   * the one-shot solution itself is offered as the alternative 'first'.
   */
  const overfitting: PrunerEntry = {
    ...PRUNERS.sparsegpt,
    alternatives: true,
    prune: async (problem, options, engine) => {
      const first = await sparsegptPrune(problem, options, engine);
      const W = Float32Array.from(first.W, (w, i) => (i % 3 === 0 ? -w : w));
      return { ...first, W, alternatives: [{ label: 'first', W: first.W, mask: first.mask, loss: first.loss }] };
    },
  };

  it('returns the first iterate where the later one makes the held-out model loss worse; --select layer keeps the method’s answer', async () => {
    const options = { method: 'overfit', pruner: overfitting, sparsity: 0.5, calibSamples: 96, heldOutSamples: 64 };
    const byModel = await pruneModel(model, calib, { ...options, select: 'model' });
    const byLayer = await pruneModel(model, calib, { ...options, select: 'layer' });
    const plain = await pruneModel(model, calib, { ...options, method: 'sparsegpt', pruner: undefined });
    const selection = byModel.report.selection!;
    expect(selection.loss).toBe('nll');
    expect(selection.stages).toHaveLength(3);
    for (const stage of selection.stages) {
      expect(stage.chosen).toBe('first');
      expect(stage.losses.first!).toBeLessThan(stage.losses.answer!);
    }
    expect(byModel.report.layers.every((l) => l.candidate === 'first')).toBe(true);
    expect(byLayer.report.selection).toBeUndefined();
    expect(byLayer.report.layers.every((l) => l.candidate === undefined)).toBe(true);
    // The selected model is the one-shot model, weight for weight.
    const weights = (m: OnnxModel) => asNetwork(m).layers().map((l) => Array.from(l.read()));
    expect(weights(byModel.model)).toEqual(weights(plain.model));
    expect(weights(byLayer.model)).not.toEqual(weights(plain.model));
    // And its held-out model loss is the last selection's, measured again from the graph inputs.
    const loss = (await HeldOutModelLoss.create(asNetwork(model), calib, [96, 160], { batchSize: 64, threads: 1 }))!;
    expect(await loss.measure(asNetwork(byModel.model))).toBeCloseTo(selection.stages[2]!.losses.first!, 6);
    expect(await loss.measure(asNetwork(byLayer.model))).toBeGreaterThan(await loss.measure(asNetwork(byModel.model)));
  });

  it('iobs: the stage cache path (from cached boundaries) and the full forward pass score the same', async () => {
    const options = { method: 'iobs', sparsity: 0.7, calibSamples: 96, heldOutSamples: 64, projection: 'sparsegpt', blocksize: 16, iterations: 4, step: 0.3 };
    const cached = await pruneModel(model, calib, options);
    const full = await pruneModel(model, calib, { ...options, stageCache: false });
    expect(cached.report.selection?.stages.length ?? 0).toBeGreaterThan(0);
    expect(full.report.selection!.stages.map((s) => s.chosen)).toEqual(cached.report.selection!.stages.map((s) => s.chosen));
    full.report.selection!.stages.forEach((s, i) => {
      const other = cached.report.selection!.stages[i]!;
      for (const [label, value] of Object.entries(s.losses)) expect(other.losses[label]).toBeCloseTo(value, 5);
      // The kept candidate is the lowest.
      expect(s.losses[s.chosen]).toBe(Math.min(...Object.values(s.losses)));
    });
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
  });
});
