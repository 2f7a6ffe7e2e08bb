/**
 * Cholesky factorization H = L·Lᵀ of a symmetric positive definite matrix (row-major, only the
 * lower triangle of the input is read). Two entry points:
 *  - {@link choleskySync}: pure TypeScript; unblocked dot-product form for n ≤ 256, blocked
 *    (forward-substitution panel, TypeScript GEMM trailing update) above.
 *  - {@link cholesky}: blocked right-looking, trailing update L21·L21ᵀ on a {@link GemmEngine}
 *    (where ~all of the n³/3 flops are), so it runs at native GEMM speed under onnxruntime.
 */
import type { GemmEngine } from './engine.js';
import { gemmSync, TypeScriptEngine } from './gemm-ts.js';
import { invertLowerTriangular } from './triangular.js';
import { extractBlock, placeBlock } from './blocks.js';

/** Thrown when a pivot of the factorization is not positive (matrix not SPD, or too ill-conditioned). */
export class NotPositiveDefiniteError extends Error {
  override readonly name = 'NotPositiveDefiniteError';
  /**
   * @param pivot 0-based index of the failing pivot (row/column of H).
   * @param value the pivot value that was ≤ 0 or not finite.
   */
  constructor(
    readonly pivot: number,
    readonly value: number,
  ) {
    super(
      `matrix is not positive definite: Cholesky pivot ${pivot} is ${value}; ` +
        'increase the dampening (e.g. --damp 0.1) or check the calibration data for NaN/Inf',
    );
  }
}

/** Options of {@link cholesky}. */
export interface CholeskyOptions {
  /** Block size of the blocked algorithm (default 128 for n ≤ 1024, 256 above). */
  blockSize?: number;
}

/** Block size used when none is given. */
export function defaultBlockSize(n: number): number {
  return n <= 1024 ? 128 : 256;
}

/**
 * Factors, in place, the b × b diagonal block starting at (off, off) of W (leading dimension ld):
 * its lower triangle becomes L11 (dot-product / Cholesky–Crout form over contiguous rows).
 * The strictly upper part of the block is left untouched.
 * @throws NotPositiveDefiniteError with the global pivot index.
 */
export function choleskyBlockInPlace(W: Float64Array, ld: number, off: number, b: number): void {
  for (let i = 0; i < b; i++) {
    const ri = (off + i) * ld + off;
    for (let j = 0; j <= i; j++) {
      const rj = (off + j) * ld + off;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      let p = 0;
      for (; p + 4 <= j; p += 4) {
        s0 += W[ri + p]! * W[rj + p]!;
        s1 += W[ri + p + 1]! * W[rj + p + 1]!;
        s2 += W[ri + p + 2]! * W[rj + p + 2]!;
        s3 += W[ri + p + 3]! * W[rj + p + 3]!;
      }
      for (; p < j; p++) s0 += W[ri + p]! * W[rj + p]!;
      const s = W[ri + j]! - (s0 + s1 + (s2 + s3));
      if (j < i) {
        W[ri + j] = s / W[rj + j]!;
      } else {
        if (!(s > 0) || !Number.isFinite(s)) throw new NotPositiveDefiniteError(off + i, s);
        W[ri + i] = Math.sqrt(s);
      }
    }
  }
}

/** Zeroes the strict upper triangle of an n × n row-major matrix. */
function zeroUpper(W: Float64Array, n: number): void {
  for (let i = 0; i < n; i++) W.fill(0, i * n + i + 1, (i + 1) * n);
}

/** W[k1+i, k1+j] -= P[i - r0, j] for the lower part of the trailing block's row panel [r0, r1). */
function subtractLowerPanel(W: Float64Array, n: number, k1: number, r0: number, r1: number, P: Float64Array): void {
  for (let i = r0; i < r1; i++) {
    const w = (k1 + i) * n + k1;
    const p = (i - r0) * r1;
    for (let j = 0; j <= i; j++) W[w + j]! -= P[p + j]!;
  }
}

/**
 * Lower Cholesky factor L (row-major, strict upper part zero) of the SPD matrix A (n × n; only
 * its lower triangle is read), pure TypeScript and synchronous.
 * @throws NotPositiveDefiniteError when a pivot is ≤ 0 (index of the failing pivot).
 */
