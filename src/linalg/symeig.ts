/**
 * Symmetric eigendecomposition of small dense matrices by the cyclic Jacobi method, and the
 * pseudo-inverse built on it.
 *
 * Meant for K × K Gram matrices of class means (K up to a few hundred): O(n³) per sweep,
 * typically 6–12 sweeps; eigenvalues are accurate to about ε·‖A‖_F in absolute terms and the
 * eigenvectors are orthonormal to working precision. Not meant for large matrices (use a
 * LAPACK-backed engine for those).
 *
 * Reference: Golub & Van Loan, Matrix Computations (4th ed.), §8.5 (cyclic Jacobi, sym.schur2).
 */
import { SurgeonInputError } from '../errors.js';

/** Result of {@link symeig}. */
export interface SymEig {
  /** Order n. */
  n: number;
  /** Eigenvalues in descending order (length n). */
  values: Float64Array;
  /**
   * Eigenvectors, n × n row-major, one per column: `vectors[i * n + j]` is component i of the
   * eigenvector of `values[j]`, so A = V · diag(values) · Vᵀ and VᵀV = I. Only when requested.
   */
  vectors?: Float64Array;
  /** Jacobi sweeps used. */
  sweeps: number;
}

/** Options of {@link symeig}. */
export interface SymEigOptions {
  /** Also return the eigenvectors (default false). */
  vectors?: boolean;
  /** Maximum number of sweeps (default 100; convergence normally needs < 15). */
  maxSweeps?: number;
}

/**
 * Eigenvalues (descending) and optionally eigenvectors of the symmetric matrix A (n × n,
 * row-major). Only the symmetric part (A + Aᵀ)/2 is used, so slightly asymmetric input from
 * rounding is fine.
 *
 * Cyclic-by-row Jacobi: each rotation J(p, q, θ) zeroes a_pq with
 * θ = (a_qq − a_pp)/(2 a_pq), t = sign(θ)/(|θ| + √(θ² + 1)), c = 1/√(1 + t²), s = t·c;
 * sweeps stop when off(A) = (Σ_{p≠q} a_pq²)^{1/2} ≤ ε·‖A‖_F (or stops decreasing below 1e-10·‖A‖_F).
 *
 * @throws SurgeonInputError when `a.length !== n * n` or A has a NaN/Inf entry.
 */
