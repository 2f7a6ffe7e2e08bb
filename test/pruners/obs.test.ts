import { describe, expect, it } from 'vitest';
import { SurgeonInputError } from '../../src/errors.js';
import { spdInverse } from '../../src/linalg/spd.js';
import { obcPrune } from '../../src/pruners/obc.js';
import { PRUNERS, PRUNER_NAMES } from '../../src/pruners/registry.js';
import { sparsegptPrune } from '../../src/pruners/sparsegpt.js';
import { explicitProblem, maskZeros, measuredLoss } from './helpers.js';

/** ½ w_P (H⁻¹_PP)⁻¹ w_Pᵀ and the corrected row for pruned set P (exact least squares). */
function bruteForce(w: Float32Array, Hinv: Float64Array, d: number, P: number[]): { loss: number; theta: Float64Array } {
  const k = P.length;
  const A = new Float64Array(k * k);
  for (let a = 0; a < k; a++) for (let b = 0; b < k; b++) A[a * k + b] = Hinv[P[a] * d + P[b]];
  // Solve A z = w_P by Gaussian elimination (k ≤ 3).
  const z = P.map((p) => w[p]);
  for (let c = 0; c < k; c++) {
    for (let r = c + 1; r < k; r++) {
      const f = A[r * k + c] / A[c * k + c];
      for (let t = c; t < k; t++) A[r * k + t] -= f * A[c * k + t];
      z[r] -= f * z[c];
    }
  }
  for (let c = k - 1; c >= 0; c--) {
    for (let t = c + 1; t < k; t++) z[c] -= A[c * k + t] * z[t];
    z[c] /= A[c * k + c];
  }
  const theta = Float64Array.from(w);
  let loss = 0;
  for (let a = 0; a < k; a++) {
    loss += 0.5 * w[P[a]] * z[a];
    for (let j = 0; j < d; j++) theta[j] -= Hinv[j * d + P[a]] * z[a];
  }
  return { loss, theta };
}

function subsets(d: number, k: number): number[][] {
  if (k === 0) return [[]];
  const out: number[][] = [];
  const rec = (start: number, acc: number[]): void => {
    if (acc.length === k) return void out.push([...acc]);
    for (let j = start; j < d; j++) rec(j + 1, [...acc, j]);
  };
  rec(0, []);
  return out;
}

describe('obc: exact greedy OBS', () => {
  it.each([4, 5, 6])('d = %i: one pruned weight is the brute-force optimum; k = 2, 3 have the optimal correction', async (d) => {
    const { problem } = explicitProblem(1, d, 30, d, { correlated: true });
    const Hinv = await spdInverse(problem.H!, d);
    for (const k of [1, 2, 3]) {
      const res = await obcPrune(problem, { sparsity: k / d + 1e-9, damp: 0 });
      const P = [...res.mask.keys()].filter((j) => res.mask[j] === 0);
      expect(P.length).toBe(k);
      const own = bruteForce(problem.W, Hinv, d, P);
      expect(res.loss).toBeCloseTo(own.loss, 9);
      for (let j = 0; j < d; j++) expect(res.W[j]).toBeCloseTo(own.theta[j], 5);
      const best = Math.min(...subsets(d, k).map((S) => bruteForce(problem.W, Hinv, d, S).loss));
      if (k === 1) expect(res.loss).toBeCloseTo(best, 12);
      expect(res.loss).toBeGreaterThanOrEqual(best - 1e-12);
      // The first greedy choice is the single weight of least saliency.
      const sal = [...Array(d).keys()].map((j) => problem.W[j] ** 2 / Hinv[j * d + j]);
      const first = sal.indexOf(Math.min(...sal));
      expect(P).toContain(first);
    }
  });

  it('refuses d > 1024 with a hint to sparsegpt', async () => {
    const d = 1028;
    await expect(obcPrune({ W: new Float32Array(d), rows: 1, cols: d, H: new Float64Array(d * d) }, { sparsity: 0.5 })).rejects.toThrow(
      /use --method sparsegpt/,
    );
  });
});

