import { describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeNpy } from '../../src/io/npy.js';
import { saveNewModel } from '../../src/tfjs/model.js';
import { expectBadInput, surgeon } from '../cli/helpers.js';
import { tempDir, tinyCnn, tinyData, useTestBackend, TEST_BACKEND } from './helpers.js';

describe('surgeon collapse on tfjs models', () => {
  it('prints the ONNX command’s JSON fields, the AGOP view, and one-line errors', async () => {
    await useTestBackend();
    const dir = tempDir();
    const src = join(dir, 'm');
    await saveNewModel(tinyCnn(), src);
    const data = tinyData(60);
    writeNpy(join(dir, 'x.npy'), { dtype: 'float32', shape: [60, 8, 8, 1], data: data.x });
    writeNpy(join(dir, 'y.npy'), { dtype: 'int32', shape: [60], data: data.labels });
    const args = [join(src, 'model.json'), '--inputs', join(dir, 'x.npy'), '--labels', join(dir, 'y.npy'), '--backend', TEST_BACKEND];

    const json = surgeon(['collapse', ...args, '--json', '--agop', '--batch', '16']);
    expect(json.status, json.stderr).toBe(0);
    const r = JSON.parse(json.stdout) as Record<string, unknown> & {
      layers: Array<Record<string, unknown>>;
      agop: Array<{ layer: string; d: number; corrAgop: number; corrSqrtAgop: number }>;
      backend: string;
    };
    for (const key of ['accuracy', 'samples', 'K', 'nc4MeansFrom', 'weightedMean', 'pinvTolerance', 'layers', 'classifier', 'seconds']) expect(r).toHaveProperty(key);
    expect(r.samples).toBe(60);
    expect(r.K).toBe(3);
    expect(r.classifier).toEqual({ name: 'fc2/kernel', input: 'fc1', K: 3, d: 8 });
    expect(r.layers.map((l) => [l.name, l.d])).toEqual([[r.layers[0]!.name, 64], ['flat', 27], ['fc1', 8]]);
    const pen = r.layers.find((l) => l.penultimate)!;
    for (const key of ['nc1', 'traceRatio', 'cdnv', 'etf', 'equinorm', 'nc3', 'nc4', 'effectiveRank', 'shape', 'feeds', 'role']) expect(pen).toHaveProperty(key);
    expect(r.agop.map((a) => a.layer)).toEqual(['fc1', 'fc2']);
    expect(r.backend).toBe(TEST_BACKEND);

    const text = surgeon(['collapse', ...args, '--layers', 'penultimate']);
    expect(text.status, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/fc1 \*/);
    expect(text.stdout).toMatch(/penultimate features: input of classifier fc2\/kernel \(3 × 8\)/);
    expect(text.stdout).toMatch(/tfjs backend/);

    expectBadInput(surgeon(['collapse', ...args, '--layers', 'fc9']), /unknown layer 'fc9'; valid: .*fc1.*fc2\/kernel/);
    expectBadInput(surgeon(['collapse', join(src, 'model.json'), '--inputs', join(dir, 'x.npy'), '--backend', TEST_BACKEND]), /needs labels; pass --labels/);
    rmSync(dir, { recursive: true, force: true });
  });
});
