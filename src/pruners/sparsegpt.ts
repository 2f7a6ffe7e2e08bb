/**
 * SparseGPT (Frantar & Alistarh, "SparseGPT: Massive Language Models Can Be Accurately Pruned
 * in One-Shot", ICML 2023, Algorithm 1).
 *
 * The OBS column sweep: with U the upper Cholesky factor of H⁻¹ (UᵀU = H⁻¹, H damped), columns
 * j = 0…d−1 are visited in order; pruned weights of column j are set to zero and their error
 * err = (w_j − q_j)/U_jj is propagated to the columns not yet visited, W[:, j'] −= err · U_jj'.
 * Each step is exact OBS on the remaining columns (the rows of U are the Cholesky rows of the
 * successive inverse Hessians), so the accumulated loss Σ ½ err² equals ½ tr(ΔH Δᵀ) exactly.
 *
 * Blocks of B = 128 columns: the mask of a block is chosen adaptively when the sweep reaches
 * it, by the OBS saliency w²/[U_jj]² of the *current* (already updated) weights. Inside a block
 * updates are applied column by column (tight loop below); the trailing columns get one lazy
 * batch update W[:, i2:] −= Err · U[i1:i2, i2:] on the GEMM engine. N:M: the mask of every group
 * of M columns is chosen when the sweep reaches its first column (B is rounded up to a multiple of M).
 *
 * Mask semantics follow the reference implementation (IST-DASLab/sparsegpt): each block's
 * prunes are chosen jointly over rows × B by saliency; the block's count is its share of the
 * layer total in proportion to its live columns, so the per-layer count is exact (the
 * reference's threshold can be off by ties). N:M masks are exact per row and group.
 *
 * Layout: the sweep runs on Wᵀ (d × rows, Float64), so a column of W is contiguous, the
 * in-block axpy runs over contiguous memory and the lazy update writes Wᵀ[i2:, :] in place.
 */
import type { GemmEngine } from '../linalg/engine.js';
import { type PrunePlan, type Curvature, prepareCurvature, makePlan, newtonTarget, finishObs, upperFactor } from './curvature.js';
import { defaultEngine, selectSmallest, validatePattern, validateSparsity } from './masks.js';
import { AccumulatingPruner } from './session.js';
import type { LayerProblem, LayerPruneOptions, LayerPruneResult } from './types.js';

/** Options of {@link sparsegptPrune}. */
export interface SparseGPTOptions extends LayerPruneOptions {
  /** Columns per block (lazy batch updates and adaptive mask selection), default 128. */
  blocksize?: number;
}

/** Output of {@link sparsegptSweep}. */
export interface SweepResult {
  /** Pruned weights, rows × d row-major. */
  W: Float32Array;
  /** 1 = kept, rows × d. */
  mask: Uint8Array;
  /** Σ ½ (w − q)²/U_jj² = ½ tr(ΔH_damped Δᵀ) for Δ = Ŵ − target. */
  obsLoss: number;
}

/**
 * The SparseGPT sweep projecting `target` (rows × d, e.g. W, or the I-OBS Newton point) onto
 * the sparsity `plan` in the metric of H, given U (d × d upper, UᵀU = H⁻¹).
 */
