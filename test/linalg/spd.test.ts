import { afterAll, describe, expect, it } from 'vitest';
import { spdInverse, upperCholeskyOfInverse, lambdaMax, dampHessian, dampedDiagonal, lowerTriangularGram } from '../../src/linalg/spd.js';
import { choleskySync } from '../../src/linalg/cholesky.js';
import { syrkSync } from '../../src/linalg/gemm-ts.js';
import { NotPositiveDefiniteError } from '../../src/linalg/cholesky.js';
import { OnnxRuntimeEngine } from '../../src/linalg/gemm-ort.js';
import { TypeScriptEngine } from '../../src/linalg/gemm-ts.js';
import { naiveGemm, randomSpd, relErr, maxAbsDiff, randomMatrix } from './helpers.js';

const ort = new OnnxRuntimeEngine();
afterAll(() => ort.dispose());

function identityResidual(H: Float64Array, Hinv: Float64Array, n: number): number {
  const P = naiveGemm(H, Hinv, n, n, n);
  for (let i = 0; i < n; i++) P[i * n + i] -= 1;
  return maxAbsDiff(P, new Float64Array(n * n));
}

describe('spdInverse', () => {
  it('1×1 and 2×2 closed form', async () => {
    expect(Array.from(await spdInverse(new Float64Array([4]), 1))).toEqual([0.25]);
    // [[2, 1], [1, 2]]⁻¹ = [[2, −1], [−1, 2]] / 3
    const X = await spdInverse(new Float64Array([2, 1, 1, 2]), 2);
    expect(relErr(X, [2 / 3, -1 / 3, -1 / 3, 2 / 3])).toBeLessThan(1e-15);
  });
  for (const n of [1, 2, 7, 300, 600]) {
    it(`H·H⁻¹ ≈ I and symmetric, n=${n}`, async () => {
      const H = randomSpd(n, 400 + n);
      const Hinv = await spdInverse(H, n, ort);
      expect(identityResidual(H, Hinv, n)).toBeLessThan(1e-11);
      for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) if (Hinv[i * n + j] !== Hinv[j * n + i]) throw new Error('asymmetric');
      if (n <= 300) expect(relErr(await spdInverse(H, n), Hinv)).toBeLessThan(1e-12);
    });
  }
  it('throws on an indefinite matrix', async () => {
    await expect(spdInverse(new Float64Array([1, 2, 2, 1]), 2)).rejects.toBeInstanceOf(NotPositiveDefiniteError);
  });
});

describe('lowerTriangularGram', () => {
  for (const n of [3, 513, 1100]) {
    it(`= XᵀX for lower-triangular X, exactly symmetric, n=${n}`, async () => {
      const X = choleskySync(randomSpd(n, 600 + n), n);
      const G = await lowerTriangularGram(X, n, ort);
      expect(relErr(G, syrkSync(X, n, n))).toBeLessThan(1e-13);
      for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) if (G[i * n + j] !== G[j * n + i]) throw new Error('asymmetric');
    });
  }
});

describe('upperCholeskyOfInverse', () => {
  it('2×2 closed form', async () => {
    // H = [[2, 1], [1, 2]], H⁻¹ = [[2, −1], [−1, 2]]/3; U upper with UᵀU = H⁻¹:
    // U00 = √(2/3), U01 = −1/(3·U00), U11 = √(2/3 − U01²) = 1/√2.
    const U = await upperCholeskyOfInverse(new Float64Array([2, 1, 1, 2]), 2);
    const u00 = Math.sqrt(2 / 3);
    const u01 = -1 / 3 / u00;
    expect(relErr(U, [u00, u01, 0, Math.sqrt(2 / 3 - u01 * u01)])).toBeLessThan(1e-15);
  });
  for (const n of [1, 2, 7, 300, 600]) {
    it(`UᵀU = H⁻¹, U upper with positive diagonal, n=${n}`, async () => {
      const H = randomSpd(n, 500 + n);
      const U = await upperCholeskyOfInverse(H, n, ort);
      for (let i = 0; i < n; i++) {
        expect(U[i * n + i]).toBeGreaterThan(0);
        for (let j = 0; j < i; j++) if (U[i * n + j] !== 0) throw new Error(`U[${i},${j}] ≠ 0`);
      }
      const UtU = naiveGemm(U, U, n, n, n, true, false);
      expect(identityResidual(H, UtU, n)).toBeLessThan(1e-11);
      expect(relErr(UtU, await spdInverse(H, n, ort))).toBeLessThan(1e-11);
    });
  }
});

describe('upperCholeskyOfInverse: recursion, options, scratch reuse', () => {
  it('TypeScript engine = onnxruntime engine through several recursion levels (n=700)', async () => {
    const n = 700;
    const H = randomSpd(n, 77);
    const a = await upperCholeskyOfInverse(H, n, ort);
    const b = await upperCholeskyOfInverse(H, n, new TypeScriptEngine());
    expect(relErr(a, b)).toBeLessThan(1e-11);
    const UtU = naiveGemm(a, a, n, n, n, true, false);
    expect(identityResidual(H, UtU, n)).toBeLessThan(1e-10);
  });
  it('reads only the upper triangle', async () => {
    const n = 300;
    const H = randomSpd(n, 78);
    const poisoned = H.slice();
    for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) poisoned[i * n + j] = NaN;
    expect(relErr(await upperCholeskyOfInverse(poisoned, n, ort), await upperCholeskyOfInverse(H, n, ort))).toBe(0);
  });
  it('diagonal replaces H_jj; out is overwritten entirely (dirty scratch and destination)', async () => {
    const n = 333;
    const H = randomSpd(n, 79);
    const diag = new Float64Array(n);
    const shifted = H.slice();
    for (let j = 0; j < n; j++) {
      diag[j] = H[j * n + j] + 0.25 * (1 + (j % 3));
      shifted[j * n + j] = diag[j];
    }
    const engine = new OnnxRuntimeEngine();
    // Leave non-zero garbage in the engine's pool, and give a dirty destination.
    for (const size of [n * n, 300 * 300, 256 * 256, 128 * 128]) engine.pool.give(engine.pool.take(size).fill(123.5));
    const out = new Float64Array(n * n).fill(-7);
    const U = await upperCholeskyOfInverse(H, n, engine, { diagonal: diag, out });
    expect(U).toBe(out);
    expect(relErr(U, await upperCholeskyOfInverse(shifted, n, ort))).toBeLessThan(1e-12);
    for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) if (U[i * n + j] !== 0) throw new Error(`U[${i},${j}] = ${U[i * n + j]}`);
    // A second call reuses the pooled scratch and gives the same bits.
    expect(relErr(await upperCholeskyOfInverse(H, n, engine, { diagonal: diag }), U)).toBe(0);
    await engine.dispose();
  });
});

