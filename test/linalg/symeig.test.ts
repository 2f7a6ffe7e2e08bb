import { describe, expect, it } from 'vitest';
import { symeig, symPinv } from '../../src/linalg/symeig.js';
import { SurgeonInputError } from '../../src/errors.js';
import { gaussian, rng } from '../collapse/helpers.js';

function randomSym(n: number, seed: number): Float64Array {
  const g = gaussian(rng(seed));
  const A = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = i; j < n; j++) {
      const v = g();
      A[i * n + j] = v;
      A[j * n + i] = v;
    }
  return A;
}

function maxAbs(x: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]!));
  return m;
}

describe('symeig', () => {
  it('handles 0×0 and 1×1', () => {
    expect(symeig(new Float64Array(0), 0).values.length).toBe(0);
    const r = symeig([-3.5], 1, { vectors: true });
    expect(Array.from(r.values)).toEqual([-3.5]);
    expect(Array.from(r.vectors!)).toEqual([1]);
  });

  it('matches the 2×2 closed form', () => {
    const [a, b, c] = [2, 1.5, -1];
    const r = symeig([a, b, b, c], 2, { vectors: true });
    const m = (a + c) / 2;
    const h = Math.sqrt(((a - c) / 2) ** 2 + b * b);
    expect(r.values[0]).toBeCloseTo(m + h, 14);
    expect(r.values[1]).toBeCloseTo(m - h, 14);
    const V = r.vectors!;
    // A v = λ v for the first eigenvector.
    const v0 = [V[0]!, V[2]!];
    expect(a * v0[0]! + b * v0[1]! - r.values[0]! * v0[0]!).toBeCloseTo(0, 13);
    expect(b * v0[0]! + c * v0[1]! - r.values[0]! * v0[1]!).toBeCloseTo(0, 13);
  });

  it('diagonal input returns sorted diagonal', () => {
    const r = symeig([1, 0, 0, 0, 5, 0, 0, 0, -2], 3);
    expect(Array.from(r.values)).toEqual([5, 1, -2]);
  });

  for (const n of [3, 10, 40, 120]) {
    it(`reconstructs A = V diag(λ) Vᵀ with orthonormal V (n = ${n})`, () => {
      const A = randomSym(n, n);
      const { values, vectors } = symeig(A, n, { vectors: true });
      const V = vectors!;
      for (let j = 1; j < n; j++) expect(values[j - 1]!).toBeGreaterThanOrEqual(values[j]!);
      const R = new Float64Array(n * n);
      const O = new Float64Array(n * n);
      for (let i = 0; i < n; i++)
        for (let j = 0; j < n; j++) {
          let r = 0;
          let o = 0;
          for (let k = 0; k < n; k++) {
            r += V[i * n + k]! * values[k]! * V[j * n + k]!;
            o += V[k * n + i]! * V[k * n + j]!;
          }
          R[i * n + j] = r - A[i * n + j]!;
          O[i * n + j] = o - (i === j ? 1 : 0);
        }
      const scale = maxAbs(A);
      expect(maxAbs(R) / scale).toBeLessThan(1e-12);
      expect(maxAbs(O)).toBeLessThan(1e-12);
      // Eigenvalues without vectors agree.
      const only = symeig(A, n).values;
      for (let j = 0; j < n; j++) expect(Math.abs(only[j]! - values[j]!)).toBeLessThan(1e-12 * scale);
    });
  }

  it('finds exact zero eigenvalues of a rank-deficient PSD matrix', () => {
    const n = 6;
    const g = gaussian(rng(5));
    const B = Array.from({ length: 2 * n }, () => g()); // 2 × n
    const A = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) A[i * n + j] = B[i]! * B[j]! + B[n + i]! * B[n + j]!;
    const { values } = symeig(A, n);
    expect(values[0]!).toBeGreaterThan(0);
    for (let j = 2; j < n; j++) expect(Math.abs(values[j]!)).toBeLessThan(1e-14 * values[0]!);
    const p = symPinv(A, n);
    expect(p.kept).toBe(2);
    // A A⁺ A = A.
    const AP = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (let k = 0; k < n; k++) AP[i * n + j] += A[i * n + k]! * p.pinv[k * n + j]!;
    let err = 0;
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) {
        let v = 0;
        for (let k = 0; k < n; k++) v += AP[i * n + k]! * A[k * n + j]!;
        err = Math.max(err, Math.abs(v - A[i * n + j]!));
      }
    expect(err).toBeLessThan(1e-12 * values[0]!);
  });

  it('rejects bad input', () => {
    expect(() => symeig([1, 2, 3], 2)).toThrow(SurgeonInputError);
    expect(() => symeig([1, NaN, NaN, 1], 2)).toThrow(/finite/);
    expect(() => symPinv([1], 1, 2)).toThrow(/tolerance/);
  });
});
