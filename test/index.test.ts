import { describe, expect, it } from 'vitest';
import * as surgeon from '../src/index.js';

describe('public API (src/index.ts)', () => {
  it('exports the documented entry points', () => {
    for (const name of ['readOnnxModel', 'saveOnnxModel', 'findPrunableLayers', 'pruneModel', 'evaluateModel', 'measureModelCollapse', 'inspectModel', 'loadDataset', 'readNpy', 'sparsegptPrune', 'iobsPrune', 'obcPrune', 'SparseGPT', 'IOBS', 'HessianAccumulator', 'measureCollapse', 'createEngine', 'spdInverse', 'SurgeonInputError', 'openNetwork', 'OnnxNetwork', 'gptqQuantize', 'rtnQuantize', 'encodeSparseStorage', 'densifyStorage', 'encodeQuantized', 'pruneStructured', 'pruneStructuredTfjs', 'analyzeTfjsStructure', 'pruneGroups', 'analyzeHeads', 'compareLatency', 'accumulateStatistics', 'runCurve']) {
      expect(surgeon, name).toHaveProperty(name);
    }
  });
  it('a library user prunes plain typed arrays with the SparseGPT lifecycle (addBatch → prune → free)', async () => {
    const rows = 3, d = 8, n = 64;
    const W = new Float32Array(rows * d).map((_, i) => Math.sin(i + 1));
    const X = new Float32Array(n * d).map((_, i) => Math.cos(i * 0.37) + ((i * 7) % 5) * 0.1);
    const engine = surgeon.createEngine({ kind: 'typescript' });
    const pruner = new surgeon.SparseGPT(W, rows, d, { engine });
    await pruner.addBatch(X.subarray(0, 32 * d), 32);
    await pruner.addBatch(X.subarray(32 * d), 32);
    const result = await pruner.prune({ sparsity: 0.5 });
    pruner.free();
    expect(result.W.filter((w) => w === 0).length).toBe(12);
    expect(result.loss).toBeGreaterThan(0);
    // the pruned weights beat plain magnitude on the same objective
    const H = new Float64Array(d * d);
    for (let s = 0; s < n; s++) for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) H[a * d + b] += (X[s * d + a]! * X[s * d + b]!) / n;
    const magnitude = await surgeon.magnitudePrune({ W, rows, cols: d, H }, { sparsity: 0.5 });
    expect(result.loss).toBeLessThanOrEqual(magnitude.loss + 1e-12);
    await engine.dispose();
  });
});
