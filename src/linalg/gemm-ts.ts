/**
 * Pure TypeScript GEMM: cache-blocked, register-blocked, Float64 accumulation.
 *
 * C (m × n) = alpha · op(A) · op(B) + beta · out, all row-major. op(A) and op(B) are packed
 * block by block into Float64 scratch buffers (this also handles the transposes and the
 * Float32 → Float64 conversion), then a 4-row × 2-deep microkernel runs the i-k-j loop
 * over contiguous memory. No allocation happens inside the loops; scratch buffers are
 * module-level and grow on demand (the kernel is synchronous, so sharing them is safe).
 *
 * Throughput on the reference machine is 1.5–3.5 GFLOP/s: use it for small products and as
 * the fallback when onnxruntime is unavailable (see {@link createEngine}).
 */
import { BufferPool } from './pool.js';
import { mirrorLower } from './blocks.js';
import type { GemmEngine, GemmOptions, Matrix, SyrkOptions } from './engine.js';

/** Rows of op(A) per packed block. */
const MC = 64;
/** Depth (k) per packed block. */
const KC = 256;
/** Columns of op(B) per packed block (KC·NC doubles = 1 MiB fits L2). */
const NC = 512;

let packA = new Float64Array(MC * KC);
let packB = new Float64Array(KC * NC);

/**
 * C = alpha · op(A) · op(B) + beta · out (see {@link GemmOptions}); synchronous.
 * A is m × k (k × m when transA), B is k × n (n × k when transB). Returns `options.out`
 * when given (updated in place), otherwise a new m × n Float64Array.
 */
export function gemmSync(
  A: Matrix,
  B: Matrix,
  m: number,
  k: number,
  n: number,
  options: GemmOptions = {},
): Float64Array {
  const transA = options.transA ?? false;
  const transB = options.transB ?? false;
  const alpha = options.alpha ?? 1;
  checkShapes(A, B, m, k, n, options);
  let C: Float64Array;
  if (options.out) {
    C = options.out;
    const beta = options.beta ?? 0;
    if (beta === 0) C.fill(0, 0, m * n);
    else if (beta !== 1) for (let t = 0; t < m * n; t++) C[t] *= beta;
  } else {
    C = new Float64Array(m * n);
  }
  if (m === 0 || n === 0 || k === 0 || alpha === 0) return C;

  for (let j0 = 0; j0 < n; j0 += NC) {
    const nb = Math.min(NC, n - j0);
    for (let p0 = 0; p0 < k; p0 += KC) {
      const kb = Math.min(KC, k - p0);
      packOpB(B, transB, k, n, p0, kb, j0, nb);
      for (let i0 = 0; i0 < m; i0 += MC) {
        const mb = Math.min(MC, m - i0);
        packOpA(A, transA, m, k, i0, mb, p0, kb, alpha);
        microBlock(C, n, i0, j0, mb, kb, nb);
      }
    }
  }
  return C;
}

/** Validates sizes; throws RangeError on inconsistent shapes. */
export function checkShapes(A: Matrix, B: Matrix, m: number, k: number, n: number, options: GemmOptions): void {
  if (!(Number.isInteger(m) && Number.isInteger(k) && Number.isInteger(n)) || m < 0 || k < 0 || n < 0) {
    throw new RangeError(`gemm: invalid shape m=${m} k=${k} n=${n}`);
  }
  if (A.length < m * k) throw new RangeError(`gemm: A has ${A.length} elements, needs ${m * k}`);
  if (B.length < k * n) throw new RangeError(`gemm: B has ${B.length} elements, needs ${k * n}`);
  if (options.out && options.out.length < m * n) {
    throw new RangeError(`gemm: out has ${options.out.length} elements, needs ${m * n}`);
  }
}

