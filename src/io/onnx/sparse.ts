/**
 * Sparse storage of ONNX initializers: pruned weights written without their zeros, read back
 * bit for bit.
 *
 * Two encodings, both run by onnxruntime as they are:
 * - `coo`: the ONNX standard, a `sparse_initializer` (SparseTensorProto) holding the nonzero
 *   values and their linear indices, the indices in the smallest signed integer type that holds
 *   every index of the tensor (int8, int16, int32 or int64; onnxruntime refuses uint8 indices).
 *   onnxruntime densifies it when the session loads. Cost per nonzero: the value plus 1–8 index
 *   bytes, so a float32 weight only shrinks above ≈ 50–60 % sparsity.
 * - `bitmask`: one bit per element saying whether it is nonzero (LSB first) and the nonzero
 *   values in order, both as plain initializers, decoded inside the graph by a few standard
 *   operators (Reshape, BitShift, Slice, Cast, CumSum, Mul, Gather; opset ≥ 11):
 *   pos = bit · cumsum(bit) and W = Gather([0, values…], pos). Every input of that decoder is
 *   constant, so onnxruntime folds it into the dense tensor when the session is created. Cost:
 *   n/8 bytes plus the values, ≈ 53 % of a float32 tensor at 50 % sparsity. The decoder's
 *   nodes are named `surgeon.unpack/<tensor>/…`, its initializers `<tensor>::surgeon.mask`
 *   and `<tensor>::surgeon.values`, and the model lists the tensors in the metadata entry
 *   {@link BITMASK_METADATA_KEY}.
 *
 * `auto` (what `--storage sparse` writes) takes, per float initializer of the main graph, the
 * smallest of dense, coo and bitmask; the report lists each choice. A stored value is zero only
 * when all its bytes are zero, so −0.0 and NaN are kept and reading back is bit-identical.
 *
 * {@link densifyStorage} (called on every model surgeon reads) turns both encodings back into
 * ordinary initializers and refuses malformed ones in one line.
 */
import { SurgeonInputError } from '../../errors.js';
import { createMessage, DataType, int64ToNumber, type GraphProto, type ModelProto, type NodeProto, type SparseTensorProto, type TensorProto } from './proto.js';
import { elemTypeName, isExternal, readExternalBytes, tensorDims, tensorToArray, float32ToTensorBytes } from './tensor.js';
import { makeTensor, type AttrValue } from './graph-builder.js';
import { AttributeType } from './proto.js';

/** Metadata entry listing the tensors stored with the bitmask encoding (JSON array of names). */
export const BITMASK_METADATA_KEY = 'surgeon.bitmask_tensors';

/** How a tensor may be stored. */
export type SparseEncoding = 'coo' | 'bitmask';

/** Encodings {@link encodeSparseStorage} may choose from. */
export type SparseEncodingChoice = 'auto' | SparseEncoding;

/** Options of {@link encodeSparseStorage}. */
export interface EncodeSparseOptions {
  /** Folder of external data (to read external initializers). */
  baseDir?: string;
  /** 'auto' (default): the smallest per tensor; 'coo' or 'bitmask' only (where it is smaller than dense). */
  encoding?: SparseEncodingChoice;
  /** Only these initializers (default: every float initializer of the main graph). */
  tensors?: ReadonlySet<string>;
}

/** One initializer stored sparse by {@link encodeSparseStorage}. */
export interface SparseTensorReport {
  name: string;
  encoding: SparseEncoding;
  dtype: string;
  elements: number;
  nonzeros: number;
  /** Index type of the coo encoding. */
  indexType?: string;
  /** Data bytes dense, and as stored (values + indices, or mask + values). */
  denseBytes: number;
  storedBytes: number;
}

/** Bytes per element of the float types that can be stored sparse. */
const FLOAT_WIDTH: Partial<Record<number, number>> = { [DataType.FLOAT]: 4, [DataType.FLOAT16]: 2, [DataType.BFLOAT16]: 2, [DataType.DOUBLE]: 8 };

/** Bytes per element of the integer index types onnxruntime accepts. */
const INDEX_TYPES = [
  { code: DataType.INT8, bytes: 1, max: 0x7f },
  { code: DataType.INT16, bytes: 2, max: 0x7fff },
  { code: DataType.INT32, bytes: 4, max: 0x7fffffff },
  { code: DataType.INT64, bytes: 8, max: Number.MAX_SAFE_INTEGER },
] as const;

