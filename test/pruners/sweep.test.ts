/**
 * The SparseGPT sweep's schedule (left-looking panels, TypeScript sub-blocks, lazy GEMMs) against
 * the plain column-by-column algorithm of the paper, written out directly here: every OBS step
 * propagates its errors to all later columns at once, and a block's mask is chosen jointly over
 * rows × block columns by w²/U_jj² when the sweep reaches it. Also OBC's batched downdates
 * against the textbook greedy OBS loop.
 */
import { describe, expect, it } from 'vitest';
import { spdInverse, upperCholeskyOfInverse } from '../../src/linalg/spd.js';
import { obcProject } from '../../src/pruners/obc.js';
import { OnnxRuntimeEngine } from '../../src/linalg/gemm-ort.js';
import { TypeScriptEngine } from '../../src/linalg/gemm-ts.js';
import { kthSmallest, sparsegptSweep } from '../../src/pruners/sparsegpt.js';
import { makePlan, prepareCurvature } from '../../src/pruners/curvature.js';
import { explicitProblem, rng } from './helpers.js';
import type { SparsityPattern } from '../../src/pruners/types.js';

/** Column-by-column SparseGPT on W (rows × d); mirrors the paper's Algorithm 1 without lazy batching. */
function referenceSweep(W: Float32Array, rows: number, d: number, U: Float64Array, blockCounts: (b1: number, b2: number) => number, B: number, nm?: { n: number; m: number }) {
  const w = Float64Array.from(W);
  const keep = new Uint8Array(rows * d).fill(1);
  for (let b1 = 0; b1 < d; b1 += B) {
    const b2 = Math.min(b1 + B, d);
    if (!nm) {
      const entries: Array<{ s: number; pos: number; r: number; j: number }> = [];
      for (let j = b1; j < b2; j++) for (let r = 0; r < rows; r++) entries.push({ s: w[r * d + j] ** 2 / U[j * d + j] ** 2, pos: (j - b1) * rows + r, r, j });
      entries.sort((a, b) => a.s - b.s || a.pos - b.pos);
      for (const e of entries.slice(0, blockCounts(b1, b2))) keep[e.r * d + e.j] = 0;
    }
    for (let j = b1; j < b2; j++) {
      if (nm && (j - b1) % nm.m === 0) {
        for (let r = 0; r < rows; r++) {
          const g = Array.from({ length: nm.m }, (_, t) => ({ s: w[r * d + j + t] ** 2 / U[(j + t) * d + j + t] ** 2, t }));
          g.sort((a, b) => a.s - b.s || a.t - b.t);
          for (const e of g.slice(0, nm.m - nm.n)) keep[r * d + j + e.t] = 0;
        }
      }
      for (let r = 0; r < rows; r++) {
        if (keep[r * d + j]) continue;
        const err = w[r * d + j] / U[j * d + j];
        for (let jp = j; jp < d; jp++) w[r * d + jp] -= err * U[j * d + jp];
        w[r * d + j] = 0;
      }
    }
  }
  return { w, keep };
}

const ort = new OnnxRuntimeEngine();

describe('sparsegptSweep = column-by-column reference', () => {
  const cases: Array<{ d: number; rows: number; blocksize: number; pattern?: SparsityPattern; label: string }> = [
    { d: 300, rows: 7, blocksize: 128, label: 'd=300 (panels and sub-blocks), blocks of 128' },
    { d: 413, rows: 5, blocksize: 50, label: 'd=413, blocks of 50 (not a divisor of the panel)' },
    { d: 260, rows: 6, blocksize: 128, pattern: { kind: 'nm', n: 2, m: 4 }, label: 'd=260, 2:4' },
    { d: 258, rows: 4, blocksize: 128, pattern: { kind: 'nm', n: 1, m: 3 }, label: 'd=258, 1:3' },
  ];
  for (const c of cases) {
    for (const [engineName, engine] of [['onnxruntime', ort], ['typescript', new TypeScriptEngine()]] as const) {
      it(`${c.label}, ${engineName}`, async () => {
        const { problem } = explicitProblem(c.rows, c.d, 2 * c.d, 900 + c.d, { correlated: true });
        const options = { sparsity: 0.6, pattern: c.pattern };
        const curv = prepareCurvature(problem, undefined, 'sparsegpt');
        const U = await upperCholeskyOfInverse(curv.Hd, c.d, ort);
        const plan = makePlan(c.rows, c.d, options, curv);
        const res = await sparsegptSweep(problem.W, c.rows, c.d, U, plan, c.blocksize, engine);
        const blockCounts = (b1: number, b2: number) => {
          let k = 0;
          for (let r = 0; r < c.rows; r++) k += Math.floor((plan.counts[r]! * b2) / c.d) - Math.floor((plan.counts[r]! * b1) / c.d);
          return k;
        };
        const nm = c.pattern?.kind === 'nm' ? { n: c.pattern.n, m: c.pattern.m } : undefined;
        const B = nm ? Math.ceil(c.blocksize / nm.m) * nm.m : c.blocksize;
        const ref = referenceSweep(problem.W, c.rows, c.d, U, blockCounts, B, nm);
        expect([...res.mask]).toEqual([...ref.keep]);
        let maxDiff = 0;
        let maxRef = 0;
        for (let i = 0; i < ref.w.length; i++) {
          maxDiff = Math.max(maxDiff, Math.abs(res.W[i]! - Math.fround(ref.w[i]!)));
          maxRef = Math.max(maxRef, Math.abs(ref.w[i]!));
        }
        expect(maxDiff / maxRef).toBeLessThan(1e-6);
        for (let i = 0; i < res.W.length; i++) if (res.mask[i] === 0 && res.W[i] !== 0) throw new Error(`pruned weight ${i} is ${res.W[i]}`);
      });
    }
  }
});

