/**
 * Contracts shared by every layer-wise pruner (one file per method in src/pruners).
 *
 * A prunable layer is a weight view W (rows × cols, row-major; rows = outputs, cols = d =
 * inputs) and its calibration inputs, streamed as sample matrices X (n × d, row-major: one
 * sample/token/im2col patch per row). The layer-wise problem is
 *   min over sparse Ŵ of ½‖Ŵ X̂ᵀ − W Xᵀ‖² / N
 * with curvature H = X̂ᵀX̂ / N (d × d) and cross term C = XᵀX̂ / N (d × d; C = H when X̂ = X).
 */
import type { QuantizedWeight } from './quantize.js';

/**
 * Sparsity pattern: unstructured, or N:M in the usual (NVIDIA) sense: in every group of M
 * consecutive inputs of a row, at most N weights are nonzero — exactly M−N are pruned
 * (2:4 keeps 2 of 4; 1:4 keeps 1 of 4, 75 % sparsity). Groups run along the input dimension.
 */
export type SparsityPattern = { kind: 'unstructured' } | { kind: 'nm'; n: number; m: number };

/** Options common to all layer pruners; each method documents which it reads. */
export interface LayerPruneOptions {
  /** Fraction of weights to set to zero in the layer, in [0, 1). Ignored for N:M (fixed by the pattern). */
  sparsity: number;
  /** Default: unstructured. */
  pattern?: SparsityPattern;
  /** Relative dampening λ: H + λ·mean(diag H)·I (default 0.01). */
  damp?: number;
}

/** What every pruner returns. */
export interface LayerPruneResult {
  /** The pruned weights, rows × cols row-major. */
  W: Float32Array;
  /** 1 where the weight is kept, 0 where pruned. */
  mask: Uint8Array;
  /** Layer objective reached, ½·tr((Ŵ−W)H(Ŵ−W)ᵀ) style loss as the method defines it (documented per method). */
  loss: number;
  /** Absolute damping added to diag(H) (λ·mean diag H), reported to the user. */
  dampingUsed: number;
  /** Wall-clock seconds spent in prune(). */
  seconds: number;
  /** Method-specific extras (dead inputs, OBS loss, iterate history). */
  diagnostics?: LayerPruneDiagnostics;
  /** The quantization codes, when the layer was quantized (`W` is then their dequantized values). */
  quantized?: QuantizedWeight;
}

/**
 * One layer's pruning problem (the binding contract of every `xxxPrune` function).
 *
 * The objective is f(Ŵ) = ½‖Ŵ X̂ᵀ − W Xᵀ‖² / N
 *                        = ½ tr(Ŵ H Ŵᵀ) − tr(Ŵ Cᵀ Wᵀ) + ½ tr(W Hdense Wᵀ),
 * with H = X̂ᵀX̂/N, C = XᵀX̂/N (so C_ab = Σ_s X_sa X̂_sb / N) and Hdense = XᵀX/N. Its gradient
 * is G = Ŵ H − W C (rows × d). Without `C` the problem is the parallel one (X̂ = X: C = H =
 * Hdense) and f(Ŵ) = ½ tr((Ŵ − W) H (Ŵ − W)ᵀ). With `C` but without `Hdense`, H stands in for
 * Hdense: the objective is then exact up to an additive constant (differences are exact).
 */
export interface LayerProblem {
  /** Dense weights, rows × cols row-major (rows = outputs, cols = d = inputs). Never modified. */
  W: Float32Array;
  rows: number;
  cols: number;
  /** Curvature H = X̂ᵀX̂/N (cols × cols, symmetric). Required by every method except magnitude (and wanda when `columnNorms` is given). */
  H?: Float64Array;
  /** Cross term C = XᵀX̂/N (cols × cols); omit in parallel mode (X̂ = X). */
  C?: Float64Array;
  /** XᵀX/N of the dense inputs, only for the exact value of the objective. */
  Hdense?: Float64Array;
  /** ‖X̂_j‖ per input (Wanda's activation norms); default √(diag H) (same ranking). */
  columnNorms?: Float64Array;
  /** Statistics of held-out samples, used by iterative methods to pick the best iterate. */
  heldOut?: { H: Float64Array; C?: Float64Array; Hdense?: Float64Array };
  /**
   * Read-only factors of H shared by the layers that read the same inputs (q, k and v of one
   * attention block): a pruner stores each factor it computes here, keyed by kind and damping,
   * and the next layer with the same H and damping reuses it. The pipeline passes one per H.
   */
  factors?: FactorCache;
}

/** See {@link LayerProblem.factors}. */
export type FactorCache = Map<string, Promise<Float64Array>>;

/** One iterate of an iterative pruner (IHT, I-OBS). */
export interface PruneIterate {
  /** 1-based iteration number (0 = warm start). */
  iteration: number;
  /** Calibration objective f(Ŵ_t) (see {@link LayerProblem}). */
  objective: number;
  /** Objective on `problem.heldOut`, when given. */
  heldOutObjective?: number;
}

/** Extra fields some pruners report (all optional, so every pruner satisfies {@link LayerPruneResult}). */
export interface LayerPruneDiagnostics {
  /** Number of dead inputs (H_jj = 0); their weights are zeroed and counted as pruned. */
  deadInputs?: number;
  /** OBS loss accumulated by the method in the damped metric (Σ ½ w_p²/[H⁻¹]_pp). */
  obsLoss?: number;
  /** Every iterate of iterative methods, in order. */
  history?: PruneIterate[];
  /** Index into `history` of the returned iterate. */
  bestIteration?: number;
}
