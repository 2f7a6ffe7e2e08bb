/**
 * Dependency analysis for structured pruning of ONNX graphs (what DepGraph does for PyTorch,
 * here on the exported graph).
 *
 * A *unit* is one output row of a producer — a Gemm/MatMul output neuron or a Conv output
 * channel with a constant weight — together with everything that unit's value touches on its
 * way to the next weighted layers: its bias entry, BatchNormalization statistics, per-channel
 * constants of elementwise ops, and the columns of every consumer (Gemm/MatMul/Conv) it feeds,
 * through activations, pooling, Dropout/Identity, Flatten/Reshape of channels into a Gemm
 * (channel c becomes columns c·HW … (c+1)·HW − 1) and channel Concat (offsets). Producers whose
 * outputs meet in a residual Add (or any elementwise op of two tracked tensors) form one
 * *group*: unit u of every member goes together, or the group is left alone.
 *
 * The analysis walks the main graph once in topological order, giving every tensor that
 * carries units a channel layout (which groups' units sit at which channel offsets). Anything
 * it cannot follow safely — a graph output, a Transpose, a Softmax, a Split, a residual Add with
 * a tensor no prunable layer produced, a weight shared by two nodes, a tensor read inside a
 * subgraph — blocks the groups involved, and the reason is kept for the report.
 *
 * Tensor shapes come from one measured run (see ./shapes.ts), so Flatten spans and Concat
 * offsets are exact.
 */
import type { OnnxModel } from '../io/onnx/model.js';
import type { NodeProto, TensorProto } from '../io/onnx/proto.js';
import { tensorDims } from '../io/onnx/tensor.js';
import { analyzeHeads, type HeadReshape, type SplitUpdate } from './heads.js';
import { attr, attrInt } from '../io/onnx/attributes.js';
import { nodeLabel } from '../io/onnx/graphs.js';
import { subgraphReads } from './nodes.js';

/** What `--structure` selects: Gemm/MatMul output neurons, Conv output channels, or attention heads (./heads.ts). */
export type StructureKind = 'neurons' | 'channels' | 'heads';

/** A producer of a group: its weight rows along `axis` (and bias entries) are the units. */
export interface UnitProducer {
  node: string;
  /** ONNX op, or the TF.js layer class (Dense, Conv2D). */
  op: 'Gemm' | 'MatMul' | 'Conv' | 'Dense' | 'Conv2D';
  /** The weight initializer. */
  weight: string;
  /** The weight's output axis (Gemm transB=1: 0, transB=0: 1; MatMul: 1; Conv: 0). */
  axis: number;
  /** The bias initializer (Gemm C, Conv B) when it has one entry per unit. */
  bias?: string;
  /** Output rows of the weight (units × span, plus other units' rows for a fused q/k/v projection). */
  rows: number;
  /** Unit u owns rows (offset + u)·span … (offset + u + 1)·span − 1 (default 0 and 1; attention heads: the head's rows of a q/k/v projection). */
  offset?: number;
  span?: number;
}

/**
 * A tensor sliced with the units: entries (offset + u)·span … (offset + u + 1)·span − 1 along
 * `axis` belong to unit u (consumer weights, BatchNormalization statistics, per-channel constants).
 */
export interface UnitSlice {
  /** The node reading the tensor. */
  node: string;
  op: string;
  /** The initializer. */
  tensor: string;
  axis: number;
  /** Channel offset of the group's unit 0 in the tensor the node reads (Concat). */
  offset: number;
  /** Entries of `axis` per unit (the spatial size after a Flatten, else 1). */
  span: number;
}

