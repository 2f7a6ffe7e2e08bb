import { describe, expect, it } from 'vitest';
import { blockLayout, fisherBlock, fisherDamping, fisherInverse, identityInverse, obsProject, woodburyInverse, type FisherSegment } from '../../src/pruners/fisher.js';
import { globalIobsPrune, globalMagnitudePrune, woodfisherPrune, type FisherProblem } from '../../src/pruners/global-iobs.js';
import { spdInverse } from '../../src/linalg/spd.js';

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296 - 0.5;
  };
}

/** Least squares ½(xᵀθ − y)² per sample: g_i = x_i (x_iᵀθ − y_i). */
/** Noisy labels keep the residuals O(noise), so the empirical Fisher ≈ noise²·XᵀX/n ∝ the Hessian. */
function regression(P: number, n: number, segments: FisherSegment[], seed = 1, noise = 1): FisherProblem & { loss(theta: ArrayLike<number>): number } {
  const r = lcg(seed);
  const X = Float64Array.from({ length: n * P }, r);
  const truth = Float64Array.from({ length: P }, (_, i) => (i % 3 === 0 ? 2 * r() : 0.1 * r()));
  const y = Float64Array.from({ length: n }, (_, s) => X.subarray(s * P, (s + 1) * P).reduce((a, v, j) => a + v * truth[j]!, 0) + noise * r());
  const residual = (theta: ArrayLike<number>, s: number) => X.subarray(s * P, (s + 1) * P).reduce((a, v, j) => a + v * theta[j]!, 0) - y[s]!;
  const loss = (theta: ArrayLike<number>) => {
    let l = 0;
    for (let s = 0; s < n; s++) l += 0.5 * residual(theta, s) ** 2;
    return l / n;
  };
  return {
    segments,
    theta: Float32Array.from(truth, (v) => v + 0.01 * r()),
    loss,
    async gradients(theta) {
      const G = new Float32Array(n * P);
      const mean = new Float32Array(P);
      for (let s = 0; s < n; s++) {
        const e = residual(theta, s);
        for (let j = 0; j < P; j++) {
          G[s * P + j] = X[s * P + j]! * e;
          mean[j]! += G[s * P + j]! / n;
        }
      }
      return { G, m: n, mean };
    },
    async heldOutLoss(theta) {
      return loss(theta);
    },
  };
}

describe('block Fisher', () => {
  it('Woodbury inverse equals the direct inverse on small blocks', async () => {
    const P = 30;
    const m = 12;
    const r = lcg(3);
    const G = Float32Array.from({ length: m * P }, r);
    const segments = [{ name: 'a', offset: 0, size: 20 }, { name: 'b', offset: 20, size: 10 }];
    const blocks = blockLayout(segments, 8);
    expect(blocks.map((b) => b.size)).toEqual([8, 8, 4, 8, 2]);
    const lambda = fisherDamping(G, m, 0.1);
    for (const b of blocks) {
      const W = woodburyInverse(G, m, P, b, lambda);
      const D = await spdInverse(fisherBlock(G, m, P, b, lambda), b.size);
      for (let i = 0; i < W.length; i++) expect(W[i]).toBeCloseTo(D[i]!, 6);
    }
    const a = await fisherInverse(G, m, segments, { block: 8, damp: 0.1, inverse: 'woodbury' });
    const d = await fisherInverse(G, m, segments, { block: 8, damp: 0.1, inverse: 'direct' });
    a.inv.forEach((inv, k) => inv.forEach((v, i) => expect(v).toBeCloseTo(d.inv[k]![i]!, 6)));
  });

  it('OBS projection minimises ½(θ−u)ᵀF(θ−u) with the pruned set fixed at 0', async () => {
    const P = 12;
    const m = 40;
    const r = lcg(5);
    const G = Float32Array.from({ length: m * P }, r);
    const segments = [{ name: 'w', offset: 0, size: P }];
    const Finv = await fisherInverse(G, m, segments, { block: P, damp: 0.05 });
    const F = fisherBlock(G, m, P, { start: 0, size: P }, Finv.lambda);
    const u = Float64Array.from({ length: P }, r);
    const { theta, mask } = obsProject(u, Finv, segments, 0.5);
    expect(mask.reduce((a, v) => a + (v === 0 ? 1 : 0), 0)).toBe(6);
    // Reference: θ_K = u_K + F_KK⁻¹ F_KQ u_Q (stationarity of the constrained quadratic).
    const K = [...mask.keys()].filter((i) => mask[i] === 1);
    const Q = [...mask.keys()].filter((i) => mask[i] === 0);
    const FKK = new Float64Array(K.length * K.length);
    K.forEach((a, i) => K.forEach((b, j) => (FKK[i * K.length + j] = F[a * P + b]!)));
    const inv = await spdInverse(FKK, K.length);
    const rhs = K.map((a) => Q.reduce((s, q) => s + F[a * P + q]! * u[q]!, 0));
    K.forEach((a, i) => {
      const ref = u[a]! + rhs.reduce((s, v, j) => s + inv[i * K.length + j]! * v, 0);
      expect(theta[a]).toBeCloseTo(ref, 8);
    });
    for (const q of Q) expect(theta[q]).toBe(0);
  });
});

