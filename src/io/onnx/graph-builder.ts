/**
 * A small general ONNX graph builder: inputs, outputs, initializers (any float or integer
 * dtype, raw or external data), Constant nodes, any node with typed attributes, and
 * subgraphs (If/Loop/Scan bodies). Tests and benchmarks use it to write models shaped like
 * the ones exporters produce (multi-input transformers, weights behind Constant/Identity/
 * Transpose, fp16, external data, ...); the demo MLP has its own specialised builder (./build.ts).
 */
import { float32ToTensorBytes } from './tensor.js';
import { AttributeType, createMessage, DataType, encodeModelProto, type AttributeProto, type GraphProto, type ModelProto, type NodeProto, type TensorProto, type ValueInfoProto } from './proto.js';

/** Element type names the builder writes. */
export type BuilderDType = 'float32' | 'float16' | 'bfloat16' | 'float64' | 'int64' | 'int32' | 'bool' | 'uint8' | 'int8';

const CODES: Record<BuilderDType, number> = {
  float32: DataType.FLOAT,
  float16: DataType.FLOAT16,
  bfloat16: DataType.BFLOAT16,
  float64: DataType.DOUBLE,
  int64: DataType.INT64,
  int32: DataType.INT32,
  bool: DataType.BOOL,
  uint8: DataType.UINT8,
  int8: DataType.INT8,
};

/** A typed attribute value: wrap numbers to say whether they are ints or floats. */
export type AttrValue =
  | { int: number }
  | { float: number }
  | { ints: number[] }
  | { floats: number[] }
  | { string: string }
  | { tensor: TensorProto }
  | { graph: GraphProto };

/** Bytes of `values` stored as `dtype` (floats are rounded to float16/bfloat16 when asked). */
function tensorBytes(values: ArrayLike<number> | BigInt64Array, dtype: BuilderDType): Uint8Array {
  switch (dtype) {
    case 'float32':
    case 'float16':
    case 'bfloat16':
    case 'float64':
      return float32ToTensorBytes(Float32Array.from(values as ArrayLike<number>), CODES[dtype]);
    case 'int64': {
      const out = values instanceof BigInt64Array ? new BigInt64Array(values) : BigInt64Array.from(Array.from(values as ArrayLike<number>, (v) => BigInt(Math.trunc(v))));
      return new Uint8Array(out.buffer);
    }
    case 'int32':
      return new Uint8Array(Int32Array.from(values as ArrayLike<number>).buffer);
    case 'bool':
    case 'uint8':
      return Uint8Array.from(values as ArrayLike<number>);
    case 'int8':
      return new Uint8Array(Int8Array.from(values as ArrayLike<number>).buffer);
  }
}

/** A TensorProto with raw data. */
export function makeTensor(name: string, dims: readonly number[], values: ArrayLike<number> | BigInt64Array, dtype: BuilderDType = 'float32'): TensorProto {
  return createMessage<TensorProto>('TensorProto', { name, dims: [...dims], dataType: CODES[dtype], rawData: tensorBytes(values, dtype) });
}

/** A tensor value-info with fixed and symbolic dims. */
export function makeValueInfo(name: string, dtype: BuilderDType, dims: ReadonlyArray<number | string> | undefined): ValueInfoProto {
  const tensorType: Record<string, unknown> = { elemType: CODES[dtype] };
  if (dims) tensorType.shape = { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) };
  return createMessage<ValueInfoProto>('ValueInfoProto', { name, type: { tensorType } as never });
}

function makeAttribute(name: string, value: AttrValue): AttributeProto {
  if ('int' in value) return createMessage<AttributeProto>('AttributeProto', { name, type: AttributeType.INT, i: value.int } as never);
  if ('float' in value) return createMessage<AttributeProto>('AttributeProto', { name, type: AttributeType.FLOAT, f: value.float } as never);
  if ('ints' in value) return createMessage<AttributeProto>('AttributeProto', { name, type: AttributeType.INTS, ints: value.ints } as never);
  if ('floats' in value) return createMessage<AttributeProto>('AttributeProto', { name, type: AttributeType.FLOATS, floats: value.floats } as never);
  if ('string' in value) return createMessage<AttributeProto>('AttributeProto', { name, type: AttributeType.STRING, s: new TextEncoder().encode(value.string) } as never);
  if ('tensor' in value) return createMessage<AttributeProto>('AttributeProto', { name, type: AttributeType.TENSOR, t: value.tensor } as never);
  return createMessage<AttributeProto>('AttributeProto', { name, type: AttributeType.GRAPH, g: value.graph } as never);
}