/** Fixed cost of the bitmask decoder (nodes and small initializers), in bytes, roughly. */
const BITMASK_OVERHEAD = 700;

/** The smallest index type holding every linear index of a tensor of `size` elements. */
export function indexTypeFor(size: number): (typeof INDEX_TYPES)[number] {
  return INDEX_TYPES.find((t) => size - 1 <= t.max) ?? INDEX_TYPES[3];
}

/** The little-endian element bytes of a tensor, whatever field holds them. */
export function tensorBytes(t: TensorProto, baseDir?: string): Uint8Array {
  if (isExternal(t)) return readExternalBytes(t, baseDir);
  if (t.rawData && t.rawData.byteLength > 0) return t.rawData;
  const data = tensorToArray(t, { baseDir });
  if (Array.isArray(data)) throw new SurgeonInputError(`tensor '${t.name ?? ''}': string tensors have no element bytes`);
  const code = t.dataType ?? 0;
  if ((code === DataType.FLOAT16 || code === DataType.BFLOAT16) && data instanceof Float32Array) return float32ToTensorBytes(data, code);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** Whether element i (of width w) is all zero bytes. */
function isZero(bytes: Uint8Array, i: number, w: number): boolean {
  for (let b = i * w, e = b + w; b < e; b++) if (bytes[b] !== 0) return false;
  return true;
}

/**
 * Rewrites `proto` (a copy the caller owns) so that float initializers of the main graph with
 * enough zeros are stored sparse (see the module comment). Returns what was encoded.
 */
export function encodeSparseStorage(proto: ModelProto, opset: number, options: EncodeSparseOptions = {}): SparseTensorReport[] {
  const graph = proto.graph as GraphProto;
  const choice = options.encoding ?? 'auto';
  const graphInputs = new Set(graph.input.map((v) => v.name ?? ''));
  const reports: SparseTensorReport[] = [];
  const keep: TensorProto[] = [];
  const decoders: NodeProto[] = [];
  const bitmaskNames: string[] = [];
  for (const t of graph.initializer) {
    const name = t.name ?? '';
    const w = FLOAT_WIDTH[t.dataType ?? 0];
    if (w === undefined || graphInputs.has(name) || (options.tensors && !options.tensors.has(name))) {
      keep.push(t);
      continue;
    }
    const bytes = tensorBytes(t, options.baseDir);
    const dims = tensorDims(t);
    const n = dims.reduce((a, b) => a * b, 1);
    let nnz = 0;
    for (let i = 0; i < n; i++) if (!isZero(bytes, i, w)) nnz++;
    const dense = n * w;
    const index = indexTypeFor(n);
    const coo = nnz * (w + index.bytes);
    const bitmask = opset >= 11 ? Math.ceil(n / 8) + (nnz + 1) * w + BITMASK_OVERHEAD : Infinity;
    const useCoo = choice !== 'bitmask' && coo < dense && (choice === 'coo' || coo <= bitmask);
    const useBitmask = !useCoo && choice !== 'coo' && bitmask < dense;
    if (!useCoo && !useBitmask) {
      keep.push(t);
      continue;
    }
    const values = new Uint8Array((nnz + (useBitmask ? 1 : 0)) * w);
    if (useCoo) {
      const idxBytes = new Uint8Array(nnz * index.bytes);
      const view = new DataView(idxBytes.buffer);
      for (let i = 0, k = 0; i < n; i++) {
        if (isZero(bytes, i, w)) continue;
        values.set(bytes.subarray(i * w, (i + 1) * w), k * w);
        if (index.bytes === 1) view.setInt8(k, i);
        else if (index.bytes === 2) view.setInt16(2 * k, i, true);
        else if (index.bytes === 4) view.setInt32(4 * k, i, true);
        else view.setBigInt64(8 * k, BigInt(i), true);
        k++;
      }
      graph.sparseInitializer.push(
        createMessage<SparseTensorProto>('SparseTensorProto', {
          values: createMessage<TensorProto>('TensorProto', { name, dims: [nnz], dataType: t.dataType, rawData: values }),
          indices: createMessage<TensorProto>('TensorProto', { name: `${name}::indices`, dims: [nnz], dataType: index.code, rawData: idxBytes }),
          dims: [...dims],
        }),
      );
      reports.push({ name, encoding: 'coo', dtype: elemTypeName(t.dataType), elements: n, nonzeros: nnz, indexType: elemTypeName(index.code), denseBytes: dense, storedBytes: coo });
    } else {
      const mask = new Uint8Array(Math.ceil(n / 8));
      for (let i = 0, k = 1; i < n; i++) {
        if (isZero(bytes, i, w)) continue;
        mask[i >> 3]! |= 1 << (i & 7);
        values.set(bytes.subarray(i * w, (i + 1) * w), k * w);
        k++;
      }
      const { nodes, initializers } = bitmaskDecoder(name, dims, t.dataType ?? DataType.FLOAT, mask, values);
      keep.push(...initializers);
      decoders.push(...nodes);
      bitmaskNames.push(name);
      reports.push({ name, encoding: 'bitmask', dtype: elemTypeName(t.dataType), elements: n, nonzeros: nnz, denseBytes: dense, storedBytes: mask.byteLength + values.byteLength });
    }
  }
  graph.initializer = keep;
  if (decoders.length) {
    graph.node = [...decoders, ...graph.node];
    proto.metadataProps = [
      ...proto.metadataProps.filter((e) => e.key !== BITMASK_METADATA_KEY),
      createMessage('StringStringEntryProto', { key: BITMASK_METADATA_KEY, value: JSON.stringify(bitmaskNames) }),
    ];
  }
  return reports;
}

function attribute(name: string, value: AttrValue) {
  if ('int' in value) return createMessage('AttributeProto', { name, type: AttributeType.INT, i: value.int } as never);
  if ('string' in value) return createMessage('AttributeProto', { name, type: AttributeType.STRING, s: new TextEncoder().encode(value.string) } as never);
  throw new Error('internal: unsupported attribute');
}

/** The decoder of one bitmask-stored tensor: nodes computing `name` and their initializers. */
function bitmaskDecoder(name: string, dims: number[], dataType: number, mask: Uint8Array, values: Uint8Array): { nodes: NodeProto[]; initializers: TensorProto[] } {
  const n = dims.reduce((a, b) => a * b, 1);
  const p = (s: string) => `${name}::surgeon.${s}`;
  const initializers = [
    makeTensor(p('mask'), [mask.length, 1], mask, 'uint8'),
    createMessage<TensorProto>('TensorProto', { name: p('values'), dims: [values.byteLength / FLOAT_WIDTH[dataType]!], dataType, rawData: values }),
    makeTensor(p('left'), [1, 8], [7, 6, 5, 4, 3, 2, 1, 0], 'uint8'),
    makeTensor(p('right'), [1], [7], 'uint8'),
    makeTensor(p('flat'), [1], [mask.length * 8], 'int64'),
    makeTensor(p('start'), [1], [0], 'int64'),
    makeTensor(p('end'), [1], [n], 'int64'),
    makeTensor(p('axis'), [], [0], 'int32'),
    makeTensor(p('shape'), [dims.length], dims, 'int64'),
  ];
  let counter = 0;
  const nodes: NodeProto[] = [];
  const node = (op: string, inputs: string[], attrs: Record<string, AttrValue> = {}, output?: string): string => {
    const nodeName = `surgeon.unpack/${name}/${op}_${counter++}`;
    const out = output ?? `${nodeName}:0`;
    nodes.push(createMessage<NodeProto>('NodeProto', { opType: op, name: nodeName, input: inputs, output: [out], attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)) as never }));
    return out;
  };
  const shifted = node('BitShift', [p('mask'), p('left')], { direction: { string: 'LEFT' } });
  const bits8 = node('BitShift', [shifted, p('right')], { direction: { string: 'RIGHT' } });
  const flat = node('Reshape', [bits8, p('flat')]);
  const bits = node('Slice', [flat, p('start'), p('end')]);
  const ints = node('Cast', [bits], { to: { int: DataType.INT32 } });
  const cum = node('CumSum', [ints, p('axis')]);
  const pos = node('Mul', [ints, cum]);
  const gathered = node('Gather', [p('values'), pos], { axis: { int: 0 } });
  node('Reshape', [gathered, p('shape')], {}, name);
  return { nodes, initializers };
}

