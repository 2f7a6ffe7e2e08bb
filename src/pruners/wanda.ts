/**
 * Wanda (Sun, Liu, Bair, Kolter, "A Simple and Effective Pruning Approach for Large Language
 * Models", ICLR 2024): score S_ij = |W_ij| · ‖X_j‖₂ and prune the lowest scores *within each
 * output row* (the paper's per-output comparison group). Weights are not updated.
 *
 * Per-row counts follow the even split of {@link rowPruneCounts} (the layer total is exactly
 * round(sparsity·rows·cols)); N:M prunes the M−N lowest scores of every group.
 */
import { SurgeonInputError } from '../errors.js';
import type { GemmEngine } from '../linalg/engine.js';
import { defaultEngine, layerPruneCount, objective, pruneLowestScores, validatePattern, validateSparsity } from './masks.js';
import { AccumulatingPruner } from './session.js';
import type { LayerProblem, LayerPruneOptions, LayerPruneResult } from './types.js';

/** Options of {@link wandaPrune}. */
export type WandaOptions = LayerPruneOptions;

/** ‖X_j‖ per input: `problem.columnNorms`, else √(H_jj) (proportional: H = XᵀX/N). */
export function wandaColumnNorms(problem: LayerProblem): Float64Array {
  if (problem.columnNorms) return problem.columnNorms;
  const { H, cols: d } = problem;
  if (!H) throw new SurgeonInputError('wanda: needs calibration statistics (columnNorms or H); pass calibration data');
  const norms = new Float64Array(d);
  for (let j = 0; j < d; j++) norms[j] = Math.sqrt(Math.max(0, H[j * d + j]));
  return norms;
}

/**
 * Wanda pruning of one layer. `loss` is the layer objective (see {@link objective}) when
 * `problem.H` is given, else 0.
 */
export async function wandaPrune(
  problem: LayerProblem,
  options: WandaOptions,
  engine: GemmEngine = defaultEngine(),
): Promise<LayerPruneResult> {
  const t0 = performance.now();
  const { W, rows, cols } = problem;
  validateSparsity(options.sparsity);
  validatePattern(cols, options.pattern);
  const norms = wandaColumnNorms(problem);
  const scores = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < cols; j++) scores[r * cols + j] = Math.abs(W[r * cols + j]) * norms[j];
  }
  const total = layerPruneCount(rows, cols, options.sparsity, options.pattern);
  const { W: What, mask, objective: loss } = await pruneLowestScores(problem, scores, options.pattern, 'row', total, engine);
  return { W: What, mask, loss: loss ?? 0, dampingUsed: 0, seconds: (performance.now() - t0) / 1000 };
}

/** Wanda for library users with their own framework (`addBatch` inputs, then `prune`). */
export class Wanda extends AccumulatingPruner<WandaOptions> {
  protected override run(problem: LayerProblem, options: WandaOptions, engine: GemmEngine): Promise<LayerPruneResult> {
    return wandaPrune(problem, options, engine);
  }
}
