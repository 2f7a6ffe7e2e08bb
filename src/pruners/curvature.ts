/**
 * Curvature preparation shared by the second-order pruners (SparseGPT, OBC, IHT, I-OBS):
 * dampening, dead inputs, the factors of H⁻¹, the least-squares (Newton) target and the
 * sparsity plan.
 *
 * Dampening (Frantar & Alistarh 2023, §3): H_damped = H + λ·mean(diag H)·I with λ = `damp`
 * (default 0.01); the absolute amount λ·mean(diag H) is reported as `dampingUsed`.
 * Dead inputs (H_jj = 0: the input is always zero on the calibration set) get H_jj = 1 before
 * factorization, their weights are zeroed (they cannot affect the layer's output on that data)
 * and they count toward the pruned total — they are pruned first, at zero cost.
 */
import { SurgeonInputError } from '../errors.js';
import type { GemmEngine } from '../linalg/engine.js';
import { NotPositiveDefiniteError } from '../linalg/cholesky.js';
import { dampedDiagonal, spdInverse, upperCholeskyOfInverse, withDiagonal } from '../linalg/spd.js';
import { layerPruneCount, objective, rowPruneCounts } from './masks.js';
import type { SweepResult } from './sparsegpt.js';
import type { FactorCache, LayerProblem, LayerPruneOptions, LayerPruneResult, SparsityPattern } from './types.js';

/** Default relative dampening λ. */
export const DEFAULT_DAMP = 0.01;

/** A dampened Hessian and its dead inputs. */
export interface Curvature {
  d: number;
  /** H as given (undamped), for the objective. */
  H: Float64Array;
  /** The diagonal of the dampened H: H_jj + dampingUsed, dead entries 1 + dampingUsed. */
  diagonal: Float64Array;
  /** H with that diagonal (a copy, made on first access: the factor of H⁻¹ works on H itself). */
  readonly Hd: Float64Array;
  dampingUsed: number;
  /** 1 where H_jj = 0. */
  isDead: Uint8Array;
  nDead: number;
  /** Factors shared with other layers of the same H (see {@link LayerProblem.factors}). */
  factors?: FactorCache;
}

/** Validates `problem.H` and dampens it (see the module comment). */
export function prepareCurvature(problem: LayerProblem, damp: number | undefined, method: string): Curvature {
  const { H, cols: d, rows, W } = problem;
  if (!H) throw new SurgeonInputError(`${method}: needs the layer Hessian H = XᵀX/N; pass calibration data`);
  if (H.length !== d * d) throw new SurgeonInputError(`${method}: H has ${H.length} entries, expected ${d}×${d}`);
  if (W.length !== rows * d) throw new SurgeonInputError(`${method}: W has ${W.length} entries, expected ${rows}×${d}`);
  if (problem.C && problem.C.length !== d * d) throw new SurgeonInputError(`${method}: C has ${problem.C.length} entries, expected ${d}×${d}`);
  const lambda = damp ?? DEFAULT_DAMP;
  if (!(Number.isFinite(lambda) && lambda >= 0)) throw new SurgeonInputError(`${method}: damp must be ≥ 0, got ${lambda}`);
  const damped = dampedDiagonal(H, d, lambda);
  const isDead = new Uint8Array(d);
  for (let t = 0; t < damped.deadInputs.length; t++) isDead[damped.deadInputs[t]] = 1;
  let Hd: Float64Array | undefined;
  return {
    d,
    H,
    diagonal: damped.diagonal,
    get Hd() {
      Hd ??= withDiagonal(H, d, damped.diagonal);
      return Hd;
    },
    dampingUsed: damped.dampingUsed,
    isDead,
    nDead: damped.deadInputs.length,
    ...(problem.factors ? { factors: problem.factors } : {}),
  };
}

/**
 * U with UᵀU = H_damped⁻¹ (upper Cholesky factor of the inverse, as in SparseGPT); taken from
 * and stored in `curv.factors` when the problem shares them (treat U as read-only).
 */
export function upperFactor(curv: Curvature, engine: GemmEngine): Promise<Float64Array> {
  const key = `U:${curv.dampingUsed}`;
  const shared = curv.factors?.get(key);
  if (shared) return shared;
  // A shared factor lives until the cache is released ({@link releaseFactors}): its memory comes
  // from the engine's pool (a fresh 3072² array costs ≈ 40 ms of page faults before any arithmetic).
  const out = curv.factors ? engine.pool?.take(curv.d * curv.d) : undefined;
  const U = explainSingular(upperCholeskyOfInverse(curv.H, curv.d, engine, { diagonal: curv.diagonal, ...(out ? { out } : {}) }), curv);
  curv.factors?.set(key, U);
  return U;
}

/**
 * Gives the factors stored in `cache` back to `engine.pool` (where {@link upperFactor} took their
 * memory) once no layer needs them; the factors must not be used afterwards.
 */
export async function releaseFactors(cache: FactorCache, engine: GemmEngine): Promise<void> {
  const factors = await Promise.allSettled(cache.values());
  cache.clear();
  for (const f of factors) if (f.status === 'fulfilled') engine.pool?.give(f.value);
}

/** H_damped⁻¹. */
export function inverseOf(curv: Curvature, engine: GemmEngine): Promise<Float64Array> {
  return explainSingular(spdInverse(curv.Hd, curv.d, engine), curv);
}