/** What {@link densifyStorage} turned back into dense initializers. */
export interface DensifiedStorage {
  coo: string[];
  bitmask: string[];
}

/**
 * Turns sparse_initializers and bitmask-stored tensors of the main graph back into ordinary
 * initializers (in place). Malformed encodings are refused with one line naming the tensor.
 */
export function densifyStorage(proto: ModelProto, label: string, baseDir?: string): DensifiedStorage {
  const graph = proto.graph as GraphProto;
  const done: DensifiedStorage = { coo: [], bitmask: [] };
  if (graph.sparseInitializer?.length) {
    const existing = new Set(graph.initializer.map((t) => t.name ?? ''));
    for (const s of graph.sparseInitializer) {
      const dense = densifyCoo(s, label, baseDir);
      if (existing.has(dense.name ?? '')) throw malformed(label, dense.name ?? '', 'is both an initializer and a sparse_initializer');
      existing.add(dense.name ?? '');
      graph.initializer.push(dense);
      done.coo.push(dense.name ?? '');
    }
    graph.sparseInitializer = [];
  }
  const entry = proto.metadataProps?.find((e) => e.key === BITMASK_METADATA_KEY);
  if (entry) {
    let names: unknown;
    try {
      names = JSON.parse(entry.value ?? '');
    } catch {
      names = undefined;
    }
    if (!Array.isArray(names) || !names.every((x) => typeof x === 'string')) throw new SurgeonInputError(`${label}: metadata '${BITMASK_METADATA_KEY}' is not a JSON list of tensor names; the model is malformed, write it again with surgeon`);
    for (const name of names as string[]) {
      const dense = densifyBitmask(graph, name, label, baseDir);
      graph.initializer.push(dense);
      done.bitmask.push(name);
    }
    proto.metadataProps = proto.metadataProps.filter((e) => e.key !== BITMASK_METADATA_KEY);
  }
  return done;
}

