/**
 * Small reference architectures for `surgeon train` (Fashion-MNIST-sized inputs): an MLP and a
 * LeNet-style CNN (LeCun et al. 1998) and a tiny Vision Transformer (./vit.ts). All output
 * logits (no softmax).
 */
import * as tf from '@tensorflow/tfjs';
import { SurgeonInputError } from '../errors.js';
import { buildVit } from './vit.js';

import { ARCHITECTURES } from './names.js';

export { ARCHITECTURES };
/** One of {@link ARCHITECTURES}. */
export type Architecture = (typeof ARCHITECTURES)[number];

/**
 * Builds `arch` for inputs of `sampleShape` (e.g. [28, 28, 1]) and `classes` outputs.
 * mlp: flatten → 128 relu → 64 relu → classes. cnn (LeNet-5 style): conv 6@5×5 relu → maxpool 2 →
 * conv 16@5×5 relu → maxpool 2 → 120 relu → 84 relu → classes. vit-tiny: 7×7 patches, width 64,
 * 2 pre-norm blocks of 2-head attention and a 128-wide gelu MLP, PEG position encoding, flattened
 * tokens → classes (./vit.ts).
 */
export function buildModel(arch: string, sampleShape: number[], classes: number, seed = 1): tf.LayersModel {
  const init = (s: number) => tf.initializers.glorotUniform({ seed: seed * 101 + s });
  if (arch === 'mlp') {
    return tf.sequential({
      layers: [
        tf.layers.flatten({ inputShape: sampleShape, name: 'flatten' }),
        tf.layers.dense({ units: 128, activation: 'relu', name: 'fc1', kernelInitializer: init(1) }),
        tf.layers.dense({ units: 64, activation: 'relu', name: 'fc2', kernelInitializer: init(2) }),
        tf.layers.dense({ units: classes, name: 'fc3', kernelInitializer: init(3) }),
      ],
    });
  }
  if (arch === 'cnn') {
    if (sampleShape.length !== 3) throw new SurgeonInputError(`--arch cnn needs images [H, W, C]; the data has samples of shape [${sampleShape.join(',')}]`);
    return tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: sampleShape, filters: 6, kernelSize: 5, activation: 'relu', name: 'conv1', kernelInitializer: init(1) }),
        tf.layers.maxPooling2d({ poolSize: 2, name: 'pool1' }),
        tf.layers.conv2d({ filters: 16, kernelSize: 5, activation: 'relu', name: 'conv2', kernelInitializer: init(2) }),
        tf.layers.maxPooling2d({ poolSize: 2, name: 'pool2' }),
        tf.layers.flatten({ name: 'flatten' }),
        tf.layers.dense({ units: 120, activation: 'relu', name: 'fc1', kernelInitializer: init(3) }),
        tf.layers.dense({ units: 84, activation: 'relu', name: 'fc2', kernelInitializer: init(4) }),
        tf.layers.dense({ units: classes, name: 'fc3', kernelInitializer: init(5) }),
      ],
    });
  }
  if (arch === 'vit-tiny') return buildVit(sampleShape, classes, { seed });
  throw new SurgeonInputError(`--arch ${arch}: expected one of ${ARCHITECTURES.join(', ')}`);
}
