/**
 * Quantization: the grid round trip, GPTQ against OBQ written out with explicit inverse
 * downdates (brute force), the fixed-mask and joint (SparseGPT §3.5) sweeps, and GPTQ against
 * round-to-nearest.
 */
import { describe, expect, it } from 'vitest';
import { gptqQuantize } from '../../src/pruners/gptq.js';
import { prepareCurvature } from '../../src/pruners/curvature.js';
import { objective } from '../../src/pruners/masks.js';
import { dequantize, dequantizeValue, gridParams, maxCode, quantizeValue, rtnQuantize, type QuantBits, type QuantGrid } from '../../src/pruners/quantize.js';
import { sparsegptPrune } from '../../src/pruners/sparsegpt.js';
import { TypeScriptEngine } from '../../src/linalg/gemm-ts.js';
import { explicitProblem, rng } from './helpers.js';

const engine = new TypeScriptEngine();

/** Gauss–Jordan inverse with partial pivoting (the brute-force reference). */
function inverse(A: Float64Array, n: number): Float64Array {
  const M = Float64Array.from(A);
  const I = new Float64Array(n * n);
  for (let i = 0; i < n; i++) I[i * n + i] = 1;
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r * n + c]!) > Math.abs(M[p * n + c]!)) p = r;
    for (let k = 0; k < n; k++) {
      [M[c * n + k], M[p * n + k]] = [M[p * n + k]!, M[c * n + k]!];
      [I[c * n + k], I[p * n + k]] = [I[p * n + k]!, I[c * n + k]!];
    }
    const piv = M[c * n + c]!;
    for (let k = 0; k < n; k++) {
      M[c * n + k]! /= piv;
      I[c * n + k]! /= piv;
    }
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = M[r * n + c]!;
      if (f === 0) continue;
      for (let k = 0; k < n; k++) {
        M[r * n + k]! -= f * M[c * n + k]!;
        I[r * n + k]! -= f * I[c * n + k]!;
      }
    }
  }
  return I;
}

/**
 * OBQ (Frantar et al. 2022) in the fixed column order, row by row: quantize w_j on its group's
 * grid (set from the current weights at the group's first column, kept ones only), apply the OBS
 * update δ = −(w_j − q_j)/[H⁻¹]_jj · H⁻¹[:, j] to the remaining weights, and downdate
 * H⁻¹ ← H⁻¹ − H⁻¹[:, j]H⁻¹[j, :]/[H⁻¹]_jj. Pruned weights (mask 0) are quantized to 0.
 */
function obq(W: ArrayLike<number>, rows: number, d: number, Hd: Float64Array, grid: QuantGrid, mask?: Uint8Array): { W: Float64Array; codes: Uint8Array } {
  const out = new Float64Array(rows * d);
  const codes = new Uint8Array(rows * d);
  const maxq = maxCode(grid.bits);
  for (let r = 0; r < rows; r++) {
    const w = Float64Array.from({ length: d }, (_, j) => W[r * d + j]!);
    const Hinv = inverse(Hd, d);
    let scale = 1;
    let zero = 0;
    for (let j = 0; j < d; j++) {
      if (j % grid.groupSize === 0) {
        let lo = Infinity;
        let hi = -Infinity;
        for (let k = j; k < Math.min(d, j + grid.groupSize); k++) {
          if (mask && mask[r * d + k] === 0) continue;
          lo = Math.min(lo, w[k]!);
          hi = Math.max(hi, w[k]!);
        }
        ({ scale, zero } = gridParams(lo === Infinity ? 0 : lo, hi === -Infinity ? 0 : hi, grid.bits));
      }
      const kept = !mask || mask[r * d + j] === 1;
      const code = kept ? quantizeValue(w[j]!, scale, zero, maxq) : zero;
      const q = kept ? dequantizeValue(code, scale, zero) : 0;
      codes[r * d + j] = code;
      const e = (w[j]! - q) / Hinv[j * d + j]!;
      for (let k = j; k < d; k++) w[k]! -= e * Hinv[k * d + j]!;
      w[j] = q;
      const hjj = Hinv[j * d + j]!;
      for (let a = j + 1; a < d; a++) for (let b = j + 1; b < d; b++) Hinv[a * d + b]! -= (Hinv[a * d + j]! * Hinv[j * d + b]!) / hjj;
    }
    out.set(w, r * d);
  }
  return { W: out, codes };
}

