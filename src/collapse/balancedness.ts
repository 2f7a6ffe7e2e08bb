/**
 * Balancedness of consecutive linear layers (Jacot, Súkeník, Wang, Mondelli, "Wide neural
 * networks trained with weight decay provably exhibit neural collapse", ICLR 2025).
 *
 * For layers x_l = W_l x_{l−1} with W_l of shape d_l × d_{l−1} (rows = outputs), gradient flow
 * with weight decay drives W_{l+1}ᵀW_{l+1} − W_l W_lᵀ (both d_l × d_l) to zero. We report
 *   B(W_l, W_{l+1}) = ‖W_{l+1}ᵀW_{l+1} − W_l W_lᵀ‖_F / ‖W_l W_lᵀ‖_F,
 * defined when W_{l+1} has d_l columns (W_{l+1}·W_l is a valid product).
 *
 * Both Grams are formed explicitly (GEMM shape: a SYRK of each matrix) and subtracted entrywise,
 * rather than expanded as ‖A‖² + ‖B‖² − 2⟨A, B⟩, which would cancel exactly in the balanced
 * regime we want to measure. Cost O(d_l²·(d_{l−1} + d_{l+1})); fine for the small layers here.
 */
import { SurgeonInputError } from '../errors.js';

/** A dense weight matrix, rows × cols row-major, rows = outputs, cols = inputs. */
export interface WeightMatrix {
  W: Float32Array | Float64Array;
  rows: number;
  cols: number;
  /** Layer name for messages. */
  name?: string;
}

function label(m: WeightMatrix, fallback: string): string {
  return m.name !== undefined ? `"${m.name}"` : fallback;
}

/**
 * ‖W_{l+1}ᵀW_{l+1} − W_l W_lᵀ‖_F / ‖W_l W_lᵀ‖_F for `lower` = W_l (d_l × d_{l−1}) and
 * `upper` = W_{l+1} (d_{l+1} × d_l). 0 when balanced; NaN when W_l = 0.
 * @throws SurgeonInputError when upper.cols ≠ lower.rows or a size does not match its array.
 */
export function balancedness(lower: WeightMatrix, upper: WeightMatrix): number {
  for (const [m, f] of [[lower, 'lower layer'], [upper, 'upper layer']] as const) {
    if (m.W.length !== m.rows * m.cols) {
      throw new SurgeonInputError(`${label(m, f)} has ${m.W.length} weights but is declared ${m.rows} × ${m.cols}; pass rows × cols row-major weights`);
    }
  }
  if (upper.cols !== lower.rows) {
    throw new SurgeonInputError(
      `balancedness needs consecutive layers: ${label(upper, 'upper layer')} takes ${upper.cols} inputs but ${label(lower, 'lower layer')} has ${lower.rows} outputs; pass W_l (out × in) and W_{l+1} with W_{l+1}.cols = W_l.rows`,
    );
  }
  const n = lower.rows;
  const A = new Float64Array(n * n); // W_{l+1}ᵀ W_{l+1}: sum of rank-1 updates over its rows.
  const U = upper.W;
  for (let r = 0; r < upper.rows; r++) {
    const ro = r * n;
    for (let i = 0; i < n; i++) {
      const ui = U[ro + i]!;
      if (ui === 0) continue;
      const ao = i * n;
      for (let j = i; j < n; j++) A[ao + j] += ui * U[ro + j]!;
    }
  }
  const L = lower.W;
  const m = lower.cols;
  let diff2 = 0;
  let base2 = 0;
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      let b = 0; // (W_l W_lᵀ)_ij: dot of rows i and j.
      for (let c = 0; c < m; c++) b += L[i * m + c]! * L[j * m + c]!;
      const t = A[i * n + j]! - b;
      const w = i === j ? 1 : 2;
      diff2 += w * t * t;
      base2 += w * b * b;
    }
  }
  return Math.sqrt(diff2) / Math.sqrt(base2);
}

/**
 * Balancedness of every consecutive pair of a chain of layers (input side first): entry l is
 * B(layers[l], layers[l+1]), or null where the shapes do not chain (e.g. a reshape in between).
 */
export function balancednessChain(layers: WeightMatrix[]): (number | null)[] {
  const out: (number | null)[] = [];
  for (let l = 0; l + 1 < layers.length; l++) {
    out.push(layers[l + 1]!.cols === layers[l]!.rows ? balancedness(layers[l]!, layers[l + 1]!) : null);
  }
  return out;
}
