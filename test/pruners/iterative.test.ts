import { describe, expect, it } from 'vitest';
import { ihtPrune } from '../../src/pruners/iht.js';
import { iobsPrune } from '../../src/pruners/iobs.js';
import { magnitudePrune } from '../../src/pruners/magnitude.js';
import { obcPrune } from '../../src/pruners/obc.js';
import { sparsegptPrune } from '../../src/pruners/sparsegpt.js';
import { explicitProblem, gram } from './helpers.js';

describe('iht', () => {
  it('decreases the objective monotonically from the magnitude warm start', async () => {
    for (const sequential of [false, true]) {
      const { problem } = explicitProblem(6, 24, 100, 61, { sequential, correlated: true });
      const res = await ihtPrune(problem, { sparsity: 0.6, iterations: 30 });
      const h = res.diagnostics!.history!;
      expect(h.length).toBe(31);
      const mag = await magnitudePrune(problem, { sparsity: 0.6 });
      expect(h[0].objective).toBeCloseTo(mag.loss, 10);
      for (let t = 1; t < h.length; t++) expect(h[t].objective).toBeLessThanOrEqual(h[t - 1].objective * (1 + 1e-12) + 1e-15);
      expect(res.loss).toBeLessThan(h[0].objective);
    }
  });
});

describe('iobs', () => {
  it('η = 1 and X̂ = X is the OBS projection of W (obc for small d, sparsegpt sweep otherwise)', async () => {
    const { problem } = explicitProblem(5, 32, 90, 71, { correlated: true });
    const viaObc = await iobsPrune(problem, { sparsity: 0.5, step: 1, iterations: 5 });
    const obc = await obcPrune(problem, { sparsity: 0.5 });
    expect([...viaObc.W]).toEqual([...obc.W]);
    expect(viaObc.loss).toBeCloseTo(obc.loss, 10);
    expect(viaObc.diagnostics!.history!.length).toBe(1);
    const viaSweep = await iobsPrune(problem, { sparsity: 0.5, step: 1, projection: 'sparsegpt', blocksize: 8 });
    const sgpt = await sparsegptPrune(problem, { sparsity: 0.5, blocksize: 8 });
    expect([...viaSweep.W]).toEqual([...sgpt.W]);
  });

  it.each(['obc', 'sparsegpt', 'topk'] as const)('small η (%s projection): the best iterate is no worse than the first', async (projection) => {
    const { problem } = explicitProblem(6, 32, 60, 81, { sequential: true, correlated: true });
    const res = await iobsPrune(problem, { sparsity: 0.6, step: 0.3, iterations: 8, projection });
    const h = res.diagnostics!.history!;
    expect(h.length).toBe(8);
    expect(res.loss).toBeLessThanOrEqual(h[0].objective);
    expect(res.loss).toBe(Math.min(...h.map((e) => e.objective)));
    // iterates converge toward the fixed point: the last objective is below the first
    expect(h[h.length - 1].objective).toBeLessThanOrEqual(h[0].objective * (1 + 1e-9));
  });

  it('picks the best iterate by the held-out objective when given', async () => {
    const { problem, X } = explicitProblem(4, 16, 50, 91, { correlated: true });
    const held = explicitProblem(4, 16, 50, 92, { correlated: true });
    problem.heldOut = { H: gram(held.X, held.X, 50, 16) };
    const res = await iobsPrune(problem, { sparsity: 0.5, step: 0.5, iterations: 6 });
    const h = res.diagnostics!.history!;
    expect(X.length).toBe(800);
    expect(h.every((e) => e.heldOutObjective !== undefined)).toBe(true);
    const best = res.diagnostics!.bestIteration!;
    expect(h[best].heldOutObjective).toBe(Math.min(...h.map((e) => e.heldOutObjective!)));
    expect(res.loss).toBe(h[best].objective);
  });

  it('beats magnitude and matches or beats sparsegpt on a sequential problem', async () => {
    const { problem } = explicitProblem(8, 64, 200, 101, { sequential: true, correlated: true });
    const mag = await magnitudePrune(problem, { sparsity: 0.5 });
    const sgpt = await sparsegptPrune(problem, { sparsity: 0.5 });
    const iobs = await iobsPrune(problem, { sparsity: 0.5 });
    expect(iobs.loss).toBeLessThan(mag.loss);
    expect(iobs.loss).toBeLessThanOrEqual(sgpt.loss * 1.05);
  });
});