describe('quantization grid', () => {
  for (const bits of [4, 8] as QuantBits[]) {
    it(`int${bits}: dequantize → quantize gives every code back, and grid values are fixed points`, () => {
      const r = rng(bits);
      const maxq = maxCode(bits);
      for (let t = 0; t < 200; t++) {
        const lo = -Math.exp(6 * r() - 4);
        const hi = Math.exp(6 * r() - 4);
        const { scale, zero } = gridParams(lo, hi, bits);
        expect(Math.fround(scale)).toBe(scale);
        expect(dequantizeValue(zero, scale, zero)).toBe(0);
        for (let c = 0; c <= maxq; c++) {
          const w = dequantizeValue(c, scale, zero);
          expect(quantizeValue(w, scale, zero, maxq)).toBe(c);
          expect(dequantizeValue(quantizeValue(w, scale, zero, maxq), scale, zero)).toBe(w);
        }
      }
    });
  }

  it('round-to-nearest keeps pruned weights at exactly 0 and rounds each weight to its nearest grid point', () => {
    const { problem } = explicitProblem(5, 70, 10, 3);
    const mask = Uint8Array.from({ length: 5 * 70 }, (_, i) => (i % 3 === 0 ? 0 : 1));
    const { W, quantized } = rtnQuantize(problem.W, 5, 70, { bits: 4, groupSize: 32 }, mask);
    expect(quantized.groups).toBe(3);
    expect(Array.from(dequantize(quantized))).toEqual(Array.from(W));
    for (let i = 0; i < W.length; i++) {
      if (mask[i] === 0) {
        expect(W[i]).toBe(0);
        continue;
      }
      const g = Math.floor(i / 70) * 3 + Math.floor((i % 70) / 32);
      const s = quantized.scales[g]!;
      expect(Math.abs(W[i]! - problem.W[i]!)).toBeLessThanOrEqual(s / 2 + 1e-6);
    }
  });
});

describe('GPTQ equals OBQ (brute force) on tiny layers', () => {
  const cases = [
    { rows: 3, d: 12, grid: { bits: 4, groupSize: 16 } as QuantGrid, blocksize: 128 },
    { rows: 4, d: 70, grid: { bits: 4, groupSize: 16 } as QuantGrid, blocksize: 16 },
    { rows: 3, d: 150, grid: { bits: 8, groupSize: 64 } as QuantGrid, blocksize: 32 },
    { rows: 2, d: 200, grid: { bits: 4, groupSize: 32 } as QuantGrid, blocksize: 128 },
  ];
  for (const { rows, d, grid, blocksize } of cases) {
    it(`${rows}×${d}, int${grid.bits}, groups of ${grid.groupSize}, blocks of ${blocksize}`, async () => {
      const { problem } = explicitProblem(rows, d, 3 * d, 100 + d, { correlated: true });
      const curv = prepareCurvature(problem, 0.01, 'test');
      const ref = obq(problem.W, rows, d, curv.Hd, grid);
      const got = await gptqQuantize(problem, { quantize: grid, blocksize }, engine);
      expect(Array.from(got.quantized!.codes)).toEqual(Array.from(ref.codes));
      for (let i = 0; i < ref.W.length; i++) expect(got.W[i]).toBe(Math.fround(ref.W[i]!));
    });
  }

  it('with a fixed mask (quantizing after another method): pruned weights stay 0 and match OBQ', async () => {
    const rows = 4;
    const d = 96;
    const grid: QuantGrid = { bits: 4, groupSize: 32 };
    const { problem } = explicitProblem(rows, d, 300, 7, { correlated: true });
    const mask = Uint8Array.from({ length: rows * d }, (_, i) => ((i * 7) % 5 < 2 ? 0 : 1));
    const start = Float32Array.from(problem.W, (w, i) => (mask[i] ? w : 0));
    const curv = prepareCurvature(problem, 0.01, 'test');
    const ref = obq(start, rows, d, curv.Hd, grid, mask);
    const got = await gptqQuantize(problem, { quantize: grid, mask, start, blocksize: 32 }, engine);
    expect(Array.from(got.mask)).toEqual(Array.from(mask));
    for (let i = 0; i < mask.length; i++) if (mask[i] === 0) expect(got.W[i]).toBe(0);
    expect(Array.from(got.quantized!.codes)).toEqual(Array.from(ref.codes));
    for (let i = 0; i < ref.W.length; i++) expect(got.W[i]).toBe(Math.fround(ref.W[i]!));
  });
});

