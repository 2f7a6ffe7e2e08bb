/**
 * `OnnxModel`: a decoded ONNX model with the accessors the pruning flow needs
 * (inputs/outputs, initializers, graph outputs for captures) and lossless re-encoding.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { SurgeonInputError } from '../../errors.js';
import {
  DataType,
  decodeModelProto,
  encodeModelProto,
  int64ToNumber,
  onnxType,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type TypeProto,
  type ValueInfoProto,
} from './proto.js';
import { allTensors, graphScopes, type GraphScope } from './graphs.js';
import {
  elemTypeName,
  isExternal,
  tensorToArray,
  tensorToFloat32,
  writeFloat32ToTensor,
  type TensorData,
} from './tensor.js';
import { inferElemTypes } from './types.js';
import { densifyStorage, type DensifiedStorage } from './sparse.js';

/** A graph input or output: name, element type name (e.g. 'float32'), dims (symbolic dims as strings, unknown as '?'). */
export interface OnnxValueInfo {
  name: string;
  /** Element type name such as 'float32' or 'int64'; 'undefined' when the value has no tensor type. */
  elemType: string;
  /** Dimensions; a symbolic dimension is its dim_param string, an unnamed unknown one is '?'. Empty when unknown rank or scalar. */
  dims: (number | string)[];
  /** False when the value has no shape information at all (rank unknown). */
  hasShape: boolean;
}

/** Options for {@link readOnnxModel}. */
export interface ReadOnnxOptions {
  /**
   * Folder of external data files; defaults to the model file's folder. A relative folder is
   * resolved against the current working directory once, when the model is read.
   */
  baseDir?: string;
}

/** Converts a ValueInfoProto to an {@link OnnxValueInfo}. */
export function valueInfoOf(v: ValueInfoProto): OnnxValueInfo {
  const tt = v.type?.tensorType;
  const shape = tt?.shape;
  return {
    name: v.name ?? '',
    elemType: elemTypeName(tt?.elemType ?? 0),
    dims: (shape?.dim ?? []).map((d) =>
      Object.hasOwn(d, 'dimParam') && d.dimParam ? d.dimParam : Object.hasOwn(d, 'dimValue') ? int64ToNumber(d.dimValue) : '?',
    ),
    hasShape: shape != null,
  };
}

/** A decoded ONNX model. Mutations (setInitializer, addGraphOutputs) change `proto` in place. */
export class OnnxModel {
  /** The decoded ModelProto (protobufjs message; re-encodes losslessly). */
  readonly proto: ModelProto;
  /** Absolute path the model was read from, when read from a file. */
  readonly path: string | undefined;
  /**
   * Absolute folder external data locations are relative to (a relative `baseDir` given to the
   * constructor is resolved once, so later changes of the working directory do not matter).
   */
  readonly baseDir: string | undefined;
  private initIndex: Map<string, TensorProto> | undefined;
  /**
   * Tensors that the file stored sparse (sparse_initializer, or surgeon's bitmask encoding);
   * they were densified when the model was read (see ./sparse.ts). Undefined when none were.
   */
  sparseStorage: DensifiedStorage | undefined;

  /** Wraps a decoded ModelProto (which must have a graph). */
  constructor(proto: ModelProto, options: { path?: string; baseDir?: string } = {}) {
    if (!proto.graph) throw new SurgeonInputError('model has no graph; it is not an ONNX model');
    this.proto = proto;
    this.path = options.path === undefined ? undefined : resolve(options.path);
    this.baseDir = options.baseDir === undefined ? undefined : resolve(options.baseDir);
  }

  /** The main graph. */
  get graph(): GraphProto {
    return this.proto.graph as GraphProto;
  }