function malformed(label: string, name: string, what: string): SurgeonInputError {
  return new SurgeonInputError(`${label}: sparse tensor '${name}' ${what}; the model is malformed, export or write it again`);
}

/** The dense TensorProto of a SparseTensorProto, validated. */
function densifyCoo(s: SparseTensorProto, label: string, baseDir?: string): TensorProto {
  const values = s.values;
  const name = values?.name ?? '';
  if (!values) throw malformed(label, name, 'has no values');
  if (!s.indices) throw malformed(label, name, 'has no indices');
  const dims = (s.dims ?? []).map((d) => int64ToNumber(d));
  if (dims.some((d) => !(Number.isInteger(d) && d >= 0))) throw malformed(label, name, `has invalid dims [${dims.join(', ')}]`);
  const n = dims.reduce((a, b) => a * b, 1);
  const w = FLOAT_WIDTH[values.dataType ?? 0] ?? { [DataType.INT8]: 1, [DataType.UINT8]: 1, [DataType.INT16]: 2, [DataType.UINT16]: 2, [DataType.INT32]: 4, [DataType.INT64]: 8, [DataType.BOOL]: 1 }[values.dataType ?? 0];
  if (w === undefined) throw malformed(label, name, `has values of type ${elemTypeName(values.dataType)}, which surgeon cannot densify`);
  const vdims = tensorDims(values);
  if (vdims.length !== 1) throw malformed(label, name, `has values of shape [${vdims.join(', ')}], expected [NNZ]`);
  const nnz = vdims[0]!;
  const vbytes = tensorBytes(values, baseDir);
  if (vbytes.byteLength < nnz * w) throw malformed(label, name, `has ${vbytes.byteLength} value bytes for ${nnz} values`);
  const idims = tensorDims(s.indices);
  const code = s.indices.dataType ?? 0;
  if (!INDEX_TYPES.some((t) => t.code === code)) throw malformed(label, name, `has indices of type ${elemTypeName(code)}, expected int8, int16, int32 or int64`);
  const coordinates = idims.length === 2;
  if (!((idims.length === 1 && idims[0] === nnz) || (coordinates && idims[0] === nnz && idims[1] === dims.length))) {
    throw malformed(label, name, `has indices of shape [${idims.join(', ')}], expected [${nnz}] or [${nnz}, ${dims.length}]`);
  }
  const raw = tensorToArray(s.indices, { baseDir }) as Int8Array | Int16Array | Int32Array | BigInt64Array;
  if (raw.length < idims.reduce((a, b) => a * b, 1)) throw malformed(label, name, 'has fewer index values than its shape says');
  const out = new Uint8Array(n * w);
  let previous = -1;
  for (let k = 0; k < nnz; k++) {
    let linear: number;
    if (coordinates) {
      linear = 0;
      for (let a = 0; a < dims.length; a++) {
        const c = Number(raw[k * dims.length + a]!);
        if (!(c >= 0 && c < dims[a]!)) throw malformed(label, name, `has coordinate ${c} outside dimension ${a} of size ${dims[a]}`);
        linear = linear * dims[a]! + c;
      }
    } else {
      linear = Number(raw[k]!);
    }
    if (!(linear >= 0 && linear < n)) throw malformed(label, name, `has index ${linear} outside its ${n} elements`);
    if (linear <= previous) throw malformed(label, name, `has indices that are not strictly increasing (${linear} after ${previous})`);
    previous = linear;
    out.set(vbytes.subarray(k * w, (k + 1) * w), linear * w);
  }
  return createMessage<TensorProto>('TensorProto', { name, dims, dataType: values.dataType, rawData: out });
}

