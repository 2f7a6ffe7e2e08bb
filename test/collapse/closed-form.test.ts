/**
 * Closed forms: class means on a simplex ETF of radius r, within-class noise with Σ_W = σ²I
 * exactly (samples μ_k ± a·e_j for every j, so σ² = a²/d), and balanced classes.
 * Then NC1 = σ²(K−1)²/(K r²), Tr Σ_W/Tr Σ_B = σ²d/r², CDNV = σ²d(K−1)/(2K r²),
 * Tr Σ_W/Tr Σ_T = σ²d/(σ²d + r²), and the NC2 distances are 0.
 */
import { describe, expect, it } from 'vitest';
import { collapseStats, measureCollapse, orthogonalFrameDistance } from '../../src/collapse/index.js';
import { reference, relErr } from './helpers.js';

/** ETF vertices s·(e_k − 1/K) in the first K coordinates (+ an integer offset), radius s·√((K−1)/K). */
function etfData(K: number, d: number, s: number, a: number, f32: boolean, offset = true) {
  const perClass = 2 * d;
  const N = K * perClass;
  const features = f32 ? new Float32Array(N * d) : new Float64Array(N * d);
  const labels = new Int32Array(N);
  const mu = (k: number, j: number) => (j < K ? s * ((j === k ? 1 : 0) - 1 / K) : 0) + (offset ? ((j * 7) % 5) - 2 : 0);
  // Interleave classes so batches mix them.
  let i = 0;
  for (let t = 0; t < perClass; t++) {
    for (let k = 0; k < K; k++) {
      const j0 = t >> 1;
      const sign = t & 1 ? -1 : 1;
      labels[i] = k;
      for (let j = 0; j < d; j++) features[i * d + j] = mu(k, j) + (j === j0 ? sign * a : 0);
      i++;
    }
  }
  return { features, labels, N, r2: (s * s * (K - 1)) / K, sigma2: (a * a) / d };
}

describe('closed form: simplex ETF means + isotropic class-centred noise', () => {
  for (const [K, d, f32] of [
    [4, 8, true],
    [8, 11, true],
    [3, 7, false],
    [10, 16, false],
  ] as const) {
    it(`K = ${K}, d = ${d}, ${f32 ? 'float32' : 'float64'} features`, () => {
      const s = 2;
      const a = 0.5;
      const { features, labels, N, r2, sigma2 } = etfData(K, d, s, a, f32);
      const stats = collapseStats(features, labels, N, { K, d });
      // W = 3 M̃: exact self-duality.
      const W = new Float64Array(K * d);
      for (let k = 0; k < K; k++) for (let j = 0; j < K; j++) W[k * d + j] = 3 * s * ((j === k ? 1 : 0) - 1 / K);
      const m = measureCollapse(stats, { classifier: { W, K, d } });
      const tight = 1e-12;
      expect(m.samples).toBe(N);
      expect(relErr(m.nc1, (sigma2 * (K - 1) ** 2) / (K * r2))).toBeLessThan(tight);
      expect(m.nc1Kept).toBe(K - 1);
      expect(relErr(m.traceRatio, (sigma2 * d) / r2)).toBeLessThan(tight);
      expect(relErr(m.cdnv, (sigma2 * d * (K - 1)) / (2 * K * r2))).toBeLessThan(tight);
      expect(relErr(m.withinTotalRatio, (sigma2 * d) / (sigma2 * d + r2))).toBeLessThan(tight);
      expect(relErr(m.traceWithin, sigma2 * d)).toBeLessThan(tight);
      expect(relErr(m.traceBetween, r2)).toBeLessThan(tight);
      expect(m.etf).toBeLessThan(tight);
      expect(m.equinorm).toBeLessThan(tight);
      expect(m.equiangularity).toBeLessThan(tight);
      expect(m.equiangularityMaxDev).toBeLessThan(tight);
      expect(m.equinormW!).toBeLessThan(tight);
      expect(m.nc3!).toBeLessThan(tight);
      expect(m.nc3Dual!).toBeLessThan(tight);
      expect(m.numericalRank).toBe(K - 1);
      expect(relErr(m.effectiveRank, K - 1)).toBeLessThan(tight);
      expect(relErr(m.stableRank, K - 1)).toBeLessThan(tight);
      for (let j = 0; j < K - 1; j++) expect(relErr(m.singularValues[j]!, Math.sqrt((r2 * K) / (K - 1)))).toBeLessThan(tight);
      // The direct d × d definition agrees.
      const ref = reference(features, labels, N, K, d);
      expect(relErr(m.nc1, ref.nc1)).toBeLessThan(1e-10);
      // Balanced classes: the weighted (sample) mean is the same centring.
      const w = measureCollapse(stats, { weightedMean: true });
      expect(relErr(w.nc1, m.nc1)).toBeLessThan(tight);
    });
  }

  it('orthogonal frame: uncentred means s·e_k give 0, an ETF gives the closed-form distance', () => {
    const K = 5;
    const d = 7;
    const N = 2 * K;
    const features = new Float64Array(N * d);
    const labels = new Int32Array(N);
    for (let i = 0; i < N; i++) {
      const k = i % K;
      labels[i] = k;
      features[i * d + k] = 3;
      features[i * d + 6] = i < K ? 0.25 : -0.25;
    }
    const m = measureCollapse(collapseStats(features, labels, N, { K, d }));
    expect(m.orthogonalFrame).toBeLessThan(1e-12);
    // Centred orthogonal frame is a simplex ETF.
    expect(m.etf).toBeLessThan(1e-12);

    const etf = etfData(K, d, 2, 0.5, false, false);
    const e = measureCollapse(collapseStats(etf.features, etf.labels, etf.N, { K, d }));
    // ‖(I − 11ᵀ/K)/√(K−1) − I/√K‖_F.
    const diag = (1 - 1 / K) / Math.sqrt(K - 1) - 1 / Math.sqrt(K);
    const off = -1 / (K * Math.sqrt(K - 1));
    const expected = Math.sqrt(K * diag * diag + K * (K - 1) * off * off);
    expect(relErr(e.orthogonalFrame, expected)).toBeLessThan(1e-12);
    const G = new Float64Array(K * K);
    for (let i = 0; i < K; i++) G[i * K + i] = 1;
    expect(orthogonalFrameDistance(G, K)).toBeLessThan(1e-15);
  });
});

