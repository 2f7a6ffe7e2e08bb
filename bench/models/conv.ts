/**
 * conv: a plain (non-residual) Fashion-MNIST conv net without BatchNorm, written as PyTorch
 * exports it (NCHW Conv weights [out, in, kh, kw], padding 1, Flatten of NCHW features into a
 * Gemm with weights [out, in], transB = 1):
 *
 *   input [batch,1,28,28] → conv1 16@3×3 → Relu → MaxPool 2 → conv2 32@3×3 → Relu → MaxPool 2
 *   → Flatten (32·7·7 = 1568) → fc1 1568→128 → Relu → fc2 128→10 → logits
 *
 * TF.js runs it NHWC: its kernels [kh, kw, in, out] are transposed to [out, in, kh, kw], and
 * fc1's rows are permuted from TF.js's flattening order (h, w, c) to PyTorch's (c, h, w).
 */
import { OnnxGraphBuilder } from '../../src/io/onnx/graph-builder.js';
import { tf } from '../../src/tfjs/backend.js';
import { transposeND } from '../../src/io/onnx/operators.js';
import type { BuildOptions } from './common.js';
import { kernelValues, makeVisionModel, visionFiles, type VisionRecipe } from './vision.js';

/** The TF.js model ('same' padding = PyTorch's padding 1 for 3×3, stride 1). */
function build(seed: number): tf.LayersModel {
  const init = (s: number) => tf.initializers.heNormal({ seed: seed * 101 + s });
  return tf.sequential({
    name: 'conv',
    layers: [
      tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 16, kernelSize: 3, padding: 'same', activation: 'relu', name: 'conv1', kernelInitializer: init(1) }),
      tf.layers.maxPooling2d({ poolSize: 2, name: 'pool1' }),
      tf.layers.conv2d({ filters: 32, kernelSize: 3, padding: 'same', activation: 'relu', name: 'conv2', kernelInitializer: init(2) }),
      tf.layers.maxPooling2d({ poolSize: 2, name: 'pool2' }),
      tf.layers.flatten({ name: 'flatten' }),
      tf.layers.dense({ units: 128, activation: 'relu', name: 'fc1', kernelInitializer: init(3) }),
      tf.layers.dense({ units: 10, name: 'fc2', kernelInitializer: init(4) }),
    ],
  });
}

/**
 * A TF.js kernel [A, B, C, out] as [out, C, A, B]. For a conv kernel [kh, kw, in, out] that is
 * ONNX's [out, in, kh, kw]; for a Dense kernel [H·W·C, out] that reads NHWC-flattened features
 * (viewed as [H, W, C, out]) it is the [out, C·H·W] Gemm weight (transB = 1) that reads the
 * NCHW-flattened ones.
 */
function channelsFirst(k: Float32Array, dims: [number, number, number, number]): Float32Array {
  return transposeND(k, dims, [3, 2, 0, 1]);
}

/** The ONNX model of a trained {@link build} model. */
function toOnnx(model: tf.LayersModel): Uint8Array {
  const g = new OnnxGraphBuilder({ name: 'conv', opset: 17 });
  g.input('input', 'float32', ['batch', 1, 28, 28]);
  let x = 'input';
  for (const [i, layer] of ['conv1', 'conv2'].entries()) {
    const { kernel, bias, shape } = kernelValues(model, layer);
    const W = g.initializer(`${layer}.weight`, [shape[3]!, shape[2]!, shape[0]!, shape[1]!], channelsFirst(kernel, shape as [number, number, number, number]));
    const [c] = g.node('Conv', [x, W, g.initializer(`${layer}.bias`, [shape[3]!], bias)], { dilations: { ints: [1, 1] }, group: { int: 1 }, kernel_shape: { ints: [3, 3] }, pads: { ints: [1, 1, 1, 1] }, strides: { ints: [1, 1] } }, { name: `/${layer}/Conv` });
    const [r] = g.node('Relu', [c!], {}, { name: `/relu${i + 1}/Relu` });
    [x] = g.node('MaxPool', [r!], { ceil_mode: { int: 0 }, kernel_shape: { ints: [2, 2] }, pads: { ints: [0, 0, 0, 0] }, strides: { ints: [2, 2] } }, { name: `/pool${i + 1}/MaxPool` }) as [string];
  }
  const [flat] = g.node('Flatten', [x], { axis: { int: 1 } }, { name: '/flatten/Flatten' });
  const fc1 = kernelValues(model, 'fc1');
  const [h] = g.node('Gemm', [flat!, g.initializer('fc1.weight', [128, 1568], channelsFirst(fc1.kernel, [7, 7, 32, 128])), g.initializer('fc1.bias', [128], fc1.bias)], { alpha: { float: 1 }, beta: { float: 1 }, transB: { int: 1 } }, { name: '/fc1/Gemm' });
  const [r] = g.node('Relu', [h!], {}, { name: '/relu3/Relu' });
  const fc2 = kernelValues(model, 'fc2');
  g.node('Gemm', [r!, g.initializer('fc2.weight', [10, 128], transposeND(fc2.kernel, [128, 10], [1, 0])), g.initializer('fc2.bias', [10], fc2.bias)], { alpha: { float: 1 }, beta: { float: 1 }, transB: { int: 1 } }, { name: '/fc2/Gemm', outputs: ['logits'] });
  g.output('logits', 'float32', ['batch', 10]);
  return g.toBytes();
}

/** The recipe (Adam 1e-3, batch 64, 6 epochs on the 60,000 training images). */
export const CONV: VisionRecipe = {
  name: 'conv',
  architecture: 'Conv conv1 1→16 3×3 pad 1 → Relu → MaxPool 2 → Conv conv2 16→32 3×3 pad 1 → Relu → MaxPool 2 → Flatten → Gemm fc1 1568→128 → Relu → Gemm fc2 128→10; no BatchNorm, opset 17, dynamic batch',
  build: () => build(CONV.seed),
  toOnnx,
  epochs: 6,
  batchSize: 64,
  lr: 1e-3,
  seed: 31,
};

/** The files conv writes. */
export const convFiles = (dir?: string) => visionFiles(CONV.name, dir);

/** Builds conv (see ./vision.ts). */
export function makeConv(options: BuildOptions = {}): Promise<void> {
  return makeVisionModel(CONV, options);
}
