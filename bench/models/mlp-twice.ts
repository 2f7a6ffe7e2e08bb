/**
 * mlp-twice: a Fashion-MNIST MLP whose hidden layer is applied twice with the same weights, as
 * PyTorch exports a module called twice (two Gemm nodes reading one weight initializer):
 *
 *   input [batch,1,28,28] → Flatten → fc1 784→256 → Relu → hidden 256→256 → Relu
 *   → hidden (same weights) → Relu → head 256→10 → logits
 *
 * Node names as torch.onnx.export writes them (`/fc1/Gemm`, `/hidden/Gemm`, `/hidden_1/Gemm`, …);
 * weights [out, in] with transB = 1.
 */
import { OnnxGraphBuilder } from '../../src/io/onnx/graph-builder.js';
import { tf } from '../../src/tfjs/backend.js';
import { transposeND } from '../../src/io/onnx/operators.js';
import type { BuildOptions } from './common.js';
import { kernelValues, makeVisionModel, visionFiles, type VisionRecipe } from './vision.js';

/** The TF.js model: the `hidden` Dense layer is applied twice. */
function build(seed: number): tf.LayersModel {
  const init = (s: number) => tf.initializers.glorotUniform({ seed: seed * 101 + s });
  const input = tf.input({ shape: [28, 28, 1], name: 'input' });
  const flat = tf.layers.flatten({ name: 'flatten' }).apply(input) as tf.SymbolicTensor;
  const h1 = tf.layers.dense({ units: 256, activation: 'relu', name: 'fc1', kernelInitializer: init(1) }).apply(flat) as tf.SymbolicTensor;
  const hidden = tf.layers.dense({ units: 256, activation: 'relu', name: 'hidden', kernelInitializer: init(2) });
  const h3 = hidden.apply(hidden.apply(h1)) as tf.SymbolicTensor;
  const logits = tf.layers.dense({ units: 10, name: 'head', kernelInitializer: init(3) }).apply(h3) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: logits, name: 'mlp-twice' });
}

/** The ONNX model of a trained {@link build} model. */
function toOnnx(model: tf.LayersModel): Uint8Array {
  const g = new OnnxGraphBuilder({ name: 'mlp-twice', opset: 17 });
  g.input('input', 'float32', ['batch', 1, 28, 28]);
  const linear = (layer: string) => {
    const { kernel, bias, shape } = kernelValues(model, layer);
    const [inF, outF] = shape as [number, number];
    return { W: g.initializer(`${layer}.weight`, [outF, inF], transposeND(kernel, [inF, outF], [1, 0])), b: g.initializer(`${layer}.bias`, [outF], bias) };
  };
  const gemm = (x: string, p: { W: string; b: string }, name: string) => g.node('Gemm', [x, p.W, p.b], { alpha: { float: 1 }, beta: { float: 1 }, transB: { int: 1 } }, { name: `/${name}/Gemm` })[0]!;
  const relu = (x: string, name: string) => g.node('Relu', [x], {}, { name: `/${name}/Relu` })[0]!;
  const [flat] = g.node('Flatten', ['input'], { axis: { int: 1 } }, { name: '/flatten/Flatten' });
  const hidden = linear('hidden');
  let x = relu(gemm(flat!, linear('fc1'), 'fc1'), 'relu');
  x = relu(gemm(x, hidden, 'hidden'), 'relu_1');
  x = relu(gemm(x, hidden, 'hidden_1'), 'relu_2');
  const head = linear('head');
  g.node('Gemm', [x, head.W, head.b], { alpha: { float: 1 }, beta: { float: 1 }, transB: { int: 1 } }, { name: '/head/Gemm', outputs: ['logits'] });
  g.output('logits', 'float32', ['batch', 10]);
  return g.toBytes();
}

/** The recipe (Adam 1e-3, batch 64, 10 epochs on the 60,000 training images). */
export const MLP_TWICE: VisionRecipe = {
  name: 'mlp-twice',
  architecture: 'Flatten → Gemm fc1 784→256 → Relu → Gemm hidden 256→256 → Relu → Gemm hidden (the same initializer) → Relu → Gemm head 256→10; opset 17, dynamic batch',
  build: () => build(MLP_TWICE.seed),
  toOnnx,
  epochs: 10,
  batchSize: 64,
  lr: 1e-3,
  seed: 21,
};

/** The files mlp-twice writes. */
export const mlpTwiceFiles = (dir?: string) => visionFiles(MLP_TWICE.name, dir);

/** Builds mlp-twice (see ./vision.ts). */
export function makeMlpTwice(options: BuildOptions = {}): Promise<void> {
  return makeVisionModel(MLP_TWICE, options);
}