describe('rank-deficient class means', () => {
  it('K = 4 means spanning 2 dimensions: pinv keeps 2, NC1 finite and equal to the direct formula', () => {
    const K = 4;
    const d = 6;
    const s = 2;
    const a = 0.5;
    const dirs = [
      [1, 0],
      [-1, 0],
      [0, 1],
      [0, -1],
    ];
    const N = K * 2 * d;
    const features = new Float64Array(N * d);
    const labels = new Int32Array(N);
    let i = 0;
    for (let k = 0; k < K; k++)
      for (let t = 0; t < 2 * d; t++, i++) {
        labels[i] = k;
        features[i * d + 0] = s * dirs[k]![0]!;
        features[i * d + 1] = s * dirs[k]![1]!;
        features[i * d + (t >> 1)] += t & 1 ? -a : a;
      }
    const m = measureCollapse(collapseStats(features, labels, N, { K, d }));
    const sigma2 = (a * a) / d;
    // Σ_B = (s²/2)·I on the 2-dim span, so Tr(σ²I Σ_B⁺)/K = σ²·2·(2/s²)/4 = σ²/s².
    expect(m.nc1Kept).toBe(2);
    expect(Number.isFinite(m.nc1)).toBe(true);
    expect(relErr(m.nc1, sigma2 / (s * s))).toBeLessThan(1e-12);
    expect(relErr(m.nc1, reference(features, labels, N, K, d).nc1)).toBeLessThan(1e-10);
    expect(m.numericalRank).toBe(2);
    expect(relErr(m.effectiveRank, 2)).toBeLessThan(1e-12);
    expect(relErr(m.stableRank, 2)).toBeLessThan(1e-12);
    expect(m.etf).toBeGreaterThan(0.1);
    expect(m.equinorm).toBeLessThan(1e-12);
    for (const v of Object.values(m)) if (typeof v === 'number') expect(Number.isFinite(v)).toBe(true);
  });

  it('collinear means (rank 1) keep 1 eigenvalue; identical means give NaN NC1 with 0 kept', () => {
    const K = 3;
    const d = 3;
    const N = 6;
    const features = new Float64Array(N * d);
    const labels = new Int32Array(N);
    for (let i = 0; i < N; i++) {
      const k = i % K;
      labels[i] = k;
      features[i * d] = k - 1;
      features[i * d + 1] = i < K ? 0.1 : -0.1;
    }
    const m = measureCollapse(collapseStats(features, labels, N, { K, d }));
    expect(m.nc1Kept).toBe(1);
    expect(m.numericalRank).toBe(1);
    expect(relErr(m.nc1, reference(features, labels, N, K, d).nc1)).toBeLessThan(1e-10);

    const same = new Float64Array(N * d);
    for (let i = 0; i < N; i++) same[i * d + 2] = i < K ? 1 : -1;
    const z = measureCollapse(collapseStats(same, labels, N, { K, d }));
    expect(z.nc1Kept).toBe(0);
    expect(z.nc1).toBeNaN();
    expect(z.numericalRank).toBe(0);
    expect(z.traceRatio).toBe(Infinity);
    expect(z.withinTotalRatio).toBe(1);
  });

  it('a looser pinv tolerance drops small eigenvalues and reports it', () => {
    const K = 4;
    const d = 5;
    const N = 8;
    const features = new Float64Array(N * d);
    const labels = new Int32Array(N);
    // Centred means with singular values ≈ √2, √2 and ≈ 1e-4: λ₃/λ₁ ≈ 5e-9.
    const means = [
      [1, 0, 0],
      [-1, 0, 1e-4],
      [0, 1, 0],
      [0, -1, -1e-4],
    ];
    for (let i = 0; i < N; i++) {
      const k = i % K;
      labels[i] = k;
      for (let j = 0; j < 3; j++) features[i * d + j] = means[k]![j]!;
      features[i * d + 3 + (i < K ? 0 : 1)] = 0.1;
    }
    const stats = collapseStats(features, labels, N, { K, d });
    const loose = measureCollapse(stats);
    expect(loose.nc1Kept).toBe(2);
    expect(loose.numericalRank).toBe(2);
    expect(relErr(loose.nc1, reference(features, labels, N, K, d, 1e-6).nc1)).toBeLessThan(1e-10);
    const strict = measureCollapse(stats, { pinvTolerance: 1e-12 });
    expect(strict.nc1Kept).toBe(3);
    expect(strict.numericalRank).toBe(3);
    expect(strict.rankThreshold).toBeLessThan(loose.rankThreshold);
    expect(relErr(strict.nc1, reference(features, labels, N, K, d, 1e-12).nc1)).toBeLessThan(1e-8);
  });
});