describe('GPTQ and joint pruning + quantization on a layer', () => {
  it('int4: GPTQ reaches a lower layer objective than round-to-nearest, and its loss is the OBS sum', async () => {
    const { problem } = explicitProblem(16, 128, 512, 21, { correlated: true });
    const grid: QuantGrid = { bits: 4, groupSize: 32 };
    const gptq = await gptqQuantize(problem, { quantize: grid, damp: 0 }, engine);
    const rtn = rtnQuantize(problem.W, 16, 128, grid);
    const rtnLoss = await objective({ W0: problem.W, What: rtn.W, rows: 16, cols: 128, H: problem.H! }, engine);
    expect(gptq.loss).toBeLessThan(0.7 * rtnLoss);
    // with damp 0 the sweep's Σ½err² is exactly ½tr(ΔHΔᵀ)
    expect(gptq.diagnostics!.obsLoss).toBeCloseTo(gptq.loss, 6);
    expect(Array.from(dequantize(gptq.quantized!))).toEqual(Array.from(gptq.W));
  });

  it('SparseGPT §3.5: 50 % + int4 in one sweep keeps an exact mask, pruned weights at 0, kept ones on the grid, and beats prune-then-round', async () => {
    const rows = 16;
    const d = 128;
    const { problem } = explicitProblem(rows, d, 512, 22, { correlated: true });
    const grid: QuantGrid = { bits: 4, groupSize: 32 };
    const joint = await sparsegptPrune(problem, { sparsity: 0.5, quantize: grid }, engine);
    let pruned = 0;
    for (let i = 0; i < joint.mask.length; i++) if (joint.mask[i] === 0) {
      pruned++;
      expect(joint.W[i]).toBe(0);
    }
    expect(pruned).toBe((rows * d) / 2);
    expect(Array.from(dequantize(joint.quantized!))).toEqual(Array.from(joint.W));
    for (const c of joint.quantized!.codes) expect(c).toBeLessThanOrEqual(15);
    const sparse = await sparsegptPrune(problem, { sparsity: 0.5 }, engine);
    const rounded = rtnQuantize(sparse.W, rows, d, grid, sparse.mask);
    const roundedLoss = await objective({ W0: problem.W, What: rounded.W, rows, cols: d, H: problem.H!, C: problem.C, Hdense: problem.Hdense }, engine);
    const after = await gptqQuantize(problem, { quantize: grid, mask: sparse.mask, start: sparse.W }, engine);
    // parallel mode: the objective is ½tr(ΔHΔᵀ) against the dense W, which both sweeps reduce
    expect(joint.loss).toBeLessThan(roundedLoss);
    expect(after.loss).toBeLessThan(roundedLoss);
    expect(joint.loss).toBeGreaterThan(sparse.loss);
  });

  it('2:4 + int8 in one sweep: every group of 4 keeps at most 2, kept weights on their grid', async () => {
    const rows = 6;
    const d = 64;
    const { problem } = explicitProblem(rows, d, 256, 23, { correlated: true });
    const joint = await sparsegptPrune(problem, { sparsity: 0.5, pattern: { kind: 'nm', n: 2, m: 4 }, quantize: { bits: 8, groupSize: 16 } }, engine);
    for (let r = 0; r < rows; r++) {
      for (let g = 0; g < d; g += 4) {
        let kept = 0;
        for (let t = 0; t < 4; t++) kept += joint.mask[r * d + g + t]!;
        expect(kept).toBeLessThanOrEqual(2);
      }
    }
    expect(Array.from(dequantize(joint.quantized!))).toEqual(Array.from(joint.W));
    for (let i = 0; i < joint.mask.length; i++) if (joint.mask[i] === 0) expect(joint.W[i]).toBe(0);
  });
});
