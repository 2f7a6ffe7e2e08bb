/**
 * Gradient replacements for every backend. tfjs-core's gradient of `Tile` adds one slice of dy
 * per repetition: tfjs-layers' LayerNormalization tiles its mean, variance, gamma and beta to
 * the input's shape, so a [64, 16, 64] activation costs 2·64·16 + 2·64 slices and adds per
 * layer norm per step — 95 % of a training step of the tiny ViT (./vit.ts) on wasm. The
 * replacement reshapes dy to [r₀, s₀, r₁, s₁, …] (repetition-major, as Tile lays it out) and
 * sums over the repetition axes: one reshape and one reduction, the same values up to
 * summation order.
 */
import * as tf from '@tensorflow/tfjs';

/** The gradient of Tile with respect to x of shape `shape`, repeated `reps` times: Σ over repetitions. */
export function tileGradient(dy: tf.Tensor, shape: number[], reps: number[]): tf.Tensor {
  return tf.tidy(() => {
    const split: number[] = [];
    const axes: number[] = [];
    shape.forEach((s, i) => {
      if (reps[i]! > 1) {
        axes.push(split.length);
        split.push(reps[i]!);
      }
      split.push(s);
    });
    if (axes.length === 0) return tf.reshape(dy, shape);
    return tf.reshape(tf.sum(tf.reshape(dy, split), axes), shape);
  });
}

let registered = false;

/**
 * Registers the gradients of this module (idempotent; global, for every backend). Call once
 * before training models with LayerNormalization.
 */
export function registerFastGradients(): void {
  if (registered) return;
  registered = true;
  tf.registerGradient({
    kernelName: 'Tile',
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      const [x] = saved as tf.Tensor[];
      const reps = (attrs as unknown as { reps: number[] }).reps;
      const g = Array.isArray(dy) ? dy[0]! : dy;
      return { x: () => tileGradient(g, x!.shape, reps) };
    },
  });
}
