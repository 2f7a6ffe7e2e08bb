/**
 * Symmetric positive definite helpers used by the pruners: inverse via Cholesky, the upper
 * Cholesky factor of the inverse (SparseGPT's `cholesky(H⁻¹, upper=True)`), the largest
 * eigenvalue, and dampening with dead-input handling. Matrices are n × n row-major Float64Array.
 */
import { syrk, type GemmEngine } from './engine.js';
import { TypeScriptEngine } from './gemm-ts.js';
import { cholesky, checkSquare } from './cholesky.js';
import { invertLowerTriangular } from './triangular.js';
import { mirrorLower } from './blocks.js';

export { upperCholeskyOfInverse } from './upper-inverse.js';

const tsEngine = new TypeScriptEngine();

/**
 * H⁻¹ of the SPD matrix H via Cholesky: H = L·Lᵀ, X = L⁻¹, H⁻¹ = Xᵀ·X (computed as a Gram
 * product of a triangular matrix, lower block triangle only, so the result is exactly symmetric).
 * Cost ≈ n³/3 + n³/3 + ~n³/2 flops, all GEMM-shaped work on `engine` (default: pure TypeScript).
 * @throws NotPositiveDefiniteError when H is not SPD.
 */
export async function spdInverse(H: Float64Array, n: number, engine: GemmEngine = tsEngine): Promise<Float64Array> {
  checkSquare(H, n);
  const L = await cholesky(H, n, engine);
  const X = await invertLowerTriangular(L, n, engine);
  return lowerTriangularGram(X, n, engine);
}

/** Block rows per product in {@link lowerTriangularGram}. */
const GRAM_BLOCK = 512;

/**
 * G = Xᵀ·X for a lower-triangular X (n × n), exploiting the zeros: for the row block
 * [r0, r1) of G, G[r0:r1, 0:r1] = X[r0:n, r0:r1]ᵀ · X[r0:n, 0:r1] (rows above r0 of X vanish in
 * these columns). Only the lower block triangle is computed; the result is mirrored, so it is
 * exactly symmetric. ≈ 45 % of the flops of a full Gram product at n = 3072.
 */
export async function lowerTriangularGram(X: Float64Array, n: number, engine: GemmEngine = tsEngine): Promise<Float64Array> {
  checkSquare(X, n);
  if (n <= GRAM_BLOCK) return syrk(engine, X, n, n);
  const G = new Float64Array(n * n);
  for (let r0 = 0; r0 < n; r0 += GRAM_BLOCK) {
    const r1 = Math.min(n, r0 + GRAM_BLOCK);
    const b = r1 - r0;
    const rows = n - r0;
    // B = X[r0:n, 0:r1] and A = X[r0:n, r0:r1], contiguous copies.
    const B = new Float64Array(rows * r1);
    const A = new Float64Array(rows * b);
    for (let p = 0; p < rows; p++) {
      const x = (r0 + p) * n;
      B.set(X.subarray(x, x + r1), p * r1);
      A.set(X.subarray(x + r0, x + r1), p * b);
    }
    const P = await engine.gemm(A, B, b, rows, r1, { transA: true });
    for (let i = r0; i < r1; i++) G.set(P.subarray((i - r0) * r1, (i - r0) * r1 + i + 1), i * n);
  }
  mirrorLower(G, n);
  return G;
}

/** Options of {@link lambdaMax}. */
export interface LambdaMaxOptions {
  /** Relative tolerance on the eigenvalue (default 1e-8). */
  tol?: number;
  /** Iteration cap (Lanczos steps; default min(n, 300)). */
  maxIter?: number;
}

/**
 * Largest eigenvalue of the symmetric positive semidefinite H (n × n) by Lanczos with full
 * reorthogonalization from a fixed pseudo-random start (deterministic). The top Ritz value of
 * the tridiagonal T_k is found by Sturm-sequence bisection after each step. Stops when the Ritz
 * value changes by ≤ tol/10 relative in two consecutive steps, when the Krylov space becomes
 * invariant (exact), after n steps (exact in exact arithmetic), or at `maxIter`.
 * Pure TypeScript: one n² matvec per step.
 */
