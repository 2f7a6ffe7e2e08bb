/**
 * Relative reconstruction error of a pruned layer from second-moment statistics:
 *   ‖Ŵ X̂ᵀ − W Xᵀ‖² / ‖W Xᵀ‖²
 *   = (tr(Ŵ Ĥ Ŵᵀ) − 2 tr(W C Ŵᵀ) + tr(W Hd Wᵀ)) / tr(W Hd Wᵀ)
 * with Ĥ = X̂ᵀX̂/N, C = XᵀX̂/N and Hd = XᵀX/N (parallel mode: X̂ = X, all three equal).
 * The N cancels, so statistics of held-out samples give the held-out error exactly. Where
 * X̂ = X the numerator is computed directly as tr(Δ H Δᵀ), Δ = Ŵ − W.
 */
import type { GemmEngine } from '../linalg/engine.js';

/** Statistics of one layer's inputs (see the module comment). */
export interface InputStatistics {
  H: Float64Array;
  C?: Float64Array;
  Hdense?: Float64Array;
}

/** Σ_ij (A·M)_ij · B_ij = tr(A M Bᵀ) for rows × d matrices A, B and a d × d matrix M. */
async function traceProduct(engine: GemmEngine, A: Float32Array, M: Float64Array, B: Float32Array, rows: number, d: number): Promise<number> {
  const AM = await engine.gemm(A, M, rows, d, d);
  let sum = 0;
  for (let i = 0; i < AM.length; i++) sum += AM[i]! * B[i]!;
  return sum;
}

/** ‖Ŵ X̂ᵀ − W Xᵀ‖² / ‖W Xᵀ‖² (0 when W X is identically 0 and so is the error). */
export async function relativeReconstructionError(engine: GemmEngine, W: Float32Array, What: Float32Array, rows: number, d: number, stats: InputStatistics): Promise<number> {
  if (!stats.C && !stats.Hdense) {
    // X̂ = X: the error is tr(Δ H Δᵀ) with Δ = Ŵ − W — two products instead of three, and no
    // cancellation between large terms when the error is small.
    const delta = new Float32Array(W.length);
    for (let i = 0; i < W.length; i++) delta[i] = What[i]! - W[i]!;
    const numerator = Math.max(0, await traceProduct(engine, delta, stats.H, delta, rows, d));
    const dense = await traceProduct(engine, W, stats.H, W, rows, d);
    if (dense <= 0) return numerator === 0 ? 0 : Infinity;
    return numerator / dense;
  }
  const Hd = stats.Hdense ?? stats.H;
  const C = stats.C ?? stats.H;
  const prunedTerm = await traceProduct(engine, What, stats.H, What, rows, d);
  const crossTerm = await traceProduct(engine, W, C, What, rows, d);
  const denseTerm = await traceProduct(engine, W, Hd, W, rows, d);
  const numerator = Math.max(0, prunedTerm - 2 * crossTerm + denseTerm);
  if (denseTerm <= 0) return numerator === 0 ? 0 : Infinity;
  return numerator / denseTerm;
}
