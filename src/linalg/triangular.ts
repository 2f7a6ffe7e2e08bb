/**
 * Inverse of a lower-triangular matrix (row-major, n × n).
 *
 * {@link invertLowerTriangular} is recursive-blocked: with L = [L11 0; L21 L22],
 *   L⁻¹ = [L11⁻¹ 0; −L22⁻¹·L21·L11⁻¹  L22⁻¹],
 * so each level does two GEMMs (L21·L11⁻¹, then L22⁻¹·(…)) on the engine and the leaves
 * (≤ {@link TRIANGULAR_LEAF}) run the unblocked row-oriented kernel in TypeScript.
 */
import type { GemmEngine } from './engine.js';
import { TypeScriptEngine } from './gemm-ts.js';

/** Order at or below which the inverse is computed by the unblocked TypeScript kernel. */
export const TRIANGULAR_LEAF = 128;

/**
 * L⁻¹ of a lower-triangular L (n × n; its strict upper part is ignored), unblocked:
 * row i of X = L⁻¹ is X[i, :] = −(Σ_{p<i} L[i,p]·X[p, :]) / L[i,i], X[i,i] = 1/L[i,i]
 * (i-k-j order, contiguous rows). A zero diagonal gives non-finite entries.
 */
export function invertLowerUnblocked(L: Float64Array, n: number): Float64Array {
  const X = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const xi = i * n;
    const li = i * n;
    for (let p = 0; p < i; p++) {
      const a = L[li + p]!;
      if (a === 0) continue;
      const xp = p * n;
      for (let j = 0; j <= p; j++) X[xi + j] += a * X[xp + j]!;
    }
    const inv = 1 / L[li + i]!;
    for (let j = 0; j < i; j++) X[xi + j] = -X[xi + j]! * inv;
    X[xi + i] = inv;
  }
  return X;
}

const tsEngine = new TypeScriptEngine();

/**
 * L⁻¹ (lower triangular, strict upper part zero) of the lower-triangular L (n × n).
 * @param engine where the GEMMs of the recursion run (default: pure TypeScript).
 */
export async function invertLowerTriangular(L: Float64Array, n: number, engine: GemmEngine = tsEngine): Promise<Float64Array> {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`invalid matrix order n=${n}`);
  if (L.length < n * n) throw new RangeError(`matrix has ${L.length} elements, needs n² = ${n * n}`);
  return invertRec(L, n, n, 0, engine);
}

/** Inverse of the s × s diagonal block of L (leading dimension ld) starting at (off, off). */
async function invertRec(L: Float64Array, ld: number, s: number, off: number, engine: GemmEngine): Promise<Float64Array> {
  if (s <= TRIANGULAR_LEAF) {
    const B = new Float64Array(s * s);
    for (let i = 0; i < s; i++) B.set(L.subarray((off + i) * ld + off, (off + i) * ld + off + i + 1), i * s);
    return invertLowerUnblocked(B, s);
  }
  // Split at a multiple of 64 near the middle.
  const h = Math.max(64, Math.round(s / 2 / 64) * 64);
  const m = s - h;
  const X11 = await invertRec(L, ld, h, off, engine);
  const X22 = await invertRec(L, ld, m, off + h, engine);
  const L21 = new Float64Array(m * h);
  for (let i = 0; i < m; i++) L21.set(L.subarray((off + h + i) * ld + off, (off + h + i) * ld + off + h), i * h);
  const T = await engine.gemm(L21, X11, m, h, h);
  const X21 = await engine.gemm(X22, T, m, m, h, { alpha: -1 });
  const X = new Float64Array(s * s);
  for (let i = 0; i < h; i++) X.set(X11.subarray(i * h, i * h + i + 1), i * s);
  for (let i = 0; i < m; i++) {
    X.set(X21.subarray(i * h, (i + 1) * h), (h + i) * s);
    X.set(X22.subarray(i * m, i * m + i + 1), (h + i) * s + h);
  }
  return X;
}