describe('sparsegpt: OBS sweep', () => {
  it('pruning one column equals exact OBS', async () => {
    const d = 8;
    const rows = 5;
    const { problem } = explicitProblem(rows, d, 40, 11, { correlated: true });
    for (let r = 0; r < rows; r++) problem.W[r * d] = 1e-4 * (r + 1); // column 0 is the least salient in every row
    const s = 1 / d + 1e-9;
    const a = await sparsegptPrune(problem, { sparsity: s, damp: 0 });
    const b = await obcPrune(problem, { sparsity: s, damp: 0 });
    for (let r = 0; r < rows; r++) expect(a.mask[r * d]).toBe(0);
    expect([...a.mask]).toEqual([...b.mask]);
    for (let i = 0; i < a.W.length; i++) expect(a.W[i]).toBeCloseTo(b.W[i], 5);
    expect(a.loss).toBeCloseTo(b.loss, 10);
  });

  it('blocks and lazy updates do not change the result', async () => {
    const { problem } = explicitProblem(6, 48, 100, 12, { correlated: true });
    const one = await sparsegptPrune(problem, { sparsity: 0.5, blocksize: 48 });
    for (const blocksize of [1, 7, 16]) {
      const res = await sparsegptPrune(problem, { sparsity: 0.5, blocksize });
      expect(maskZeros(res.mask)).toBe(144);
      expect(res.loss).toBeGreaterThan(0);
    }
    // Same mask selection when the blocks cover the row: identical to a single block.
    const again = await sparsegptPrune(problem, { sparsity: 0.5, blocksize: 128 });
    expect([...again.W]).toEqual([...one.W]);
  });
});

describe.each(['sparsegpt', 'obc', 'iobs', 'iht', 'wanda', 'magnitude'] as const)('%s: reported loss', (name) => {
  it.each([false, true])('equals ½‖ŴX̂ᵀ − WXᵀ‖²/N (sequential: %s)', async (sequential) => {
    const rows = 6;
    const d = 20;
    const { problem, X, Xhat, N } = explicitProblem(rows, d, 80, 21, { sequential });
    const res = await PRUNERS[name].prune(problem, { sparsity: 0.5, iterations: 5 });
    const measured = measuredLoss(problem.W, res.W, X, Xhat, N, rows, d);
    // Relative 1e-7: Ŵ is returned in float32 while the OBS identity is accumulated in float64.
    expect(Math.abs(res.loss - measured)).toBeLessThan(1e-7 * measured);
    if (name === 'sparsegpt' || name === 'obc') {
      const undamped = await PRUNERS[name].prune(problem, { sparsity: 0.5, damp: 0 });
      const m0 = measuredLoss(problem.W, undamped.W, X, Xhat, N, rows, d);
      if (!sequential) expect(Math.abs(undamped.diagnostics!.obsLoss! - m0)).toBeLessThan(1e-7 * m0);
    }
  });
});

describe.each(PRUNER_NAMES)('%s: dampening, dead inputs, singular H', (name) => {
  const prune = PRUNERS[name].prune;
  const secondOrder = PRUNERS[name].needsHessian;

  it('dead inputs are pruned and counted; result finite', async () => {
    const rows = 4;
    const d = 12;
    const { problem } = explicitProblem(rows, d, 50, 31, { dead: [2, 7] });
    const res = await prune(problem, { sparsity: 0.5, iterations: 5 });
    expect(maskZeros(res.mask)).toBe(24);
    if (secondOrder) {
      for (let r = 0; r < rows; r++) expect([res.mask[r * d + 2], res.mask[r * d + 7]]).toEqual([0, 0]);
      expect(res.diagnostics?.deadInputs).toBe(2);
    }
    expect(res.W.every(Number.isFinite)).toBe(true);
  });

  it.each([
    ['d > N', 16, 6, false],
    ['duplicated columns', 10, 40, true],
  ])('singular H (%s) gives a finite result and reports damping', async (_label, d, N, dup) => {
    const { problem } = explicitProblem(3, d, N, 41);
    if (dup) {
      const H = problem.H!;
      for (let a = 0; a < d; a++) {
        H[a * d + 1] = H[a * d + 0];
        H[1 * d + a] = H[0 * d + a];
      }
      H[1 * d + 1] = H[0];
    }
    const res = await prune(problem, { sparsity: 0.5, iterations: 5 });
    expect(res.W.every(Number.isFinite)).toBe(true);
    expect(Number.isFinite(res.loss)).toBe(true);
    if (secondOrder && name !== 'iht') {
      let mean = 0;
      for (let j = 0; j < d; j++) mean += problem.H![j * d + j] / d;
      expect(res.dampingUsed).toBeCloseTo(0.01 * mean, 12);
    }
  });
});

describe('sparsegpt/obc without dampening on a singular H', () => {
  it('throws a SurgeonInputError suggesting --damp', async () => {
    const { problem } = explicitProblem(2, 12, 4, 51);
    await expect(sparsegptPrune(problem, { sparsity: 0.5, damp: 0 })).rejects.toThrow(SurgeonInputError);
    await expect(obcPrune(problem, { sparsity: 0.5, damp: 0 })).rejects.toThrow(/damp/);
  });
});
