import { describe, expect, it, beforeAll } from 'vitest';
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tf } from '../../src/tfjs/backend.js';
import { kernelToView, loadTfjsModel, prunableViews, readView, saveNewModel, saveTfjsModel, viewToKernel } from '../../src/tfjs/model.js';
import { pruneTfjsModel } from '../../src/tfjs/prune.js';
import { SurgeonInputError } from '../../src/errors.js';
import { tempDir, tinyCnn, tinyData, useTestBackend } from './helpers.js';

beforeAll(useTestBackend);

describe('tfjs model IO', () => {
  it('views are rows = outputs × cols = inputs and round-trip', async () => {
    const model = tinyCnn();
    const views = prunableViews(model);
    expect(views.map((v) => [v.name, v.rows, v.cols])).toEqual([
      ['conv/kernel', 3, 9],
      ['fc1/kernel', 8, 27],
      ['fc2/kernel', 3, 8],
    ]);
    const k = views[1]!.variable.read().dataSync() as Float32Array;
    const W = readView(views[1]!);
    expect(W[2 * 27 + 5]).toBe(k[5 * 8 + 2]); // W[out=2, in=5] = kernel[in=5, out=2]
    expect(Array.from(viewToKernel(kernelToView(k, 8, 27), 8, 27))).toEqual(Array.from(k));
    model.dispose();
  });

  it('saves and reloads; pruning rewrites only the pruned weights, atomically, never the input folder', async () => {
    const dir = tempDir();
    const src = join(dir, 'dense');
    const model = tinyCnn();
    await saveNewModel(model, src);
    model.dispose();
    const loaded = await loadTfjsModel(`file://${src}`);
    const before = loaded.model.weights.map((w) => Array.from(w.read().dataSync()));
    const { report, masks } = await pruneTfjsModel(loaded.model, undefined, undefined, { method: 'magnitude', sparsity: 0.5 });
    tf.dispose([...masks.values()]);
    expect(report.zeros).toBe(Math.round(0.5 * report.parameters));
    expect(() => saveTfjsModel(loaded, src)).toThrow(SurgeonInputError);
    const out = join(dir, 'pruned');
    const path = saveTfjsModel(loaded, out);
    expect(readFileSync(path, 'utf8')).toBe(readFileSync(join(src, 'model.json'), 'utf8'));
    expect(readdirSync(dir).filter((f) => f.startsWith('.'))).toEqual([]);
    const again = await loadTfjsModel(out);
    again.model.weights.forEach((w, i) => {
      const now = w.read().dataSync();
      const isKernel = /kernel$/.test(w.originalName);
      now.forEach((v, j) => {
        if (!isKernel || v !== 0) expect(Object.is(v, before[i]![j])).toBe(true); // bit-identical except pruned
      });
    });
    // the shards differ only where weights were zeroed
    const a = readFileSync(join(src, 'group1-shard1of1.bin'));
    const b = readFileSync(join(out, 'group1-shard1of1.bin'));
    expect(a.length).toBe(b.length);
    loaded.model.dispose();
    again.model.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('bad input: missing shard, unsupported layer, not a model', async () => {
    const dir = tempDir();
    const src = join(dir, 'm');
    const model = tinyCnn();
    await saveNewModel(model, src);
    model.dispose();
    const json = readFileSync(join(src, 'model.json'), 'utf8');
    rmSync(join(src, 'group1-shard1of1.bin'));
    await expect(loadTfjsModel(src)).rejects.toThrow(/weight shard group1-shard1of1.bin .*missing/);
    const bad = join(dir, 'bad');
    await saveNewModel(tinyCnn(), bad);
    writeFileSync(join(bad, 'model.json'), json.replace('"class_name":"MaxPooling2D"', '"class_name":"FancyPool"'));
    await expect(loadTfjsModel(bad)).rejects.toThrow(/layer 'pool' of class FancyPool is not supported/);
    writeFileSync(join(dir, 'x.json'), '{"a":1}');
    await expect(loadTfjsModel(join(dir, 'x.json'))).rejects.toThrow(/not a TensorFlow.js model/);
    expect(existsSync(join(dir, 'nothing'))).toBe(false);
    rmSync(dir, { recursive: true, force: true });
  });

  it('fisher pruning of a tfjs model reaches the exact global sparsity', async () => {
    const model = tinyCnn();
    const data = tinyData(48);
    const { report, masks } = await pruneTfjsModel(model, data, tinyData(24, 7), { method: 'iobs', sparsity: 0.7, samples: 16, block: 16, iterations: 2 });
    expect(report.zeros).toBe(Math.round(0.7 * report.parameters));
    expect(report.history.length).toBe(2);
    tf.dispose([...masks.values()]);
    model.dispose();
  });
});