export function lambdaMax(H: Float64Array, n: number, options: LambdaMaxOptions = {}): number {
  checkSquare(H, n);
  if (n === 0) return 0;
  if (n === 1) return H[0]!;
  const tol = options.tol ?? 1e-8;
  const maxIter = Math.max(1, Math.min(n, options.maxIter ?? 300));
  const Q = new Float64Array(maxIter * n);
  const a = new Float64Array(maxIter);
  const b = new Float64Array(maxIter);
  const w = new Float64Array(n);
  // Deterministic start vector (xorshift32), normalized.
  let seed = 0x9e3779b9 | 0;
  let norm = 0;
  for (let i = 0; i < n; i++) {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    const v = (seed >>> 0) / 4294967296 + 0.5;
    Q[i] = v;
    norm += v * v;
  }
  norm = Math.sqrt(norm);
  for (let i = 0; i < n; i++) Q[i]! /= norm;

  let theta = 0;
  let prev = -Infinity;
  let calm = 0;
  for (let k = 0; k < maxIter; k++) {
    const q = k * n;
    // w = H·q_k
    for (let i = 0; i < n; i++) {
      const h = i * n;
      let s0 = 0, s1 = 0;
      let j = 0;
      for (; j + 2 <= n; j += 2) {
        s0 += H[h + j]! * Q[q + j]!;
        s1 += H[h + j + 1]! * Q[q + j + 1]!;
      }
      if (j < n) s0 += H[h + j]! * Q[q + j]!;
      w[i] = s0 + s1;
    }
    let alpha = 0;
    for (let i = 0; i < n; i++) alpha += w[i]! * Q[q + i]!;
    a[k] = alpha;
    // Full reorthogonalization (classical Gram–Schmidt, two passes) against q_0..q_k.
    for (let pass = 0; pass < 2; pass++) {
      for (let j = 0; j <= k; j++) {
        const qj = j * n;
        let c = 0;
        for (let i = 0; i < n; i++) c += w[i]! * Q[qj + i]!;
        for (let i = 0; i < n; i++) w[i]! -= c * Q[qj + i]!;
      }
    }
    let beta = 0;
    for (let i = 0; i < n; i++) beta += w[i]! * w[i]!;
    beta = Math.sqrt(beta);
    theta = largestTridiagonalEigenvalue(a, b, k + 1);
    if (k > 0 && Math.abs(theta - prev) <= 0.1 * tol * Math.abs(theta)) calm++;
    else calm = 0;
    prev = theta;
    if (calm >= 2 || beta <= 1e-14 * Math.max(Math.abs(theta), 1e-300) || k + 1 === maxIter) break;
    b[k] = beta;
    const qn = (k + 1) * n;
    for (let i = 0; i < n; i++) Q[qn + i] = w[i]! / beta;
  }
  return theta;
}

/**
 * Largest eigenvalue of the symmetric tridiagonal matrix with diagonal a[0..k) and
 * off-diagonal b[0..k−1) by bisection on the Sturm count.
 */
function largestTridiagonalEigenvalue(a: Float64Array, b: Float64Array, k: number): number {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < k; i++) {
    const r = (i > 0 ? Math.abs(b[i - 1]!) : 0) + (i < k - 1 ? Math.abs(b[i]!) : 0);
    lo = Math.min(lo, a[i]! - r);
    hi = Math.max(hi, a[i]! + r);
  }
  // count(x) = number of eigenvalues < x. Invariant: count(lo) < k, count(hi) = k.
  for (let it = 0; it < 200; it++) {
    const mid = 0.5 * (lo + hi);
    if (mid <= lo || mid >= hi) break;
    let count = 0;
    let d = 1;
    for (let i = 0; i < k; i++) {
      const bb = i > 0 ? b[i - 1]! * b[i - 1]! : 0;
      d = a[i]! - mid - (i > 0 ? bb / d : 0);
      if (d === 0) d = -1e-300;
      if (d < 0) count++;
    }
    if (count === k) hi = mid;
    else lo = mid;
  }
  return 0.5 * (lo + hi);
}

/** Result of {@link dampHessian}. */
export interface DampedHessian {
  /** The dampened copy of H. */
  H: Float64Array;
  /** Absolute damping added to every diagonal entry: λ·mean(diag H over live inputs), or λ when all are dead. */
  dampingUsed: number;
  /** Inputs j with H_jj = 0 exactly (e.g. always-zero inputs); their weights should be zeroed by the caller. */
  deadInputs: Int32Array;
}

/**
 * Dampens a Hessian for factorization (SparseGPT convention):
 *  1. dead inputs (H_jj === 0 exactly: the input was 0 on every sample, so row and column j of a
 *     Gram matrix are 0) get H_jj = 1, which decouples them; they are reported so that callers
 *     zero their weights (those weights have no effect on the layer output);
 *  2. then H += δ·I with δ = λ·mean(H_jj over live inputs), computed before step 1's ones;
 *     if every input is dead, δ = λ.
 * The input is not modified.
 */
export function dampHessian(H: Float64Array, n: number, lambda: number): DampedHessian {
  const { diagonal, dampingUsed, deadInputs } = dampedDiagonal(H, n, lambda);
  return { H: withDiagonal(H, n, diagonal), dampingUsed, deadInputs };
}

/** A copy of H (n × n) whose diagonal is `diagonal`. */
export function withDiagonal(H: Float64Array, n: number, diagonal: Float64Array): Float64Array {
  const D = H.slice(0, n * n);
  for (let j = 0; j < n; j++) D[j * n + j] = diagonal[j]!;
  return D;
}

/**
 * The diagonal {@link dampHessian} would give, without copying H: factorizations that take a
 * replacement diagonal (e.g. {@link upperCholeskyOfInverse}'s `diagonal` option) then work on
 * H itself.
 */
export function dampedDiagonal(H: Float64Array, n: number, lambda: number): { diagonal: Float64Array; dampingUsed: number; deadInputs: Int32Array } {
  checkSquare(H, n);
  const diagonal = new Float64Array(n);
  const dead: number[] = [];
  let sum = 0;
  let live = 0;
  for (let j = 0; j < n; j++) {
    const h = H[j * n + j]!;
    if (h === 0) {
      dead.push(j);
      diagonal[j] = 1;
    } else {
      diagonal[j] = h;
      sum += h;
      live++;
    }
  }
  const dampingUsed = live > 0 ? lambda * (sum / live) : lambda;
  for (let j = 0; j < n; j++) diagonal[j]! += dampingUsed;
  return { diagonal, dampingUsed, deadInputs: Int32Array.from(dead) };
}
