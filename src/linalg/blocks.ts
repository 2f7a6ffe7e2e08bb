/**
 * Block copies of dense row-major matrices: sub-block extraction and placement (onnxruntime needs
 * contiguous operands), blocked transposition, and mirroring a triangle.
 */

/** Anything indexable by position: the typed arrays the kernels use. */
type Writable = { [i: number]: number; length: number };

/**
 * out (c × r, row-major) = the transpose of the r × c block A[r0:r0+r, c0:c0+c] (leading
 * dimension ld). 8 × 8 tiles: a tile row of Float64 is one cache line, and eight output rows
 * stay within the associativity of L1 even when r is a large power of two (32-tiles were 1.5×
 * slower for 1536-wide blocks).
 */
export function transposeBlock(A: ArrayLike<number>, ld: number, r0: number, c0: number, r: number, c: number, out: Writable): void {
  const S = 8;
  for (let i0 = 0; i0 < r; i0 += S) {
    const i1 = Math.min(r, i0 + S);
    for (let j0 = 0; j0 < c; j0 += S) {
      const j1 = Math.min(c, j0 + S);
      for (let i = i0; i < i1; i++) {
        const a = (r0 + i) * ld + c0;
        for (let j = j0; j < j1; j++) out[j * r + i] = A[a + j]!;
      }
    }
  }
}

/**
 * Copies the strict lower triangle of the n × n row-major G onto its upper triangle, in place
 * (G becomes exactly symmetric): {@link mirrorLowerDivided} with divisor 1.
 */
export function mirrorLower(G: Float64Array | Float32Array, n: number): void {
  mirrorLowerDivided(G, n, 1, G);
}

/**
 * out = the symmetric n × n matrix whose lower triangle (diagonal included) is G's divided by
 * `divisor`: out[i, j] = out[j, i] = G[i, j] / divisor for j ≤ i; G's upper triangle is not read,
 * so out may be G. One pass in 8 × 8 tiles, so the strided writes stay in cache (the mirror and
 * the division of a Gram sum at once).
 */
export function mirrorLowerDivided<T extends Float64Array | Float32Array>(G: Float64Array | Float32Array, n: number, divisor: number, out: T): T {
  const S = 8;
  for (let i0 = 0; i0 < n; i0 += S) {
    const i1 = Math.min(n, i0 + S);
    for (let j0 = 0; j0 <= i0; j0 += S) {
      const j1 = Math.min(n, j0 + S);
      for (let i = i0; i < i1; i++) {
        const row = i * n;
        const end = Math.min(j1, i + 1);
        for (let j = j0; j < end; j++) {
          const v = G[row + j]! / divisor;
          out[row + j] = v;
          out[j * n + i] = v;
        }
      }
    }
  }
  return out;
}

/** Copies the r × c block A[r0:r0+r, c0:c0+c] (leading dimension ld) into `out` (contiguous, r × c). */
export function extractBlock(A: Float64Array, ld: number, r0: number, c0: number, r: number, c: number, out: Float64Array = new Float64Array(r * c)): Float64Array {
  for (let i = 0; i < r; i++) out.set(A.subarray((r0 + i) * ld + c0, (r0 + i) * ld + c0 + c), i * c);
  return out;
}

/** Writes the contiguous r × c matrix B into A[r0:r0+r, c0:c0+c] (leading dimension ld). */
export function placeBlock(A: Float64Array, ld: number, r0: number, c0: number, r: number, c: number, B: Float64Array): void {
  for (let i = 0; i < r; i++) A.set(B.subarray(i * c, (i + 1) * c), (r0 + i) * ld + c0);
}
