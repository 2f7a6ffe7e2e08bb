/**
 * The GEMM engine contract. All GEMM-shaped work in surgeon (Hessian accumulation XᵀX,
 * lazy batch updates of the SparseGPT sweep, trailing updates of blocked factorizations)
 * goes through one object implementing this interface, so that pruners stay readable and
 * the engine can change (pure TypeScript for small sizes, onnxruntime for large ones).
 *
 * Matrices are dense, row-major typed arrays. Shapes are given explicitly.
 */
export type Matrix = Float64Array | Float32Array;

/** Options of {@link GemmEngine.gemm}. */
export interface GemmOptions {
  /** Use Aᵀ instead of A (A stored k × m). */
  transA?: boolean;
  /** Use Bᵀ instead of B (B stored n × k). */
  transB?: boolean;
  /** Scale of the product (default 1). */
  alpha?: number;
  /** When given, the result is written as out = beta·out + alpha·op(A)·op(B) (default beta 0). */
  out?: Float64Array;
  /** Scale of `out`'s previous content (default 0; only with `out`). */
  beta?: number;
}

/** A matrix-multiply engine. Every method returns a row-major Float64Array result. */
export interface GemmEngine {
  /** Human-readable name, e.g. "onnxruntime(fp64, 2 threads)" or "typescript". */
  readonly name: string;
  /** C (m × n) = alpha · op(A) (m × k) · op(B) (k × n) [+ beta · out]. */
  gemm(A: Matrix, B: Matrix, m: number, k: number, n: number, options?: GemmOptions): Promise<Float64Array>;
  /** Releases native resources (sessions). The engine must not be used afterwards. */
  dispose(): Promise<void>;
}
