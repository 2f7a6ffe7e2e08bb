/**
 * Exact-k mask selection, N:M patterns and the layer objective shared by every pruner.
 *
 * Counting convention (binding for all methods): a layer pruned to sparsity s has exactly
 * K = round(s · rows · cols) zeros. Row-wise methods (Wanda, SparseGPT, OBC, I-OBS with an OBS
 * projection) spread K over the rows as evenly as possible — row r gets
 * ⌊(r+1)K/rows⌋ − ⌊rK/rows⌋ zeros, so per-row counts differ by at most one and the layer total
 * is exact. N:M patterns prune exactly M − N weights in every group of M consecutive inputs.
 * Ties in a score are broken by position (lower index pruned first), so masks are deterministic.
 *
 * The one exception is dead inputs (H_jj = 0, see {@link prepareCurvature}): their weights are
 * always zeroed and counted as pruned; if a row has more dead inputs than its quota it ends
 * sparser than requested.
 */
import { SurgeonInputError } from '../errors.js';
import type { GemmEngine } from '../linalg/engine.js';
import { TypeScriptEngine } from '../linalg/gemm-ts.js';
import type { LayerProblem, SparsityPattern } from './types.js';

/** Throws {@link SurgeonInputError} unless 0 ≤ sparsity < 1. */
export function validateSparsity(sparsity: number, layer = 'layer'): void {
  if (!(Number.isFinite(sparsity) && sparsity >= 0 && sparsity < 1)) {
    throw new SurgeonInputError(`${layer}: sparsity must be in [0, 1), got ${sparsity}; pass e.g. --sparsity 0.5`);
  }
}

/**
 * Throws {@link SurgeonInputError} unless `pattern` can be applied to a layer with `cols` inputs:
 * 0 < N < M and M divides cols (NVIDIA 2:4-style semi-structured sparsity).
 */
export function validatePattern(cols: number, pattern: SparsityPattern | undefined, layer = 'layer'): void {
  if (!pattern || pattern.kind === 'unstructured') return;
  const { n, m } = pattern;
  if (!(Number.isInteger(n) && Number.isInteger(m) && n > 0 && m > n)) {
    throw new SurgeonInputError(`${layer}: invalid N:M pattern ${n}:${m}; need integers 0 < N < M, e.g. 2:4`);
  }
  if (cols % m !== 0) {
    throw new SurgeonInputError(
      `${layer}: ${n}:${m} needs the input dimension (${cols}) to be a multiple of ${m}; use --skip ${layer} or another pattern`,
    );
  }
}

/** Number of zeros of a layer: round(sparsity · rows · cols), or rows·cols·(M−N)/M for N:M. */
export function layerPruneCount(rows: number, cols: number, sparsity: number, pattern?: SparsityPattern): number {
  if (pattern?.kind === 'nm') return (rows * cols * (pattern.m - pattern.n)) / pattern.m;
  return Math.round(sparsity * rows * cols);
}

/** Zeros per row: `total` spread evenly (⌊(r+1)·total/rows⌋ − ⌊r·total/rows⌋). */
export function rowPruneCounts(rows: number, cols: number, total: number): Int32Array {
  const counts = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    counts[r] = Math.floor(((r + 1) * total) / rows) - Math.floor((r * total) / rows);
    if (counts[r] > cols) throw new RangeError(`rowPruneCounts: ${total} zeros do not fit ${rows}×${cols}`);
  }
  return counts;
}

/**
 * Partially orders `idx[0..len)` (positions into `scores[base..base+len)`) so that its first `k`
 * entries are the k smallest scores (ties: lower position first). Quickselect, O(len), no allocation.
 * `idx` must hold at least `len` entries; it is (re)initialized to 0..len−1 first.
 */
export function selectSmallest(scores: ArrayLike<number>, base: number, len: number, k: number, idx: Int32Array): void {
  for (let i = 0; i < len; i++) idx[i] = i;
  if (k <= 0 || k >= len) return;
  const target = k - 1;
  let lo = 0;
  let hi = len - 1;
  while (hi > lo) {
    const p = idx[(lo + hi) >> 1];
    const sp = scores[base + p];
    let i = lo;
    let j = hi;
    while (i <= j) {
      for (;;) {
        const a = idx[i];
        const sa = scores[base + a];
        if (sa < sp || (sa === sp && a < p)) i++;
        else break;
      }
      for (;;) {
        const b = idx[j];
        const sb = scores[base + b];
        if (sp < sb || (sp === sb && p < b)) j--;
        else break;
      }
      if (i <= j) {
        const t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
        i++;
        j--;
      }
    }
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else break;
  }
}

/**
 * Mask (1 = keep) pruning, in every row r, the `counts[r]` entries of smallest `scores`
 * (rows × cols row-major).
 */
export function maskSmallestPerRow(scores: ArrayLike<number>, rows: number, cols: number, counts: Int32Array): Uint8Array {
  const mask = new Uint8Array(rows * cols).fill(1);
  const idx = new Int32Array(cols);
  for (let r = 0; r < rows; r++) {
    const k = counts[r];
    if (k <= 0) continue;
    selectSmallest(scores, r * cols, cols, k, idx);
    for (let t = 0; t < k; t++) mask[r * cols + idx[t]] = 0;
  }
  return mask;
}

/** Mask (1 = keep) pruning the `k` entries of smallest `scores` over the whole layer. */
export function maskSmallestPerLayer(scores: ArrayLike<number>, size: number, k: number): Uint8Array {
  const mask = new Uint8Array(size).fill(1);
  const idx = new Int32Array(size);
  selectSmallest(scores, 0, size, k, idx);
  for (let t = 0; t < k; t++) mask[idx[t]] = 0;
  return mask;
}

