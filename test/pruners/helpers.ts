/** Test helpers: a seeded PRNG and explicit-sample layer problems. */
import type { LayerProblem } from '../../src/pruners/types.js';
import { gaussian as standardNormal, mulberry32 as rng } from '../../src/random.js';

export { rng };

/** Standard normal samples (Box–Muller). */
export function gaussian(seed: number): () => number {
  return standardNormal(rng(seed));
}

export function randn32(n: number, g: () => number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = g() * scale;
  return a;
}

/** AᵀB/N for sample matrices A, B (N × d). */
export function gram(A: Float32Array, B: Float32Array, N: number, d: number): Float64Array {
  const G = new Float64Array(d * d);
  for (let s = 0; s < N; s++) {
    for (let a = 0; a < d; a++) {
      const x = A[s * d + a];
      if (x === 0) continue;
      for (let b = 0; b < d; b++) G[a * d + b] += x * B[s * d + b];
    }
  }
  for (let i = 0; i < d * d; i++) G[i] /= N;
  return G;
}

/** ½‖Ŵ X̂ᵀ − W Xᵀ‖²/N measured on the samples. */
export function measuredLoss(W: ArrayLike<number>, What: ArrayLike<number>, X: Float32Array, Xhat: Float32Array, N: number, rows: number, d: number): number {
  let f = 0;
  for (let r = 0; r < rows; r++) {
    for (let s = 0; s < N; s++) {
      let e = 0;
      for (let j = 0; j < d; j++) e += What[r * d + j] * Xhat[s * d + j] - W[r * d + j] * X[s * d + j];
      f += e * e;
    }
  }
  return (0.5 * f) / N;
}

export interface ExplicitProblem {
  problem: LayerProblem;
  X: Float32Array;
  Xhat: Float32Array;
  N: number;
}

/** A random layer with explicit inputs; `sequential` makes X̂ = X + noise and passes C, Hdense. */
export function explicitProblem(rows: number, d: number, N: number, seed: number, opts: { sequential?: boolean; dead?: number[]; correlated?: boolean } = {}): ExplicitProblem {
  const g = gaussian(seed);
  const X = randn32(N * d, g);
  if (opts.correlated) for (let s = 0; s < N; s++) for (let j = 1; j < d; j++) X[s * d + j] += 0.5 * X[s * d + j - 1];
  for (const j of opts.dead ?? []) for (let s = 0; s < N; s++) X[s * d + j] = 0;
  let Xhat = X;
  if (opts.sequential) {
    Xhat = Float32Array.from(X, (x) => x + 0.1 * g());
    for (const j of opts.dead ?? []) for (let s = 0; s < N; s++) Xhat[s * d + j] = 0;
  }
  const W = randn32(rows * d, g);
  const problem: LayerProblem = { W, rows, cols: d, H: gram(Xhat, Xhat, N, d) };
  if (opts.sequential) {
    problem.C = gram(X, Xhat, N, d);
    problem.Hdense = gram(X, X, N, d);
  }
  return { problem, X, Xhat, N };
}

export function zeros(a: ArrayLike<number>): number {
  let z = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === 0) z++;
  return z;
}

export function maskZeros(m: Uint8Array): number {
  let z = 0;
  for (let i = 0; i < m.length; i++) if (m[i] === 0) z++;
  return z;
}