export function choleskySync(A: Float64Array, n: number, options: CholeskyOptions = {}): Float64Array {
  checkSquare(A, n);
  const W = Float64Array.from(A.subarray(0, n * n));
  const nb = options.blockSize ?? (n <= 256 ? n : defaultBlockSize(n));
  for (let k0 = 0; k0 < n; k0 += nb) {
    const k1 = Math.min(n, k0 + nb);
    const b = k1 - k0;
    choleskyBlockInPlace(W, n, k0, b);
    const m = n - k1;
    if (m === 0) break;
    // Panel: L21 solves L21·L11ᵀ = A21, row by row (forward substitution over contiguous rows).
    for (let r = k1; r < n; r++) {
      const rr = r * n + k0;
      for (let j = 0; j < b; j++) {
        const rj = (k0 + j) * n + k0;
        let s = W[rr + j]!;
        for (let p = 0; p < j; p++) s -= W[rr + p]! * W[rj + p]!;
        W[rr + j] = s / W[rj + j]!;
      }
    }
    // Trailing update (lower part only): A22 -= L21·L21ᵀ.
    const L21 = extractBlock(W, n, k1, k0, m, b);
    for (let r0 = 0; r0 < m; r0 += nb) {
      const r1 = Math.min(m, r0 + nb);
      const P = gemmSync(L21.subarray(r0 * b, r1 * b), L21, r1 - r0, b, r1, { transB: true });
      subtractLowerPanel(W, n, k1, r0, r1, P);
    }
  }
  zeroUpper(W, n);
  return W;
}

const tsEngine = new TypeScriptEngine();

/**
 * Lower Cholesky factor of A (n × n SPD; lower triangle read), blocked right-looking:
 * for each block column, the diagonal block is factored in TypeScript, the panel is
 * L21 = A21·L11⁻ᵀ (small recursive triangular inverse, product on the engine), and the
 * trailing update A22 −= L21·L21ᵀ runs on the engine, lower block triangle only.
 * Agrees with {@link choleskySync} to ~1e-12 relative for well-conditioned A.
 * @param engine where the GEMMs run (default: pure TypeScript).
 * @throws NotPositiveDefiniteError when a pivot is ≤ 0.
 */
export async function cholesky(A: Float64Array, n: number, engine: GemmEngine = tsEngine, options: CholeskyOptions = {}): Promise<Float64Array> {
  checkSquare(A, n);
  const nb = options.blockSize ?? defaultBlockSize(n);
  if (n <= nb) return choleskySync(A, n, { blockSize: n });
  const W = Float64Array.from(A.subarray(0, n * n));
  let L11 = new Float64Array(nb * nb);
  for (let k0 = 0; k0 < n; k0 += nb) {
    const k1 = Math.min(n, k0 + nb);
    const b = k1 - k0;
    choleskyBlockInPlace(W, n, k0, b);
    const m = n - k1;
    if (m === 0) break;
    if (L11.length !== b * b) L11 = new Float64Array(b * b);
    extractBlock(W, n, k0, k0, b, b, L11);
    zeroUpper(L11, b);
    const L11inv = await invertLowerTriangular(L11, b, engine);
    const A21 = extractBlock(W, n, k1, k0, m, b);
    const L21 = await engine.gemm(A21, L11inv, m, b, b, { transB: true });
    placeBlock(W, n, k1, k0, m, b, L21);
    // Trailing update, lower block triangle: rows [r0, r1) against columns [0, r1).
    const tb = Math.max(nb, 256);
    for (let r0 = 0; r0 < m; r0 += tb) {
      const r1 = Math.min(m, r0 + tb);
      const P = await engine.gemm(L21.subarray(r0 * b, r1 * b), L21, r1 - r0, b, r1, { transB: true });
      subtractLowerPanel(W, n, k1, r0, r1, P);
    }
  }
  zeroUpper(W, n);
  return W;
}

/** @internal */
export function checkSquare(A: Float64Array | Float32Array, n: number): void {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`invalid matrix order n=${n}`);
  if (A.length < n * n) throw new RangeError(`matrix has ${A.length} elements, needs n² = ${n * n}`);
}
