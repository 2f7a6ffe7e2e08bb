/**
 * OBC — Optimal Brain Compression (Frantar, Singh, Alistarh, "Optimal Brain Compression: A
 * Framework for Accurate Post-Training Quantization and Pruning", NeurIPS 2022, Algorithm 1,
 * "ExactOBS"): exact greedy Optimal Brain Surgeon applied to every row independently.
 *
 * The layer objective is separable over rows with the same Hessian H (d × d), so each row w
 * runs the OBS loop of Hassibi & Stork (1993) on its own copy of H⁻¹:
 *   p   = argmin_{q unpruned} w_q² / [H⁻¹]_qq                    (saliency)
 *   w  −= (w_p / [H⁻¹]_pp) · H⁻¹_{:,p}                           (optimal correction, w_p → 0)
 *   H⁻¹ ← H⁻¹ − H⁻¹_{:,p} H⁻¹_{p,:} / [H⁻¹]_pp                   (remove p: inverse of H without p)
 * Each step adds ½ w_p²/[H⁻¹]_pp to the loss; after the last step the kept weights are the exact
 * least-squares correction for the chosen support. Cost O(k·d²) per row, so layers with
 * d > 1024 are refused (use sparsegpt); the downdates are batched into GEMMs ({@link obsRow}).
 *
 * N:M: the greedy choice is restricted to groups that still have fewer than M − N pruned weights.
 */
import { SurgeonInputError } from '../errors.js';
import type { GemmEngine } from '../linalg/engine.js';
import { type PrunePlan, finishObs, inverseOf, makePlan, newtonTarget, prepareCurvature } from './curvature.js';
import type { SweepResult } from './sparsegpt.js';
import { defaultEngine, validatePattern, validateSparsity } from './masks.js';
import { AccumulatingPruner } from './session.js';
import { BufferPool } from '../linalg/pool.js';
import type { LayerProblem, LayerPruneOptions, LayerPruneResult } from './types.js';

/** Largest input dimension OBC accepts. */
export const OBC_MAX_COLS = 1024;

/** Options of {@link obcPrune}. */
export type OBCOptions = LayerPruneOptions;

/** Downdates of H⁻¹ a row keeps pending before one GEMM applies them (see {@link obsRow}). */
export const OBC_FLUSH = 64;

/** Scratch buffers of one OBS row loop (reused across rows). */
interface RowScratch {
  /** H⁻¹ with the flushed downdates applied (d × d). */
  Hinv: Float64Array;
  /** The current diagonal of H⁻¹ (every downdate applied). */
  diag: Float64Array;
  /** The current column p of H⁻¹. */
  c: Float64Array;
  /** Pending downdates u_s = H⁻¹_{:,p_s}/√[H⁻¹]_{p_s p_s}, OBC_FLUSH × d: H⁻¹_current = Hinv − Σ u_s u_sᵀ. */
  pending: Float64Array;
  active: Int32Array;
  groupPruned: Int32Array;
}

/**
 * Greedy OBS on one row. `w` (length d, Float64, modified in place → pruned row) and
 * `s.Hinv` (d × d copy of H⁻¹, destroyed). `keep` receives the mask. Returns Σ ½ w_p²/[H⁻¹]_pp.
 *
 * The rank-one downdates H⁻¹ −= u uᵀ are not applied one by one (O(d²) each in TypeScript):
 * the diagonal (all the saliencies need) is kept current in O(d), the column of the chosen
 * weight is rebuilt from the flushed matrix and the pending u's in O(d · pending), and every
 * {@link OBC_FLUSH} steps one GEMM on the engine applies them all, Hinv −= UᵀU.
 */
