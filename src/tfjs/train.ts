/**
 * Training loop for tfjs layers models with fixed sparsity masks and optional knowledge
 * distillation (Hinton et al. 2015). Masked weights stay exactly zero: their gradients are
 * masked before the optimizer (so Adam's moments never move them) and the mask is re-applied
 * after every step.
 */
import * as tf from '@tensorflow/tfjs';
import { batchOf, crossEntropy, logitsOf, type TfjsData } from './data.js';
import { mulberry32 } from '../random.js';

/** A deterministic uniform [0, 1) stream (see src/random.ts). */
export const rng = mulberry32;

/** Distillation from a dense teacher: loss = (1−w)·CE + w·T²·KL(softmax(t/T) ‖ softmax(s/T)). */
export interface DistillOptions {
  teacher: tf.LayersModel;
  temperature: number;
  weight: number;
}

/** Options of {@link trainEpochs}. */
export interface TrainOptions {
  epochs: number;
  batchSize?: number;
  /** Adam learning rate (default 1e-3). */
  lr?: number;
  /** Weight name → mask tensor (kernel layout, 1 keep / 0 pruned). */
  masks?: Map<string, tf.Tensor>;
  distill?: DistillOptions;
  /** Shuffling seed (default 1). */
  seed?: number;
  /** First epoch number (resuming). */
  startEpoch?: number;
  /** An existing optimizer (resuming); default a new Adam. */
  optimizer?: tf.Optimizer;
  onBatch?(info: { epoch: number; done: number; total: number; loss: number; accuracy: number }): void;
  /** Called after each epoch; may change masks (gradual pruning). */
  onEpochEnd?(stats: EpochStats): Promise<void> | void;
  /** Called before each epoch; returning true stops training (e.g. Ctrl-C). */
  shouldStop?(): boolean;
}

/** What one epoch did. */
export interface EpochStats {
  epoch: number;
  loss: number;
  accuracy: number;
  seconds: number;
}


/** A shuffled 0..n−1. */
export function permutation(n: number, random: () => number): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = p[i]!;
    p[i] = p[j]!;
    p[j] = t;
  }
  return p;
}

/** Re-applies `masks` to the model's weights (in place). */
export function applyMasks(model: tf.LayersModel, masks: Map<string, tf.Tensor> | undefined): void {
  if (!masks || masks.size === 0) return;
  for (const w of model.weights) {
    const m = masks.get(w.originalName);
    if (!m) continue;
    const masked = tf.tidy(() => tf.mul(w.read(), m));
    w.write(masked);
    masked.dispose();
  }
}

function distillLoss(student: tf.Tensor2D, teacher: tf.Tensor2D, T: number): tf.Scalar {
  const pt = tf.softmax(tf.div(teacher, T));
  const logPs = tf.logSoftmax(tf.div(student, T));
  const logPt = tf.log(tf.clipByValue(pt, 1e-8, 1));
  return tf.mul(tf.mean(tf.sum(tf.mul(pt, tf.sub(logPt, logPs)), 1)), T * T) as tf.Scalar;
}

/**
 * Trains `model` on `data` for `epochs` epochs with Adam, masks held fixed (see module comment).
 * Returns the per-epoch statistics (training loss and accuracy over the epoch's batches).
 */
export async function trainEpochs(model: tf.LayersModel, data: TfjsData, options: TrainOptions): Promise<{ epochs: EpochStats[]; optimizer: tf.Optimizer }> {
  const batchSize = options.batchSize ?? 64;
  const optimizer = options.optimizer ?? tf.train.adam(options.lr ?? 1e-3);
  const random = rng(options.seed ?? 1);
  const trainable = model.trainableWeights;
  const vars = trainable.map((w) => w.read() as tf.Variable);
  const stats: EpochStats[] = [];
  const first = options.startEpoch ?? 0;
  for (let s = 0; s < first; s++) permutation(data.count, random); // same shuffles when resuming
  applyMasks(model, options.masks);
  for (let epoch = first; epoch < options.epochs; epoch++) {
    if (options.shouldStop?.()) break;
    const t0 = performance.now();
    const order = permutation(data.count, random);
    let lossSum = 0;
    let correct = 0;
    let seen = 0;
    for (let start = 0; start < data.count; start += batchSize) {
      if (options.shouldStop?.()) return { epochs: stats, optimizer }; // mid-epoch stop: the epoch is not counted
      const idx = order.subarray(start, Math.min(data.count, start + batchSize));
      const [lossT, hitsT] = tf.tidy(() => {
        const { x, y } = batchOf(data, idx);
        const teacherLogits = options.distill ? (logitsOf(options.distill.teacher, x) as tf.Tensor2D) : undefined;
        let hits: tf.Tensor | undefined;
        const { value, grads } = tf.variableGrads(() => {
          const logits = logitsOf(model, x, true);
          hits = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), y), 'float32')));
          let loss = crossEntropy(logits, y);
          if (options.distill && teacherLogits) {
            const w = options.distill.weight;
            loss = tf.add(tf.mul(loss, 1 - w), tf.mul(distillLoss(logits, teacherLogits, options.distill.temperature), w));
          }
          return loss;
        }, vars);
        const masked: tf.NamedTensorMap = {};
        for (let i = 0; i < trainable.length; i++) {
          const name = vars[i]!.name;
          const g = grads[name];
          if (!g) continue;
          const m = options.masks?.get(trainable[i]!.originalName);
          masked[name] = m ? tf.mul(g, m) : g;
        }
        optimizer.applyGradients(masked);
        return [value, hits!];
      });
      applyMasks(model, options.masks);
      const l = (await lossT!.data())[0]!;
      const h = (await hitsT!.data())[0]!;
      tf.dispose([lossT!, hitsT!]);
      lossSum += l * idx.length;
      correct += h;
      seen += idx.length;
      options.onBatch?.({ epoch, done: seen, total: data.count, loss: lossSum / seen, accuracy: correct / seen });
    }
    const entry = { epoch, loss: lossSum / Math.max(1, seen), accuracy: correct / Math.max(1, seen), seconds: (performance.now() - t0) / 1000 };
    stats.push(entry);
    await options.onEpochEnd?.(entry);
  }
  return { epochs: stats, optimizer };
}
