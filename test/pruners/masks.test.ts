import { describe, expect, it } from 'vitest';
import { SurgeonInputError } from '../../src/errors.js';
import { globalMagnitudeThresholds, magnitudePrune } from '../../src/pruners/magnitude.js';
import { maskNM, objective, rowPruneCounts, selectSmallest, validatePattern, validateSparsity } from '../../src/pruners/masks.js';
import { explicitProblem, gaussian, maskZeros, measuredLoss, randn32 } from './helpers.js';

describe('masks', () => {
  it('validatePattern names the layer, the dimension and the fix', () => {
    expect(() => validatePattern(770, { kind: 'nm', n: 2, m: 4 }, 'fc1')).toThrow(SurgeonInputError);
    expect(() => validatePattern(770, { kind: 'nm', n: 2, m: 4 }, 'fc1')).toThrow(
      'fc1: 2:4 needs the input dimension (770) to be a multiple of 4; use --skip fc1 or another pattern',
    );
    expect(() => validatePattern(768, { kind: 'nm', n: 2, m: 4 })).not.toThrow();
    expect(() => validatePattern(8, { kind: 'nm', n: 4, m: 4 })).toThrow(SurgeonInputError);
  });

  it('validateSparsity accepts [0, 1) only', () => {
    expect(() => validateSparsity(0)).not.toThrow();
    expect(() => validateSparsity(0.99)).not.toThrow();
    expect(() => validateSparsity(1)).toThrow(SurgeonInputError);
    expect(() => validateSparsity(-0.1)).toThrow(SurgeonInputError);
    expect(() => validateSparsity(NaN)).toThrow(SurgeonInputError);
  });

  it('rowPruneCounts spreads the exact total', () => {
    for (const [rows, cols, total] of [[3, 3, 5], [7, 10, 33], [1, 1, 1], [4, 5, 0]] as const) {
      const c = rowPruneCounts(rows, cols, total);
      expect(c.reduce((a, b) => a + b, 0)).toBe(total);
      expect(Math.max(...c) - Math.min(...c)).toBeLessThanOrEqual(1);
    }
  });

  it('selectSmallest picks the k smallest, ties by position', () => {
    const g = gaussian(1);
    for (let trial = 0; trial < 50; trial++) {
      const len = 1 + Math.floor(Math.abs(g()) * 40);
      const s = Array.from({ length: len }, () => Math.round(g() * 3));
      const k = Math.floor(len / 2);
      const idx = new Int32Array(len);
      selectSmallest(s, 0, len, k, idx);
      const expected = [...s.keys()].sort((a, b) => s[a] - s[b] || a - b).slice(0, k).sort((a, b) => a - b);
      expect([...idx.subarray(0, k)].sort((a, b) => a - b)).toEqual(expected);
    }
  });

  it('maskNM prunes exactly M−N per group, even with ties', () => {
    const scores = new Float64Array(3 * 8).fill(1);
    const mask = maskNM(scores, 3, 8, 2, 4);
    for (let g = 0; g < 6; g++) expect(mask.subarray(g * 4, g * 4 + 4).reduce((a, b) => a + b, 0)).toBe(2);
  });

  it('global magnitude thresholds give the exact total across layers', async () => {
    const g = gaussian(2);
    const layers = [{ W: randn32(30, g) }, { W: randn32(17, g) }, { W: new Float32Array(13).fill(0.25) }];
    const sel = globalMagnitudeThresholds(layers, 0.4);
    expect(sel.pruneCounts.reduce((a, b) => a + b, 0)).toBe(Math.round(0.4 * 60));
    let z = 0;
    for (let l = 0; l < 3; l++) {
      const res = await magnitudePrune({ W: layers[l].W, rows: 1, cols: layers[l].W.length }, { sparsity: 0, pruneCount: sel.pruneCounts[l] });
      z += maskZeros(res.mask);
    }
    expect(z).toBe(24);
  });

  it('objective equals the measured reconstruction error (parallel and sequential)', async () => {
    for (const sequential of [false, true]) {
      const { problem, X, Xhat, N } = explicitProblem(4, 6, 40, 3, { sequential });
      const What = Float32Array.from(problem.W, (w, i) => (i % 3 === 0 ? 0 : w * 0.9));
      const f = await objective({ W0: problem.W, What, rows: 4, cols: 6, H: problem.H!, C: problem.C, Hdense: problem.Hdense });
      expect(f).toBeCloseTo(measuredLoss(problem.W, What, X, Xhat, N, 4, 6), 9);
    }
  });
});
