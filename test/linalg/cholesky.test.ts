import { afterAll, describe, expect, it } from 'vitest';
import { cholesky, choleskySync, NotPositiveDefiniteError } from '../../src/linalg/cholesky.js';
import { invertLowerTriangular, invertLowerUnblocked } from '../../src/linalg/triangular.js';
import { OnnxRuntimeEngine } from '../../src/linalg/gemm-ort.js';
import { TypeScriptEngine } from '../../src/linalg/gemm-ts.js';
import { naiveGemm, randomSpd, relErr, maxAbsDiff } from './helpers.js';

const ort = new OnnxRuntimeEngine();
const ts = new TypeScriptEngine();
afterAll(() => ort.dispose());

function expectLower(L: Float64Array, n: number): void {
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) if (L[i * n + j] !== 0) throw new Error(`L[${i},${j}] = ${L[i * n + j]}`);
}

describe('choleskySync', () => {
  it('1×1', () => {
    expect(Array.from(choleskySync(new Float64Array([4]), 1))).toEqual([2]);
  });
  it('2×2 closed form', () => {
    // [[4, 2], [2, 5]] = [[2, 0], [1, 2]]·[[2, 1], [0, 2]]
    expect(Array.from(choleskySync(new Float64Array([4, 2, 2, 5]), 2))).toEqual([2, 0, 1, 2]);
  });
  it('reads only the lower triangle', () => {
    expect(Array.from(choleskySync(new Float64Array([4, 999, 2, 5]), 2))).toEqual([2, 0, 1, 2]);
  });
  for (const n of [1, 2, 7, 300, 600]) {
    it(`L·Lᵀ = H for random SPD n=${n}`, () => {
      const H = randomSpd(n, 100 + n);
      const L = choleskySync(H, n);
      expectLower(L, n);
      expect(relErr(naiveGemm(L, L, n, n, n, false, true), H)).toBeLessThan(1e-13);
    });
  }
  it('blocked (sync, block 16) = unblocked', () => {
    const n = 75;
    const H = randomSpd(n, 3);
    expect(relErr(choleskySync(H, n, { blockSize: 16 }), choleskySync(H, n, { blockSize: n }))).toBeLessThan(1e-13);
  });
  it('throws NotPositiveDefiniteError with the failing pivot', () => {
    // Leading 2×2 block is PD, the 3×3 is indefinite (det < 0).
    const H = new Float64Array([2, 1, 0, 1, 2, 3, 0, 3, 1]);
    let err: unknown;
    try {
      choleskySync(H, 3);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NotPositiveDefiniteError);
    expect((err as NotPositiveDefiniteError).pivot).toBe(2);
    expect((err as NotPositiveDefiniteError).value).toBeLessThanOrEqual(0);
    expect(() => choleskySync(new Float64Array([-1]), 1)).toThrow(NotPositiveDefiniteError);
    expect(() => choleskySync(new Float64Array([NaN]), 1)).toThrow(NotPositiveDefiniteError);
  });
});

describe('cholesky (blocked, engine)', () => {
  for (const n of [1, 2, 7, 300, 600]) {
    it(`= choleskySync, n=${n}, ORT and TS engines, small blocks`, async () => {
      const H = randomSpd(n, 200 + n);
      const ref = choleskySync(H, n, { blockSize: n });
      const L1 = await cholesky(H, n, ort, { blockSize: 64 });
      const L2 = await cholesky(H, n, ts, { blockSize: 48 });
      const L3 = await cholesky(H, n, ort);
      expectLower(L1, n);
      expect(relErr(L1, ref)).toBeLessThan(1e-12);
      expect(relErr(L2, ref)).toBeLessThan(1e-12);
      expect(relErr(L3, ref)).toBeLessThan(1e-12);
    });
  }
  it('NotPositiveDefiniteError from a later block carries the global pivot', async () => {
    const n = 200;
    const H = randomSpd(n, 5);
    H[150 * n + 150] = -10;
    await expect(cholesky(H, n, ort, { blockSize: 64 })).rejects.toMatchObject({ name: 'NotPositiveDefiniteError', pivot: 150 });
  });
});

describe('invertLowerTriangular', () => {
  it('2×2 closed form', async () => {
    const X = await invertLowerTriangular(new Float64Array([2, 0, 1, 4]), 2);
    expect(Array.from(X)).toEqual([0.5, 0, -0.125, 0.25]);
  });
  for (const n of [1, 7, 300, 600]) {
    it(`L·L⁻¹ = I, n=${n}, blocked = unblocked`, async () => {
      const L = choleskySync(randomSpd(n, 300 + n), n);
      const X = await invertLowerTriangular(L, n, ort);
      expectLower(X, n);
      const I = naiveGemm(L, X, n, n, n);
      for (let i = 0; i < n; i++) I[i * n + i] -= 1;
      expect(maxAbsDiff(I, new Float64Array(n * n))).toBeLessThan(1e-12);
      expect(relErr(X, invertLowerUnblocked(L, n))).toBeLessThan(1e-12);
      expect(relErr(await invertLowerTriangular(L, n), X)).toBeLessThan(1e-12);
    });
  }
});
