/**
 * Lazily parsed ONNX protobuf schema (protobufjs) and TypeScript shapes of the decoded messages.
 *
 * Decoded messages are kept as protobufjs message instances: a field is an own property
 * only when it was present on the wire, int64 fields are `Long`, bytes are `Uint8Array`.
 * Re-encoding such a message with {@link onnxType}`(...).encode` is therefore lossless.
 * When building messages by hand, plain objects work as well; int64 fields accept numbers.
 */
import protobuf from 'protobufjs';
import type { Long } from 'protobufjs';
import { ONNX_PROTO_SCHEMA } from './schema.js';

export type { Long };

/** An int64 as protobufjs gives it (`Long`) or as a caller may set it (`number`). */
export type Int64 = number | Long;

/** `StringStringEntryProto`: a key/value pair (metadata, external data locations). */
export interface StringStringEntryProto {
  key?: string;
  value?: string;
}

/** `OperatorSetIdProto`: an imported operator set; empty domain is the default `ai.onnx`. */
export interface OperatorSetIdProto {
  domain?: string;
  version?: Int64;
}

/** `TensorProto.Segment`: the element range a chunked tensor stores. */
export interface TensorSegment {
  begin?: Int64;
  end?: Int64;
}

/** `TensorProto`: a dense tensor, data in `raw_data`, one typed field, or an external file. */
export interface TensorProto {
  dims: Int64[];
  dataType?: number;
  segment?: TensorSegment | null;
  floatData: number[];
  int32Data: number[];
  stringData: Uint8Array[];
  int64Data: Int64[];
  name?: string;
  docString?: string;
  rawData?: Uint8Array;
  externalData: StringStringEntryProto[];
  dataLocation?: number;
  doubleData: number[];
  uint64Data: Int64[];
  metadataProps: StringStringEntryProto[];
}

/** `SparseTensorProto`: COO sparse tensor (values, indices, dense shape). */
export interface SparseTensorProto {
  values?: TensorProto | null;
  indices?: TensorProto | null;
  dims: Int64[];
}

/** `TensorShapeProto.Dimension`: a fixed size or a symbolic name. */
export interface TensorShapeDimension {
  dimValue?: Int64;
  dimParam?: string;
  denotation?: string;
  /** Name of the oneof member set, as protobufjs reports it. */
  value?: 'dimValue' | 'dimParam';
}

/** `TensorShapeProto`. */
export interface TensorShapeProto {
  dim: TensorShapeDimension[];
}

/** `TypeProto`: tensor, sequence, map, optional, sparse tensor or opaque type. */
export interface TypeProto {
  tensorType?: { elemType?: number; shape?: TensorShapeProto | null } | null;
  sequenceType?: { elemType?: TypeProto | null } | null;
  mapType?: { keyType?: number; valueType?: TypeProto | null } | null;
  optionalType?: { elemType?: TypeProto | null } | null;
  sparseTensorType?: { elemType?: number; shape?: TensorShapeProto | null } | null;
  opaqueType?: { domain?: string; name?: string } | null;
  denotation?: string;
  value?: string;
}

/** `ValueInfoProto`: a named value with an optional type. */
export interface ValueInfoProto {
  name?: string;
  type?: TypeProto | null;
  docString?: string;
  metadataProps?: StringStringEntryProto[];
}

/** `AttributeProto`: a named node attribute; `type` says which value field is used. */
export interface AttributeProto {
  name?: string;
  refAttrName?: string;
  docString?: string;
  type?: number;
  f?: number;
  i?: Int64;
  s?: Uint8Array;
  t?: TensorProto | null;
  g?: GraphProto | null;
  sparseTensor?: SparseTensorProto | null;
  tp?: TypeProto | null;
  floats: number[];
  ints: Int64[];
  strings: Uint8Array[];
  tensors: TensorProto[];
  graphs: GraphProto[];
  sparseTensors: SparseTensorProto[];
  typeProtos: TypeProto[];
}

/** `NodeProto`: one operator call. */
export interface NodeProto {
  input: string[];
  output: string[];
  name?: string;
  opType?: string;
  domain?: string;
  overload?: string;
  attribute: AttributeProto[];
  docString?: string;
  metadataProps: StringStringEntryProto[];
  deviceConfigurations: unknown[];
}

/** `TensorAnnotation`: quantization parameters of a tensor. */
export interface TensorAnnotation {
  tensorName?: string;
  quantParameterTensorNames: StringStringEntryProto[];
}

/** `GraphProto`: nodes, initializers, inputs, outputs, intermediate value types. */
export interface GraphProto {
  node: NodeProto[];
  name?: string;
  initializer: TensorProto[];
  sparseInitializer: SparseTensorProto[];
  docString?: string;
  input: ValueInfoProto[];
  output: ValueInfoProto[];
  valueInfo: ValueInfoProto[];
  quantizationAnnotation: TensorAnnotation[];
  metadataProps: StringStringEntryProto[];
}