/** The dense initializer of one bitmask-stored tensor; removes its decoder nodes and initializers. */
function densifyBitmask(graph: GraphProto, name: string, label: string, baseDir?: string): TensorProto {
  const prefix = `${name}::surgeon.`;
  const inits = new Map(graph.initializer.filter((t) => (t.name ?? '').startsWith(prefix)).map((t) => [(t.name ?? '').slice(prefix.length), t]));
  const mask = inits.get('mask');
  const values = inits.get('values');
  const shape = inits.get('shape');
  if (!mask || !values || !shape) throw malformed(label, name, 'is listed as bitmask-stored but its mask, values or shape initializer is missing');
  const nodePrefix = `surgeon.unpack/${name}/`;
  const decoder = graph.node.filter((nd) => (nd.name ?? '').startsWith(nodePrefix));
  if (!decoder.some((nd) => nd.output.includes(name))) throw malformed(label, name, 'is listed as bitmask-stored but no decoder node computes it');
  const dims = Array.from(tensorToArray(shape, { baseDir }) as BigInt64Array, (v) => Number(v));
  if (dims.some((d) => !(Number.isInteger(d) && d >= 0))) throw malformed(label, name, `has invalid shape [${dims.join(', ')}]`);
  const n = dims.reduce((a, b) => a * b, 1);
  const w = FLOAT_WIDTH[values.dataType ?? 0];
  if (w === undefined) throw malformed(label, name, `has values of type ${elemTypeName(values.dataType)}, expected a float type`);
  const bits = tensorBytes(mask, baseDir);
  if (mask.dataType !== DataType.UINT8 || bits.byteLength !== Math.ceil(n / 8)) throw malformed(label, name, `has a mask of ${bits.byteLength} bytes for ${n} elements, expected ${Math.ceil(n / 8)} uint8`);
  const vbytes = tensorBytes(values, baseDir);
  const count = tensorDims(values)[0] ?? 0;
  let ones = 0;
  for (let i = 0; i < n; i++) ones += (bits[i >> 3]! >> (i & 7)) & 1;
  if (count !== ones + 1 || vbytes.byteLength < count * w) throw malformed(label, name, `has ${count} stored values for ${ones} set mask bits (expected ${ones + 1}, a leading zero first)`);
  if (!isZero(vbytes, 0, w)) throw malformed(label, name, 'has a nonzero first value (the decoder reads it for every zero)');
  const out = new Uint8Array(n * w);
  for (let i = 0, k = 1; i < n; i++) {
    if (((bits[i >> 3]! >> (i & 7)) & 1) === 0) continue;
    out.set(vbytes.subarray(k * w, (k + 1) * w), i * w);
    k++;
  }
  const removed = new Set(decoder);
  graph.node = graph.node.filter((nd) => !removed.has(nd));
  graph.initializer = graph.initializer.filter((t) => !(t.name ?? '').startsWith(prefix));
  return createMessage<TensorProto>('TensorProto', { name, dims, dataType: values.dataType, rawData: out });
}
