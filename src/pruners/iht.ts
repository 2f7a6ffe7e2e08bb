/**
 * IHT — Iterative Hard Thresholding (Blumensath & Davies, "Iterative hard thresholding for
 * compressed sensing", ACHA 2009) on the layer objective
 *   f(Ŵ) = ½ tr(Ŵ H Ŵᵀ) − tr(Ŵ Cᵀ Wᵀ) + ½ tr(W Hdense Wᵀ) = ½‖ŴX̂ᵀ − WXᵀ‖²/N,
 *   ∇f(Ŵ) = G = Ŵ H − W C                    (rows × d; C = H in parallel mode),
 *   Ŵ_{t+1} = T_k(Ŵ_t − η G(Ŵ_t)),   η = step / λ_max(H),
 * where T_k keeps the k largest magnitudes — per layer by default (`scope: 'row'` keeps each
 * row's exact quota instead), or exactly N of every M for N:M patterns. With η ≤ 1/λ_max(H) the
 * step minimizes a separable majorizer of f over the sparse set, so f is non-increasing. The
 * iteration starts at the magnitude projection T_k(W) (iteration 0 in `history`). The undamped
 * H is used (`dampingUsed` = 0); dead inputs are zeroed and counted as pruned. The iterate with
 * the lowest objective (held-out objective when `problem.heldOut` is given) is returned.
 */
import type { GemmEngine } from '../linalg/engine.js';
import { lambdaMax } from '../linalg/spd.js';
import { prepareCurvature } from './curvature.js';
import { applyMask, defaultEngine, layerPruneCount, objective, selectMask, validatePattern, validateSparsity } from './masks.js';
import { AccumulatingPruner } from './session.js';
import type { LayerProblem, LayerPruneOptions, LayerPruneResult, PruneIterate, SparsityPattern } from './types.js';

/** Options of {@link ihtPrune}. */
export interface IHTOptions extends LayerPruneOptions {
  /** Number of IHT steps (default 100). */
  iterations?: number;
  /** Step as a multiple of 1/λ_max(H) (default 1; > 1 loses the monotonicity guarantee). */
  step?: number;
  /** Where T_k compares magnitudes: the whole layer (default) or each row. */
  scope?: 'layer' | 'row';
}

/**
 * Hard threshold T_k in place: zeroes all but the largest |v| (per `scope`, or N:M); dead
 * inputs are pruned first. Returns the mask (1 = kept).
 */
export function hardThreshold(
  v: Float64Array,
  rows: number,
  cols: number,
  pattern: SparsityPattern | undefined,
  scope: 'layer' | 'row',
  total: number,
  isDead?: Uint8Array,
): Uint8Array {
  const scores = new Float64Array(rows * cols);
  for (let i = 0; i < scores.length; i++) scores[i] = Math.abs(v[i]);
  if (isDead) for (let r = 0; r < rows; r++) for (let j = 0; j < cols; j++) if (isDead[j]) scores[r * cols + j] = -1;
  const mask = selectMask(scores, rows, cols, pattern, scope, total);
  if (isDead) for (let r = 0; r < rows; r++) for (let j = 0; j < cols; j++) if (isDead[j]) mask[r * cols + j] = 0;
  applyMask(v, mask);
  return mask;
}

/** IHT pruning of one layer (needs `problem.H`; uses `problem.C` when given). */
export async function ihtPrune(problem: LayerProblem, options: IHTOptions, engine: GemmEngine = defaultEngine()): Promise<LayerPruneResult> {
  const t0 = performance.now();
  const { W, rows, cols: d } = problem;
  validateSparsity(options.sparsity);
  validatePattern(d, options.pattern);
  const curv = prepareCurvature(problem, 0, 'iht');
  const H = curv.H;
  const iterations = options.iterations ?? 100;
  const scope = options.scope ?? 'layer';
  const total = layerPruneCount(rows, d, options.sparsity, options.pattern);
  const L = lambdaMax(H, d);
  const eta = L > 0 ? (options.step ?? 1) / L : 0;
  // WC is fixed: the gradient is G = ŴH − WC.
  const WC = problem.C ? await engine.gemm(W, problem.C, rows, d, d) : await engine.gemm(W, H, rows, d, d);
  const n = rows * d;
  let theta: Float64Array = Float64Array.from(W);
  let mask = hardThreshold(theta, rows, d, options.pattern, scope, total, curv.isDead);
  const history: PruneIterate[] = [];
  let best: { theta: Float64Array; mask: Uint8Array; score: number; iteration: number } = { theta, mask, score: Infinity, iteration: 0 };
  const evaluate = async (t: number, th: Float64Array, m: Uint8Array): Promise<void> => {
    const objectiveValue = await objective({ W0: W, What: th, rows, cols: d, H, C: problem.C, Hdense: problem.Hdense }, engine);
    const entry: PruneIterate = { iteration: t, objective: objectiveValue };
    if (problem.heldOut) {
      const h = problem.heldOut;
      entry.heldOutObjective = await objective({ W0: W, What: th, rows, cols: d, H: h.H, C: h.C, Hdense: h.Hdense }, engine);
    }
    history.push(entry);
    const score = entry.heldOutObjective ?? entry.objective;
    if (score < best.score) best = { theta: th, mask: m, score, iteration: history.length - 1 };
  };
  await evaluate(0, theta, mask);
  for (let t = 1; t <= iterations; t++) {
    const G = await engine.gemm(theta, H, rows, d, d);
    const next = new Float64Array(n);
    for (let i = 0; i < n; i++) next[i] = theta[i] - eta * (G[i] - WC[i]);
    mask = hardThreshold(next, rows, d, options.pattern, scope, total, curv.isDead);
    theta = next;
    await evaluate(t, theta, mask);
  }
  const What = Float32Array.from(best.theta);
  return {
    W: What,
    mask: best.mask,
    loss: await objective({ W0: W, What, rows, cols: d, H, C: problem.C, Hdense: problem.Hdense }, engine),
    dampingUsed: 0,
    seconds: (performance.now() - t0) / 1000,
    diagnostics: { deadInputs: curv.nDead, history, bestIteration: best.iteration },
  };
}

/** IHT for library users with their own framework (`addBatch`, then `prune`). */
export class IHT extends AccumulatingPruner<IHTOptions> {
  protected override run(problem: LayerProblem, options: IHTOptions, engine: GemmEngine): Promise<LayerPruneResult> {
    return ihtPrune(problem, options, engine);
  }
}