/** A consumer of a group: its weight columns of the removed units go with them. */
export interface UnitConsumer extends UnitSlice {
  op: 'Gemm' | 'MatMul' | 'Conv' | 'Dense' | 'Conv2D';
  /** Columns of the consumer's weight view (rows × cols, im2col order for Conv) per unit: span for Gemm/MatMul, kh·kw for Conv. */
  viewSpan: number;
  /** The consumer's bias initializer (Gemm C or Conv B, one entry per output), which the curvature step may correct. */
  bias?: string;
  /**
   * Channels-last column order (TF.js Conv2D im2col, a Dense after an NHWC Flatten): unit u owns
   * the view columns p·units + u for p < viewSpan instead of [u·viewSpan, (u + 1)·viewSpan).
   */
  unitsLast?: boolean;
}

/** A Reshape whose shape constant names a size that shrinks with the units. */
export interface ReshapeUpdate {
  node: string;
  /** The shape initializer (int64). */
  tensor: string;
  /** The entry of the shape that shrinks. */
  index: number;
  /** By how much per removed unit. */
  perUnit: number;
}

/** One group of units pruned together. */
export interface UnitGroup {
  /** A readable name: the first producer's weight (and `+N` when several producers share the units). */
  name: string;
  kind: StructureKind;
  /** Number of units (every producer's rows). */
  units: number;
  producers: UnitProducer[];
  consumers: UnitConsumer[];
  /** Other tensors sliced with the units (biases of producers are in `producers`). */
  slices: UnitSlice[];
  reshapes: ReshapeUpdate[];
  /** Tensors whose channel size shrinks (their value_info shapes are dropped when written). */
  tensors: string[];
  /** Index of the first producer node in the graph (groups are pruned in this order). */
  order: number;
  /** Attention heads: the Reshapes that split and merge heads (rewritten for the kept heads). */
  headReshapes?: HeadReshape[];
  /** Attention heads: Split sizes of a fused q/k/v projection that shrink. */
  splits?: SplitUpdate[];
}

/** A group that cannot shrink, with the reason. */
export interface BlockedGroup {
  name: string;
  kind: StructureKind;
  producers: string[];
  reason: string;
}

/** A weighted node that is no producer of units at all, with the reason. */
export interface NonProducer {
  node: string;
  op: string;
  reason: string;
}

/** The result of {@link analyzeStructure}. */
export interface StructurePlan {
  /** Groups that can shrink, in graph order. */
  groups: UnitGroup[];
  /** Groups that cannot, with the reason. */
  blocked: BlockedGroup[];
  /** Gemm/MatMul/Conv nodes that produce no units (shared or computed weights, grouped convolutions, …). */
  nonProducers: NonProducer[];
}

/** Where a group's units sit inside a tensor's channel axis. */
interface Segment {
  group: number;
  offset: number;
}

/** The channel layout of a tensor that carries units. */
interface Layout {
  segments: Segment[];
  /** Size of the channel axis in channels (before a Flatten: the channel count). */
  channels: number;
  /** The channel axis of the tensor (non-negative). */
  axis: number;
  /** Entries of the axis per channel (1, or the spatial size after a Flatten / Reshape). */
  span: number;
  /** The tensor is rank 2 after a Flatten / flattening Reshape (only a Gemm/MatMul may read it). */
  flat: boolean;
}

/** Mutable group state during the walk (merged with union–find). */
interface GroupState {
  producers: UnitProducer[];
  consumers: UnitConsumer[];
  slices: UnitSlice[];
  reshapes: ReshapeUpdate[];
  tensors: Set<string>;
  blocked: string[];
  order: number;
}

const UNARY = new Set([
  'Relu', 'LeakyRelu', 'Sigmoid', 'Tanh', 'Gelu', 'Erf', 'Elu', 'Selu', 'Celu', 'Softplus', 'Softsign', 'HardSigmoid', 'HardSwish', 'Mish',
  'Identity', 'Abs', 'Neg', 'Sqrt', 'Exp', 'Log', 'Reciprocal', 'Floor', 'Ceil', 'Round', 'Sin', 'Cos', 'Clip', 'Dropout',
  'MaxPool', 'AveragePool', 'GlobalAveragePool', 'GlobalMaxPool', 'LpPool', 'Cast',
]);
const BINARY = new Set(['Add', 'Sub', 'Mul', 'Div', 'Max', 'Min', 'Pow', 'PRelu']);