/** Turns a failed factorization into a {@link SurgeonInputError} that names the fix. */
async function explainSingular(p: Promise<Float64Array>, curv: Curvature): Promise<Float64Array> {
  try {
    return await p;
  } catch (e) {
    if (!(e instanceof NotPositiveDefiniteError)) throw e;
    throw new SurgeonInputError(
      `the layer Hessian (${curv.d}×${curv.d}) is singular after dampening ${curv.dampingUsed}; ` +
        'use more calibration samples or a larger --damp (default 0.01)',
      { cause: e },
    );
  }
}

/**
 * The least-squares target of the layer objective, regularized toward the dense weights:
 *   T = argmin_T ½‖X̂Tᵀ − XWᵀ‖²/N + ½δ‖T − W‖² = W (C + δI)(H + δI)⁻¹,   δ = dampingUsed,
 * as Float64 rows × d. The damping δ that makes H invertible shrinks T toward W, not toward 0
 * (plain ridge, W C (H + δI)⁻¹, would scale the weights of every low-variance input direction
 * down — by λ/(λ + δ) along an eigenvalue λ of H — even where X̂ = X, where the target must be W).
 * So T = W exactly when X̂ = X (C = H), and in parallel mode (no C) T = W. Dead-input columns of T
 * are zero. With a factor given as U (UᵀU = (H + δI)⁻¹) T = ((W (C + δI)) Uᵀ) U; with the inverse,
 * T = W (C + δI) (H + δI)⁻¹.
 */
export async function newtonTarget(
  problem: LayerProblem,
  curv: Curvature,
  factor: { U: Float64Array } | { Hinv: Float64Array } | undefined,
  engine: GemmEngine,
): Promise<Float64Array> {
  const { W, rows, cols: d, C } = problem;
  if (!C) {
    const T = Float64Array.from(W);
    if (curv.nDead > 0) for (let r = 0; r < rows; r++) for (let j = 0; j < d; j++) if (curv.isDead[j]) T[r * d + j] = 0;
    return T;
  }
  if (!factor) throw new Error('newtonTarget: a factor of H⁻¹ is needed with C');
  const WC = await engine.gemm(W, C, rows, d, d);
  // Ridge toward the dense weights: T (H + δI) = W C + δ W.
  const delta = curv.dampingUsed;
  for (let r = 0; r < rows; r++) for (let j = 0; j < d; j++) if (!curv.isDead[j]) WC[r * d + j] += delta * W[r * d + j];
  if ('Hinv' in factor) return engine.gemm(WC, factor.Hinv, rows, d, d);
  const WCUt = await engine.gemm(WC, factor.U, rows, d, d, { transB: true });
  return engine.gemm(WCUt, factor.U, rows, d, d);
}

/** How many weights each row prunes, plus the dead inputs. */
export interface PrunePlan {
  pattern?: SparsityPattern;
  /** Zeros per row (dead inputs included; a row with more dead inputs than its count prunes them all). */
  counts: Int32Array;
  isDead: Uint8Array;
  nDead: number;
  /** liveBefore[j] = number of live (not dead) inputs among 0…j−1 (length d + 1). */
  liveBefore: Int32Array;
}

/** The plan of a layer: exact per-row counts of {@link rowPruneCounts}, or the N:M pattern. */
export function makePlan(rows: number, cols: number, options: LayerPruneOptions, curv: Curvature): PrunePlan {
  const pattern = options.pattern?.kind === 'nm' ? options.pattern : undefined;
  const counts = rowPruneCounts(rows, cols, layerPruneCount(rows, cols, options.sparsity, pattern));
  const liveBefore = new Int32Array(cols + 1);
  for (let j = 0; j < cols; j++) liveBefore[j + 1] = liveBefore[j] + (curv.isDead[j] ? 0 : 1);
  return { pattern, counts, isDead: curv.isDead, nDead: curv.nDead, liveBefore };
}

/**
 * The {@link LayerPruneResult} of an OBS-type projection. In parallel mode the undamped loss
 * comes from the OBS identity ½tr(ΔHΔᵀ) = obsLoss − ½·dampingUsed·‖Δ‖² (no GEMM); with C it is
 * the objective evaluated on the engine (also with `evaluate`). Quantization codes of the sweep
 * are passed on.
 */
export async function finishObs(
  problem: LayerProblem,
  curv: Curvature,
  target: Float64Array | Float32Array,
  res: SweepResult,
  t0: number,
  engine: GemmEngine,
  /** Evaluate the objective on the engine even without C (the sweep did not start from the least-squares target, e.g. GPTQ of a pruned layer). */
  evaluate = false,
): Promise<LayerPruneResult> {
  let loss: number;
  if (!problem.C && !evaluate) {
    let sq = 0;
    for (let i = 0; i < target.length; i++) {
      const e = res.W[i] - target[i];
      sq += e * e;
    }
    loss = res.obsLoss - 0.5 * curv.dampingUsed * sq;
  } else {
    const { W, rows, cols, H, C, Hdense } = problem;
    loss = await objective({ W0: W, What: res.W, rows, cols, H: H as Float64Array, C, Hdense }, engine);
  }
  return {
    W: res.W,
    mask: res.mask,
    loss,
    dampingUsed: curv.dampingUsed,
    seconds: (performance.now() - t0) / 1000,
    diagnostics: { deadInputs: curv.nDead, obsLoss: res.obsLoss },
    ...(res.quantized ? { quantized: res.quantized } : {}),
  };
}