export async function obsRow(w: Float64Array, d: number, prunes: number, plan: PrunePlan, keep: Uint8Array, s: RowScratch, engine: GemmEngine): Promise<number> {
  const { Hinv, diag, c, pending, active, groupPruned } = s;
  const nm = plan.pattern?.kind === 'nm' ? plan.pattern : undefined;
  const groupCap = nm ? nm.m - nm.n : 0;
  groupPruned.fill(0);
  let nActive = 0;
  for (let j = 0; j < d; j++) {
    diag[j] = Hinv[j * d + j];
    if (plan.isDead[j]) {
      keep[j] = 0;
      w[j] = 0;
      if (nm) groupPruned[(j / nm.m) | 0]++;
    } else {
      keep[j] = 1;
      active[nActive++] = j;
    }
  }
  let loss = 0;
  let nPending = 0;
  for (let step = 0; nm !== undefined || step < prunes; step++) {
    let best = -1;
    let bestPos = -1;
    let bestScore = Infinity;
    for (let t = 0; t < nActive; t++) {
      const q = active[t];
      if (nm && groupPruned[(q / nm.m) | 0] >= groupCap) continue;
      const score = (w[q] * w[q]) / diag[q];
      if (score < bestScore) {
        bestScore = score;
        best = q;
        bestPos = t;
      }
    }
    if (best < 0) break;
    const p = best;
    // c = current column p of H⁻¹ (entries of pruned indices are stale and never read).
    c.set(Hinv.subarray(p * d, (p + 1) * d));
    for (let k = 0; k < nPending; k++) {
      const base = k * d;
      const a = pending[base + p];
      if (a === 0) continue;
      for (let j = 0; j < d; j++) c[j] -= a * pending[base + j];
    }
    const hpp = c[p];
    const wp = w[p];
    loss += (0.5 * wp * wp) / hpp;
    const f = wp / hpp;
    for (let t = 0; t < nActive; t++) w[active[t]] -= f * c[active[t]];
    w[p] = 0;
    keep[p] = 0;
    if (nm) groupPruned[(p / nm.m) | 0]++;
    active[bestPos] = active[--nActive];
    const inv = 1 / Math.sqrt(hpp);
    const u = nPending * d;
    for (let j = 0; j < d; j++) pending[u + j] = c[j] * inv;
    for (let t = 0; t < nActive; t++) {
      const i = active[t];
      diag[i] -= pending[u + i] * pending[u + i];
    }
    if (++nPending === OBC_FLUSH && nActive > 0) {
      await engine.gemm(pending, pending, d, OBC_FLUSH, d, { transA: true, alpha: -1, beta: 1, out: Hinv });
      nPending = 0;
    }
  }
  return loss;
}

/**
 * Exact greedy OBS projection of `target` (rows × d) for the sparsity `plan`, given H⁻¹.
 */
export async function obcProject(
  target: Float32Array | Float64Array,
  rows: number,
  d: number,
  Hinv: Float64Array,
  plan: PrunePlan,
  engine: GemmEngine = defaultEngine(),
): Promise<SweepResult> {
  const W = new Float32Array(rows * d);
  const mask = new Uint8Array(rows * d);
  const w = new Float64Array(d);
  const keep = new Uint8Array(d);
  const pool = engine.pool ?? new BufferPool();
  const s: RowScratch = {
    Hinv: pool.take(d * d),
    diag: new Float64Array(d),
    c: new Float64Array(d),
    pending: pool.take(OBC_FLUSH * d),
    active: new Int32Array(d),
    groupPruned: new Int32Array(plan.pattern?.kind === 'nm' ? d / plan.pattern.m : 0),
  };
  let obsLoss = 0;
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < d; j++) w[j] = target[r * d + j];
    s.Hinv.set(Hinv.subarray(0, d * d));
    const prunes = Math.max(0, plan.counts[r] - plan.nDead);
    obsLoss += await obsRow(w, d, prunes, plan, keep, s, engine);
    for (let j = 0; j < d; j++) {
      mask[r * d + j] = keep[j];
      W[r * d + j] = keep[j] ? w[j] : 0;
    }
  }
  pool.give(s.Hinv, s.pending);
  return { W, mask, obsLoss };
}

/** Throws {@link SurgeonInputError} when d is too large for exact OBS. */
export function checkObcSize(cols: number): void {
  if (cols > OBC_MAX_COLS) {
    throw new SurgeonInputError(
      `obc: the input dimension ${cols} is too large for exact OBS (O(d³) per row, limit ${OBC_MAX_COLS}); use --method sparsegpt`,
    );
  }
}

/**
 * OBC pruning of one layer (needs `problem.H`). Like {@link sparsegptPrune}, prunes the
 * least-squares target ({@link newtonTarget}) when `problem.C` is given; `loss` is the undamped objective.
 */
export async function obcPrune(problem: LayerProblem, options: OBCOptions, engine: GemmEngine = defaultEngine()): Promise<LayerPruneResult> {
  const t0 = performance.now();
  validateSparsity(options.sparsity);
  validatePattern(problem.cols, options.pattern);
  checkObcSize(problem.cols);
  const curv = prepareCurvature(problem, options.damp, 'obc');
  const Hinv = await inverseOf(curv, engine);
  const target = await newtonTarget(problem, curv, { Hinv }, engine);
  const plan = makePlan(problem.rows, problem.cols, options, curv);
  const result = await obcProject(target, problem.rows, problem.cols, Hinv, plan, engine);
  return finishObs(problem, curv, target, result, t0, engine);
}

/** OBC for library users with their own framework (`addBatch`, then `prune`). */
export class OBC extends AccumulatingPruner<OBCOptions> {
  protected override run(problem: LayerProblem, options: OBCOptions, engine: GemmEngine): Promise<LayerPruneResult> {
    return obcPrune(problem, options, engine);
  }
}