/** Options of {@link OnnxGraphBuilder}. */
export interface GraphBuilderOptions {
  /** Graph name (default `graph`). */
  name?: string;
  /** Default-domain opset (default 17). */
  opset?: number;
  /** IR version (default 8). */
  irVersion?: number;
  /** Extra operator sets, e.g. `{ 'com.microsoft': 1 }`. */
  domains?: Record<string, number>;
}

/**
 * Builds one ONNX graph. Node outputs get unique names (`<name>_out<i>`) unless given.
 *
 * ```ts
 * const g = new OnnxGraphBuilder();
 * const x = g.input('x', 'float32', ['batch', 4]);
 * const w = g.initializer('w', [4, 3], new Float32Array(12).fill(0.5));
 * const [y] = g.node('MatMul', [x, w]);
 * g.output(y!, 'float32', ['batch', 3]);
 * const bytes = g.toBytes();
 * ```
 */
export class OnnxGraphBuilder {
  private readonly nodes: NodeProto[] = [];
  private readonly inits: TensorProto[] = [];
  private readonly inputs: ValueInfoProto[] = [];
  private readonly outputs: ValueInfoProto[] = [];
  private counter = 0;

  constructor(private readonly options: GraphBuilderOptions = {}) {}

  /** Declares a graph input; `dims` undefined leaves the shape unknown. */
  input(name: string, dtype: BuilderDType, dims: ReadonlyArray<number | string> | undefined): string {
    this.inputs.push(makeValueInfo(name, dtype, dims));
    return name;
  }

  /** Declares a graph output (dims undefined: unknown shape). */
  output(name: string, dtype: BuilderDType = 'float32', dims?: ReadonlyArray<number | string>): string {
    this.outputs.push(makeValueInfo(name, dtype, dims));
    return name;
  }

  /** Adds an initializer. */
  initializer(name: string, dims: readonly number[], values: ArrayLike<number> | BigInt64Array, dtype: BuilderDType = 'float32'): string {
    this.inits.push(makeTensor(name, dims, values, dtype));
    return name;
  }

  /** Adds a Constant node whose `value` is the given tensor; returns its output name. */
  constant(name: string, dims: readonly number[], values: ArrayLike<number> | BigInt64Array, dtype: BuilderDType = 'float32'): string {
    this.node('Constant', [], { value: { tensor: makeTensor(name, dims, values, dtype) } }, { name: `${name}_Constant`, outputs: [name] });
    return name;
  }

  /**
   * Adds a node; returns its output names (`outputs` given, or `count` fresh ones, default 1).
   * Empty strings in `inputs` are omitted optional inputs.
   */
  node(
    opType: string,
    inputs: readonly string[],
    attributes: Record<string, AttrValue> = {},
    options: { name?: string; outputs?: string[]; count?: number; domain?: string } = {},
  ): string[] {
    const index = this.counter++;
    const name = options.name ?? `/${opType}_${index}`;
    const outputs = options.outputs ?? Array.from({ length: options.count ?? 1 }, (_, i) => `${name}_out${i}`);
    this.nodes.push(
      createMessage<NodeProto>('NodeProto', {
        opType,
        name,
        input: [...inputs],
        output: outputs,
        ...(options.domain ? { domain: options.domain } : {}),
        attribute: Object.entries(attributes).map(([k, v]) => makeAttribute(k, v)),
      }),
    );
    return outputs;
  }

  /** The graph message (for If/Loop/Scan bodies: pass it as `{ graph: builder.toGraph() }`). */
  toGraph(): GraphProto {
    return createMessage<GraphProto>('GraphProto', {
      name: this.options.name ?? 'graph',
      node: this.nodes,
      initializer: this.inits,
      input: this.inputs,
      output: this.outputs,
    } as never);
  }

  /** The model message. */
  toModel(): ModelProto {
    const opsets = [{ domain: '', version: this.options.opset ?? 17 }, ...Object.entries(this.options.domains ?? {}).map(([domain, version]) => ({ domain, version }))];
    return createMessage<ModelProto>('ModelProto', {
      irVersion: this.options.irVersion ?? 8,
      producerName: 'surgeon-test',
      opsetImport: opsets as never,
      graph: this.toGraph(),
    });
  }

  /** The serialised model. */
  toBytes(): Uint8Array {
    return encodeModelProto(this.toModel());
  }
}
