import { describe, expect, it } from 'vitest';
import { balancedness, balancednessChain } from '../../src/collapse/index.js';
import { symeig } from '../../src/linalg/symeig.js';
import { SurgeonInputError } from '../../src/errors.js';
import { gaussian, relErr, rng } from './helpers.js';

function eye(n: number, s = 1): Float64Array {
  const I = new Float64Array(n * n);
  for (let i = 0; i < n; i++) I[i * n + i] = s;
  return I;
}

function randomOrthogonal(n: number, seed: number): Float64Array {
  const g = gaussian(rng(seed));
  const A = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = i; j < n; j++) A[i * n + j] = A[j * n + i] = g();
  return symeig(A, n, { vectors: true }).vectors!;
}

describe('balancedness ‖W_{l+1}ᵀW_{l+1} − W_l W_lᵀ‖_F / ‖W_l W_lᵀ‖_F', () => {
  it('scaled identities: |b² − a²|/a²', () => {
    for (const [a, b] of [
      [1, 1],
      [2, 3],
      [0.5, 0.25],
    ] as const) {
      const v = balancedness({ W: eye(4, a), rows: 4, cols: 4 }, { W: eye(4, b), rows: 4, cols: 4 });
      expect(relErr(v, Math.abs(b * b - a * a) / (a * a)) + (a === b ? v : 0)).toBeLessThan(1e-15);
    }
  });

  it('equal-scale orthogonal layers are balanced', () => {
    const n = 7;
    const a = 1.7;
    const lower = randomOrthogonal(n, 1).map((v) => a * v);
    const upper = randomOrthogonal(n, 2).map((v) => a * v);
    expect(balancedness({ W: lower, rows: n, cols: n }, { W: upper, rows: n, cols: n })).toBeLessThan(1e-13);
  });

  it('rectangular closed form: W_l = [I₂ 0] (2 × 3), W_{l+1} = [1 1] gives 1', () => {
    const lower = { W: Float32Array.from([1, 0, 0, 0, 1, 0]), rows: 2, cols: 3 };
    const upper = { W: Float32Array.from([1, 1]), rows: 1, cols: 2 };
    // W_{l+1}ᵀW_{l+1} − I₂ = [[0, 1], [1, 0]], norm √2 over ‖I₂‖ = √2.
    expect(relErr(balancedness(lower, upper), 1)).toBeLessThan(1e-15);
  });

  it('matches the definition on random rectangular layers', () => {
    const g = gaussian(rng(9));
    const [d0, d1, d2] = [5, 4, 3];
    const L = new Float64Array(d1 * d0).map(() => g());
    const U = new Float64Array(d2 * d1).map(() => g());
    let diff = 0;
    let base = 0;
    for (let i = 0; i < d1; i++)
      for (let j = 0; j < d1; j++) {
        let a = 0;
        let b = 0;
        for (let r = 0; r < d2; r++) a += U[r * d1 + i]! * U[r * d1 + j]!;
        for (let c = 0; c < d0; c++) b += L[i * d0 + c]! * L[j * d0 + c]!;
        diff += (a - b) ** 2;
        base += b * b;
      }
    const v = balancedness({ W: L, rows: d1, cols: d0 }, { W: U, rows: d2, cols: d1 });
    expect(relErr(v, Math.sqrt(diff / base))).toBeLessThan(1e-13);
  });

  it('chains with null where shapes do not allow, and rejects mismatched pairs', () => {
    const a = { W: eye(3), rows: 3, cols: 3 };
    const b = { W: new Float64Array(6), rows: 2, cols: 3 };
    const c = { W: new Float64Array(5), rows: 1, cols: 5 };
    const chain = balancednessChain([a, b, c]);
    expect(chain[0]).toBeCloseTo(1, 15);
    expect(chain[1]).toBeNull();
    expect(() => balancedness(b, { ...c, name: 'fc3' })).toThrow(SurgeonInputError);
    expect(() => balancedness(b, { ...c, name: 'fc3' })).toThrow(/"fc3" takes 5 inputs but lower layer has 2 outputs/);
    expect(() => balancedness({ W: new Float64Array(5), rows: 2, cols: 3 }, a)).toThrow(/5 weights but is declared 2 × 3/);
  });
});
