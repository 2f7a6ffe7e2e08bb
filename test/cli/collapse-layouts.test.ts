/**
 * `surgeon collapse` on models as users export them (built here, no shared fixtures): a
 * features-only classifier (the penultimate features are the graph input) and a sequence-first
 * encoder classifier ([T, N, d] tensors), tables and --json; an ambiguous batch size.
 */
import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeNpy } from '../../src/io/npy.js';
import type { ClassificationDataset } from '../../src/io/dataset.js';
import type { ModelCollapse } from '../../src/collapse/model.js';
import { featuresClassifier, labelledData, SEQ, sequenceFirstClassifier } from '../collapse/layout-models.js';
import { expectBadInput, surgeon, tempDir } from './helpers.js';

/** Writes the model and the data (inputs.npy, labels.npy) to a fresh folder; returns the collapse arguments. */
function setup(bytes: Uint8Array, data: ClassificationDataset): string[] {
  const dir = tempDir();
  const model = join(dir, 'model.onnx');
  writeFileSync(model, bytes);
  writeNpy(join(dir, 'inputs.npy'), { dtype: 'float32', shape: [data.count, ...data.sampleShape], data: data.x });
  writeNpy(join(dir, 'labels.npy'), { dtype: 'int32', shape: [data.count], data: data.labels! });
  return ['collapse', model, '--inputs', join(dir, 'inputs.npy'), '--labels', join(dir, 'labels.npy')];
}

const TOP_KEYS = ['format', 'accuracy', 'samples', 'K', 'nc4MeansFrom', 'weightedMean', 'pinvTolerance', 'layers', 'classifier', 'seconds'];
const LAYER_KEYS = [
  'name', 'layer', 'feeds', 'role', 'penultimate', 'shape', 'd', 'nc1', 'nc1Kept', 'traceRatio', 'cdnv', 'withinTotalRatio', 'etf', 'equinorm', 'equinormW',
  'equiangularity', 'equiangularityMaxDev', 'orthogonalFrame', 'nc3', 'nc3Dual', 'nc4', 'effectiveRank', 'numericalRank', 'stableRank', 'rankThreshold', 'traceWithin', 'traceBetween',
];

describe('surgeon collapse on any tensor layout', () => {
  it('a features-only classifier: table and --json (same schema) with the graph input as penultimate features', () => {
    const args = setup(featuresClassifier().bytes, labelledData(100, [16], 4, 31));
    const table = surgeon([...args, '--batch', '32']);
    expect(table.status, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^features \*\s+16\s/m);
    expect(table.stdout).toContain('penultimate features: input of classifier head.weight (4 × 16)');
    const json = surgeon([...args, '--batch', '32', '--json']);
    expect(json.status, json.stderr).toBe(0);
    const result = JSON.parse(json.stdout) as ModelCollapse;
    expect(Object.keys(result)).toEqual(TOP_KEYS);
    expect(Object.keys(result.layers[0]!)).toEqual(LAYER_KEYS);
    expect(result.layers[0]).toMatchObject({ name: 'features', penultimate: true, shape: [16], d: 16, role: 'layer-input', feeds: ['head.weight'] });
    expect(result.samples).toBe(100);
  });

  it('a sequence-first encoder classifier: the [T, N, d] tensor is measured; T = --batch is refused in one line, another --batch works', () => {
    const args = setup(sequenceFirstClassifier().bytes, labelledData(42, [4, 5], 3, 32));
    const table = surgeon([...args, '--batch', '16']);
    expect(table.status, table.stderr).toBe(0);
    expect(table.stdout).toMatch(new RegExp(`^${SEQ.seqFirst.replace(/[/.]/g, '\\$&')}\\s+20\\s`, 'm'));
    expect(table.stdout).toMatch(new RegExp(`^${SEQ.pooled.replace(/[/.]/g, '\\$&')} \\*\\s+6\\s`, 'm'));
    const json = JSON.parse(surgeon([...args, '--batch', '16', '--json']).stdout) as ModelCollapse;
    expect(Object.keys(json)).toEqual(TOP_KEYS);
    expect(json.layers.map((l) => [l.name, l.shape])).toEqual([[SEQ.seqFirst, [4, 5]], [SEQ.pooled, [6]]]);
    expectBadInput(surgeon([...args, '--batch', '4']), /^surgeon: tensor '\/encoder\/Transpose_output_0' has shape \[4, 4, 5\] for a batch of 4 samples: axes 0 and 1 both have size 4, so which one holds the samples is ambiguous; pass another --batch \(e\.g\. --batch 3\)/);
    const other = JSON.parse(surgeon([...args, '--batch', '5', '--json']).stdout) as ModelCollapse;
    other.layers.forEach((l, i) => expect(l.nc1).toBeCloseTo(json.layers[i]!.nc1, 10));
  });
});