describe('kthSmallest (radix selection)', () => {
  it('1×1, 2×2 and ties', () => {
    const s = new Float64Array(16);
    const c = new Int32Array(65536);
    expect(kthSmallest(new Float64Array([3]), 1, 1, s, c)).toBe(3);
    expect(kthSmallest(new Float64Array([2, 1]), 2, 1, s, c)).toBe(1);
    expect(kthSmallest(new Float64Array([2, 1]), 2, 2, s, c)).toBe(2);
    expect(kthSmallest(new Float64Array([0, 5, 0, 0, 5]), 5, 4, s, c)).toBe(5);
    const out = { below: -1 };
    expect(kthSmallest(new Float64Array([0, 5, 0, 0, 5]), 5, 2, s, c, out)).toBe(0);
    expect(out.below).toBe(0);
    expect(kthSmallest(new Float64Array([0, 5, 0, 0, 5]), 5, 5, s, c, out)).toBe(5);
    expect(out.below).toBe(3);
  });
  it('= sorting, on random, clustered, zero and infinite values', () => {
    const u = rng(5);
    const c = new Int32Array(65536);
    for (const kind of ['uniform', 'clustered', 'zeros', 'wide'] as const) {
      const n = 5000;
      const v = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const x = u();
        v[i] = kind === 'uniform' ? x : kind === 'clustered' ? 1 + 1e-12 * Math.floor(x * 7) : kind === 'zeros' ? (x < 0.6 ? 0 : x) : x < 0.05 ? Infinity : Math.exp(60 * (x - 0.5));
      }
      const sorted = Float64Array.from(v).sort();
      for (const k of [1, 2, 17, 2500, 2999, 3001, n - 1, n]) {
        const out = { below: -1 };
        const value = kthSmallest(v, n, k, new Float64Array(n), c, out);
        expect(value).toBe(sorted[k - 1]);
        // the count of values strictly below the result comes with it (ties: fewer than k − 1)
        expect(out.below).toBe(sorted.findIndex((x) => x === value));
      }
    }
  });
});

/** Greedy OBS on one row with every rank-one downdate of H⁻¹ applied at once (the textbook loop). */
function referenceObcRow(w: Float64Array, Hinv: Float64Array, d: number, prunes: number): Uint8Array {
  const H = Float64Array.from(Hinv);
  const keep = new Uint8Array(d).fill(1);
  for (let step = 0; step < prunes; step++) {
    let p = -1;
    let best = Infinity;
    for (let q = 0; q < d; q++) {
      if (!keep[q]) continue;
      const s = (w[q]! * w[q]!) / H[q * d + q]!;
      if (s < best) [best, p] = [s, q];
    }
    const hpp = H[p * d + p]!;
    const col = Float64Array.from({ length: d }, (_, j) => H[j * d + p]!);
    const f = w[p]! / hpp;
    for (let j = 0; j < d; j++) w[j]! -= f * col[j]!;
    w[p] = 0;
    keep[p] = 0;
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) H[i * d + j]! -= (col[i]! * col[j]!) / hpp;
  }
  return keep;
}

describe('obcProject with batched downdates = the textbook greedy OBS loop', () => {
  it('d=200 (three GEMM flushes per row), 70 %', async () => {
    const d = 200;
    const rows = 3;
    const { problem } = explicitProblem(rows, d, 3 * d, 4242, { correlated: true });
    const curv = prepareCurvature(problem, undefined, 'obc');
    const Hinv = await spdInverse(curv.Hd, d, ort);
    const plan = makePlan(rows, d, { sparsity: 0.7 }, curv);
    const res = await obcProject(problem.W, rows, d, Hinv, plan, ort);
    for (let r = 0; r < rows; r++) {
      const w = Float64Array.from(problem.W.subarray(r * d, (r + 1) * d));
      const keep = referenceObcRow(w, Hinv, d, plan.counts[r]!);
      expect([...res.mask.subarray(r * d, (r + 1) * d)]).toEqual([...keep]);
      let maxDiff = 0;
      for (let j = 0; j < d; j++) maxDiff = Math.max(maxDiff, Math.abs(res.W[r * d + j]! - Math.fround(w[j]!)));
      expect(maxDiff).toBeLessThan(1e-5);
    }
  });
});
