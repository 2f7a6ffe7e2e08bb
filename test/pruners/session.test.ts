import { describe, expect, it } from 'vitest';
import { IOBS, iobsPrune } from '../../src/pruners/iobs.js';
import { SparseGPT, sparsegptPrune } from '../../src/pruners/sparsegpt.js';
import { explicitProblem } from './helpers.js';

describe('SparseGPT-style classes', () => {
  it('addBatch + prune equals the pure function on the same statistics', async () => {
    const { problem, X, Xhat } = explicitProblem(4, 16, 60, 7, { sequential: true });
    const sgpt = new SparseGPT(problem.W, 4, 16);
    await sgpt.addBatch(Xhat.subarray(0, 16 * 25), 25);
    await sgpt.addBatch(Xhat.subarray(16 * 25), 35);
    const a = await sgpt.prune({ sparsity: 0.5 });
    const b = await sparsegptPrune({ W: problem.W, rows: 4, cols: 16, H: problem.H }, { sparsity: 0.5 });
    for (let i = 0; i < a.W.length; i++) expect(a.W[i]).toBeCloseTo(b.W[i], 5);
    sgpt.free();
    await expect(sgpt.prune({ sparsity: 0.5 })).rejects.toThrow(/free/);

    const iobs = new IOBS(problem.W, 4, 16);
    await iobs.addBatch(Xhat, 60, X);
    const c = await iobs.prune({ sparsity: 0.5, step: 0.5 });
    const dd = await iobsPrune(problem, { sparsity: 0.5, step: 0.5 });
    // The class has no Hdense (H stands in: loss differs by a constant), the iterates are the same.
    for (let i = 0; i < c.W.length; i++) expect(c.W[i]).toBeCloseTo(dd.W[i], 4);
  });
});