  /** The version of the default ONNX operator set (domain '' or 'ai.onnx'); 0 when not imported. */
  get opset(): number {
    const entry = (this.proto.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx');
    return entry ? int64ToNumber(entry.version) : 0;
  }

  /** Graph inputs that are fed at run time (initializers listed as inputs are excluded). */
  get inputs(): OnnxValueInfo[] {
    const inits = this.initializerIndex();
    return this.graph.input.filter((v) => !inits.has(v.name ?? '')).map(valueInfoOf);
  }

  /** Graph outputs. */
  get outputs(): OnnxValueInfo[] {
    return this.graph.output.map(valueInfoOf);
  }

  private initializerIndex(): Map<string, TensorProto> {
    if (!this.initIndex || this.initIndex.size !== this.graph.initializer.length) {
      this.initIndex = new Map(this.graph.initializer.map((t) => [t.name ?? '', t]));
    }
    return this.initIndex;
  }

  /**
   * The initializer named `name`, or undefined. Without `subgraph` only the main graph is
   * searched; with a subgraph path (see {@link subgraphs}) that graph's own initializers are.
   */
  initializer(name: string, subgraph?: string): TensorProto | undefined {
    if (!subgraph) return this.initializerIndex().get(name);
    const scope = this.subgraphs().find((s) => s.path === subgraph);
    if (!scope) throw new SurgeonInputError(`subgraph '${subgraph}' not found in the model; use a path listed by subgraphs()`);
    return scope.graph.initializer.find((t) => t.name === name);
  }

  /**
   * The bodies of If/Loop/Scan (and any other graph attribute), recursively, in node order,
   * each with its path (`'<node>/<attribute>'`, nested bodies joined with '/').
   */
  subgraphs(): GraphScope[] {
    return graphScopes(this.graph).slice(1);
  }

  /** Whether `name` is an initializer or the output of a Constant node. */
  isConstant(name: string): boolean {
    return this.initializerIndex().has(name) || this.graph.node.some((n) => n.opType === 'Constant' && n.output[0] === name);
  }

  /** The node producing tensor `name`, if any. */
  producer(name: string): NodeProto | undefined {
    return this.graph.node.find((n) => n.output.includes(name));
  }

  /** The nodes consuming tensor `name`. */
  consumers(name: string): NodeProto[] {
    return this.graph.node.filter((n) => n.input.includes(name));
  }

  /** Decodes a tensor of this model (external data resolved against `baseDir`). See {@link tensorToArray}. */
  tensorToArray(tensor: TensorProto): TensorData {
    return tensorToArray(tensor, { baseDir: this.baseDir });
  }

  /**
   * The float initializer `name` (of the main graph, or of `subgraph`) as Float32Array;
   * throws SurgeonInputError when missing.
   */
  readInitializer(name: string, subgraph?: string): Float32Array {
    const t = this.initializer(name, subgraph);
    if (!t) throw new SurgeonInputError(`initializer '${name}' not found in ${subgraph ? `subgraph '${subgraph}'` : 'the model'}`);
    return this.readTensor(t);
  }

  /**
   * Replaces the data of initializer `name` (of the main graph, or of `subgraph`) with `data`,
   * in the tensor's own element type (float32, or float16/bfloat16/float64 converted) and
   * storage: raw_data stays raw_data, float_data/double_data/int32_data stay typed fields. An
   * EXTERNAL tensor is inlined as raw_data (its data then lives in the .onnx file; the input's
   * external file is never modified).
   */
  setInitializer(name: string, data: Float32Array, subgraph?: string): void {
    const t = this.initializer(name, subgraph);
    if (!t) throw new SurgeonInputError(`initializer '${name}' not found in ${subgraph ? `subgraph '${subgraph}'` : 'the model'}`);
    writeFloat32ToTensor(t, data, `initializer '${name}'`);
  }

  /** Any float tensor of this model (an initializer of any graph, a Constant's value) as Float32Array. */
  readTensor(tensor: TensorProto): Float32Array {
    return tensorToFloat32(tensor, { baseDir: this.baseDir });
  }

  /** Writes `data` into any float tensor of this model, as {@link setInitializer} does. */
  writeTensor(tensor: TensorProto, data: Float32Array): void {
    writeFloat32ToTensor(tensor, data);
  }

  /**
   * Adds tensors as graph outputs (skipping names that already are outputs), so a
   * session can return intermediate activations. The output's type comes from the
   * graph's value_info/inputs/initializers when known; otherwise its element type is
   * inferred from the producing node (shape left unknown), and if that fails only
   * the name is given. Returns the names added.
   */
  addGraphOutputs(names: readonly string[]): string[] {
    const g = this.graph;
    const existing = new Set(g.output.map((o) => o.name));
    const known = new Map<string, ValueInfoProto>();
    for (const v of [...g.valueInfo, ...g.input]) if (v.name && v.type) known.set(v.name, v);
    let inferred: Map<string, number> | undefined;
    const added: string[] = [];
    for (const name of names) {
      if (existing.has(name)) continue;
      const vi = known.get(name);
      let type: TypeProto | undefined;
      if (vi?.type) {
        type = vi.type;
      } else {
        const init = this.initializer(name);
        inferred ??= inferElemTypes(this);
        const elem = init?.dataType ?? inferred.get(name);
        if (elem !== undefined && elem !== DataType.UNDEFINED) type = onnxType('TypeProto').fromObject({ tensorType: { elemType: elem } }) as unknown as TypeProto;
      }
      const out = onnxType('ValueInfoProto').create(type ? { name, type } : { name }) as unknown as ValueInfoProto;
      g.output.push(out);
      existing.add(name);
      added.push(name);
    }
    return added;
  }

  /** Serializes the model (byte-identical to the input when nothing was changed). */
  toBytes(): Uint8Array {
    return encodeModelProto(this.proto);
  }

  /**
   * Tensors whose data lives in an external file: initializers of the main graph and of every
   * subgraph, and tensor attributes (Constant values), in {@link allTensors} order.
   */
  externalInitializers(): TensorProto[] {
    return allTensors(this.graph).filter((t) => isExternal(t));
  }
}

/** One-line description of a protobufjs/parse failure. */
function describeDecodeError(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split('\n')[0]!.slice(0, 120);
}

/**
 * Decodes ONNX bytes into an {@link OnnxModel}; `label` names the source in errors.
 * Throws SurgeonInputError when the bytes are not a ModelProto with a graph.
 */
export function decodeOnnxModel(bytes: Uint8Array, label: string, options: { path?: string; baseDir?: string } = {}): OnnxModel {
  let proto: ModelProto;
  try {
    proto = decodeModelProto(bytes);
  } catch (err) {
    throw new SurgeonInputError(
      `${label}: not a valid ONNX protobuf (${describeDecodeError(err)}); the file is truncated or not an ONNX model, pass a .onnx model`,
      { cause: err },
    );
  }
  if (!proto.graph || (proto.opsetImport.length === 0 && proto.irVersion == null)) {
    throw new SurgeonInputError(`${label}: not a valid ONNX protobuf (no graph found); pass a .onnx model`);
  }
  const stored = densifyStorage(proto, label, options.baseDir);
  const model = new OnnxModel(proto, options);
  if (stored.coo.length || stored.bitmask.length) model.sparseStorage = stored;
  return model;
}

/**
 * Reads an ONNX model from a path or from bytes. External data is read lazily, relative
 * to `options.baseDir` (default: the model file's folder; none for bytes).
 * Throws SurgeonInputError for a missing file or bytes that are not ONNX.
 */
export function readOnnxModel(pathOrBytes: string | Uint8Array, options: ReadOnnxOptions = {}): OnnxModel {
  if (typeof pathOrBytes !== 'string') {
    return decodeOnnxModel(pathOrBytes, 'model bytes', { baseDir: options.baseDir });
  }
  const path = resolve(pathOrBytes);
  if (!existsSync(path)) throw new SurgeonInputError(`${pathOrBytes}: no such file; check the path`);
  if (statSync(path).isDirectory()) throw new SurgeonInputError(`${pathOrBytes}: is a folder, not an ONNX file; pass the .onnx file`);
  const bytes = readFileSync(path);
  const u8 = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return decodeOnnxModel(u8, pathOrBytes, { path, baseDir: options.baseDir ?? dirname(path) });
}