describe('global I-OBS', () => {
  const segments = [{ name: 'l1', offset: 0, size: 24 }, { name: 'l2', offset: 24, size: 16 }];

  it('η = 0 and one step is WoodFisher one-shot', async () => {
    const problem = regression(40, 80, segments);
    const a = await globalIobsPrune(problem, { sparsity: 0.6, step: 0, iterations: 1, block: 8, inverse: 'woodbury' });
    const b = await woodfisherPrune(problem, { sparsity: 0.6, block: 8 });
    expect(Array.from(a.mask)).toEqual(Array.from(b.mask));
    expect(Array.from(a.theta)).toEqual(Array.from(b.theta));
    // and it is the blockwise OBS projection of the dense weights
    const { G, m } = await problem.gradients(problem.theta, true);
    const F = await fisherInverse(G!, m, segments, { block: 8, inverse: 'direct' });
    const ref = obsProject(Float64Array.from(problem.theta), F, segments, 0.6);
    ref.theta.forEach((v, i) => expect(b.theta[i]).toBeCloseTo(v, 5));
  });

  it('F = I is IHT: θ_{t+1} = hard threshold of θ_t − η∇L(θ_t)', async () => {
    const problem = regression(40, 80, segments, 2);
    const res = await globalIobsPrune({ ...problem, heldOutLoss: undefined }, { sparsity: 0.5, step: 0.3, iterations: 3, curvature: 'identity', denseStep: true, maxStepRatio: Infinity });
    let theta = Float32Array.from(problem.theta);
    for (let t = 0; t < 3; t++) {
      const { mean } = await problem.gradients(theta, false);
      const u = Float32Array.from(theta, (v, i) => v - 0.3 * mean[i]!);
      theta = globalMagnitudePrune({ segments, theta: u }, 0.5).theta;
    }
    theta.forEach((v, i) => expect(res.theta[i]).toBeCloseTo(v, 5));
  });

  it('keeps the best iterate by held-out loss and is never worse than one-shot WoodFisher', async () => {
    const problem = regression(40, 200, segments, 4);
    const iobs = await globalIobsPrune(problem, { sparsity: 0.6, step: 1, iterations: 4, block: 8 });
    const wf = await woodfisherPrune(problem, { sparsity: 0.6, block: 8 });
    const mag = globalMagnitudePrune(problem, 0.6);
    const losses = iobs.history.map((h) => h.heldOutLoss!);
    expect(problem.loss(iobs.theta)).toBeCloseTo(Math.min(...losses), 10);
    expect(problem.loss(iobs.theta)).toBeLessThanOrEqual(problem.loss(wf.theta) + 1e-12);
    expect(Number.isFinite(problem.loss(mag.theta))).toBe(true);
    expect(iobs.mask.reduce((a, v) => a + (v === 0 ? 1 : 0), 0)).toBe(24);
  });

  it('uniform allocation prunes each layer at the same sparsity', async () => {
    const problem = regression(40, 80, segments, 6);
    const res = await globalIobsPrune(problem, { sparsity: 0.5, iterations: 1, allocation: 'uniform', block: 8 });
    const zeros = (a: number, b: number) => res.mask.subarray(a, b).reduce((s, v) => s + (v === 0 ? 1 : 0), 0);
    expect([zeros(0, 24), zeros(24, 40)]).toEqual([12, 8]);
    expect(identityInverse(segments, 8).blocks.length).toBe(5);
  });
});
