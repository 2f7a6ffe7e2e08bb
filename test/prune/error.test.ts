import { afterAll, describe, expect, it } from 'vitest';
import { relativeReconstructionError } from '../../src/prune/error.js';
import { createEngine } from '../../src/linalg/create-engine.js';
import { mulberry32, gaussian } from '../../src/random.js';

const engine = createEngine();
afterAll(() => engine.dispose());

function random(n: number, seed: number): Float32Array {
  const g = gaussian(mulberry32(seed));
  return Float32Array.from({ length: n }, () => g());
}

/** Xᵀ Y / N for n × d row-major X, Y. */
function gram(X: Float32Array, Y: Float32Array, n: number, d: number): Float64Array {
  const out = new Float64Array(d * d);
  for (let s = 0; s < n; s++) for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) out[i * d + j]! += (X[s * d + i]! * Y[s * d + j]!) / n;
  return out;
}

/** ‖Ŵ X̂ᵀ − W Xᵀ‖² / ‖W Xᵀ‖², directly from the samples. */
function measured(W: Float32Array, What: Float32Array, X: Float32Array, Xhat: Float32Array, rows: number, n: number, d: number): number {
  let num = 0;
  let den = 0;
  for (let r = 0; r < rows; r++) {
    for (let s = 0; s < n; s++) {
      let a = 0;
      let b = 0;
      for (let j = 0; j < d; j++) {
        a += What[r * d + j]! * Xhat[s * d + j]!;
        b += W[r * d + j]! * X[s * d + j]!;
      }
      num += (a - b) ** 2;
      den += b * b;
    }
  }
  return num / den;
}

describe('relativeReconstructionError equals the measured error', () => {
  const rows = 5;
  const d = 6;
  const n = 40;
  const W = random(rows * d, 1);
  const What = W.map((v, i) => (i % 3 === 0 ? 0 : v * 1.01));
  const X = random(n * d, 2);
  const Xhat = X.map((v, i) => v + 0.1 * Math.sin(i));

  it('X̂ = X (H only): tr(ΔHΔᵀ)/tr(WHWᵀ)', async () => {
    const H = gram(X, X, n, d);
    const e = await relativeReconstructionError(engine, W, What, rows, d, { H });
    expect(e).toBeCloseTo(measured(W, What, X, X, rows, n, d), 9);
  });

  it('X̂ ≠ X (H, C, Hd), and a tiny error keeps its relative precision', async () => {
    const stats = { H: gram(Xhat, Xhat, n, d), C: gram(X, Xhat, n, d), Hdense: gram(X, X, n, d) };
    const e = await relativeReconstructionError(engine, W, What, rows, d, stats);
    expect(e).toBeCloseTo(measured(W, What, X, Xhat, rows, n, d), 9);
    const nearly = W.map((v, i) => (i === 7 ? v * (1 + 1e-4) : v));
    const tiny = await relativeReconstructionError(engine, W, nearly, rows, d, { H: gram(X, X, n, d) });
    const expected = measured(W, nearly, X, X, rows, n, d);
    expect(Math.abs(tiny - expected) / expected).toBeLessThan(1e-3);
  });
});
