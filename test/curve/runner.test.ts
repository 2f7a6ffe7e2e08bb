import { describe, expect, it } from 'vitest';
import { curveGrid, runCurve, type CurveDeps } from '../../src/curve/runner.js';
import { pruneModel } from '../../src/prune/model.js';
import type { CurvePoint } from '../../src/curve/types.js';
import { tinyDataset, tinyModel } from './helpers.js';

const unstructured = { kind: 'unstructured' as const };

/** pruneModel with a call counter. */
function counting(): { deps: Partial<CurveDeps>; calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    deps: {
      pruneModel: (model, calib, options) => {
        calls.push(`${options.method}@${options.sparsity}`);
        return pruneModel(model, calib, options);
      },
    },
  };
}

describe('curveGrid', () => {
  it('dense first, then each method at ascending sparsities; the sparsest point carries the profile', () => {
    const grid = curveGrid(['sparsegpt', 'magnitude', 'dense'], [0.7, 0.5, 0.7], unstructured);
    expect(grid.map((g) => `${g.method}@${g.sparsity}${g.profile ? '*' : ''}`)).toEqual(['dense@0*', 'sparsegpt@0.5', 'sparsegpt@0.7*', 'magnitude@0.5', 'magnitude@0.7*']);
    const nm = curveGrid(['wanda'], [0.9], { kind: 'nm', n: 2, m: 4 });
    expect(nm.map((g) => [g.method, g.sparsity, g.pattern])).toEqual([['dense', 0, 'dense'], ['wanda', 0.5, '2:4']]);
  });
});

describe('runCurve', () => {
  const model = tinyModel();
  const data = tinyDataset(120);
  const grid = curveGrid(['magnitude', 'sparsegpt'], [0.5, 0.8], unstructured);
  const base = { model, evaluation: data, calibration: data, grid, pattern: unstructured, collapse: 'penultimate' as const, prune: { calibSamples: 64 }, hashes: { dense: 'D', prune: 'P' } };

  it('measures every point, saves after each, and reuses finished points on a rerun', async () => {
    const first = counting();
    const saved: CurvePoint[][] = [];
    const run = await runCurve({ ...base, deps: first.deps, onPoint: (points) => saved.push(points) });
    expect(run.computed).toBe(5);
    expect(first.calls).toEqual(['magnitude@0.5', 'magnitude@0.8', 'sparsegpt@0.5', 'sparsegpt@0.8']);
    expect(saved.map((s) => s.length)).toEqual([1, 2, 3, 4, 5]);
    const [dense, ...pruned] = run.points;
    expect(dense).toMatchObject({ method: 'dense', sparsity: 0, pattern: 'dense', measuredSparsity: 0, optionsHash: 'D' });
    expect(dense!.accuracy).toBeGreaterThanOrEqual(0);
    expect(dense!.collapse!.layers!.length).toBeGreaterThan(1); // per-layer profile of the dense model
    for (const p of pruned) {
      expect(p.measuredSparsity).toBeCloseTo(p.sparsity, 1);
      expect(p.collapse!.nc1).toBeGreaterThan(0);
      expect(p.seconds.total).toBeGreaterThanOrEqual(p.seconds.prune + p.seconds.eval + p.seconds.collapse - 1e-6);
      expect(Boolean(p.collapse!.layers)).toBe(p.sparsity === 0.8);
    }

    // Same options: nothing recomputed.
    const second = counting();
    const again = await runCurve({ ...base, previous: run.points, deps: second.deps });
    expect(second.calls).toEqual([]);
    expect(again).toMatchObject({ reused: 5, computed: 0 });
    expect(again.points).toEqual(run.points);

    // Interrupted after 3 points: only the rest is computed.
    const third = counting();
    const resumed = await runCurve({ ...base, previous: run.points.slice(0, 3), deps: third.deps });
    expect(third.calls).toEqual(['sparsegpt@0.5', 'sparsegpt@0.8']);
    expect(resumed.points.slice(0, 3)).toEqual(run.points.slice(0, 3));

    // Other pruner options: the dense point is kept, pruned points are redone.
    const fourth = counting();
    const changed = await runCurve({ ...base, hashes: { dense: 'D', prune: 'P2' }, previous: run.points, deps: fourth.deps });
    expect(fourth.calls).toHaveLength(4);
    expect(changed).toMatchObject({ reused: 1, computed: 4 });
  });

  it('collapse none measures nothing; token data gets a note', async () => {
    const run = await runCurve({ ...base, grid: curveGrid(['magnitude'], [0.5], unstructured), collapse: 'none' });
    expect(run.points.map((p) => p.collapse)).toEqual([null, null]);
    expect(run.points[0]!.note).toBeUndefined();
  });
});
