/**
 * Layers that read the same inputs (q, k and v of an attention block) share one H, and the
 * pipeline hands them one factor cache (LayerProblem.factors): the factor of H⁻¹ is computed
 * once, and every layer's result is the one it gets with a factor of its own.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { OnnxRuntimeEngine } from '../../src/linalg/gemm-ort.js';
import type { GemmEngine } from '../../src/linalg/engine.js';
import { sparsegptPrune } from '../../src/pruners/sparsegpt.js';
import { iobsPrune } from '../../src/pruners/iobs.js';
import type { FactorCache, LayerProblem } from '../../src/pruners/types.js';
import { releaseFactors } from '../../src/pruners/curvature.js';
import { explicitProblem, randn32, gaussian } from './helpers.js';

const ort = new OnnxRuntimeEngine();
afterAll(() => ort.dispose());

/** An engine that counts the products it runs. */
function counting(inner: GemmEngine): GemmEngine & { calls: number } {
  const e = {
    name: 'counting',
    calls: 0,
    gemm: (...args: Parameters<GemmEngine['gemm']>) => {
      e.calls++;
      return inner.gemm(...args);
    },
    dispose: async () => {},
  };
  return e;
}

describe('shared factors of one H', () => {
  it('sparsegpt: q, k, v with one cache factor H once and prune exactly as with their own factors', async () => {
    const [rows, d] = [24, 300];
    const base = explicitProblem(rows, d, 400, 11, { correlated: true }).problem;
    const g = gaussian(12);
    const layers: LayerProblem[] = [base, { ...base, W: randn32(rows * d, g) }, { ...base, W: randn32(rows * d, g) }];
    const factors: FactorCache = new Map();
    const own = counting(ort);
    const shared = counting(ort);
    for (const layer of layers) {
      const alone = await sparsegptPrune({ ...layer }, { sparsity: 0.5 }, own);
      const cached = await sparsegptPrune({ ...layer, factors }, { sparsity: 0.5 }, shared);
      expect(Array.from(cached.W)).toEqual(Array.from(alone.W));
      expect(Array.from(cached.mask)).toEqual(Array.from(alone.mask));
    }
    expect(factors.size).toBe(1);
    // The factor's products ran once instead of three times.
    const perFactor = (own.calls - shared.calls) / 2;
    expect(perFactor).toBeGreaterThan(0);
    expect(shared.calls).toBe(own.calls - 2 * perFactor);
    // Another damping is another factor.
    await sparsegptPrune({ ...base, factors }, { sparsity: 0.5, damp: 0.1 }, ort);
    expect(factors.size).toBe(2);
    // Released: the factors' memory goes back to the engine's pool (the next factor of that size reuses it).
    const buffers = (await Promise.all(factors.values())).map((U) => U.buffer);
    await releaseFactors(factors, ort);
    expect(factors.size).toBe(0);
    const reused = ort.pool.take(d * d);
    expect(buffers).toContain(reused.buffer);
    ort.pool.give(reused);
    // After a release, pruning again computes the same factor into pooled memory: same results.
    const again = await sparsegptPrune({ ...base, factors }, { sparsity: 0.5 }, ort);
    const alone = await sparsegptPrune({ ...base }, { sparsity: 0.5 }, ort);
    expect(Array.from(again.W)).toEqual(Array.from(alone.W));
  });
  it('iobs with the sweep projection reuses the same factor', async () => {
    const { problem } = explicitProblem(8, 64, 200, 3, { sequential: true });
    const factors: FactorCache = new Map();
    const a = await iobsPrune({ ...problem, factors }, { sparsity: 0.5, projection: 'sparsegpt', iterations: 2 }, ort);
    const b = await iobsPrune({ ...problem, factors }, { sparsity: 0.5, projection: 'sparsegpt', iterations: 2 }, ort);
    const c = await iobsPrune({ ...problem }, { sparsity: 0.5, projection: 'sparsegpt', iterations: 2 }, ort);
    expect(factors.size).toBe(1);
    expect(Array.from(a.W)).toEqual(Array.from(c.W));
    expect(Array.from(b.W)).toEqual(Array.from(c.W));
  });
});
