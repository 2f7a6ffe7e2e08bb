/**
 * The pruning methods by name (what `--method` accepts), with what each needs from calibration.
 */
import type { GemmEngine } from '../linalg/engine.js';
import { ihtPrune } from './iht.js';
import { iobsPrune } from './iobs.js';
import { magnitudePrune } from './magnitude.js';
import { obcPrune } from './obc.js';
import { sparsegptPrune } from './sparsegpt.js';
import type { LayerProblem, LayerPruneOptions, LayerPruneResult } from './types.js';
import { wandaPrune } from './wanda.js';

/** A pure layer pruner: `xxxPrune(problem, options, engine?)`. */
export type LayerPruneFn = (problem: LayerProblem, options: LayerPruneOptions & Record<string, unknown>, engine?: GemmEngine) => Promise<LayerPruneResult>;

/** One registry entry. */
export interface PrunerEntry {
  prune: LayerPruneFn;
  /** Needs H = X̂ᵀX̂/N (Wanda only needs its diagonal / column norms). */
  needsHessian: boolean;
  /** Uses C = XᵀX̂/N in sequential mode (optional for the OBS methods, which then prune W C H⁻¹). */
  needsCross: boolean;
  /**
   * Fewest calibration samples (images, token windows) the method accepts. Curvature methods
   * need enough samples that H is more than a damped rank-few matrix; N ≥ d rows (tokens,
   * patches) make H full rank, below that the damping λ decides the unseen directions.
   */
  minSamples: number;
  /**
   * Options that turn an iterative method into its own first step (I-OBS: `{ iterations: 1 }`,
   * the one-shot OBS solution); model-level selection checks the iterated model against it.
   */
  firstStep?: { iterations?: number };
  /**
   * The method chooses on the held-out samples (iht and iobs keep each layer's best iterate by
   * its held-out objective, iobs also checks the whole model against its first step), so they
   * default to a quarter of the calibration samples; for every other method they only serve the
   * error report and default to a sixteenth (see {@link defaultHeldOutSamples}).
   */
  selectsOnHeldOut?: boolean;
  /** One line for `--help`. */
  description: string;
}

/** Method name → entry. */
export const PRUNERS = {
  magnitude: {
    prune: magnitudePrune as LayerPruneFn,
    needsHessian: false,
    needsCross: false,
    minSamples: 0,
    description: 'smallest |w| per layer (Han et al. 2015); no calibration data',
  },
  wanda: {
    prune: wandaPrune as LayerPruneFn,
    needsHessian: false,
    needsCross: false,
    minSamples: 1,
    description: '|w|·‖x_j‖ per output row (Sun et al. 2024); needs input norms only',
  },
  sparsegpt: {
    prune: sparsegptPrune as LayerPruneFn,
    needsHessian: true,
    needsCross: false,
    minSamples: 16,
    description: 'OBS column sweep with lazy batch updates (Frantar & Alistarh 2023)',
  },
  obc: {
    prune: obcPrune as LayerPruneFn,
    needsHessian: true,
    needsCross: false,
    minSamples: 16,
    description: 'exact greedy OBS per row (Frantar et al. 2022); d ≤ 1024',
  },
  iht: {
    prune: ihtPrune as LayerPruneFn,
    needsHessian: true,
    needsCross: true,
    selectsOnHeldOut: true,
    minSamples: 16,
    description: 'iterative hard thresholding on the layer objective (Blumensath & Davies 2009)',
  },
  iobs: {
    prune: iobsPrune as LayerPruneFn,
    needsHessian: true,
    needsCross: true,
    firstStep: { iterations: 1 },
    selectsOnHeldOut: true,
    minSamples: 16,
    description: 'Iterative Optimal Brain Surgeon: Newton step + OBS projection (Wu et al. 2024)',
  },
} satisfies Record<string, PrunerEntry>;

/**
 * Held-out samples when none are asked for: a quarter of `calibSamples` for methods that choose
 * on them ({@link PrunerEntry.selectsOnHeldOut}), else a sixteenth — there they only serve the
 * per-layer error report, which in sequential mode runs the pruned and the dense model over them
 * (2/16 = 12.5 % more forward work than the calibration pass instead of 50 %); at least 1.
 */
export function defaultHeldOutSamples(entry: Pick<PrunerEntry, 'selectsOnHeldOut'>, calibSamples: number): number {
  return Math.max(1, Math.floor(calibSamples / (entry.selectsOnHeldOut ? 4 : 16)));
}

/** Names accepted by {@link getPruner}. */
export type PrunerName = keyof typeof PRUNERS;

/** All method names. */
export const PRUNER_NAMES = Object.keys(PRUNERS) as PrunerName[];

/** The entry of `name`, or undefined. */
export function getPruner(name: string): PrunerEntry | undefined {
  return Object.hasOwn(PRUNERS, name) ? PRUNERS[name as PrunerName] : undefined;
}
