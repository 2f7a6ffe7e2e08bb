/** Test helpers: seeded random matrices and reference products. */
export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296 - 0.5;
  };
}

export function randomMatrix(rows: number, cols: number, seed: number): Float64Array {
  const r = rng(seed);
  const M = new Float64Array(rows * cols);
  for (let t = 0; t < M.length; t++) M[t] = r();
  return M;
}

/** Naive C = op(A)·op(B) in Float64. */
export function naiveGemm(A: ArrayLike<number>, B: ArrayLike<number>, m: number, k: number, n: number, transA = false, transB = false): Float64Array {
  const C = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += (transA ? A[p * m + i]! : A[i * k + p]!) * (transB ? B[j * k + p]! : B[p * n + j]!);
      C[i * n + j] = s;
    }
  return C;
}

/** Random SPD matrix G·Gᵀ/n + shift·I. */
export function randomSpd(n: number, seed: number, shift = 0.5): Float64Array {
  const G = randomMatrix(n, n, seed);
  const H = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let p = 0; p < n; p++) s += G[i * n + p]! * G[j * n + p]!;
      H[i * n + j] = H[j * n + i] = s / n + (i === j ? shift : 0);
    }
  return H;
}

export function maxAbs(A: ArrayLike<number>): number {
  let m = 0;
  for (let t = 0; t < A.length; t++) m = Math.max(m, Math.abs(A[t]!));
  return m;
}

export function maxAbsDiff(A: ArrayLike<number>, B: ArrayLike<number>): number {
  if (A.length !== B.length) throw new Error(`length ${A.length} vs ${B.length}`);
  let m = 0;
  for (let t = 0; t < A.length; t++) m = Math.max(m, Math.abs(A[t]! - B[t]!));
  return m;
}

/** ‖A − B‖_max / max(‖B‖_max, tiny). */
export function relErr(A: ArrayLike<number>, B: ArrayLike<number>): number {
  return maxAbsDiff(A, B) / Math.max(maxAbs(B), 1e-300);
}
