import { describe, expect, it } from 'vitest';
import {
  ClassMeansAccumulator,
  CollapseAccumulator,
  WithinClassAccumulator,
  collapseStats,
  measureCollapse,
} from '../../src/collapse/index.js';
import type { CollapseMetrics, CollapseStats, FeatureArray } from '../../src/collapse/index.js';
import { randomData, reference, relErr } from './helpers.js';

function sliceBatch(features: FeatureArray, labels: Int32Array, d: number, start: number, end: number) {
  return { f: features.subarray(start * d, end * d), l: labels.subarray(start, end), n: end - start };
}

/** Both passes with batch sizes from `sizes1` (pass 1) and `sizes2` (pass 2), cycled. */
function streamed(features: FeatureArray, labels: Int32Array, N: number, K: number, d: number, sizes1: number[], sizes2 = sizes1): CollapseStats {
  const acc = new CollapseAccumulator({ K, d, layer: 'x' });
  for (const sizes of [sizes1, sizes2]) {
    for (let start = 0, t = 0; start < N; t++) {
      const end = Math.min(N, start + sizes[t % sizes.length]!);
      const b = sliceBatch(features, labels, d, start, end);
      acc.addBatch(b.f, b.l, b.n);
      start = end;
    }
    if (acc.pass === 1) acc.startSecondPass();
  }
  return acc.finalize();
}

function expectSameMetrics(a: CollapseMetrics, b: CollapseMetrics, tol: number): void {
  for (const [key, v] of Object.entries(a)) {
    if (typeof v !== 'number') continue;
    const w = (b as unknown as Record<string, number>)[key]!;
    // Quantities that are ~0 by construction are compared absolutely.
    const err = Math.abs(v) < 1e-8 && Math.abs(w) < 1e-8 ? Math.abs(v - w) : relErr(v, w);
    expect(err, key).toBeLessThan(tol);
  }
}

describe('streaming equals batch', () => {
  const N = 83;
  const K = 5;
  const d = 13;
  for (const [name, opts] of [
    ['float32, well separated', { f32: true }],
    ['float64, offset 1e3 and tight clusters', { offset: 1e3, noise: 1e-3, spread: 1 }],
  ] as const) {
    it(`batch sizes 1, 7, N, irregular and merged give the same metrics (${name})`, () => {
      const { features, labels } = randomData(N, K, d, 11, opts);
      const W = new Float64Array(K * d).map((_, i) => Math.sin(i));
      const classifier = { W, K, d };
      const batch = measureCollapse(collapseStats(features, labels, N, { K, d }), { classifier });
      for (const sizes of [[1], [7], [N], [3, 1, 17, 5], [N - 1]]) {
        expectSameMetrics(measureCollapse(streamed(features, labels, N, K, d, sizes), { classifier }), batch, 1e-10);
      }
      // Different batching in the two passes.
      expectSameMetrics(measureCollapse(streamed(features, labels, N, K, d, [7], [1, 30]), { classifier }), batch, 1e-10);

      // Merged accumulators (Chan merge in pass 1, plain sums in pass 2), split at odd points.
      const parts = [0, 10, 11, 50, N];
      const p1 = parts.slice(0, -1).map((s, i) => {
        const a = new ClassMeansAccumulator({ K, d });
        const b = sliceBatch(features, labels, d, s, parts[i + 1]!);
        a.addBatch(b.f, b.l, b.n);
        return a;
      });
      const means = p1.reduce((x, y) => x.merge(y)).finalize();
      const p2 = [0, 40, N].slice(0, -1).map((s, i) => {
        const a = new WithinClassAccumulator(means);
        const b = sliceBatch(features, labels, d, s, [0, 40, N][i + 1]!);
        a.addBatch(b.f, b.l, b.n);
        return a;
      });
      expectSameMetrics(measureCollapse(p2[0]!.merge(p2[1]!).finalize(), { classifier }), batch, 1e-10);

      // And the direct d × d reference (both centrings).
      for (const weighted of [false, true]) {
        const m = measureCollapse(streamed(features, labels, N, K, d, [7]), { weightedMean: weighted });
        const ref = reference(features, labels, N, K, d, 1e-6, weighted);
        expect(relErr(m.nc1, ref.nc1)).toBeLessThan(1e-10);
        expect(m.nc1Kept).toBe(ref.kept);
        expect(relErr(m.traceRatio, ref.traceRatio)).toBeLessThan(1e-10);
        expect(relErr(m.cdnv, ref.cdnv)).toBeLessThan(1e-10);
        expect(relErr(m.withinTotalRatio, ref.withinTotalRatio)).toBeLessThan(1e-10);
      }
    });
  }

  it('the pass-1 Welford within-class sums agree with the exact pass-2 sums', () => {
    const { features, labels } = randomData(N, K, d, 3, { offset: 100 });
    const acc = new CollapseAccumulator({ K, d });
    for (let s = 0; s < N; s += 9) {
      const b = sliceBatch(features, labels, d, s, Math.min(N, s + 9));
      acc.addBatch(b.f, b.l, b.n);
    }
    const means = acc.startSecondPass();
    acc.addBatch(features, labels, N);
    const stats = acc.finalize();
    for (let k = 0; k < K; k++) expect(relErr(means.withinSS[k]!, stats.withinSS[k]!)).toBeLessThan(1e-12);
  });

  it('d = 50 000 streams in O(K·d) memory and is split-invariant', () => {
    const K = 4;
    const d = 50_000;
    const N = 400;
    // Generate each batch on the fly: sample i of class i mod K, deterministic features.
    const table = Float64Array.from({ length: 4099 }, (_, t) => 0.01 * Math.sin(t * 12.9898));
    const batch = (start: number, n: number) => {
      const f = new Float32Array(n * d);
      const l = new Int32Array(n);
      for (let s = 0; s < n; s++) {
        const i = start + s;
        const k = i % K;
        l[s] = k;
        for (let j = 0; j < d; j++) f[s * d + j] = (j % K === k ? 1 : 0) + table[(i * 31 + j) % 4099]!;
      }
      return { f, l };
    };
    const run = (size: number) => {
      const acc = new CollapseAccumulator({ K, d });
      for (let pass = 0; pass < 2; pass++) {
        for (let s = 0; s < N; s += size) {
          const b = batch(s, Math.min(size, N - s));
          acc.addBatch(b.f, b.l, Math.min(size, N - s));
        }
        if (pass === 0) acc.startSecondPass();
      }
      return measureCollapse(acc.finalize());
    };
    const a = run(100);
    const b = run(37);
    expectSameMetrics(a, b, 1e-10);
    expect(a.nc1Kept).toBe(K - 1);
    expect(a.nc1).toBeGreaterThan(0);
    expect(a.nc1).toBeLessThan(1);
  }, 60_000);
});