export function symeig(a: ArrayLike<number>, n: number, options: SymEigOptions = {}): SymEig {
  if (!Number.isInteger(n) || n < 0) {
    throw new SurgeonInputError(`symeig: order ${n} is not a non-negative integer; pass the matrix size n`);
  }
  if (a.length !== n * n) {
    throw new SurgeonInputError(`symeig: matrix has ${a.length} entries but n × n = ${n * n}; pass a row-major n × n matrix`);
  }
  const wantVectors = options.vectors === true;
  const maxSweeps = options.maxSweeps ?? 100;
  const A = new Float64Array(n * n);
  let frob2 = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const v = 0.5 * (a[i * n + j]! + a[j * n + i]!);
      if (!Number.isFinite(v)) {
        throw new SurgeonInputError(`symeig: entry (${i}, ${j}) is ${a[i * n + j]}; pass a finite symmetric matrix`);
      }
      A[i * n + j] = v;
      frob2 += v * v;
    }
  }
  const V = wantVectors ? new Float64Array(n * n) : undefined;
  if (V) for (let i = 0; i < n; i++) V[i * n + i] = 1;

  const tol2 = (Number.EPSILON * Number.EPSILON) * frob2;
  let sweeps = 0;
  let prevOff2 = Infinity;
  for (; sweeps < maxSweeps; sweeps++) {
    let off2 = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off2 += 2 * A[p * n + q]! * A[p * n + q]!;
    // Converged, or stagnating at the rounding floor (off(A) no longer decreases).
    if (off2 <= tol2 || frob2 === 0 || (off2 >= prevOff2 && off2 <= 1e-20 * frob2)) break;
    prevOff2 = off2;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = A[p * n + q]!;
        if (apq === 0) continue;
        const app = A[p * n + p]!;
        const aqq = A[q * n + q]!;
        // Skip rotations that cannot change the diagonal in floating point (Rutishauser's test).
        if (Math.abs(apq) < 1e-3 * Number.EPSILON * Math.min(Math.abs(app), Math.abs(aqq))) {
          A[p * n + q] = 0;
          A[q * n + p] = 0;
          continue;
        }
        const theta = (aqq - app) / (2 * apq);
        const absT = Math.abs(theta);
        let t = absT > 1e150 ? 1 / (2 * theta) : 1 / (absT + Math.sqrt(theta * theta + 1));
        if (theta < 0 && absT <= 1e150) t = -t;
        const c = 1 / Math.sqrt(1 + t * t);
        const s = t * c;
        A[p * n + p] = app - t * apq;
        A[q * n + q] = aqq + t * apq;
        A[p * n + q] = 0;
        A[q * n + p] = 0;
        for (let k = 0; k < n; k++) {
          if (k === p || k === q) continue;
          const akp = A[k * n + p]!;
          const akq = A[k * n + q]!;
          const nkp = c * akp - s * akq;
          const nkq = s * akp + c * akq;
          A[k * n + p] = nkp;
          A[p * n + k] = nkp;
          A[k * n + q] = nkq;
          A[q * n + k] = nkq;
        }
        if (V) {
          for (let k = 0; k < n; k++) {
            const vkp = V[k * n + p]!;
            const vkq = V[k * n + q]!;
            V[k * n + p] = c * vkp - s * vkq;
            V[k * n + q] = s * vkp + c * vkq;
          }
        }
      }
    }
  }

  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => A[j * n + j]! - A[i * n + i]!);
  const values = new Float64Array(n);
  for (let j = 0; j < n; j++) values[j] = A[order[j]! * n + order[j]!]!;
  const result: SymEig = { n, values, sweeps };
  if (V) {
    const vectors = new Float64Array(n * n);
    for (let j = 0; j < n; j++) {
      const src = order[j]!;
      for (let i = 0; i < n; i++) vectors[i * n + j] = V[i * n + src]!;
    }
    result.vectors = vectors;
  }
  return result;
}

/** Result of {@link symPinv}. */
export interface SymPinv {
  /** A⁺ (n × n, row-major). */
  pinv: Float64Array;
  /** Number of eigenvalues kept (the numerical rank at this tolerance). */
  kept: number;
  /** Absolute cut-off used: eigenvalues with |λ| > threshold are inverted. */
  threshold: number;
  /** The decomposition it was built from. */
  eig: SymEig;
}

/**
 * Moore–Penrose pseudo-inverse of a symmetric matrix: A⁺ = Σ_{|λ_j| > τ} v_j v_jᵀ / λ_j with
 * τ = rtol · max_j |λ_j| (default rtol 1e-6). Eigenvalues at or below τ are treated as zero.
 */
export function symPinv(a: ArrayLike<number>, n: number, rtol = 1e-6): SymPinv {
  if (!(rtol >= 0 && rtol < 1)) {
    throw new SurgeonInputError(`symPinv: relative tolerance ${rtol} is outside [0, 1); pass e.g. 1e-6`);
  }
  const eig = symeig(a, n, { vectors: true });
  const V = eig.vectors!;
  let maxAbs = 0;
  for (let j = 0; j < n; j++) maxAbs = Math.max(maxAbs, Math.abs(eig.values[j]!));
  const threshold = rtol * maxAbs;
  const pinv = new Float64Array(n * n);
  let kept = 0;
  for (let j = 0; j < n; j++) {
    const lam = eig.values[j]!;
    if (!(Math.abs(lam) > threshold) || lam === 0) continue;
    kept++;
    const inv = 1 / lam;
    for (let r = 0; r < n; r++) {
      const vr = V[r * n + j]! * inv;
      if (vr === 0) continue;
      for (let c = 0; c < n; c++) pinv[r * n + c] += vr * V[c * n + j]!;
    }
  }
  return { pinv, kept, threshold, eig };
}
