/**
 * Minimal element-type propagation through a graph, for typing intermediate tensors
 * that are promoted to graph outputs without value_info.
 */
import { DataType, int64ToNumber, type AttributeProto, type GraphProto, type NodeProto } from './proto.js';

/** Graph access needed by {@link inferElemTypes}. */
export interface TypedGraphSource {
  readonly graph: GraphProto;
}

const INT64_OUTPUT = new Set(['Shape', 'Size', 'NonZero', 'ArgMax', 'ArgMin', 'NonMaxSuppression', 'Unique']);
const BOOL_OUTPUT = new Set([
  'Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'Not', 'And', 'Or', 'Xor', 'IsNaN', 'IsInf',
]);

function attr(node: NodeProto, name: string): AttributeProto | undefined {
  return node.attribute.find((a) => a.name === name);
}

/** Element type codes of the outputs of `node`, given the types known so far. */
function outputTypes(node: NodeProto, types: Map<string, number>): number[] {
  const op = node.opType ?? '';
  const inType = (i: number): number | undefined => (node.input[i] ? types.get(node.input[i]!) : undefined);
  const firstKnown = node.input.map((n) => types.get(n)).find((t) => t !== undefined);
  const all = (t: number | undefined): number[] => node.output.map(() => t ?? DataType.UNDEFINED);
  if (node.domain && node.domain !== 'ai.onnx') return all(undefined);
  if (op === 'Cast') return all(int64ToNumber(attr(node, 'to')?.i));
  if (op === 'CastLike') return all(inType(1));
  if (op === 'Constant') {
    const t = attr(node, 'value')?.t;
    if (t) return all(t.dataType);
    if (attr(node, 'value_float')) return all(DataType.FLOAT);
    if (attr(node, 'value_floats')) return all(DataType.FLOAT);
    if (attr(node, 'value_int') || attr(node, 'value_ints')) return all(DataType.INT64);
    return all(undefined);
  }
  if (op === 'ConstantOfShape') return all(attr(node, 'value')?.t?.dataType ?? DataType.FLOAT);
  if (INT64_OUTPUT.has(op)) return all(DataType.INT64);
  if (BOOL_OUTPUT.has(op)) return all(DataType.BOOL);
  if (op === 'TopK' || op === 'MaxPool') return node.output.map((_, i) => (i === 0 ? inType(0) ?? 0 : DataType.INT64));
  if (op === 'Where') return all(inType(1));
  if (op === 'DequantizeLinear') return all(inType(1));
  if (op === 'QuantizeLinear') return all(inType(2) ?? DataType.UINT8);
  if (op === 'EyeLike' || op.startsWith('Random')) {
    const dtype = attr(node, 'dtype');
    if (dtype) return all(int64ToNumber(dtype.i));
    return all(op.endsWith('Like') ? inType(0) : DataType.FLOAT);
  }
  if (op === 'If' || op === 'Loop' || op === 'Scan' || op === 'SequenceConstruct' || op === 'Multinomial') return all(undefined);
  if (op === 'Gather' || op === 'GatherElements' || op === 'GatherND' || op === 'Expand' || op === 'Tile') return all(inType(0));
  return all(firstKnown);
}

/**
 * Infers the element type of every tensor reachable in the main graph (inputs,
 * initializers, value_info, then node outputs in order). Unknown types are absent.
 */
export function inferElemTypes(model: TypedGraphSource): Map<string, number> {
  const g = model.graph;
  const types = new Map<string, number>();
  for (const t of g.initializer) if (t.name && t.dataType) types.set(t.name, t.dataType);
  for (const v of [...g.input, ...g.valueInfo, ...g.output]) {
    const e = v.type?.tensorType?.elemType;
    if (v.name && e) types.set(v.name, e);
  }
  for (const node of g.node) {
    const outs = outputTypes(node, types);
    node.output.forEach((name, i) => {
      const t = outs[i];
      if (name && t && !types.has(name)) types.set(name, t);
    });
  }
  return types;
}