/** Packs rows p0..p0+kb, columns j0..j0+nb of op(B) into packB (kb × nb, row-major). */
function packOpB(B: Matrix, transB: boolean, k: number, n: number, p0: number, kb: number, j0: number, nb: number): void {
  if (packB.length < kb * nb) packB = new Float64Array(kb * nb);
  const P = packB;
  if (!transB) {
    for (let p = 0; p < kb; p++) {
      const src = (p0 + p) * n + j0;
      const dst = p * nb;
      for (let j = 0; j < nb; j++) P[dst + j] = B[src + j];
    }
  } else {
    // B stored n × k: op(B)[p, j] = B[j, p].
    for (let j = 0; j < nb; j++) {
      const src = (j0 + j) * k + p0;
      for (let p = 0; p < kb; p++) P[p * nb + j] = B[src + p];
    }
  }
}

/** Packs alpha · op(A)[i0..i0+mb, p0..p0+kb] into packA (mb × kb, row-major). */
function packOpA(A: Matrix, transA: boolean, m: number, k: number, i0: number, mb: number, p0: number, kb: number, alpha: number): void {
  const P = packA;
  if (!transA) {
    for (let i = 0; i < mb; i++) {
      const src = (i0 + i) * k + p0;
      const dst = i * kb;
      for (let p = 0; p < kb; p++) P[dst + p] = alpha * A[src + p];
    }
  } else {
    // A stored k × m: op(A)[i, p] = A[p, i].
    for (let p = 0; p < kb; p++) {
      const src = (p0 + p) * m + i0;
      for (let i = 0; i < mb; i++) P[i * kb + p] = alpha * A[src + i];
    }
  }
}

/** C[i0.., j0..] += packA (mb × kb) · packB (kb × nb): 4 rows × 2 depths per pass. */
function microBlock(C: Float64Array, ldc: number, i0: number, j0: number, mb: number, kb: number, nb: number): void {
  const Ap = packA;
  const Bp = packB;
  let i = 0;
  for (; i + 4 <= mb; i += 4) {
    const a0 = i * kb;
    const a1 = a0 + kb;
    const a2 = a1 + kb;
    const a3 = a2 + kb;
    const c0 = (i0 + i) * ldc + j0;
    const c1 = c0 + ldc;
    const c2 = c1 + ldc;
    const c3 = c2 + ldc;
    let p = 0;
    for (; p + 2 <= kb; p += 2) {
      const x0 = Ap[a0 + p], y0 = Ap[a0 + p + 1];
      const x1 = Ap[a1 + p], y1 = Ap[a1 + p + 1];
      const x2 = Ap[a2 + p], y2 = Ap[a2 + p + 1];
      const x3 = Ap[a3 + p], y3 = Ap[a3 + p + 1];
      const b0 = p * nb;
      const b1 = b0 + nb;
      for (let j = 0; j < nb; j++) {
        const u = Bp[b0 + j];
        const v = Bp[b1 + j];
        C[c0 + j] += x0 * u + y0 * v;
        C[c1 + j] += x1 * u + y1 * v;
        C[c2 + j] += x2 * u + y2 * v;
        C[c3 + j] += x3 * u + y3 * v;
      }
    }
    for (; p < kb; p++) {
      const x0 = Ap[a0 + p], x1 = Ap[a1 + p], x2 = Ap[a2 + p], x3 = Ap[a3 + p];
      const b0 = p * nb;
      for (let j = 0; j < nb; j++) {
        const u = Bp[b0 + j];
        C[c0 + j] += x0 * u;
        C[c1 + j] += x1 * u;
        C[c2 + j] += x2 * u;
        C[c3 + j] += x3 * u;
      }
    }
  }
  for (; i < mb; i++) {
    const a0 = i * kb;
    const c0 = (i0 + i) * ldc + j0;
    let p = 0;
    for (; p + 2 <= kb; p += 2) {
      const x0 = Ap[a0 + p], y0 = Ap[a0 + p + 1];
      const b0 = p * nb;
      const b1 = b0 + nb;
      for (let j = 0; j < nb; j++) C[c0 + j] += x0 * Bp[b0 + j] + y0 * Bp[b1 + j];
    }
    for (; p < kb; p++) {
      const x0 = Ap[a0 + p];
      const b0 = p * nb;
      for (let j = 0; j < nb; j++) C[c0 + j] += x0 * Bp[b0 + j];
    }
  }
}

/**
 * Gram matrix G (d × d) = alpha · XᵀX + beta · out for X (n × d, row-major), synchronous.
 * Computes the lower triangle by row blocks and mirrors it, so G is exactly symmetric and
 * costs ≈ n·d² flops instead of 2·n·d².
 */
