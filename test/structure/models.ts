/**
 * Models for structured pruning, built in code with {@link OnnxGraphBuilder}: a residual CNN
 * shaped like a small ResNet (a stem, two residual stages with BatchNormalization, global
 * average pooling, a Gemm head), with given or seeded random weights.
 */
import { OnnxGraphBuilder } from '../../src/io/onnx/graph-builder.js';
import { gaussian, mulberry32 } from '../../src/random.js';

/** Weights of {@link residualCnn}, by initializer name (see RESIDUAL_CNN_SHAPES). */
export type ResidualCnnWeights = Record<string, Float32Array>;

/** Channels of the stem/stage 1 and of stage 2. */
export interface ResidualCnnWidths {
  c1: number;
  c2: number;
}

/** Layout options of {@link residualCnn}. */
export interface ResidualCnnOptions {
  /**
   * Stride of the stem convolution (default 1: stage 1 at 28×28; 2: stage 1 at 14×14 and stage 2
   * at 7×7, a quarter of the work). The stem keeps pads 1 on every side, as PyTorch's
   * `Conv2d(1, c1, 3, stride=2, padding=1)` exports.
   */
  stemStride?: number;
}

/** Initializer shapes of {@link residualCnn}. */
export function residualCnnShapes({ c1, c2 }: ResidualCnnWidths = { c1: 16, c2: 32 }): Record<string, number[]> {
  const conv = (name: string, out: number, inp: number) => ({ [`${name}.w`]: [out, inp, 3, 3], [`${name}.b`]: [out] });
  const bn = (name: string, c: number) => ({ [`${name}.scale`]: [c], [`${name}.bias`]: [c], [`${name}.mean`]: [c], [`${name}.var`]: [c] });
  return {
    ...conv('stem', c1, 1), ...bn('stem.bn', c1),
    ...conv('s1.a', c1, c1), ...bn('s1.a.bn', c1), ...conv('s1.b', c1, c1), ...bn('s1.b.bn', c1),
    ...conv('down', c2, c1), ...bn('down.bn', c2),
    ...conv('s2.a', c2, c2), ...bn('s2.a.bn', c2), ...conv('s2.b', c2, c2), ...bn('s2.b.bn', c2),
    'head.w': [10, c2], 'head.b': [10],
  };
}

/** He-initialised weights, BatchNorm statistics near (0, 1), from `seed`. */
export function randomResidualCnnWeights(seed = 1, widths?: ResidualCnnWidths): ResidualCnnWeights {
  const normal = gaussian(mulberry32(seed));
  const out: ResidualCnnWeights = {};
  for (const [name, dims] of Object.entries(residualCnnShapes(widths))) {
    const n = dims.reduce((a, b) => a * b, 1);
    const fanIn = dims.length > 1 ? dims.slice(1).reduce((a, b) => a * b, 1) : 1;
    const v = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      if (name.endsWith('.var')) v[i] = 0.5 + Math.abs(normal());
      else if (name.endsWith('.scale')) v[i] = 1 + 0.2 * normal();
      else if (name.endsWith('.w')) v[i] = normal() * Math.sqrt(2 / fanIn);
      else v[i] = 0.1 * normal();
    }
    out[name] = v;
  }
  return out;
}

/**
 * The residual CNN as ONNX bytes: input float32 [batch, 1, 28, 28], output `logits` [batch, 10].
 * stem Conv–BN–Relu (stride `options.stemStride`); stage 1: (Conv–BN–Relu–Conv–BN) + stem, Relu; MaxPool 2;
 * Conv–BN–Relu to c2; stage 2: (Conv–BN–Relu–Conv–BN) + that, Relu; GlobalAveragePool,
 * Flatten, Gemm.
 */
export function residualCnn(weights: ResidualCnnWeights = randomResidualCnnWeights(), widths: ResidualCnnWidths = { c1: 16, c2: 32 }, options: ResidualCnnOptions = {}): Uint8Array {
  const g = new OnnxGraphBuilder({ name: 'residual-cnn' });
  const shapes = residualCnnShapes(widths);
  for (const [name, dims] of Object.entries(shapes)) {
    const w = weights[name];
    if (!w) throw new Error(`residualCnn: weight '${name}' missing`);
    g.initializer(name, dims, w);
  }
  const x = g.input('input', 'float32', ['batch', 1, 28, 28]);
  const convBn = (name: string, input: string, relu: boolean, stride = 1): string => {
    const [c] = g.node('Conv', [input, `${name}.w`, `${name}.b`], { kernel_shape: { ints: [3, 3] }, pads: { ints: [1, 1, 1, 1] }, strides: { ints: [stride, stride] } }, { name: `/${name}/Conv` });
    const [b] = g.node('BatchNormalization', [c!, `${name}.bn.scale`, `${name}.bn.bias`, `${name}.bn.mean`, `${name}.bn.var`], { epsilon: { float: 1e-5 } }, { name: `/${name}/bn` });
    return relu ? g.node('Relu', [b!], {}, { name: `/${name}/Relu` })[0]! : b!;
  };
  const block = (name: string, input: string): string => {
    const a = convBn(`${name}.a`, input, true);
    const b = convBn(`${name}.b`, a, false);
    const [sum] = g.node('Add', [b, input], {}, { name: `/${name}/Add` });
    return g.node('Relu', [sum!], {}, { name: `/${name}/Relu` })[0]!;
  };
  const stem = convBn('stem', x, true, options.stemStride ?? 1);
  const s1 = block('s1', stem);
  const [pooled] = g.node('MaxPool', [s1], { kernel_shape: { ints: [2, 2] }, strides: { ints: [2, 2] } }, { name: '/pool/MaxPool' });
  const down = convBn('down', pooled!, true);
  const s2 = block('s2', down);
  const [gap] = g.node('GlobalAveragePool', [s2], {}, { name: '/gap' });
  const [flat] = g.node('Flatten', [gap!], { axis: { int: 1 } }, { name: '/flatten' });
  g.node('Gemm', [flat!, 'head.w', 'head.b'], { transB: { int: 1 } }, { name: '/head/Gemm', outputs: ['logits'] });
  g.output('logits', 'float32', ['batch', 10]);
  return g.toBytes();
}
