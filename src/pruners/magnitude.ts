/**
 * Magnitude pruning (Han et al., "Learning both Weights and Connections for Efficient Neural
 * Networks", NeurIPS 2015; Zhu & Gupta 2017): remove the weights of smallest |W_ij|.
 * No calibration data is needed; the weights that remain are not updated.
 */
import { SurgeonInputError } from '../errors.js';
import type { GemmEngine } from '../linalg/engine.js';
import { layerPruneCount, pruneLowestScores, validatePattern, validateSparsity, defaultEngine } from './masks.js';
import type { LayerProblem, LayerPruneOptions, LayerPruneResult } from './types.js';

/** Options of {@link magnitudePrune}. */
export interface MagnitudeOptions extends LayerPruneOptions {
  /** Compare |W| over the whole layer (default) or within each output row. */
  scope?: 'layer' | 'row';
  /** Exact number of zeros, overriding `sparsity` (used with {@link globalMagnitudeThresholds}). */
  pruneCount?: number;
}

/**
 * Magnitude pruning of one layer: exactly round(sparsity·rows·cols) zeros (or `pruneCount`),
 * or exactly M−N zeros per group of M inputs for N:M. `loss` is the layer objective of the
 * result when `problem.H` is given, else ½‖Ŵ − W‖² (the objective for H = I).
 */
export async function magnitudePrune(
  problem: LayerProblem,
  options: MagnitudeOptions,
  engine: GemmEngine = defaultEngine(),
): Promise<LayerPruneResult> {
  const t0 = performance.now();
  const { W, rows, cols } = problem;
  validateSparsity(options.sparsity);
  validatePattern(cols, options.pattern);
  const size = rows * cols;
  const scores = new Float64Array(size);
  for (let i = 0; i < size; i++) scores[i] = Math.abs(W[i]);
  const total = options.pruneCount ?? layerPruneCount(rows, cols, options.sparsity, options.pattern);
  if (!(Number.isInteger(total) && total >= 0 && total <= size)) {
    throw new SurgeonInputError(`magnitude: pruneCount ${total} is outside [0, ${size}]`);
  }
  const { W: What, mask, objective } = await pruneLowestScores(problem, scores, options.pattern, options.scope ?? 'layer', total, engine);
  let loss = 0;
  if (objective !== undefined) {
    loss = objective;
  } else {
    for (let i = 0; i < size; i++) if (mask[i] === 0) loss += 0.5 * W[i] * W[i];
  }
  return { W: What, mask, loss, dampingUsed: 0, seconds: (performance.now() - t0) / 1000 };
}

/** Result of {@link globalMagnitudeThresholds}. */
export interface GlobalMagnitudeSelection {
  /** The largest |w| that is pruned (ties at this value are split in layer order). */
  threshold: number;
  /** Exact number of zeros per layer; they sum to round(sparsity · Σ sizes). */
  pruneCounts: number[];
}

/**
 * Global magnitude pruning across layers (`--global`): one threshold on |w| for all layers,
 * so that exactly round(sparsity · total weights) are pruned. Pass each layer's count to
 * {@link magnitudePrune} as `pruneCount` (with `scope: 'layer'`).
 */
export function globalMagnitudeThresholds(layers: readonly { W: Float32Array }[], sparsity: number): GlobalMagnitudeSelection {
  validateSparsity(sparsity);
  let total = 0;
  for (const l of layers) total += l.W.length;
  const K = Math.round(sparsity * total);
  if (K === 0) return { threshold: -Infinity, pruneCounts: layers.map(() => 0) };
  const all = new Float32Array(total);
  let o = 0;
  for (const l of layers) for (let i = 0; i < l.W.length; i++) all[o++] = Math.abs(l.W[i]);
  all.sort();
  const threshold = all[K - 1];
  const pruneCounts = layers.map((l) => {
    let c = 0;
    for (let i = 0; i < l.W.length; i++) if (Math.abs(l.W[i]) < threshold) c++;
    return c;
  });
  let ties = K - pruneCounts.reduce((a, b) => a + b, 0);
  for (let li = 0; li < layers.length && ties > 0; li++) {
    const W = layers[li].W;
    let atT = 0;
    for (let i = 0; i < W.length; i++) if (Math.abs(W[i]) === threshold) atT++;
    const take = Math.min(atT, ties);
    pruneCounts[li] += take;
    ties -= take;
  }
  return { threshold, pruneCounts };
}
