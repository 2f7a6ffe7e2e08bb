/**
 * U = chol(H⁻¹) (upper, UᵀU = H⁻¹, positive diagonal; SparseGPT's
 * `torch.linalg.cholesky(H⁻¹, upper=True)`) without forming H⁻¹, by a recursive "UL" Cholesky
 * factorization whose work is almost entirely in large GEMMs.
 *
 * Write H = V·Vᵀ with V upper triangular; then H⁻¹ = V⁻ᵀ·V⁻¹ and U = V⁻¹. With H split at h,
 * H = [H11 H12; H12ᵀ H22] and W = V12ᵀ:
 *   U22 = U(H22),  W = U22·H12ᵀ,  S = H11 − WᵀW,  U11 = U(S),  U12 = −U11·(U22ᵀ·W)ᵀ.
 * (From H22 = V22V22ᵀ, H12 = V12V22ᵀ, H11 = V11V11ᵀ + V12V12ᵀ and the block inverse of V.)
 * The products with the triangular U11, U22 and the symmetric downdate of S are themselves
 * split recursively so that the zero triangles are skipped: ≈ n³·(2/3)·(1 + small) flops in all,
 * in products of order n/4 and above at the top levels, where onnxruntime's fp64 GEMM runs
 * near its best (≈ 100 GFLOP/s on 2 cores). Leaves of order ≤ {@link UPPER_INVERSE_LEAF} run in
 * TypeScript (J·chol(J·B·J)⁻¹·J of the block B, J the exchange matrix). Only the upper
 * triangle of H is read; temporaries come from a {@link BufferPool}.
 */
import type { GemmEngine } from './engine.js';
import { BufferPool } from './pool.js';
import { checkSquare, choleskyBlockInPlace, NotPositiveDefiniteError } from './cholesky.js';
import { invertLowerUnblocked } from './triangular.js';
import { TypeScriptEngine } from './gemm-ts.js';
import { extractBlock, placeBlock, transposeBlock } from './blocks.js';

/** Order at or below which a diagonal block is factored and inverted in TypeScript. */
export const UPPER_INVERSE_LEAF = 128;
/** Order at or below which a triangular or symmetric product is one full GEMM (zeros included). */
export const STRUCTURED_PRODUCT_LEAF = 256;

/** Options of {@link upperCholeskyOfInverse}. */
export interface UpperInverseOptions {
  /** Diagonal to use instead of H's own (length n), e.g. the damped one; H is never modified. */
  diagonal?: Float64Array;
  /** Destination of U (n × n, overwritten entirely); default a new array. */
  out?: Float64Array;
  /** Scratch memory; default the engine's pool, else a temporary one. */
  pool?: BufferPool;
}

interface Context {
  engine: GemmEngine;
  pool: BufferPool;
}

/** A symmetric block of a row-major matrix: rows/columns [off, off + s) of A (leading dimension ld). */
interface SymmetricBlock {
  A: Float64Array;
  ld: number;
  off: number;
  /** Replacement diagonal, indexed from `off`. */
  diag?: Float64Array;
}

/**
 * The upper-triangular U with UᵀU = H⁻¹ and positive diagonal, H (n × n) symmetric positive
 * definite (only its upper triangle is read; `options.diagonal` replaces its diagonal).
 * @param engine where the products run (default: pure TypeScript).
 * @throws NotPositiveDefiniteError when H is not SPD; `pivot` is the input of H (the
 * elimination runs from the last input to the first, so it is the highest-index failing one).
 */
export async function upperCholeskyOfInverse(
  H: Float64Array,
  n: number,
  engine: GemmEngine = new TypeScriptEngine(),
  options: UpperInverseOptions = {},
): Promise<Float64Array> {
  checkSquare(H, n);
  if (options.diagonal && options.diagonal.length < n) throw new RangeError(`diagonal has ${options.diagonal.length} elements, needs ${n}`);
  const U = options.out ?? new Float64Array(n * n);
  if (U.length < n * n) throw new RangeError(`out has ${U.length} elements, needs ${n * n}`);
  const ctx: Context = { engine, pool: options.pool ?? engine.pool ?? new BufferPool() };
  await factor({ A: H, ld: n, off: 0, diag: options.diagonal }, n, 0, U, n, 0, ctx);
  return U;
}

/** Split point of an order-s problem: a multiple of 64 near s/2. */
function split(s: number): number {
  return Math.max(64, Math.round(s / 2 / 64) * 64);
}

/**
 * Writes U of the s × s block `src` into U[offU:, offU:] (leading dimension ldU), including
 * zeros below its diagonal. g0 is the index in the caller's H of the block's first input.
 */
