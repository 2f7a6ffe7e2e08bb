import { describe, expect, it, beforeAll } from 'vitest';
import { tf } from '../../src/tfjs/backend.js';
import { evaluateTfjs } from '../../src/tfjs/data.js';
import { cubicSparsity, gradualPrune } from '../../src/tfjs/gradual.js';
import { pruneTfjsModel } from '../../src/tfjs/prune.js';
import { trainEpochs } from '../../src/tfjs/train.js';
import { tinyCnn, tinyData, useTestBackend } from './helpers.js';

beforeAll(useTestBackend);

describe('training with fixed masks', () => {
  it('trains the tiny CNN (conv gradients on this backend)', async () => {
    const model = tinyCnn();
    const data = tinyData(96);
    const before = await evaluateTfjs(model, data);
    await trainEpochs(model, data, { epochs: 4, batchSize: 16, lr: 0.01 });
    const after = await evaluateTfjs(model, data);
    expect(after.loss).toBeLessThan(before.loss);
    model.dispose();
  });

  it('gradients and Adam never revive pruned weights', async () => {
    const model = tinyCnn(2);
    const data = tinyData(64);
    const { masks } = await pruneTfjsModel(model, undefined, undefined, { method: 'magnitude', sparsity: 0.8 });
    await trainEpochs(model, data, { epochs: 2, batchSize: 16, lr: 0.05, masks });
    for (const w of model.weights) {
      const m = masks.get(w.originalName);
      if (!m) continue;
      const values = w.read().dataSync();
      const keep = m.dataSync();
      let moved = 0;
      values.forEach((v, i) => {
        if (keep[i] === 0) expect(v).toBe(0);
        else if (v !== 0) moved++;
      });
      expect(moved).toBeGreaterThan(0);
    }
    tf.dispose([...masks.values()]);
    model.dispose();
  });

  it('cubic schedule and gradual pruning with distillation reach the final sparsity', async () => {
    expect(cubicSparsity(0, 4, 0, 0.8)).toBeCloseTo(0.8 * (1 - 0.75 ** 3), 12);
    expect(cubicSparsity(3, 4, 0, 0.8)).toBe(0.8);
    const teacher = tinyCnn(3);
    const model = tinyCnn(3);
    const data = tinyData(48);
    const report = await gradualPrune(model, data, undefined, { method: 'magnitude', sparsity: 0.8, epochs: 3, batchSize: 16, lr: 0.01, distill: { teacher, temperature: 2, weight: 0.5 } });
    expect(report.completed).toBe(true);
    expect(report.epochs.map((e) => e.sparsity)).toEqual([0, 1, 2].map((e) => cubicSparsity(e, 3, 0, 0.8)));
    const last = report.steps.at(-1)!;
    expect(last.zeros).toBe(Math.round(0.8 * last.parameters));
    tf.dispose([...report.masks.values()]);
    teacher.dispose();
    model.dispose();
  });
});