describe('upperCholeskyOfInverse errors', () => {
  it('reports the failing input of H from any recursion level', async () => {
    const n = 600;
    for (const bad of [0, 77, 128, 299, 599]) {
      const H = randomSpd(n, 80);
      H[bad * n + bad] = -1;
      await expect(upperCholeskyOfInverse(H, n, ort)).rejects.toMatchObject({ name: 'NotPositiveDefiniteError', pivot: bad });
    }
  });
  it('reports the failing input of H', async () => {
    // Input 0 makes H indefinite; the reversed elimination meets it last.
    const H = new Float64Array([-1, 0, 0, 0, 2, 0, 0, 0, 3]);
    await expect(upperCholeskyOfInverse(H, 3)).rejects.toMatchObject({ name: 'NotPositiveDefiniteError', pivot: 0 });
  });
});

describe('lambdaMax', () => {
  it('diagonal matrix', () => {
    const n = 50;
    const H = new Float64Array(n * n);
    for (let i = 0; i < n; i++) H[i * n + i] = 1 + i * 0.1;
    expect(Math.abs(lambdaMax(H, n) - (1 + 49 * 0.1)) / 5.9).toBeLessThan(1e-8);
  });
  it('2×2 closed form', () => {
    const [a, b, c] = [3, 1.5, 2];
    const exact = (a + c) / 2 + Math.sqrt(((a - c) / 2) ** 2 + b * b);
    expect(Math.abs(lambdaMax(new Float64Array([a, b, b, c]), 2) - exact) / exact).toBeLessThan(1e-12);
  });
  it('1×1 and rank-one', () => {
    expect(lambdaMax(new Float64Array([7]), 1)).toBe(7);
    const n = 40;
    const v = randomMatrix(n, 1, 3);
    const H = naiveGemm(v, v, n, 1, n);
    let vv = 0;
    for (const x of v) vv += x * x;
    expect(Math.abs(lambdaMax(H, n) - vv) / vv).toBeLessThan(1e-10);
  });
  it('random SPD against the power-iterated Rayleigh quotient bound', () => {
    const n = 200;
    const H = randomSpd(n, 8);
    const lm = lambdaMax(H, n);
    // Long power iteration as reference.
    let x = new Float64Array(n).fill(1);
    let rq = 0;
    for (let it = 0; it < 5000; it++) {
      const y = naiveGemm(H, x, n, n, 1);
      let nn = 0;
      for (const t of y) nn += t * t;
      nn = Math.sqrt(nn);
      let xy = 0;
      for (let i = 0; i < n; i++) xy += x[i]! * y[i]!;
      rq = xy;
      x = y.map((t) => t / nn);
    }
    expect(Math.abs(lm - rq) / rq).toBeLessThan(1e-8);
  });
});

describe('dampHessian', () => {
  it('dead columns: closed form', () => {
    // Inputs 1 and 3 are always zero: their rows/columns of H are 0.
    const n = 4;
    const H = new Float64Array([2, 0, 1, 0, 0, 0, 0, 0, 1, 0, 4, 0, 0, 0, 0, 0]);
    const copy = Float64Array.from(H);
    const r = dampHessian(H, n, 0.1);
    expect(Array.from(r.deadInputs)).toEqual([1, 3]);
    expect(r.dampingUsed).toBeCloseTo(0.1 * 3, 15); // mean of live diag (2, 4) = 3
    expect(Array.from(r.H)).toEqual([2.3, 0, 1, 0, 0, 1.3, 0, 0, 1, 0, 4.3, 0, 0, 0, 0, 1.3]);
    expect(H).toEqual(copy);
    const diag = dampedDiagonal(H, n, 0.1);
    expect(Array.from(diag.diagonal)).toEqual([2.3, 1.3, 4.3, 1.3]);
    expect(diag.dampingUsed).toBe(r.dampingUsed);
    expect(Array.from(diag.deadInputs)).toEqual([1, 3]);
  });
  it('all dead: damping λ', () => {
    const r = dampHessian(new Float64Array(4), 2, 0.01);
    expect(r.dampingUsed).toBe(0.01);
    expect(Array.from(r.H)).toEqual([1.01, 0, 0, 1.01]);
    expect(Array.from(r.deadInputs)).toEqual([0, 1]);
  });
  it('no dead inputs', () => {
    const r = dampHessian(new Float64Array([1, 0.5, 0.5, 3]), 2, 0.5);
    expect(r.dampingUsed).toBe(1);
    expect(Array.from(r.H)).toEqual([2, 0.5, 0.5, 4]);
    expect(r.deadInputs.length).toBe(0);
  });
});