export async function sparsegptSweep(
  target: Float32Array | Float64Array,
  rows: number,
  d: number,
  U: Float64Array,
  plan: PrunePlan,
  blocksize: number,
  engine: GemmEngine,
): Promise<SweepResult> {
  const nm = plan.pattern?.kind === 'nm' ? plan.pattern : undefined;
  const B = nm ? Math.ceil(blocksize / nm.m) * nm.m : Math.max(1, blocksize);
  // Lazy-update cadence: the column loop runs in TypeScript over sub-blocks of L columns and the
  // rest of the matrix (the remainder of the mask block included) is updated by one GEMM per
  // sub-block. L < B cuts the TypeScript work (rows·d·L/2) without changing the result; L is a
  // multiple of M so that N:M groups never straddle a sub-block.
  const L = Math.min(B, nm ? Math.ceil(LAZY_BLOCK / nm.m) * nm.m : LAZY_BLOCK);
  const WT = new Float64Array(d * rows);
  for (let r = 0; r < rows; r++) for (let j = 0; j < d; j++) WT[j * rows + r] = plan.isDead[j] ? 0 : target[r * d + j];
  const keepT = new Uint8Array(d * rows).fill(1);
  const errT = new Float64Array(L * rows);
  const Ublk = new Float64Array(L * d);
  const scores = new Float64Array(Math.max(B * rows, nm ? nm.m : 0));
  const idx = new Int32Array(scores.length);
  let obsLoss = 0;

  for (let b1 = 0; b1 < d; b1 += B) {
    const b2 = Math.min(b1 + B, d);
    if (!nm) selectBlockMask(WT, keepT, U, rows, d, b1, b2, plan, scores, idx);
    for (let i1 = b1; i1 < b2; i1 += L) {
      const i2 = Math.min(i1 + L, b2);
      const count = i2 - i1;
      for (let j = i1; j < i2; j++) {
        if (nm && (j - b1) % nm.m === 0) selectGroupMask(WT, keepT, U, rows, d, j, nm.n, nm.m, plan.isDead, scores, idx);
        obsLoss += pruneColumn(WT, keepT, errT, U, rows, d, j, (j - i1) * rows, i2);
      }
      if (i2 < d) {
        // Lazy batch update of the trailing columns: Wᵀ[i2:, :] −= U[i1:i2, i2:]ᵀ · Errᵀ.
        const rest = d - i2;
        for (let t = 0; t < count; t++) Ublk.set(U.subarray((i1 + t) * d + i2, (i1 + t + 1) * d), t * rest);
        await engine.gemm(Ublk.subarray(0, count * rest), errT.subarray(0, count * rows), rest, count, rows, {
          transA: true,
          alpha: -1,
          beta: 1,
          out: WT.subarray(i2 * rows),
        });
      }
    }
  }
  const W = new Float32Array(rows * d);
  const mask = new Uint8Array(rows * d);
  for (let j = 0; j < d; j++) {
    for (let r = 0; r < rows; r++) {
      const keep = keepT[j * rows + r];
      mask[r * d + j] = keep;
      W[r * d + j] = keep ? WT[j * rows + r] : 0;
    }
  }
  return { W, mask, obsLoss };
}

/** Columns per lazy GEMM update of the sweep (see {@link sparsegptSweep}); 64 measured fastest of 32/64/96 on a 768 × 3072 layer. */
const LAZY_BLOCK = 64;

/**
 * OBS step of column j: the pruned weights of the column are zeroed, their errors
 * err = w/U_jj are written to errT[e …] (0 for kept weights) and propagated to the columns
 * j+1 … end−1: Wᵀ[j', :] −= U[j, j']·err. Returns the column's ½Σerr².
 */
function pruneColumn(WT: Float64Array, keepT: Uint8Array, errT: Float64Array, U: Float64Array, rows: number, d: number, j: number, e: number, end: number): number {
  const ujj = U[j * d + j];
  const col = j * rows;
  let loss = 0;
  let any = false;
  for (let r = 0; r < rows; r++) {
    if (keepT[col + r] === 1) {
      errT[e + r] = 0;
      continue;
    }
    const err = WT[col + r] / ujj;
    WT[col + r] = 0;
    errT[e + r] = err;
    loss += 0.5 * err * err;
    if (err !== 0) any = true;
  }
  if (!any) return loss;
  // Four destination columns per pass, so each err value is loaded once per four updates.
  const urow = j * d;
  let jp = j + 1;
  for (; jp + 3 < end; jp += 4) {
    const u0 = U[urow + jp];
    const u1 = U[urow + jp + 1];
    const u2 = U[urow + jp + 2];
    const u3 = U[urow + jp + 3];
    const d0 = jp * rows;
    const d1 = d0 + rows;
    const d2 = d1 + rows;
    const d3 = d2 + rows;
    for (let r = 0; r < rows; r++) {
      const er = errT[e + r];
      WT[d0 + r] -= u0 * er;
      WT[d1 + r] -= u1 * er;
      WT[d2 + r] -= u2 * er;
      WT[d3 + r] -= u3 * er;
    }
  }
  for (; jp < end; jp++) {
    const u = U[urow + jp];
    const dst = jp * rows;
    for (let r = 0; r < rows; r++) WT[dst + r] -= u * errT[e + r];
  }
  return loss;
}