export function syrkSync(X: Matrix, n: number, d: number, options: SyrkOptions = {}): Float64Array {
  if (X.length < n * d) throw new RangeError(`syrk: X has ${X.length} elements, needs ${n * d}`);
  const alpha = options.alpha ?? 1;
  const G = options.out ?? new Float64Array(d * d);
  if (options.out && options.out.length < d * d) throw new RangeError(`syrk: out needs ${d * d} elements`);
  const beta = options.out ? (options.beta ?? 0) : 0;
  // Lower triangle, row block [r0, r1) × columns [0, r1), via the blocked kernel with transA.
  const RB = 128;
  let T = new Float64Array(0);
  for (let r0 = 0; r0 < d; r0 += RB) {
    const r1 = Math.min(d, r0 + RB);
    const rows = r1 - r0;
    if (T.length < rows * r1) T = new Float64Array(RB * r1);
    const Tv = T.subarray(0, rows * r1);
    // Tv = (X[:, r0:r1])ᵀ · X[:, 0:r1]: pack via a strided view is not possible, so use gemm
    // on column slices expressed through transA over the full X with an offset copy.
    gemmColumnSlices(X, n, d, r0, r1, Tv, alpha);
    for (let i = r0; i < r1; i++) {
      const t = (i - r0) * r1;
      const g = i * d;
      if (beta === 0) for (let j = 0; j <= i; j++) G[g + j] = Tv[t + j];
      else for (let j = 0; j <= i; j++) G[g + j] = beta * G[g + j] + Tv[t + j];
    }
  }
  if (!options.lowerOnly) mirrorLower(G, d);
  return G;
}

/** T (rows × r1) = alpha · X[:, r0:r1]ᵀ · X[:, 0:r1], packing the column slices directly. */
function gemmColumnSlices(X: Matrix, n: number, d: number, r0: number, r1: number, T: Float64Array, alpha: number): void {
  const rows = r1 - r0;
  T.fill(0);
  for (let j0 = 0; j0 < r1; j0 += NC) {
    const nb = Math.min(NC, r1 - j0);
    for (let p0 = 0; p0 < n; p0 += KC) {
      const kb = Math.min(KC, n - p0);
      // op(B)[p, j] = X[p0+p, j0+j]
      if (packB.length < kb * nb) packB = new Float64Array(kb * nb);
      for (let p = 0; p < kb; p++) {
        const src = (p0 + p) * d + j0;
        const dst = p * nb;
        for (let j = 0; j < nb; j++) packB[dst + j] = X[src + j];
      }
      for (let i0 = 0; i0 < rows; i0 += MC) {
        const mb = Math.min(MC, rows - i0);
        // Skip column blocks entirely above the diagonal of this row block.
        if (j0 > r0 + i0 + mb - 1) continue;
        // op(A)[i, p] = X[p0+p, r0+i0+i]
        for (let p = 0; p < kb; p++) {
          const src = (p0 + p) * d + r0 + i0;
          for (let i = 0; i < mb; i++) packA[i * kb + p] = alpha * X[src + i];
        }
        microBlock(T, r1, i0, j0, mb, kb, nb);
      }
    }
  }
}

/** Pure TypeScript {@link GemmEngine}: Float64 accumulation, no native resources. */
export class TypeScriptEngine implements GemmEngine {
  readonly name = 'typescript';
  /** See {@link GemmEngine.pool}. */
  readonly pool = new BufferPool();

  /** See {@link GemmEngine.gemm}. */
  async gemm(A: Matrix, B: Matrix, m: number, k: number, n: number, options?: GemmOptions): Promise<Float64Array> {
    return gemmSync(A, B, m, k, n, options);
  }

  /** G = alpha · XᵀX + beta · out for X (n × d); exactly symmetric. */
  async syrk(X: Matrix, n: number, d: number, options?: SyrkOptions): Promise<Float64Array> {
    return syrkSync(X, n, d, options);
  }

  /** Drops the pooled scratch memory. */
  async dispose(): Promise<void> {
    this.pool.clear();
  }
}
