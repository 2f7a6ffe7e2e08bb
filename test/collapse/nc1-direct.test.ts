/** The K × K form Tr(G⁺G⁺Q) against the direct Tr(Σ_W Σ_B⁺)/K with a d × d pseudo-inverse. */
import { describe, expect, it } from 'vitest';
import { collapseStats, measureCollapse, nc1Pinv, recentreQ, gram } from '../../src/collapse/index.js';
import { randomData, reference, relErr } from './helpers.js';

describe('NC1 in K × K form equals the d × d definition', () => {
  for (const [d, K] of [
    [5, 3],
    [5, 4],
    [12, 3],
    [12, 4],
    [2, 5], // d < K − 1: Σ_B has rank d
  ] as const) {
    for (const weighted of [false, true]) {
      it(`d = ${d}, K = ${K}${weighted ? ', weighted mean' : ''}`, () => {
        const N = 40 + 3 * K;
        const { features, labels } = randomData(N, K, d, 100 * d + K, { f32: true });
        const m = measureCollapse(collapseStats(features, labels, N, { K, d }), { weightedMean: weighted });
        const ref = reference(features, labels, N, K, d, 1e-6, weighted);
        expect(relErr(m.nc1, ref.nc1)).toBeLessThan(1e-10);
        expect(m.nc1Kept).toBe(ref.kept);
        expect(m.nc1Kept).toBe(Math.min(d, K - 1));
        expect(relErr(m.traceWithin, ref.traceWithin)).toBeLessThan(1e-12);
      });
    }
  }

  it('recentreQ maps Q to another centring exactly', () => {
    // M̃_u rows centred at the unweighted mean; Σ_W = I, so Q = G for each centring.
    const K = 4;
    const d = 3;
    const M = [1, 2, 0, -1, 0, 3, 2, 2, 2, 0, -4, 1];
    const c = [0.1, 0.2, 0.3, 0.4];
    const centre = (w: number[]) => {
      const mu = [0, 0, 0];
      for (let k = 0; k < K; k++) for (let j = 0; j < d; j++) mu[j] += w[k]! * M[k * d + j]!;
      return M.map((v, i) => v - mu[i % d]!);
    };
    const Gu = gram(centre([0.25, 0.25, 0.25, 0.25]), K, d);
    const Gc = gram(centre(c), K, d);
    const mapped = recentreQ(Gu, K, c);
    for (let i = 0; i < K * K; i++) expect(Math.abs(mapped[i]! - Gc[i]!)).toBeLessThan(1e-12);
    // And with Q = G, NC1 = Tr(G⁺) (= Tr(Σ_B⁺)/K with Σ_W = I).
    const r = nc1Pinv(Gc, Gc, K);
    expect(r.kept).toBe(3);
  });
});