/**
 * Adaptive mask of block [i1, i2), as in the reference: the block's prunes are chosen jointly
 * over all rows × block columns by the OBS saliency w²/U_jj² of the current (already updated)
 * weights, so rows that need more weights keep more. The block prunes all its dead inputs plus
 * its share of the layer's live prunes (proportional to its live columns), so the layer total
 * is exact; per-row counts vary, as in SparseGPT.
 */
function selectBlockMask(
  WT: Float64Array,
  keepT: Uint8Array,
  U: Float64Array,
  rows: number,
  d: number,
  i1: number,
  i2: number,
  plan: PrunePlan,
  scores: Float64Array,
  idx: Int32Array,
): void {
  const count = i2 - i1;
  const live = d - plan.nDead;
  const liveBefore1 = plan.liveBefore[i1];
  const liveBefore2 = plan.liveBefore[i2];
  let k = 0;
  for (let r = 0; r < rows; r++) {
    const extra = Math.max(0, plan.counts[r] - plan.nDead);
    k += live > 0 ? Math.floor((extra * liveBefore2) / live) - Math.floor((extra * liveBefore1) / live) : 0;
  }
  for (let t = 0; t < count; t++) {
    const j = i1 + t;
    const u = U[j * d + j];
    const base = j * rows;
    if (plan.isDead[j]) {
      keepT.fill(0, base, base + rows);
      scores.fill(Infinity, t * rows, (t + 1) * rows);
      continue;
    }
    for (let r = 0; r < rows; r++) {
      const w = WT[base + r];
      scores[t * rows + r] = (w * w) / (u * u);
    }
  }
  if (k === 0) return;
  selectSmallest(scores, 0, count * rows, k, idx);
  for (let t = 0; t < k; t++) keepT[i1 * rows + idx[t]] = 0;
}

/** N:M mask of the group of M columns starting at j: the M − N smallest w²/U_jj² per row (dead inputs first). */
function selectGroupMask(
  WT: Float64Array,
  keepT: Uint8Array,
  U: Float64Array,
  rows: number,
  d: number,
  j: number,
  n: number,
  m: number,
  isDead: Uint8Array,
  scores: Float64Array,
  idx: Int32Array,
): void {
  let deadHere = 0;
  for (let t = 0; t < m; t++) deadHere += isDead[j + t];
  const k = Math.max(m - n, deadHere);
  for (let r = 0; r < rows; r++) {
    for (let t = 0; t < m; t++) {
      const w = WT[(j + t) * rows + r];
      const u = U[(j + t) * d + j + t];
      scores[t] = isDead[j + t] ? -Infinity : (w * w) / (u * u);
    }
    selectSmallest(scores, 0, m, k, idx);
    for (let t = 0; t < k; t++) keepT[(j + idx[t]) * rows + r] = 0;
  }
}

/**
 * SparseGPT pruning of one layer (needs `problem.H`). With `problem.C` (sequential mode) the
 * sweep prunes the least-squares target W C H⁻¹ instead of W, which is exact for the
 * objective ½‖ŴX̂ᵀ − WXᵀ‖²/N. `loss` is that objective, undamped (computed from the OBS
 * identity ½tr(ΔHΔᵀ) = obsLoss − ½·dampingUsed·‖Δ‖² in parallel mode).
 */
export async function sparsegptPrune(
  problem: LayerProblem,
  options: SparseGPTOptions,
  engine: GemmEngine = defaultEngine(),
): Promise<LayerPruneResult> {
  const t0 = performance.now();
  validateSparsity(options.sparsity);
  validatePattern(problem.cols, options.pattern);
  const curv: Curvature = prepareCurvature(problem, options.damp, 'sparsegpt');
  const U = await upperFactor(curv, engine);
  const target = await newtonTarget(problem, curv, { U }, engine);
  const plan = makePlan(problem.rows, problem.cols, options, curv);
  const sweep = await sparsegptSweep(target, problem.rows, problem.cols, U, plan, options.blocksize ?? 128, engine);
  return finishObs(problem, curv, target, sweep, t0, engine);
}

/**
 * SparseGPT for library users with their own framework, in the style of the reference's
 * `SparseGPT` class: feed calibration inputs with `addBatch`, then `prune`.
 */
export class SparseGPT extends AccumulatingPruner<SparseGPTOptions> {
  protected override run(problem: LayerProblem, options: SparseGPTOptions, engine: GemmEngine): Promise<LayerPruneResult> {
    return sparsegptPrune(problem, options, engine);
  }
}
