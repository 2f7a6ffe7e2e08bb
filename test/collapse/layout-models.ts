/**
 * Small models in the layouts exporters write, built with the general graph builder, and
 * labelled data for them (tests of collapse and curves on any tensor layout). Values are on a
 * grid of 1/4 and weights small integers, so onnxruntime's float32 arithmetic is exact and
 * tests can recompute any tensor in JavaScript bit for bit.
 */
import { OnnxGraphBuilder } from '../../src/io/onnx/graph-builder.js';
import type { ClassificationDataset } from '../../src/io/dataset.js';
import { gaussian, mulberry32 } from '../../src/random.js';

/** Integer weights in [−2, 2] (never all zero in a row), seeded. */
function intWeights(count: number, seed: number): Float32Array {
  const r = mulberry32(seed);
  return Float32Array.from({ length: count }, (_, i) => (Math.floor(r() * 5) - 2) || (i % 2 ? 1 : -1));
}

/** A features-only classifier: x [batch, d] → Gemm (W K × d, transB) + b → logits [batch, K]. */
export function featuresClassifier(d = 16, K = 4, seed = 3): { bytes: Uint8Array; W: Float32Array; b: Float32Array } {
  const g = new OnnxGraphBuilder();
  const x = g.input('features', 'float32', ['batch', d]);
  const W = intWeights(K * d, seed);
  const b = Float32Array.from({ length: K }, (_, k) => k / 4);
  g.initializer('head.weight', [K, d], W);
  g.initializer('head.bias', [K], b);
  g.node('Gemm', [x, 'head.weight', 'head.bias'], { transB: { int: 1 } }, { name: '/head/Gemm', outputs: ['logits'] });
  g.output('logits', 'float32', ['batch', K]);
  return { bytes: g.toBytes(), W, b };
}

/** Tensor names of {@link sequenceFirstClassifier}. */
export const SEQ = { input: 'tokens', seqFirst: '/encoder/Transpose_output_0', relu: '/encoder/Relu_output_0', pooled: '/pool/ReduceMean_output_0' } as const;

/**
 * A sequence-first encoder classifier, as PyTorch exports nn.TransformerEncoder layers
 * (batch_first=False): tokens [batch, T, d] → Transpose(1, 0, 2) → [T, batch, d] → MatMul(W1,
 * d × h) → Relu → Transpose back → ReduceMean over T → [batch, h] → Gemm (W2 K × h, transB) → logits.
 */
export function sequenceFirstClassifier(T = 4, d = 5, h = 6, K = 3, seed = 5): { bytes: Uint8Array; W1: Float32Array; W2: Float32Array; T: number; d: number; h: number; K: number } {
  const g = new OnnxGraphBuilder();
  g.input(SEQ.input, 'float32', ['batch', T, d]);
  const W1 = intWeights(d * h, seed);
  const W2 = intWeights(K * h, seed + 1);
  g.initializer('encoder.weight', [d, h], W1);
  g.initializer('head.weight', [K, h], W2);
  g.initializer('head.bias', [K], new Float32Array(K));
  g.node('Transpose', [SEQ.input], { perm: { ints: [1, 0, 2] } }, { name: '/encoder/Transpose', outputs: [SEQ.seqFirst] });
  const [mm] = g.node('MatMul', [SEQ.seqFirst, 'encoder.weight'], {}, { name: '/encoder/MatMul' });
  g.node('Relu', [mm!], {}, { name: '/encoder/Relu', outputs: [SEQ.relu] });
  const [back] = g.node('Transpose', [SEQ.relu], { perm: { ints: [1, 0, 2] } }, { name: '/pool/Transpose' });
  g.node('ReduceMean', [back!], { axes: { ints: [1] }, keepdims: { int: 0 } }, { name: '/pool/ReduceMean', outputs: [SEQ.pooled] });
  g.node('Gemm', [SEQ.pooled, 'head.weight', 'head.bias'], { transB: { int: 1 } }, { name: '/head/Gemm', outputs: ['logits'] });
  g.output('logits', 'float32', ['batch', K]);
  return { bytes: g.toBytes(), W1, W2, T, d, h, K };
}