/** `FunctionProto`: a model-local function. */
export interface FunctionProto {
  name?: string;
  domain?: string;
  overload?: string;
  input: string[];
  output: string[];
  attribute: string[];
  node: NodeProto[];
  opsetImport: OperatorSetIdProto[];
}

/** `ModelProto`: the top-level ONNX file. */
export interface ModelProto {
  irVersion?: Int64;
  opsetImport: OperatorSetIdProto[];
  producerName?: string;
  producerVersion?: string;
  domain?: string;
  modelVersion?: Int64;
  docString?: string;
  graph?: GraphProto | null;
  metadataProps: StringStringEntryProto[];
  trainingInfo: unknown[];
  functions: FunctionProto[];
  configuration: unknown[];
}

/** Names of the ONNX messages this module exposes typed accessors for. */
export type OnnxMessageName =
  | 'ModelProto'
  | 'GraphProto'
  | 'NodeProto'
  | 'TensorProto'
  | 'SparseTensorProto'
  | 'ValueInfoProto'
  | 'TypeProto'
  | 'TensorShapeProto'
  | 'AttributeProto'
  | 'OperatorSetIdProto'
  | 'StringStringEntryProto'
  | 'FunctionProto'
  | 'TrainingInfoProto';

let root: protobuf.Root | undefined;

/** The parsed `onnx` protobuf root (parsed on first call, then cached). */
export function onnxRoot(): protobuf.Root {
  if (root === undefined) {
    root = protobuf.parse(ONNX_PROTO_SCHEMA, { keepCase: false }).root;
    root.resolveAll();
  }
  return root;
}

/** The protobufjs `Type` of an ONNX message, e.g. `onnxType('TensorProto')`. */
export function onnxType(name: OnnxMessageName | string): protobuf.Type {
  return onnxRoot().lookupType(`onnx.${name}`);
}

/** Decodes a serialized `ModelProto` (throws protobufjs errors; see `readOnnxModel` for wrapped ones). */
export function decodeModelProto(bytes: Uint8Array): ModelProto {
  return onnxType('ModelProto').decode(bytes) as unknown as ModelProto;
}

/** Encodes a `ModelProto` (decoded or hand-built) to bytes. */
export function encodeModelProto(model: ModelProto): Uint8Array {
  return onnxType('ModelProto').encode(model as unknown as protobuf.Message).finish();
}

/** Decodes a serialized `TensorProto` (such as the conformance tests' `input_0.pb`). */
export function decodeTensorProto(bytes: Uint8Array): TensorProto {
  return onnxType('TensorProto').decode(bytes) as unknown as TensorProto;
}

/** Encodes a `TensorProto` to bytes. */
export function encodeTensorProto(tensor: TensorProto | Partial<TensorProto>): Uint8Array {
  return onnxType('TensorProto').encode(tensor as unknown as protobuf.Message).finish();
}

/** Creates an empty message instance of `name` (fields unset, repeated fields empty) filled from `props`. */
export function createMessage<T>(name: OnnxMessageName, props: Partial<T>): T {
  return onnxType(name).create(props as Record<string, unknown>) as unknown as T;
}

/** `TensorProto.DataType` codes. */
export const DataType = {
  UNDEFINED: 0,
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
  COMPLEX64: 14,
  COMPLEX128: 15,
  BFLOAT16: 16,
  FLOAT8E4M3FN: 17,
  FLOAT8E4M3FNUZ: 18,
  FLOAT8E5M2: 19,
  FLOAT8E5M2FNUZ: 20,
  UINT4: 21,
  INT4: 22,
  FLOAT4E2M1: 23,
  FLOAT8E8M0: 24,
  UINT2: 25,
  INT2: 26,
} as const;

/** `AttributeProto.AttributeType` codes. */
export const AttributeType = {
  UNDEFINED: 0,
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  GRAPH: 5,
  FLOATS: 6,
  INTS: 7,
  STRINGS: 8,
  TENSORS: 9,
  GRAPHS: 10,
  SPARSE_TENSOR: 11,
  SPARSE_TENSORS: 12,
  TYPE_PROTO: 13,
  TYPE_PROTOS: 14,
} as const;

/** `TensorProto.DataLocation` codes. */
export const DataLocation = { DEFAULT: 0, EXTERNAL: 1 } as const;

/** Converts an int64 field value (Long or number) to a JS number (exact below 2^53 in magnitude). */
export function int64ToNumber(v: Int64 | null | undefined): number {
  if (v == null) return 0;
  if (typeof v === 'number') return v;
  const low = v.low >>> 0;
  return v.unsigned ? (v.high >>> 0) * 4294967296 + low : v.high * 4294967296 + low;
}

/** Converts an int64 field value (Long or number) to an exact bigint. */
export function int64ToBigInt(v: Int64 | null | undefined): bigint {
  if (v == null) return 0n;
  if (typeof v === 'number') return BigInt(v);
  const low = BigInt(v.low >>> 0);
  return v.unsigned ? (BigInt(v.high >>> 0) << 32n) | low : (BigInt(v.high) << 32n) + low;
}
