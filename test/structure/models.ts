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

/** Layout options of {@link tinyAttention}. */
export interface TinyAttentionOptions {
  /** One fused q/k/v MatMul [D, 3D] + bias and a Split (PyTorch's `qkv = Linear(D, 3D)`), else three projections (default true). */
  fused?: boolean;
  /** Head shapes computed from Shape/Gather/Concat as PyTorch exports `x.view(B, T, H, D // H)` (default true), else constant shapes. */
  computedShapes?: boolean;
  /** A causal mask (Where on the scores, as GPT exports) (default false). */
  causal?: boolean;
  /** A mask that differs per head (an Add of a [H, T, T] constant): the heads cannot shrink (default false). */
  perHeadMask?: boolean;
  seed?: number;
}

/**
 * One pre-norm-free transformer block as ONNX bytes, shaped like PyTorch's export of a
 * hand-written multi-head attention: input `x` float32 [batch, 5, 16], 4 heads of 4, an MLP of
 * 24 hidden neurons (MatMul + Add + Relu + MatMul + Add), residual Adds, output `y` [batch, 5, 16].
 */
export function tinyAttention(options: TinyAttentionOptions = {}): Uint8Array {
  const { fused = true, computedShapes = true, causal = false, perHeadMask = false, seed = 3 } = options;
  const T = 5;
  const D = 16;
  const H = 4;
  const dh = D / H;
  const normal = gaussian(mulberry32(seed));
  const rand = (n: number, scale: number) => Float32Array.from({ length: n }, () => normal() * scale);
  const g = new OnnxGraphBuilder({ name: 'tiny-attention' });
  const x = g.input('x', 'float32', ['batch', T, D]);
  const linear = (name: string, input: string, inF: number, outF: number, bias = true): string => {
    g.initializer(`${name}.w`, [inF, outF], rand(inF * outF, 1 / Math.sqrt(inF)));
    const [mm] = g.node('MatMul', [input, `${name}.w`], {}, { name: `/${name}/MatMul` });
    if (!bias) return mm!;
    g.initializer(`${name}.b`, [outF], rand(outF, 0.1));
    return g.node('Add', [`${name}.b`, mm!], {}, { name: `/${name}/Add` })[0]!;
  };
  // [B, T, D] → [B, T, H, dh]: a shape constant, or computed as PyTorch's view(B, T, H, C // H) exports it
  let shapes = 0;
  const splitShape = (input: string): string => {
    const n = shapes++;
    if (!computedShapes) return g.initializer(`split_shape_${n}`, [4], [0, 0, H, dh], 'int64');
    const [shape] = g.node('Shape', [input], {}, { name: `/Shape_${n}` });
    const dim = (i: number) => {
      const idx = g.constant(`/idx_${n}_${i}`, [], [i], 'int64');
      const [v] = g.node('Gather', [shape!, idx], { axis: { int: 0 } }, { name: `/Gather_${n}_${i}` });
      return v!;
    };
    const [b, t, c] = [dim(0), dim(1), dim(2)];
    const [div] = g.node('Div', [c, g.constant(`/heads_${n}`, [], [H], 'int64')], {}, { name: `/Div_${n}` });
    const axes = g.initializer(`/axes_${n}`, [1], [0], 'int64');
    const un = (v: string, k: string) => g.node('Unsqueeze', [v, axes], {}, { name: `/Unsqueeze_${n}_${k}` })[0]!;
    const [concat] = g.node('Concat', [un(b, 'b'), un(t, 't'), g.constant(`/h_${n}`, [1], [H], 'int64'), un(div!, 'd')], { axis: { int: 0 } }, { name: `/Concat_${n}` });
    return concat!;
  };
  const heads = (input: string, perm: number[], name: string): string => {
    const [r] = g.node('Reshape', [input, splitShape(input)], {}, { name: `/${name}/Reshape` });
    return g.node('Transpose', [r!], { perm: { ints: perm } }, { name: `/${name}/Transpose` })[0]!;
  };
  let q: string;
  let k: string;
  let v: string;
  if (fused) {
    const qkv = linear('qkv', x, D, 3 * D);
    const sizes = g.constant('/split_sizes', [3], [D, D, D], 'int64');
    [q, k, v] = g.node('Split', [qkv, sizes], { axis: { int: 2 } }, { name: '/Split', count: 3 }) as [string, string, string];
  } else {
    q = linear('q', x, D, D);
    k = linear('k', x, D, D);
    v = linear('v', x, D, D, false);
  }
  const qh = heads(q, [0, 2, 1, 3], 'q');
  const kh = heads(k, [0, 2, 3, 1], 'k');
  const vh = heads(v, [0, 2, 1, 3], 'v');
  const [scores] = g.node('MatMul', [qh, kh], {}, { name: '/scores/MatMul' });
  let s = g.node('Div', [scores!, g.constant('/scale', [], [Math.sqrt(dh)])], {}, { name: '/scores/Div' })[0]!;
  if (causal) {
    const cond = g.initializer('causal', [T, T], Array.from({ length: T * T }, (_, i) => (i % T > Math.floor(i / T) ? 1 : 0)), 'bool');
    s = g.node('Where', [cond, g.constant('/neg_inf', [], [-1e9]), s], {}, { name: '/mask/Where' })[0]!;
  }
  if (perHeadMask) {
    g.initializer('head_bias', [H, T, T], rand(H * T * T, 0.5));
    s = g.node('Add', [s, 'head_bias'], {}, { name: '/mask/Add' })[0]!;
  }
  const [p] = g.node('Softmax', [s], { axis: { int: -1 } }, { name: '/Softmax' });
  const [av] = g.node('MatMul', [p!, vh], {}, { name: '/attn/MatMul' });
  const [t] = g.node('Transpose', [av!], { perm: { ints: [0, 2, 1, 3] } }, { name: '/attn/Transpose' });
  const mergeShape = g.initializer('merge_shape', [3], [0, 0, D], 'int64');
  const [merged] = g.node('Reshape', [t!, mergeShape], {}, { name: '/attn/Reshape' });
  const proj = linear('proj', merged!, D, D);
  const [h1] = g.node('Add', [x, proj], {}, { name: '/res1' });
  const fc1 = linear('fc1', h1!, D, 24);
  const [act] = g.node('Relu', [fc1], {}, { name: '/fc1/Relu' });
  const fc2 = linear('fc2', act!, 24, D);
  g.node('Add', [h1!, fc2], {}, { name: '/res2', outputs: ['y'] });
  g.output('y', 'float32', ['batch', T, D]);
  return g.toBytes();
}
