import { describe, expect, it } from 'vitest';
import { createEngine } from '../../src/linalg/create-engine.js';
import { inverseOf, newtonTarget, prepareCurvature, upperFactor } from '../../src/pruners/curvature.js';
import { explicitProblem, gram } from './helpers.js';

const engine = createEngine({ threads: 1 });

describe('newtonTarget: the least-squares target, ridge toward the dense weights', () => {
  it('X̂ = X with C given (C = H): T = W exactly, whatever the damping', async () => {
    const { problem } = explicitProblem(3, 6, 40, 11, { correlated: true });
    const withC = { ...problem, C: problem.H };
    for (const damp of [0.01, 1]) {
      const curv = prepareCurvature(withC, damp, 'test');
      const T = await newtonTarget(withC, curv, { Hinv: await inverseOf(curv, engine) }, engine);
      for (let i = 0; i < T.length; i++) expect(T[i]).toBeCloseTo(problem.W[i]!, 10);
    }
  });

  it('T (H + δI) = W (C + δI) with the inverse and with the Cholesky factor of the inverse', async () => {
    const { problem } = explicitProblem(4, 5, 30, 12, { sequential: true });
    const d = 5;
    const rows = 4;
    const curv = prepareCurvature(problem, 0.1, 'test');
    const delta = curv.dampingUsed;
    expect(delta).toBeGreaterThan(0);
    for (const factor of [{ Hinv: await inverseOf(curv, engine) }, { U: await upperFactor(curv, engine) }]) {
      const T = await newtonTarget(problem, curv, factor, engine);
      for (let r = 0; r < rows; r++) {
        for (let j = 0; j < d; j++) {
          let lhs = delta * T[r * d + j]!;
          let rhs = delta * problem.W[r * d + j]!;
          for (let k = 0; k < d; k++) {
            lhs += T[r * d + k]! * problem.H![k * d + j]!;
            rhs += problem.W[r * d + k]! * problem.C![k * d + j]!;
          }
          expect(lhs).toBeCloseTo(rhs, 9);
        }
      }
    }
  });

  it('1×1: t = w (c + δ)/(h + δ)', async () => {
    const X = Float32Array.of(1, 2, 3, 4);
    const Xhat = Float32Array.of(1.5, 1.5, 3.5, 3);
    const H = gram(Xhat, Xhat, 4, 1);
    const C = gram(X, Xhat, 4, 1);
    const problem = { W: Float32Array.of(2), rows: 1, cols: 1, H, C };
    const curv = prepareCurvature(problem, 0.5, 'test');
    const T = await newtonTarget(problem, curv, { Hinv: await inverseOf(curv, engine) }, engine);
    const delta = 0.5 * H[0]!;
    expect(curv.dampingUsed).toBeCloseTo(delta, 12);
    expect(T[0]).toBeCloseTo((2 * (C[0]! + delta)) / (H[0]! + delta), 12);
  });
});
