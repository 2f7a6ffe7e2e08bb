/**
 * The GEMM engine contract. All GEMM-shaped work in surgeon (Hessian accumulation XᵀX,
 * lazy batch updates of the SparseGPT sweep, trailing updates of blocked factorizations)
 * goes through one object implementing this interface, so that pruners stay readable and
 * the engine can change (pure TypeScript for small sizes, onnxruntime for large ones).
 *
 * Matrices are dense, row-major typed arrays. Shapes are given explicitly.
 */
import type { BufferPool } from './pool.js';
import { mirrorLower } from './blocks.js';

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

/** Options of {@link GemmEngine.syrk}: G = alpha·XᵀX [+ beta·out]. */
export interface SyrkOptions {
  /** Scale of the product (default 1). */
  alpha?: number;
  /** When given, the result is written as out = beta·out + alpha·XᵀX (d × d). */
  out?: Float64Array;
  /** Scale of `out`'s previous content (default 0; only with `out`). */
  beta?: number;
  /**
   * Only the lower triangle (j ≤ i) needs to be right: an engine may leave the strict upper
   * triangle of the result unspecified (callers that accumulate many products mirror once at
   * the end, see {@link mirrorLower}). Default false: the result is exactly symmetric.
   */
  lowerOnly?: boolean;
}

/**
 * Σ XᵀX over batches, kept by an engine in its own layout so that each batch's product is added
 * to the running sum where it is computed (no pass over a d × d array per batch in JavaScript).
 * Calls must not overlap (await each).
 */
export interface GramSum {
  /** Adds XᵀX of X (n × d, row-major) to the running sum (Float64). */
  add(X: Matrix, n: number): Promise<void>;
  /**
   * out[i, j] += the running sum for j ≤ i (the lower triangle of out, d × d), then restarts the
   * sum at 0. `overwrite`: out[i, j] = the sum instead (the caller's lower triangle holds nothing yet).
   */
  drainLowerInto(out: Float64Array, overwrite?: boolean): void;
  /** Gives the sum's memory back (to the engine's pool); the sum cannot be used afterwards. Optional. */
  release?(): void;
}

/** A matrix-multiply engine. Every method returns a row-major Float64Array result. */
export interface GemmEngine {
  /** Human-readable name, e.g. "onnxruntime(fp64, 2 threads)" or "typescript". */
  readonly name: string;
  /** C (m × n) = alpha · op(A) (m × k) · op(B) (k × n) [+ beta · out]. */
  gemm(A: Matrix, B: Matrix, m: number, k: number, n: number, options?: GemmOptions): Promise<Float64Array>;
  /**
   * Gram matrix G (d × d) = alpha · XᵀX [+ beta · out] of X (n × d, row-major); the result is
   * exactly symmetric. Optional: use {@link syrk} to call it with a gemm fallback.
   */
  syrk?(X: Matrix, n: number, d: number, options?: SyrkOptions): Promise<Float64Array>;
  /**
   * A running Gram sum of width d kept natively (see {@link GramSum}); undefined when the engine
   * has no faster path than {@link GemmEngine.syrk} into a caller's array for this d. Optional.
   */
  gramSum?(d: number): Promise<GramSum | undefined>;
  /**
   * Scratch memory reused between calls by the kernels that take it (factorizations, the
   * SparseGPT sweep); see {@link BufferPool}.
   */
  readonly pool?: BufferPool;
  /** Releases native resources (sessions). The engine must not be used afterwards. */
  dispose(): Promise<void>;
}

/**
 * G = alpha·XᵀX [+ beta·out] through `engine.syrk` when the engine has it, else through
 * `engine.gemm` with transA (then symmetrized by copying the lower triangle up).
 */
export async function syrk(engine: GemmEngine, X: Matrix, n: number, d: number, options: SyrkOptions = {}): Promise<Float64Array> {
  if (engine.syrk) return engine.syrk(X, n, d, options);
  if (!options.out) {
    const G = await engine.gemm(X, X, d, n, d, { transA: true, alpha: options.alpha ?? 1 });
    mirrorLower(G, d);
    return G;
  }
  const P = await engine.gemm(X, X, d, n, d, { transA: true, alpha: options.alpha ?? 1 });
  const out = options.out;
  const beta = options.beta ?? 0;
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      const v = beta === 0 ? P[i * d + j]! : beta * out[i * d + j]! + P[i * d + j]!;
      out[i * d + j] = v;
      out[j * d + i] = v;
    }
  }
  return out;
}