const label = nodeLabel;

/**
 * Analyses `model` for structured pruning. `shapes` gives the dims of every tensor of one
 * measured run (batch axis included; see {@link measureShapes}).
 */
export function analyzeStructure(model: OnnxModel, shapes: ReadonlyMap<string, readonly number[]>): StructurePlan {
  const graph = model.graph;
  const inits = new Map<string, TensorProto>(graph.initializer.map((t) => [t.name ?? '', t]));
  const constNodes = new Map<string, NodeProto>();
  for (const n of graph.node) if (n.opType === 'Constant' && n.output[0]) constNodes.set(n.output[0], n);
  const readers = new Map<string, number>();
  for (const n of graph.node) for (const i of n.input) if (i) readers.set(i, (readers.get(i) ?? 0) + 1);
  const innerReads = subgraphReads(graph);
  const outputs = new Set(graph.output.map((o) => o.name ?? ''));
  const isConst = (name: string) => inits.has(name) || constNodes.has(name);
  const dimsOf = (name: string): readonly number[] | undefined => {
    const t = inits.get(name);
    if (t) return tensorDims(t);
    const c = constNodes.get(name);
    const v = c ? attr(c, 'value')?.t : undefined;
    if (v) return tensorDims(v);
    return shapes.get(name);
  };

  // Union–find over groups.
  const states: GroupState[] = [];
  const parent: number[] = [];
  const find = (g: number): number => {
    while (parent[g] !== g) {
      parent[g] = parent[parent[g]!]!;
      g = parent[g]!;
    }
    return g;
  };
  const union = (a: number, b: number): number => {
    const ra = find(a);
    const rb = find(b);
    if (ra === rb) return ra;
    const [keep, drop] = ra < rb ? [ra, rb] : [rb, ra];
    const k = states[keep]!;
    const d = states[drop]!;
    k.producers.push(...d.producers);
    k.consumers.push(...d.consumers);
    k.slices.push(...d.slices);
    k.reshapes.push(...d.reshapes);
    for (const t of d.tensors) k.tensors.add(t);
    k.blocked.push(...d.blocked);
    k.order = Math.min(k.order, d.order);
    parent[drop] = keep;
    return keep;
  };
  const state = (g: number) => states[find(g)]!;
  const block = (layout: Layout | undefined, reason: string) => {
    for (const s of layout?.segments ?? []) state(s.group).blocked.push(reason);
  };

  const layouts = new Map<string, Layout>();
  const nonProducers: NonProducer[] = [];
  /** An initializer read by exactly this one node (a weight that is safe to reshape). */
  const ownInitializer = (name: string | undefined): TensorProto | undefined => {
    if (!name) return undefined;
    const t = inits.get(name);
    return t && readers.get(name) === 1 && !innerReads.has(name) ? t : undefined;
  };
  const isFloat = (t: TensorProto) => [1, 10, 11, 16].includes(t.dataType ?? 0);

  /** Why `node` cannot be a producer of units, or its producer description. */
  const producerOf = (node: NodeProto, name: string): UnitProducer | string => {
    const op = node.opType as 'Gemm' | 'MatMul' | 'Conv';
    const wName = node.input[1];
    const w = ownInitializer(wName);
    if (!w || !isFloat(w)) {
      if (wName && inits.has(wName)) return `its weight '${wName}' is ${readers.get(wName)! > 1 || innerReads.has(wName) ? 'shared with other nodes' : 'not a float tensor'}`;
      return 'its weight is not a constant initializer (computed, or behind Transpose/Identity/DequantizeLinear)';
    }
    const dims = tensorDims(w);
    let axis: number;
    if (op === 'Gemm') {
      if (attrInt(node, 'transA', 0) !== 0) return 'Gemm with transA=1';
      axis = attrInt(node, 'transB', 0) === 1 ? 0 : 1;
    } else if (op === 'MatMul') {
      if (dims.length !== 2) return `MatMul weight of rank ${dims.length} (only 2-D weights)`;
      axis = 1;
    } else {
      if (attrInt(node, 'group', 1) !== 1) return `grouped convolution (group=${attrInt(node, 'group', 1)})`;
      axis = 0;
    }
    const rows = dims[axis]!;
    const producer: UnitProducer = { node: name, op, weight: wName!, axis, rows };
    const biasName = op === 'MatMul' ? undefined : node.input[2];
    if (biasName) {
      const b = ownInitializer(biasName);
      if (!b) return `its bias '${biasName}' is not an initializer of its own`;
      const bd = tensorDims(b);
      const size = bd.reduce((a, x) => a * x, 1);
      if (size === rows) producer.bias = biasName;
      else if (size !== 1) return `its bias '${biasName}' has shape [${bd.join(', ')}]`;
    }
    return producer;
  };

  /** The bias of a MatMul as PyTorch exports Linear: the constant of the one Add reading its output. */
  const matmulBias = (node: NodeProto): string | undefined => {
    const out = node.output[0];
    if (!out || readers.get(out) !== 1 || outputs.has(out) || innerReads.has(out)) return undefined;
    const add = graph.node.find((n) => n.opType === 'Add' && n.input.includes(out));
    return add?.input.length === 2 ? add.input.find((i) => i !== out && inits.has(i)) : undefined;
  };

  /** Registers `node` as a consumer of the units in `layout`, or blocks them. */
  const consume = (node: NodeProto, name: string, layout: Layout): void => {
    const op = node.opType as 'Gemm' | 'MatMul' | 'Conv';
    const w = ownInitializer(node.input[1]);
    if (!w || !isFloat(w)) {
      block(layout, `${op} ${name} reads the units with a weight that is not a constant initializer of its own`);
      return;
    }
    const dims = tensorDims(w);
    let axis: number;
    let viewSpan: number;
    if (op === 'Conv') {
      if (layout.flat || layout.axis !== 1) return block(layout, `Conv ${name} reads the units on an axis other than its channels`);
      if (attrInt(node, 'group', 1) !== 1) return block(layout, `grouped Conv ${name} reads the units (group=${attrInt(node, 'group', 1)})`);
      axis = 1;
      viewSpan = dims.slice(2).reduce((a, x) => a * x, 1);
    } else {
      const rank = shapes.get(node.input[0]!)?.length ?? 0;
      if (layout.axis !== rank - 1) return block(layout, `${op} ${name} multiplies along an axis other than the units' channel axis`);
      if (op === 'Gemm') {
        if (attrInt(node, 'transA', 0) !== 0) return block(layout, `Gemm ${name} reads the units transposed (transA=1)`);
        axis = attrInt(node, 'transB', 0) === 1 ? 1 : 0;
      } else {
        if (dims.length !== 2) return block(layout, `MatMul ${name} has a weight of rank ${dims.length}`);
        axis = 0;
      }
      viewSpan = layout.span;
    }
    if (dims[axis] !== layout.channels * layout.span) return block(layout, `${op} ${name}: weight axis ${axis} has ${dims[axis]} entries, the units' tensor ${layout.channels * layout.span}`);
    const biasName = op === 'MatMul' ? matmulBias(node) : node.input[2];
    const bias = biasName ? ownInitializer(biasName) : undefined;
    const outRows = op === 'Conv' ? dims[0]! : dims[axis === 1 ? 0 : 1]!;
    const biasOk = bias && isFloat(bias) && tensorDims(bias).reduce((a, x) => a * x, 1) === outRows;
    for (const s of layout.segments) {
      state(s.group).consumers.push({
        node: name, op, tensor: node.input[1]!, axis, offset: s.offset, span: op === 'Conv' ? 1 : layout.span, viewSpan,
        ...(biasOk ? { bias: biasName! } : {}),
      });
    }
  };

  /** Registers a constant operand sliced with the units (or nothing when it broadcasts over them). */
  const sliceConstant = (node: NodeProto, name: string, constName: string, layout: Layout, outDims: readonly number[] | undefined): boolean => {
    const cd = dimsOf(constName);
    if (!cd || !outDims) {
      block(layout, `${node.opType} ${name}: the shape of '${constName}' is unknown`);
      return false;
    }
    const size = cd.reduce((a, x) => a * x, 1);
    if (size === 1) return true;
    const ca = layout.axis - (outDims.length - cd.length);
    if (ca < 0 || cd[ca] === 1) {
      // Varies along other axes only: fine unless it also varies along the channels.
      return true;
    }
    const full = layout.channels * layout.span;
    if (cd[ca] !== full) {
      block(layout, `${node.opType} ${name}: constant '${constName}' has ${cd[ca]} entries along the channel axis, expected ${full}`);
      return false;
    }
    if (!ownInitializer(constName)) {
      block(layout, `${node.opType} ${name}: per-channel constant '${constName}' is not an initializer of its own (a Constant node or shared)`);
      return false;
    }
    for (const s of layout.segments) state(s.group).slices.push({ node: name, op: node.opType ?? '', tensor: constName, axis: ca, offset: s.offset, span: layout.span });
    return true;
  };

  const track = (tensor: string, layout: Layout) => {
    layouts.set(tensor, layout);
    for (const s of layout.segments) state(s.group).tensors.add(tensor);
    if (outputs.has(tensor)) block(layout, `its tensor '${tensor}' is a graph output`);
    if (innerReads.has(tensor)) block(layout, `its tensor '${tensor}' is read inside a subgraph (If/Loop/Scan)`);
  };
  /** The layout with every group resolved to its union–find root. */
  const norm = (l: Layout): string => `${l.axis}|${l.channels}|${l.span}|${l.flat}|${l.segments.map((s) => `${find(s.group)}@${s.offset}`).join(',')}`;

  graph.node.forEach((node, index) => {
    const op = node.opType ?? '';
    const name = label(node, index);
    const inLayouts = node.input.map((i) => (i ? layouts.get(i) : undefined));
    const tracked = inLayouts.filter((l): l is Layout => l !== undefined);
    const out = node.output[0];
    const outDims = out ? shapes.get(out) : undefined;

    const isWeighted = (op === 'Gemm' || op === 'MatMul' || op === 'Conv') && node.input[1] !== undefined && isConst(node.input[1]!);
    if (isWeighted) {
      const input0 = inLayouts[0];
      if (inLayouts.slice(1).some((l) => l)) block(inLayouts.slice(1).find((l) => l), `${op} ${name} reads the units as its weight or bias`);
      if (input0) consume(node, name, input0);
      const producer = producerOf(node, name);
      if (typeof producer === 'string') {
        nonProducers.push({ node: name, op, reason: producer });
        return;
      }
      const dims = out ? shapes.get(out) : undefined;
      if (!dims) {
        nonProducers.push({ node: name, op, reason: 'its output shape is unknown' });
        return;
      }
      const g = states.length;
      states.push({ producers: [producer], consumers: [], slices: [], reshapes: [], tensors: new Set(), blocked: [], order: index });
      parent.push(g);
      track(out!, { segments: [{ group: g, offset: 0 }], channels: producer.rows, axis: op === 'Conv' ? 1 : dims.length - 1, span: 1, flat: false });
      return;
    }
    if (tracked.length === 0) return;
    const first = tracked[0]!;

    if (UNARY.has(op)) {
      if (inLayouts[0] !== first || (op === 'Clip' && tracked.length > 1)) return block(first, `${op} ${name} reads the units as a parameter`);
      if ((op === 'MaxPool' || op === 'Dropout') && node.output.slice(1).some((o) => o && readers.has(o))) return block(first, `${op} ${name}: its second output is used`);
      if (first.flat && op.includes('Pool')) return block(first, `${op} ${name} pools a flattened tensor`);
      track(out!, first);
      return;
    }
    if (BINARY.has(op)) {
      const [a, b] = inLayouts;
      if (a && b) {
        if (norm(a) === norm(b)) {
          track(out!, a);
          return;
        }
        const same = a.axis === b.axis && a.channels === b.channels && a.span === b.span && a.flat === b.flat && a.segments.length === 1 && b.segments.length === 1 && a.segments[0]!.offset === 0 && b.segments[0]!.offset === 0;
        if (!same) {
          block(a, `${op} ${name} combines two tensors whose units are laid out differently`);
          block(b, `${op} ${name} combines two tensors whose units are laid out differently`);
          return;
        }
        const g = union(a.segments[0]!.group, b.segments[0]!.group);
        track(out!, { ...a, segments: [{ group: g, offset: 0 }] });
        return;
      }
      const layout = (a ?? b)!;
      const other = a ? node.input[1]! : node.input[0]!;
      if (!isConst(other)) {
        const what = op === 'Add' || op === 'Sub' ? 'residual' : 'elementwise';
        return block(layout, `${what} ${op} ${name}: its other operand '${other}' is not produced by a prunable layer (graph input or an op the analysis cannot follow)`);
      }
      if (op === 'PRelu' && !a) return block(layout, `PRelu ${name} reads the units as its slope`);
      if (outDims && shapes.get(a ? node.input[0]! : node.input[1]!)?.length !== outDims.length) return block(layout, `${op} ${name} broadcasts the units' tensor to a higher rank`);
      if (!sliceConstant(node, name, other, layout, outDims)) return;
      track(out!, layout);
      return;
    }
    if (op === 'BatchNormalization' || op === 'InstanceNormalization') {
      if (inLayouts[0] !== first || tracked.length > 1) return block(first, `${op} ${name} reads the units as a parameter`);
      if (first.axis !== 1) return block(first, `${op} ${name} normalizes axis 1, the units are on axis ${first.axis}`);
      if (op === 'BatchNormalization' && node.output.slice(1).some((o) => o)) return block(first, `${op} ${name} in training mode (running statistics outputs)`);
      for (const p of node.input.slice(1)) {
        if (!p) continue;
        if (!ownInitializer(p)) return block(first, `${op} ${name}: parameter '${p}' is not an initializer of its own`);
        for (const s of first.segments) state(s.group).slices.push({ node: name, op, tensor: p, axis: 0, offset: s.offset, span: first.span });
      }
      track(out!, first);
      return;
    }
    if (op === 'Flatten' || op === 'Reshape') {
      if (inLayouts[0] !== first || tracked.length > 1) return block(first, `${op} ${name} reads the units as its shape`);
      const inDims = shapes.get(node.input[0]!);
      if (!inDims || !outDims) return block(first, `${op} ${name}: shapes unknown`);
      const rest = inDims.slice(first.axis + 1).reduce((a, x) => a * x, 1);
      let layout: Layout | undefined;
      let outIndex = -1;
      if (outDims.length === first.axis + 1 && outDims.slice(0, first.axis).every((d, i) => d === inDims[i]) && outDims[first.axis] === inDims[first.axis]! * rest) {
        // flattens the channel axis with everything after it
        layout = { ...first, span: first.span * rest, flat: true };
        outIndex = first.axis;
      } else if (first.axis === inDims.length - 1 && outDims[outDims.length - 1] === inDims[first.axis]) {
        // channels stay the last axis
        layout = { ...first, axis: outDims.length - 1 };
        outIndex = outDims.length - 1;
      }
      if (!layout) return block(first, `${op} ${name} reshapes [${inDims.join(', ')}] to [${outDims.join(', ')}], which moves the channel axis`);
      if (op === 'Flatten' && attrInt(node, 'axis', 1) !== first.axis) {
        if (!(first.axis === inDims.length - 1 && attrInt(node, 'axis', 1) === inDims.length - 1)) return block(first, `Flatten ${name} at axis ${attrInt(node, 'axis', 1)}`);
      }
      if (op === 'Reshape') {
        const shapeName = node.input[1]!;
        const shapeInit = inits.get(shapeName);
        if (!shapeInit) return block(first, `Reshape ${name}: its shape '${shapeName}' is computed, not an initializer`);
        const values = Array.from(model.tensorToArray(shapeInit) as ArrayLike<number | bigint>, (v) => Number(v));
        const entry = values[outIndex];
        if (entry === undefined || entry === 0) return block(first, `Reshape ${name}: shape entry ${outIndex} copies the input size (0)`);
        if (entry > 0) {
          if (readers.get(shapeName) !== 1) return block(first, `Reshape ${name}: its shape '${shapeName}' is shared with other nodes`);
          for (const s of first.segments) state(s.group).reshapes.push({ node: name, tensor: shapeName, index: outIndex, perUnit: layout.span });
        } else if (values.filter((v) => v === -1).length !== 1) {
          return block(first, `Reshape ${name}: shape [${values.join(', ')}]`);
        }
      }
      track(out!, layout);
      return;
    }
    if (op === 'Concat') {
      const axisAttr = attrInt(node, 'axis', 0);
      const rank = outDims?.length ?? 0;
      const axis = axisAttr < 0 ? axisAttr + rank : axisAttr;
      const bad = tracked.find((l) => l.axis !== axis || l.flat || l.span !== 1);
      if (bad || !outDims) {
        for (const l of tracked) block(l, `Concat ${name} along axis ${axis}, not the units' channel axis`);
        return;
      }
      const segments: Segment[] = [];
      let offset = 0;
      for (let i = 0; i < node.input.length; i++) {
        const l = inLayouts[i];
        const d = shapes.get(node.input[i]!);
        if (l) for (const s of l.segments) segments.push({ group: s.group, offset: offset + s.offset });
        const size = l ? l.channels : d?.[axis];
        if (size === undefined) {
          for (const t of tracked) block(t, `Concat ${name}: the shape of '${node.input[i]}' is unknown`);
          return;
        }
        offset += size;
      }
      track(out!, { segments, channels: offset, axis, span: 1, flat: false });
      return;
    }
    for (const l of tracked) block(l, `${op} ${name} reads the units (${op} is not followed by the analysis)`);
  });

  const groups: UnitGroup[] = [];
  const blocked: BlockedGroup[] = [];
  for (let g = 0; g < states.length; g++) {
    if (find(g) !== g) continue;
    const s = states[g]!;
    const first = s.producers[0]!;
    const name = s.producers.length > 1 ? `${first.weight}+${s.producers.length - 1}` : first.weight;
    const kind: StructureKind = s.producers.some((p) => p.op === 'Conv') ? 'channels' : 'neurons';
    const units = first.rows;
    const reasons = [...new Set(s.blocked)];
    if (s.producers.some((p) => p.rows !== units)) reasons.push('its producers have different numbers of outputs');
    if (s.consumers.length === 0 && reasons.length === 0) reasons.push('no Gemm/MatMul/Conv reads its units');
    if (reasons.length) {
      blocked.push({ name, kind, producers: s.producers.map((p) => p.node), reason: reasons[0]! + (reasons.length > 1 ? ` (and ${reasons.length - 1} more)` : '') });
      continue;
    }
    groups.push({ name, kind, units, producers: s.producers, consumers: s.consumers, slices: s.slices, reshapes: s.reshapes, tensors: [...s.tensors], order: s.order });
  }
  const heads = analyzeHeads(model, shapes, { ownInitializer, innerReads, matmulBias });
  groups.push(...heads.groups);
  blocked.push(...heads.blocked);
  groups.sort((a, b) => a.order - b.order);
  return { groups, blocked, nonProducers };
}

/** View columns of unit `u` of `consumer`: [start, start + consumer.viewSpan). */
export function unitColumns(consumer: UnitConsumer, u: number): number {
  return (consumer.offset + u) * consumer.viewSpan;
}
