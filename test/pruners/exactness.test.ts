import { describe, expect, it } from 'vitest';
import { PRUNERS, PRUNER_NAMES } from '../../src/pruners/registry.js';
import { explicitProblem, maskZeros, zeros } from './helpers.js';

const extra: Record<string, object> = { iht: { iterations: 10 }, iobs: { iterations: 2, step: 0.5 } };

describe.each(PRUNER_NAMES)('%s: exact sparsity', (name) => {
  const prune = PRUNERS[name].prune;

  it.each([
    [1, 1, 0.6],
    [2, 2, 0.5],
    [5, 12, 0.37],
    [7, 9, 0.5],
    [3, 16, 0.9],
    [4, 8, 0],
  ])('%i × %i at %f: exactly round(s·rows·cols) zeros', async (rows, cols, sparsity) => {
    const { problem } = explicitProblem(rows, cols, 3 * cols + 4, rows * 100 + cols);
    const res = await prune(problem, { sparsity, ...extra[name] });
    const K = Math.round(sparsity * rows * cols);
    expect(maskZeros(res.mask)).toBe(K);
    for (let i = 0; i < res.W.length; i++) if (res.mask[i] === 0) expect(res.W[i]).toBe(0);
    expect(zeros(res.W)).toBeGreaterThanOrEqual(K);
    expect(Number.isFinite(res.loss)).toBe(true);
  });

  it.each([
    [2, 4],
    [1, 4],
    [4, 8],
  ])('%i:%i pattern exact in every group', async (n, m) => {
    const rows = 6;
    const cols = 16;
    const { problem } = explicitProblem(rows, cols, 40, n * 10 + m);
    const res = await prune(problem, { sparsity: 0, pattern: { kind: 'nm', n, m }, ...extra[name] });
    for (let g = 0; g < rows * cols; g += m) {
      let kept = 0;
      for (let t = 0; t < m; t++) kept += res.mask[g + t];
      expect(kept).toBe(n);
    }
  });
});