/** N:M mask (1 = keep): in every group of `m` consecutive inputs of a row, the m − n smallest scores are pruned. */
export function maskNM(scores: ArrayLike<number>, rows: number, cols: number, n: number, m: number): Uint8Array {
  const mask = new Uint8Array(rows * cols).fill(1);
  const idx = new Int32Array(m);
  const prune = m - n;
  for (let g = 0; g < rows * cols; g += m) {
    selectSmallest(scores, g, m, prune, idx);
    for (let t = 0; t < prune; t++) mask[g + idx[t]] = 0;
  }
  return mask;
}

/** Mask of a layer given scores: N:M when `pattern` says so, else per row (`counts`) or per layer (`k`). */
export function selectMask(
  scores: ArrayLike<number>,
  rows: number,
  cols: number,
  pattern: SparsityPattern | undefined,
  scope: 'row' | 'layer',
  total: number,
): Uint8Array {
  if (pattern?.kind === 'nm') return maskNM(scores, rows, cols, pattern.n, pattern.m);
  if (scope === 'layer') return maskSmallestPerLayer(scores, rows * cols, total);
  return maskSmallestPerRow(scores, rows, cols, rowPruneCounts(rows, cols, total));
}

/** Zeroes `W` where `mask` is 0 (in place) and returns W. */
export function applyMask<T extends Float32Array | Float64Array>(W: T, mask: Uint8Array): T {
  for (let i = 0; i < W.length; i++) if (mask[i] === 0) W[i] = 0;
  return W;
}

/** Number of zeros of `values` (a mask, or weights: their pruned entries). */
export function countPruned(values: ArrayLike<number>): number {
  let z = 0;
  for (let i = 0; i < values.length; i++) if (values[i] === 0) z++;
  return z;
}

/** Arguments of {@link objective}. */
export interface ObjectiveInput {
  /** Dense weights W (rows × cols). */
  W0: Float32Array | Float64Array;
  /** Candidate Ŵ (rows × cols). */
  What: Float32Array | Float64Array;
  rows: number;
  cols: number;
  /** H = X̂ᵀX̂/N (undamped). */
  H: Float64Array;
  /** C = XᵀX̂/N; omit when X̂ = X. */
  C?: Float64Array;
  /** XᵀX/N; H stands in when omitted (exact when C is omitted too). */
  Hdense?: Float64Array;
}

/**
 * The layer objective f(Ŵ) = ½‖Ŵ X̂ᵀ − W Xᵀ‖²/N from second moments (Frantar & Alistarh 2022,
 * eq. 1), evaluated in the cancellation-free form (Δ = Ŵ − W)
 *   f = ½ Σ Δ∘(ΔH) + Σ Δ∘(W(H − C)) + ½ Σ W∘(W(H + Hdense − C − Cᵀ)),
 * which is exactly ½ tr(ΔHΔᵀ) in parallel mode (no C). Three GEMMs at most, on `engine`.
 */
export async function objective(input: ObjectiveInput, engine: GemmEngine = defaultEngine()): Promise<number> {
  const { W0, What, rows, cols: d, H, C, Hdense } = input;
  const n = rows * d;
  const delta = new Float64Array(n);
  for (let i = 0; i < n; i++) delta[i] = What[i] - W0[i];
  const DH = await engine.gemm(delta, H, rows, d, d);
  let f = 0;
  for (let i = 0; i < n; i++) f += 0.5 * delta[i] * DH[i];
  if (!C) return f;
  const M = new Float64Array(d * d);
  for (let i = 0; i < d * d; i++) M[i] = H[i] - C[i];
  const WM = await engine.gemm(W0, M, rows, d, d);
  for (let i = 0; i < n; i++) f += delta[i] * WM[i];
  const Hd = Hdense ?? H;
  for (let a = 0; a < d; a++) {
    for (let b = 0; b < d; b++) M[a * d + b] = H[a * d + b] + Hd[a * d + b] - C[a * d + b] - C[b * d + a];
  }
  const WK = await engine.gemm(W0, M, rows, d, d);
  for (let i = 0; i < n; i++) f += 0.5 * W0[i] * WK[i];
  return f;
}

/**
 * The shared step of the score-based pruners (magnitude, Wanda), which do not update the weights
 * that remain: zeroes the `total` lowest `scores` of W (see {@link selectMask}) in a copy, and
 * gives the layer objective of the result when `problem.H` is given (undefined otherwise).
 */
export async function pruneLowestScores(
  problem: LayerProblem,
  scores: Float64Array,
  pattern: SparsityPattern | undefined,
  scope: 'row' | 'layer',
  total: number,
  engine: GemmEngine,
): Promise<{ W: Float32Array; mask: Uint8Array; objective: number | undefined }> {
  const { W, rows, cols } = problem;
  const mask = selectMask(scores, rows, cols, pattern, scope, total);
  const What = applyMask(Float32Array.from(W), mask);
  const value = problem.H
    ? await objective({ W0: W, What, rows, cols, H: problem.H, C: problem.C, Hdense: problem.Hdense }, engine)
    : undefined;
  return { W: What, mask, objective: value };
}

/**
 * The engine pruners fall back to when none is passed: pure TypeScript (no native resources),
 * a new one per call so that its scratch pool lives only as long as the call.
 */
export function defaultEngine(): GemmEngine {
  return new TypeScriptEngine();
}
