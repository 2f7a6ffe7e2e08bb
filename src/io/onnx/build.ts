/**
 * Builds small ONNX models from weights: a multilayer perceptron
 * `input → Flatten → (Gemm → Relu)* → Gemm → logits`, opset 17, float32, dynamic batch.
 * Used by the demo model's generator (scripts/make-demo.ts); the graph is the one PyTorch's
 * exporter writes for `nn.Sequential(nn.Flatten(), nn.Linear(...), nn.ReLU(), ...)`, so the
 * operator table, pruning and collapse code treat it like an exported model.
 */
import { createMessage, DataType, encodeModelProto, type ModelProto, type NodeProto, type TensorProto, type ValueInfoProto } from './proto.js';

/** One fully connected layer y = x·Wᵀ + b, with W stored [out, in] row-major (PyTorch's layout). */
export interface DenseLayer {
  /** out × in weights, row-major. */
  W: Float32Array;
  /** out biases. */
  b: Float32Array;
  in: number;
  out: number;
}

/** Options of {@link buildMlpModel}. */
export interface BuildMlpOptions {
  /** Per-sample input shape, e.g. [1, 28, 28]; the batch axis (`batch`) is prepended. */
  inputShape: number[];
  /** Graph input name (default `input`). */
  inputName?: string;
  /** Graph output name (default `logits`). */
  outputName?: string;
  /** Graph name (default `mlp`). */
  name?: string;
  /** `producerName` of the model (default `surgeon`). */
  producer?: string;
  /** Free-form metadata written as metadata_props. */
  metadata?: Record<string, string>;
}

function floatTensor(name: string, dims: number[], data: Float32Array): TensorProto {
  const copy = new Float32Array(data);
  return createMessage<TensorProto>('TensorProto', { name, dims, dataType: DataType.FLOAT, rawData: new Uint8Array(copy.buffer) });
}

function valueInfo(name: string, dims: Array<number | string>): ValueInfoProto {
  return createMessage<ValueInfoProto>('ValueInfoProto', {
    name,
    type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } } as never,
  });
}

function node(opType: string, name: string, input: string[], output: string[], attribute: Array<Record<string, unknown>> = []): NodeProto {
  return createMessage<NodeProto>('NodeProto', { opType, name, input, output, attribute: attribute as never });
}

/**
 * Serialises an MLP as an ONNX model: Flatten(axis 1), then for each layer
 * `Gemm(transB=1)` (weights `fcI.weight` [out, in], bias `fcI.bias`) followed by Relu except
 * after the last. Input `[batch, ...inputShape]`, output `[batch, classes]`.
 * @throws RangeError when consecutive layer sizes do not chain or the input size does not match.
 */
export function buildMlpModel(layers: readonly DenseLayer[], options: BuildMlpOptions): Uint8Array {
  if (layers.length === 0) throw new RangeError('buildMlpModel: at least one layer is needed');
  const features = options.inputShape.reduce((a, b) => a * b, 1);
  if (layers[0]!.in !== features) throw new RangeError(`buildMlpModel: the first layer takes ${layers[0]!.in} inputs but the input has ${features}`);
  layers.forEach((l, i) => {
    if (l.W.length !== l.in * l.out || l.b.length !== l.out) throw new RangeError(`buildMlpModel: layer ${i} has ${l.W.length} weights and ${l.b.length} biases for ${l.out}×${l.in}`);
    if (i > 0 && layers[i - 1]!.out !== l.in) throw new RangeError(`buildMlpModel: layer ${i} takes ${l.in} inputs but layer ${i - 1} gives ${layers[i - 1]!.out}`);
  });
  const input = options.inputName ?? 'input';
  const output = options.outputName ?? 'logits';
  const nodes: NodeProto[] = [node('Flatten', '/flatten/Flatten', [input], ['/flatten/Flatten_output_0'], [{ name: 'axis', type: 2, i: 1 }])];
  const initializer: TensorProto[] = [];
  let current = '/flatten/Flatten_output_0';
  layers.forEach((l, i) => {
    const last = i === layers.length - 1;
    const w = `fc${i + 1}.weight`;
    const b = `fc${i + 1}.bias`;
    initializer.push(floatTensor(w, [l.out, l.in], l.W), floatTensor(b, [l.out], l.b));
    const gemmOut = last ? output : `/fc${i + 1}/Gemm_output_0`;
    nodes.push(
      node('Gemm', `/fc${i + 1}/Gemm`, [current, w, b], [gemmOut], [
        { name: 'alpha', type: 1, f: 1 },
        { name: 'beta', type: 1, f: 1 },
        { name: 'transB', type: 2, i: 1 },
      ]),
    );
    current = gemmOut;
    if (!last) {
      const reluOut = `/relu${i + 1}/Relu_output_0`;
      nodes.push(node('Relu', `/relu${i + 1}/Relu`, [current], [reluOut]));
      current = reluOut;
    }
  });
  const model = createMessage<ModelProto>('ModelProto', {
    irVersion: 8,
    producerName: options.producer ?? 'surgeon',
    opsetImport: [{ domain: '', version: 17 }] as never,
    metadataProps: Object.entries(options.metadata ?? {}).map(([key, value]) => ({ key, value })) as never,
    graph: {
      name: options.name ?? 'mlp',
      node: nodes,
      initializer,
      input: [valueInfo(input, ['batch', ...options.inputShape])],
      output: [valueInfo(output, ['batch', layers[layers.length - 1]!.out])],
    } as never,
  });
  return encodeModelProto(model);
}
