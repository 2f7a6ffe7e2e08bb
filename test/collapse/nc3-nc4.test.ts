import { describe, expect, it } from 'vitest';
import {
  centreRows,
  collapseStats,
  globalMean,
  linearPredictions,
  measureCollapse,
  nc4,
  nearestClassMean,
  selfDuality,
} from '../../src/collapse/index.js';
import { gaussian, randomData, relErr, rng } from './helpers.js';

describe('NC3 self-duality', () => {
  const N = 60;
  const K = 4;
  const d = 9;
  const { features, labels } = randomData(N, K, d, 21);
  const stats = collapseStats(features, labels, N, { K, d });
  const Mc = centreRows(stats.means, K, d, globalMean(stats.means, stats.counts, K, d));

  it('is zero when W = c·M̃ (c > 0), and the dual variant then equals the NC2 ETF distance', () => {
    for (const c of [1, 2.5, 1e-3]) {
      const W = Mc.map((v) => c * v);
      const m = measureCollapse(stats, { classifier: { W, K, d } });
      expect(m.nc3!).toBeLessThan(1e-15);
      expect(relErr(m.nc3Dual!, m.etf)).toBeLessThan(1e-12);
      expect(relErr(m.equinormW!, m.equinorm)).toBeLessThan(1e-12);
    }
  });

  it('is 4 for W = −M̃ and 2 − 2cos(W, M̃) in general; accepts Float32 weights and a bias', () => {
    expect(relErr(selfDuality(Mc.map((v) => -v), Mc, K, d), 4)).toBeLessThan(1e-14);
    const g = gaussian(rng(4));
    const W = new Float32Array(K * d).map(() => g());
    let wm = 0;
    let ww = 0;
    let mm = 0;
    for (let i = 0; i < K * d; i++) {
      wm += W[i]! * Mc[i]!;
      ww += W[i]! * W[i]!;
      mm += Mc[i]! * Mc[i]!;
    }
    const m = measureCollapse(stats, { classifier: { W, K, d, b: new Float32Array(K) } });
    expect(relErr(m.nc3!, 2 - (2 * wm) / Math.sqrt(ww * mm))).toBeLessThan(1e-12);
    expect(m.nc3Dual!).toBeGreaterThan(0);
  });
});

describe('NC4 nearest-class-mean agreement', () => {
  const N = 97;
  const K = 6;
  const d = 10;
  const train = randomData(N, K, d, 31, { f32: true, noise: 2 });
  const means = collapseStats(train.features, train.labels, N, { K, d });
  const test = randomData(50, K, d, 32, { f32: true, noise: 2 });

  it('is zero when predictions equal the NCC decision, and counts disagreements when streamed', () => {
    const ncc = nearestClassMean(test.features, 50, means);
    expect(nc4(test.features, ncc, means).rate).toBe(0);
    const pred = ncc.slice();
    for (const i of [3, 17, 40]) pred[i] = (pred[i]! + 1) % K;
    let counts = undefined;
    for (const [s, e] of [
      [0, 1],
      [1, 20],
      [20, 50],
    ] as const) {
      counts = nc4(test.features.subarray(s * d, e * d), pred.subarray(s, e), means, counts);
    }
    expect(counts).toEqual({ samples: 50, disagreements: 3, rate: 3 / 50 });
  });

  it('a linear classifier W = M, b_k = −‖μ_k‖²/2 is the NCC rule (NC4 = 0); Uint8 predictions work', () => {
    const b = new Float64Array(K);
    for (let k = 0; k < K; k++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += means.means[k * d + j]! ** 2;
      b[k] = -s / 2;
    }
    const pred = linearPredictions(test.features, 50, { W: means.means, K, d, b });
    expect(nc4(test.features, Uint8Array.from(pred), means).disagreements).toBe(0);
  });

  it('rejects out-of-range predictions and mismatched lengths', () => {
    expect(() => nc4(test.features, new Int32Array(50).fill(K), means)).toThrow(/prediction 6 of sample 0 is out of range 0..5/);
    expect(() => nc4(test.features, new Int32Array(49), means)).toThrow(/feature length mismatch/);
  });
});
