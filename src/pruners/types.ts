/**
 * Contracts shared by every layer-wise pruner (one file per method in src/pruners).
 *
 * A prunable layer is a weight view W (rows × cols, row-major; rows = outputs, cols = d =
 * inputs) and its calibration inputs, streamed as sample matrices X (n × d, row-major: one
 * sample/token/im2col patch per row). The layer-wise problem is
 *   min over sparse Ŵ of ½‖Ŵ X̂ᵀ − W Xᵀ‖² / N
 * with curvature H = X̂ᵀX̂ / N (d × d) and cross term C = XᵀX̂ / N (d × d; C = H when X̂ = X).
 */

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
}