async function factor(src: SymmetricBlock, s: number, g0: number, U: Float64Array, ldU: number, offU: number, ctx: Context): Promise<void> {
  if (s <= UPPER_INVERSE_LEAF) return factorLeaf(src, s, g0, U, ldU, offU);
  const { pool } = ctx;
  const h = split(s);
  const m = s - h;
  await factor({ A: src.A, ld: src.ld, off: src.off + h, diag: src.diag?.subarray(h) }, m, g0 + h, U, ldU, offU + h, ctx);
  // W = U22·H12ᵀ (m × h)
  const Bt = pool.take(m * h);
  transposeBlock(src.A, src.ld, src.off, src.off + h, h, m, Bt);
  const W = pool.take(m * h);
  await upperTimes(U, ldU, offU + h, m, Bt, h, false, 1, W, 0, ctx);
  // S = H11 − WᵀW, then U11 = U(S)
  const S = pool.take(h * h);
  for (let i = 0; i < h; i++) {
    const row = (src.off + i) * src.ld + src.off;
    S.set(src.A.subarray(row + i, row + h), i * h + i);
    if (src.diag) S[i * h + i] = src.diag[i]!;
  }
  await symmetricDowndate(S, h, W, m, ctx);
  await factor({ A: S, ld: h, off: 0 }, h, g0, U, ldU, offU, ctx);
  pool.give(S);
  // U12 = −U11·Zᵀ with Z = U22ᵀ·W (m × h)
  await upperTimes(U, ldU, offU + h, m, W, h, true, 1, Bt, 0, ctx);
  transposeBlock(Bt, h, 0, 0, m, h, W);
  const U12 = pool.take(h * m);
  await upperTimes(U, ldU, offU, h, W, m, false, -1, U12, 0, ctx);
  placeBlock(U, ldU, offU, offU + h, h, m, U12);
  for (let i = 0; i < m; i++) U.fill(0, (offU + h + i) * ldU + offU, (offU + h + i) * ldU + offU + h);
  pool.give(Bt, W, U12);
}

/** Leaf of {@link factor}: U = J·chol(J·B·J)⁻¹·J in TypeScript. */
function factorLeaf(src: SymmetricBlock, s: number, g0: number, U: Float64Array, ldU: number, offU: number): void {
  const { A, ld, off, diag } = src;
  // R = J·B·J, lower triangle (= B's upper one).
  const R = new Float64Array(s * s);
  for (let i = 0; i < s; i++) {
    const bi = s - 1 - i;
    const srcRow = (off + bi) * ld + off;
    for (let j = 0; j < i; j++) R[i * s + j] = A[srcRow + s - 1 - j]!;
    R[i * s + i] = diag ? diag[bi]! : A[srcRow + bi]!;
  }
  try {
    choleskyBlockInPlace(R, s, 0, s);
  } catch (e) {
    if (e instanceof NotPositiveDefiniteError) throw new NotPositiveDefiniteError(g0 + s - 1 - e.pivot, e.value);
    throw e;
  }
  const X = invertLowerUnblocked(R, s);
  for (let i = 0; i < s; i++) {
    const row = (offU + i) * ldU + offU;
    U.fill(0, row, row + i);
    const xr = (s - 1 - i) * s + s - 1;
    for (let j = i; j < s; j++) U[row + j] = X[xr - j]!;
  }
}

/**
 * Y (s × p) = alpha·op(T)·B + beta·Y with T = U[off:off+s, off:off+s] upper triangular (zeros
 * below its diagonal), op(T) = T or Tᵀ, B (s × p). With T = [Ta Tb; 0 Tc]:
 *   T·B  = [Ta·B1 + Tb·B2; Tc·B2],   Tᵀ·B = [Taᵀ·B1; Tbᵀ·B1 + Tcᵀ·B2],
 * recursively, so the zero triangle costs nothing above {@link STRUCTURED_PRODUCT_LEAF}.
 */
async function upperTimes(
  U: Float64Array,
  ldU: number,
  off: number,
  s: number,
  B: Float64Array,
  p: number,
  trans: boolean,
  alpha: number,
  Y: Float64Array,
  beta: number,
  ctx: Context,
): Promise<void> {
  const { engine, pool } = ctx;
  if (s <= STRUCTURED_PRODUCT_LEAF) {
    const T = extractBlock(U, ldU, off, off, s, s, pool.take(s * s));
    await engine.gemm(T, B, s, s, p, { transA: trans, alpha, out: Y, beta });
    pool.give(T);
    return;
  }
  const a = split(s);
  const b = s - a;
  const B1 = B.subarray(0, a * p);
  const B2 = B.subarray(a * p, s * p);
  const Y1 = Y.subarray(0, a * p);
  const Y2 = Y.subarray(a * p, s * p);
  const Tb = extractBlock(U, ldU, off, off + a, a, b, pool.take(a * b));
  await upperTimes(U, ldU, off, a, B1, p, trans, alpha, Y1, beta, ctx);
  await upperTimes(U, ldU, off + a, b, B2, p, trans, alpha, Y2, beta, ctx);
  if (!trans) await engine.gemm(Tb, B2, a, b, p, { alpha, out: Y1, beta: 1 });
  else await engine.gemm(Tb, B1, b, a, p, { transA: true, alpha, out: Y2, beta: 1 });
  pool.give(Tb);
}

/**
 * S (h × h) −= WᵀW for W (m × h), exact on and above the diagonal (below it: unspecified).
 * The top a rows are one GEMM over the full width; the bottom-right block recurses.
 */
async function symmetricDowndate(S: Float64Array, h: number, W: Float64Array, m: number, ctx: Context): Promise<void> {
  const { engine, pool } = ctx;
  if (h <= STRUCTURED_PRODUCT_LEAF) {
    await engine.gemm(W, W, h, m, h, { transA: true, alpha: -1, out: S, beta: 1 });
    return;
  }
  const a = split(h);
  const b = h - a;
  const Wl = extractBlock(W, h, 0, 0, m, a, pool.take(m * a));
  const Wr = extractBlock(W, h, 0, a, m, b, pool.take(m * b));
  await engine.gemm(Wl, W, a, m, h, { transA: true, alpha: -1, out: S.subarray(0, a * h), beta: 1 });
  pool.give(Wl);
  const Sbr = extractBlock(S, h, a, a, b, b, pool.take(b * b));
  await symmetricDowndate(Sbr, b, Wr, m, ctx);
  placeBlock(S, h, a, a, b, b, Sbr);
  pool.give(Wr, Sbr);
}
