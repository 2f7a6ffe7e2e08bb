/**
 * Gradual pruning with fine-tuning (Zhu & Gupta, "To prune, or not to prune", 2017): the
 * sparsity follows the cubic schedule
 *   s_e = s_f + (s_i − s_f)·(1 − (e + 1)/E)³,   e = 0 … E−1,
 * reaching the final sparsity s_f at the start of the last epoch. Each epoch starts with a
 * pruning step (magnitude, WoodFisher or global I-OBS) and then trains one epoch with the masks
 * held fixed ({@link trainEpochs}), optionally distilling from the dense model.
 */
import * as tf from '@tensorflow/tfjs';
import type { TfjsData } from './data.js';
import { pruneTfjsModel, type TfjsPruneOptions, type TfjsPruneReport } from './prune.js';
import { type DistillOptions, type EpochStats, trainEpochs } from './train.js';

/** Sparsity of the pruning step at the start of epoch `e` of `E`. */
export function cubicSparsity(e: number, E: number, initial: number, final: number): number {
  const f = Math.min(1, (e + 1) / Math.max(1, E));
  return final + (initial - final) * (1 - f) ** 3;
}

/** Options of {@link gradualPrune}. */
export interface GradualOptions extends TfjsPruneOptions {
  epochs: number;
  /** Initial sparsity s_i (default 0). */
  initialSparsity?: number;
  batchSize?: number;
  lr?: number;
  distill?: DistillOptions;
  /** First epoch (resuming a checkpoint). */
  startEpoch?: number;
  onBatch?(info: { epoch: number; done: number; total: number; loss: number; accuracy: number; sparsity: number }): void;
  onEpoch?(info: EpochStats & { sparsity: number }): Promise<void> | void;
  shouldStop?(): boolean;
}

/** What {@link gradualPrune} did. */
export interface GradualReport {
  epochs: Array<EpochStats & { sparsity: number }>;
  steps: TfjsPruneReport[];
  /** Whether all epochs ran (false: stopped, e.g. by Ctrl-C). */
  completed: boolean;
  masks: Map<string, tf.Tensor>;
}

/** Runs the schedule on `model` in place (see the module comment). */
export async function gradualPrune(model: tf.LayersModel, train: TfjsData, heldOut: TfjsData | undefined, options: GradualOptions): Promise<GradualReport> {
  const E = options.epochs;
  const initial = options.initialSparsity ?? 0;
  const epochs: GradualReport['epochs'] = [];
  const steps: TfjsPruneReport[] = [];
  let masks = new Map<string, tf.Tensor>();
  let optimizer: tf.Optimizer | undefined;
  let completed = true;
  for (let e = options.startEpoch ?? 0; e < E; e++) {
    if (options.shouldStop?.()) {
      completed = false;
      break;
    }
    const sparsity = cubicSparsity(e, E, initial, options.sparsity);
    const step = await pruneTfjsModel(model, train, heldOut, { ...options, sparsity });
    tf.dispose([...masks.values()]);
    masks = step.masks;
    steps.push(step.report);
    const res = await trainEpochs(model, train, {
      epochs: e + 1,
      startEpoch: e,
      batchSize: options.batchSize,
      lr: options.lr,
      masks,
      distill: options.distill,
      optimizer,
      onBatch: (b) => options.onBatch?.({ ...b, sparsity }),
      shouldStop: options.shouldStop,
    });
    optimizer = res.optimizer;
    const stats = res.epochs[0];
    if (!stats) {
      completed = false;
      break;
    }
    epochs.push({ ...stats, sparsity });
    await options.onEpoch?.({ ...stats, sparsity });
  }
  optimizer?.dispose();
  return { epochs, steps, completed, masks };
}
