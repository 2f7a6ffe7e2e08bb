/**
 * Global I-OBS with empirical-Fisher curvature (Wu, Modoranu, Safaryan, Kuznedelev, Alistarh,
 * "The Iterative Optimal Brain Surgeon", NeurIPS 2024), on all prunable weights of a network:
 *
 *   u_t     = θ_t − η F_t⁻¹ ∇L(θ_t)                       (Newton step, block-diagonal Fisher)
 *   θ_{t+1} = OBS projection of u_t onto the sparsity       ({@link obsProject})
 *
 * with the gradients and F_t recomputed at every iterate, saliencies compared across layers
 * (`allocation: 'global'`) or within each layer ('uniform'), and the best iterate by held-out
 * loss returned. Reductions: η = 0 and one step is WoodFisher/OBS one-shot (Singh & Alistarh
 * 2020); F = I (`curvature: 'identity'`) is IHT (Blumensath & Davies 2009).
 */
import { type Allocation, applyInverse, type FisherInverseBlocks, type FisherOptions, type FisherSegment, fisherInverse, identityInverse, obsProject } from './fisher.js';
import { validateSparsity } from './masks.js';

/** What the network side provides: parameters, gradients and a held-out loss. */
export interface FisherProblem {
  /** The prunable layers' ranges in θ. */
  segments: FisherSegment[];
  /** Dense parameters θ_0 (length P). Never modified. */
  theta: Float32Array;
  /**
   * Gradients at θ: `G` holds m per-sample (or micro-batch) gradients (m × P row-major) and
   * `mean` the gradient of the loss on those samples.
   */
  gradients(theta: Float32Array, perSample: boolean): Promise<{ G?: Float32Array; m: number; mean: Float32Array }>;
  /** Loss on held-out samples at θ (selects the best iterate). */
  heldOutLoss?(theta: Float32Array): Promise<number>;
}

/** Options of {@link globalIobsPrune}. */
export interface GlobalIobsOptions extends FisherOptions {
  sparsity: number;
  /** Number of steps T (default 4). */
  iterations?: number;
  /** Newton step η ≥ 0 (default 0.5). */
  step?: number;
  /** Default 'global'. */
  allocation?: Allocation;
  /** 'fisher' (default) or 'identity' (F = I: IHT). */
  curvature?: 'fisher' | 'identity';
  /**
   * Whether the first step takes the Newton step from the dense θ_0 too (default false: the first
   * iterate is the OBS projection of θ_0 — a trained model is near-stationary, where the empirical
   * Fisher is nearly singular and F⁻¹∇L is unreliable, Kunstner et al. 2019).
   */
  denseStep?: boolean;
  /** Trust region: the Newton step is scaled down to at most this fraction of ‖θ_t‖ (default 0.5). */
  maxStepRatio?: number;
  onIteration?(entry: GlobalIterate): void;
}

/** One iterate. */
export interface GlobalIterate {
  iteration: number;
  /** Quadratic-model loss of the projection. */
  obsLoss: number;
  heldOutLoss?: number;
  /** Damping λ of this step's Fisher. */
  lambda: number;
  seconds: number;
}

/** Result of {@link globalIobsPrune}. */
export interface GlobalPruneResult {
  theta: Float32Array;
  mask: Uint8Array;
  history: GlobalIterate[];
  /** Index into `history` of the returned iterate. */
  bestIteration: number;
  seconds: number;
}

/**
 * Global I-OBS (see the module comment). The first step starts at the dense θ_0; each later step
 * starts at the previous projection.
 */
export async function globalIobsPrune(problem: FisherProblem, options: GlobalIobsOptions): Promise<GlobalPruneResult> {
  const t0 = performance.now();
  validateSparsity(options.sparsity);
  const eta = options.step ?? 0.5;
  if (!(eta >= 0 && Number.isFinite(eta))) throw new RangeError(`global iobs: step must be ≥ 0, got ${eta}`);
  const T = Math.max(1, Math.floor(options.iterations ?? 4));
  const allocation = options.allocation ?? 'global';
  const identity = options.curvature === 'identity';
  let theta = problem.theta;
  const history: GlobalIterate[] = [];
  let best: { theta: Float32Array; mask: Uint8Array; score: number; index: number } | undefined;
  for (let t = 1; t <= T; t++) {
    const ts = performance.now();
    const grads = await problem.gradients(theta, !identity);
    let F: FisherInverseBlocks;
    if (identity) F = identityInverse(problem.segments, options.block);
    else F = await fisherInverse(grads.G!, grads.m, problem.segments, options);
    const u = new Float64Array(theta.length);
    const etaT = t === 1 && !options.denseStep && T > 1 ? 0 : eta;
    if (etaT > 0) {
      const step = applyInverse(F, grads.mean);
      let stepNorm = 0;
      let thetaNorm = 0;
      for (let i = 0; i < u.length; i++) {
        stepNorm += (etaT * step[i]!) ** 2;
        thetaNorm += theta[i]! ** 2;
      }
      const ratio = options.maxStepRatio ?? 0.5;
      const scale = stepNorm > 0 ? Math.min(1, (ratio * Math.sqrt(thetaNorm)) / Math.sqrt(stepNorm)) : 1;
      for (let i = 0; i < u.length; i++) u[i] = theta[i]! - scale * etaT * step[i]!;
    } else {
      for (let i = 0; i < u.length; i++) u[i] = theta[i]!;
    }
    const proj = obsProject(u, F, problem.segments, options.sparsity, allocation);
    const next = Float32Array.from(proj.theta);
    const entry: GlobalIterate = { iteration: t, obsLoss: proj.obsLoss, lambda: F.lambda, seconds: 0 };
    if (problem.heldOutLoss) entry.heldOutLoss = await problem.heldOutLoss(next);
    entry.seconds = (performance.now() - ts) / 1000;
    history.push(entry);
    options.onIteration?.(entry);
    const score = entry.heldOutLoss ?? -t; // without held-out data: the last iterate
    if (!best || score < best.score || !Number.isFinite(best.score)) best = { theta: next, mask: proj.mask, score, index: t - 1 };
    theta = next;
  }
  return { theta: best!.theta, mask: best!.mask, history, bestIteration: best!.index, seconds: (performance.now() - t0) / 1000 };
}

/**
 * WoodFisher one-shot pruning (Singh & Alistarh 2020): one OBS projection of the dense weights in
 * the block-diagonal empirical Fisher metric (Woodbury inverses), i.e. global I-OBS with η = 0 and
 * one step.
 */
export async function woodfisherPrune(problem: FisherProblem, options: Omit<GlobalIobsOptions, 'step' | 'iterations'>): Promise<GlobalPruneResult> {
  return globalIobsPrune(problem, { inverse: 'woodbury', ...options, step: 0, iterations: 1 });
}

/** Global (or per-layer) magnitude pruning of θ: the smallest |θ_q| are zeroed. */
export function globalMagnitudePrune(problem: Pick<FisherProblem, 'segments' | 'theta'>, sparsity: number, allocation: Allocation = 'global'): GlobalPruneResult {
  validateSparsity(sparsity);
  const ident = identityInverse(problem.segments, 1);
  const proj = obsProject(Float64Array.from(problem.theta), ident, problem.segments, sparsity, allocation);
  return { theta: Float32Array.from(proj.theta), mask: proj.mask, history: [], bestIteration: -1, seconds: 0 };
}