/**
 * A sequence-first classifier over one token whose penultimate features stay sequence-first:
 * tokens [batch, 1, d] → Transpose → [1, batch, d] → MatMul(W1) → Relu → [1, batch, h] →
 * MatMul(W2, h × K) → Squeeze(0) → logits [batch, K]. With batches of one sample no axis of
 * its tensors tells the sample apart from the sequence: collapse cannot be measured.
 */
export function singleTokenClassifier(d = 5, h = 6, K = 3, seed = 7): Uint8Array {
  const g = new OnnxGraphBuilder();
  g.input(SEQ.input, 'float32', ['batch', 1, d]);
  g.initializer('encoder.weight', [d, h], intWeights(d * h, seed));
  g.initializer('head.weight', [h, K], intWeights(h * K, seed + 1));
  g.initializer('squeeze.axes', [1], [0], 'int64');
  const [t] = g.node('Transpose', [SEQ.input], { perm: { ints: [1, 0, 2] } }, { name: '/encoder/Transpose' });
  const [mm] = g.node('MatMul', [t!, 'encoder.weight'], {}, { name: '/encoder/MatMul' });
  const [r] = g.node('Relu', [mm!], {}, { name: '/encoder/Relu' });
  const [z] = g.node('MatMul', [r!, 'head.weight'], {}, { name: '/head/MatMul' });
  g.node('Squeeze', [z!, 'squeeze.axes'], {}, { name: '/head/Squeeze', outputs: ['logits'] });
  g.output('logits', 'float32', ['batch', K]);
  return g.toBytes();
}

/**
 * An encoder whose first layer sees the tokens of all samples as one [batch·T, d] matrix (as the
 * output projection of PyTorch's multi-head attention does): tokens [batch, T, d] → Reshape
 * (−1, d) → MatMul(W1) → Relu → Reshape (−1, T, h) → ReduceMean over T → Gemm → logits. The
 * [batch·T, d] tensor has no batch axis; the penultimate features [batch, h] do.
 */
export function flattenedTokensClassifier(T = 4, d = 5, h = 6, K = 3, seed = 9): Uint8Array {
  const g = new OnnxGraphBuilder();
  g.input(SEQ.input, 'float32', ['batch', T, d]);
  g.initializer('encoder.weight', [d, h], intWeights(d * h, seed));
  g.initializer('head.weight', [K, h], intWeights(K * h, seed + 1));
  g.initializer('flat.shape', [2], [-1, d], 'int64');
  g.initializer('unflat.shape', [3], [-1, T, h], 'int64');
  const [flat] = g.node('Reshape', [SEQ.input, 'flat.shape'], {}, { name: '/encoder/Reshape' });
  const [mm] = g.node('MatMul', [flat!, 'encoder.weight'], {}, { name: '/encoder/MatMul' });
  const [r] = g.node('Relu', [mm!], {}, { name: '/encoder/Relu' });
  const [back] = g.node('Reshape', [r!, 'unflat.shape'], {}, { name: '/pool/Reshape' });
  const [p] = g.node('ReduceMean', [back!], { axes: { ints: [1] }, keepdims: { int: 0 } }, { name: '/pool/ReduceMean' });
  g.node('Gemm', [p!, 'head.weight'], { transB: { int: 1 } }, { name: '/head/Gemm', outputs: ['logits'] });
  g.output('logits', 'float32', ['batch', K]);
  return g.toBytes();
}

/**
 * `count` labelled samples of shape `sampleShape` in K classes (labels i mod K): class means
 * plus noise, rounded to multiples of 1/4 in [−4, 4].
 */
export function labelledData(count: number, sampleShape: number[], K: number, seed = 11, inputName = 'x'): ClassificationDataset {
  const per = sampleShape.reduce((a, b) => a * b, 1);
  const g = gaussian(mulberry32(seed));
  const means = Array.from({ length: K * per }, () => 1.5 * g());
  const x = new Float32Array(count * per);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const y = i % K;
    labels[i] = y;
    for (let j = 0; j < per; j++) x[i * per + j] = Math.max(-4, Math.min(4, Math.round((means[y * per + j]! + g()) * 4) / 4));
  }
  return { kind: 'classification', inputName, x, sampleShape: sampleShape.slice(), count, labels, numClasses: K };
}
