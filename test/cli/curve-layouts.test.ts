/**
 * `surgeon curve` on a model whose collapse tensors cannot be measured (built here, no shared
 * fixtures): the curve completes with accuracy at every point, null collapse, and the reason said
 * once on stderr and in results.json's `warnings`.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeNpy } from '../../src/io/npy.js';
import type { CurveResults } from '../../src/curve/types.js';
import { labelledData, singleTokenClassifier } from '../collapse/layout-models.js';
import { surgeon, tempDir } from './helpers.js';

describe('surgeon curve when collapse cannot be measured', () => {
  it('completes: accuracy everywhere, null collapse, the warning exactly once; a rerun keeps the warning', () => {
    const dir = tempDir();
    const model = join(dir, 'single-token.onnx');
    writeFileSync(model, singleTokenClassifier());
    const data = labelledData(30, [1, 5], 3, 41);
    writeNpy(join(dir, 'inputs.npy'), { dtype: 'float32', shape: [30, 1, 5], data: data.x });
    writeNpy(join(dir, 'labels.npy'), { dtype: 'int32', shape: [30], data: data.labels! });
    const out = join(dir, 'curve');
    const args = ['curve', model, '--methods', 'magnitude', '--sparsities', '0.3,0.6', '--inputs', join(dir, 'inputs.npy'), '--labels', join(dir, 'labels.npy'), '--eval-batch', '1', '--out', out];
    const run = surgeon(args);
    expect(run.status, run.stderr).toBe(0);
    const warnings = run.stderr.split('\n').filter((l) => l.startsWith('warning:'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^warning: collapse not measured: tensor '.*' has shape \[1, 1, 6\] for a batch of 1 sample: .*ambiguous; pass another --eval-batch \(e\.g\. --eval-batch 2\)/);
    expect(run.stderr.match(/\[\d\/3\]/g)).toHaveLength(3); // one line per point
    const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as CurveResults;
    expect(results.points.map((p) => `${p.method}@${p.sparsity}`)).toEqual(['dense@0', 'magnitude@0.3', 'magnitude@0.6']);
    for (const p of results.points) {
      expect(p.accuracy).toBeGreaterThanOrEqual(0);
      expect(p.accuracy).toBeLessThanOrEqual(1);
      expect(p.collapse).toBeNull();
    }
    expect(results.warnings).toEqual([warnings[0]!.slice('warning: '.length)]);
    expect(run.stdout).toContain('collapse not measured (see warnings)');

    // Resumed: every point reused, nothing re-warned, the warning kept in results.json.
    const again = surgeon(args);
    expect(again.status, again.stderr).toBe(0);
    expect(again.stderr).not.toMatch(/warning:/);
    expect((JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as CurveResults).warnings).toEqual(results.warnings);
  });
});
