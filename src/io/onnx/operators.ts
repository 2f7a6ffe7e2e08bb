/**
 * The operator table: turns every prunable node (Gemm, MatMul with a constant 2-D operand,
 * Conv 1-D/2-D), in the main graph and in If/Loop/Scan bodies, into {@link WeightView}s over
 * the tensor that stores its weight.
 *
 * A view is always `rows × cols` row-major with rows = output features and cols = input
 * features (for Conv: cin/group · kh · kw in PyTorch im2col order c, kh, kw), whatever
 * the storage layout; read()/write() transpose as needed.
 *
 * Weights as exporters write them: the weight operand may reach the node directly or through
 * a chain of `Constant` (value, value_float, value_floats), `Identity`, `Cast` (float → float),
 * `Transpose`, and `Reshape`/`Squeeze`/`Unsqueeze`/`Flatten` with constant shapes. The view
 * reads the SOURCE tensor (an initializer of any graph, or a Constant node's value), applies
 * the chain, and write() applies the inverse chain and stores the source in its own dtype and
 * storage. One source used by several prunable nodes is ONE view with several {@link WeightUse}s.
 *
 * Listed in `skipped` by {@link scanLayers}: quantized weights (DequantizeLinear) and quantized
 * operators, weights computed by other ops, non-float weights, batched constants, Conv with
 * 3-D kernels, shared weights whose uses disagree. Nodes whose operands are all activations
 * (attention products) are ignored; ConvTranspose is ignored.
 */
import type { OnnxModel } from './model.js';
import { graphScopes, nodeLabel, nodeSubgraphs, type GraphScope } from './graphs.js';
import { attr, attrFloat, attrInt, attrInts } from './attributes.js';
import { int64ToNumber, type AttributeProto, type GraphProto, type NodeProto, type TensorProto } from './proto.js';
import { bigIntsToNumbers, elemTypeName, tensorDims } from './tensor.js';

/** Convolution geometry of a Conv view. */
export interface ConvGeometry {
  kernelShape: number[];
  strides: number[];
  /** ONNX order: [begin_0, begin_1, ..., end_0, end_1, ...]. */
  pads: number[];
  dilations: number[];
  group: number;
  /** 'NOTSET' unless the node uses SAME_UPPER / SAME_LOWER / VALID. */
  autoPad: string;
  inChannelsPerGroup: number;
  outChannels: number;
}

/** Ops that may stand between a weight's source tensor and the node that uses it. */
export type ChainOp = 'Identity' | 'Cast' | 'Transpose' | 'Reshape' | 'Squeeze' | 'Unsqueeze' | 'Flatten';

/**
 * One prunable node reading a view's weight. A view's top-level fields describe `uses[0]`;
 * every use sees the same rows × cols matrix (same elements of the source in the same places).
 */
export interface WeightUse {
  op: 'Gemm' | 'MatMul' | 'Conv';
  /** The node's name (`op_type#index` when empty in the file; index within its graph). */
  nodeName: string;
  /** The activation tensor feeding the node (as named in the node's graph). */
  inputName: string;
  /** The node's output tensor. */
  outputName: string;
  /**
   * 'right': y = x · Wᵀ (features on the activation's last axis; Conv: channels axis 1).
   * 'left':  y = W · x (constant first operand; features on the activation's second-to-last axis).
   */
  orientation: 'right' | 'left';
  /** Gemm transA=1 with an activation A (or transB=1 with an activation B): the activation is stored transposed. */
  activationTransposed: boolean;
  /** Gemm alpha (1 for MatMul/Conv); the view holds the stored weight, unscaled. */
  alpha: number;
  /**
   * Whether the node's operand is the transpose of the view. The operand is the stored tensor
   * when `via` is empty; otherwise the chain (e.g. a Transpose) lies between them.
   */
  transposeWeight: boolean;
  conv?: ConvGeometry;
  /** The chain from the source tensor to the node's operand, in data-flow order (source first); [] when used directly. */
  via: ChainOp[];
  /** Where the node lives: undefined in the main graph, else the subgraph path (e.g. `'If_0/then_branch'`). */
  subgraph?: string;
  /**
   * Whether onnxruntime can return the node's input activation: true when it is a main-graph
   * tensor (a node output or graph input of the main graph, used directly or as an outer-scope
   * value inside a body); false when it is computed inside a subgraph.
   */
  capturable: boolean;
  /** Why the activation cannot be captured (only when `capturable` is false). */
  captureNote?: string;
}

/**
 * A prunable weight matrix of one source tensor (or one group of a grouped Conv weight). The
 * fields it shares with {@link WeightUse} describe `uses[0]`.
 */
export interface WeightView extends WeightUse {
  /** Unique name: the source tensor's name, `#g<i>` appended per group of a grouped Conv, `@<node>` when the name is taken. */
  name: string;
  /** The source tensor: an initializer's name, or the output name of the Constant node holding the weight. */
  weightName: string;
  /** Output features. */
  rows: number;
  /** Input features. */
  cols: number;
  /** Group index and count (Conv only). */
  groupIndex?: number;
  groups?: number;
  /** Whether the source is an initializer or the value of a Constant node. */
  sourceKind: 'initializer' | 'constant';
  /** Element type of the source tensor ('float32', 'float16', 'bfloat16', 'float64'); writes keep it. */
  sourceDType: string;
  /** The subgraph holding the source (undefined: the main graph). */
  sourceSubgraph?: string;
  /** True when the input activation of every use can be captured from the main graph (see {@link WeightUse.capturable}). */
  capturable: boolean;
  /** Why not (the first use that cannot be captured), when `capturable` is false. */
  captureNote?: string;
  /** Every prunable node reading this weight, in graph order; uses[0] is the node the top-level fields describe. */
  uses: WeightUse[];
  /**
   * True when the source tensor, or a tensor on a use's chain, is also read by a node that is not
   * one of the uses (e.g. a Gather: an embedding table tied with the lm_head). Writing the view
   * changes what those nodes read too. Shape-only readers (Shape, Size) do not count.
   */
  tied: boolean;
  /** The other readers' node names when `tied` (empty otherwise). */
  tiedWith: string[];
  /** The weight as rows × cols row-major Float32Array (a fresh copy). */
  read(): Float32Array;
  /** Writes rows × cols row-major data back into the source tensor, through the inverse chain, in its own dtype and storage. */
  write(w: Float32Array): void;
}

/** A node with a weight-like operand that is not turned into a view, and why. */
export interface SkippedLayer {
  nodeName: string;
  op: string;
  reason: string;
  /** The weight operand (as the node names it), when known. */
  weightName?: string;
  /** The subgraph holding the node (undefined: the main graph). */
  subgraph?: string;
}

// ---------------------------------------------------------------------------------------------
// small array helpers

function transpose2d(src: Float32Array, r: number, c: number): Float32Array {
  const out = new Float32Array(r * c);
  for (let i = 0; i < r; i++) {
    const row = i * c;
    for (let j = 0; j < c; j++) out[j * r + i] = src[row + j]!;
  }
  return out;
}

/** out = src (dims) transposed by `perm` (out dims[i] = dims[perm[i]]), row-major. */
export function transposeND(src: Float32Array, dims: readonly number[], perm: readonly number[]): Float32Array {
  const rank = dims.length;
  if (rank <= 1 || perm.every((p, i) => p === i)) return src.slice();
  if (rank === 2) return transpose2d(src, dims[0]!, dims[1]!);
  const inStrides = new Array<number>(rank);
  let s = 1;
  for (let i = rank - 1; i >= 0; i--) {
    inStrides[i] = s;
    s *= dims[i]!;
  }
  const outDims = perm.map((p) => dims[p]!);
  const stride = perm.map((p) => inStrides[p]!); // input stride of each output axis
  const out = new Float32Array(src.length);
  if (src.length === 0) return out;
  const idx = new Int32Array(rank);
  const last = rank - 1;
  const n = outDims[last]!;
  const step = stride[last]!;
  let base = 0;
  for (let o = 0; o < out.length; o += n) {
    for (let j = 0, at = base; j < n; j++, at += step) out[o + j] = src[at]!;
    // advance the multi-index over the outer axes
    for (let a = last - 1; a >= 0; a--) {
      idx[a]!++;
      base += stride[a]!;
      if (idx[a]! < outDims[a]!) break;
      base -= stride[a]! * outDims[a]!;
      idx[a] = 0;
    }
  }
  return out;
}

function inversePerm(perm: readonly number[]): number[] {
  const inv = new Array<number>(perm.length);
  perm.forEach((p, i) => (inv[p] = i));
  return inv;
}

const FLOAT_TYPES = new Set([1, 10, 11, 16]);
/** Readers that look at a tensor's shape only: they do not make a weight "tied". */
const SHAPE_ONLY = new Set(['Shape', 'Size']);
/** Quantized operators: listed in `skipped`, never pruned. */
const QUANTIZED_OPS = new Set(['MatMulInteger', 'ConvInteger', 'QLinearMatMul', 'QLinearConv', 'MatMulNBits', 'QGemm', 'DynamicQuantizeMatMul', 'MatMulIntegerToFloat', 'MatMulBnb4', 'QAttention']);
const NONDETERMINISTIC = new Set(['RandomNormal', 'RandomUniform', 'RandomNormalLike', 'RandomUniformLike', 'Multinomial', 'Bernoulli', 'Dropout']);

// ---------------------------------------------------------------------------------------------
// graph scopes with name resolution

interface Scope extends GraphScope {
  parentScope?: Scope;
  inits: Map<string, TensorProto>;
  producers: Map<string, { node: NodeProto; index: number }>;
  inputs: Set<string>;
  /** Tensors of this graph whose value depends on constants only. */
  constant: Set<string>;
}

type Definition = { scope: Scope; kind: 'initializer' | 'node' | 'input' };

function resolveName(scope: Scope, name: string): Definition | undefined {
  for (let s: Scope | undefined = scope; s; s = s.parentScope) {
    if (s.inits.has(name)) return { scope: s, kind: 'initializer' };
    if (s.producers.has(name)) return { scope: s, kind: 'node' };
    if (s.inputs.has(name)) return { scope: s, kind: 'input' };
  }
  return undefined;
}

function isConstantName(scope: Scope, name: string): boolean {
  const def = resolveName(scope, name);
  return !!def && def.scope.constant.has(name);
}

function buildScopes(main: GraphProto): { scopes: Scope[]; byGraph: Map<GraphProto, Scope> } {
  const byGraph = new Map<GraphProto, Scope>();
  const scopes: Scope[] = [];
  for (const g of graphScopes(main)) {
    const parentScope = g.parent ? byGraph.get(g.parent.graph) : undefined;
    const scope: Scope = {
      ...g,
      parentScope,
      inits: new Map(g.graph.initializer.map((t) => [t.name ?? '', t])),
      producers: new Map(),
      inputs: new Set(g.graph.input.map((v) => v.name ?? '')),
      constant: new Set(),
    };
    g.graph.node.forEach((node, index) => {
      for (const o of node.output) if (o) scope.producers.set(o, { node, index });
    });
    for (const name of scope.inits.keys()) scope.constant.add(name);
    // constness in node order (ONNX graphs are topologically sorted); outer names are known
    // because enclosing graphs are processed first
    for (const node of g.graph.node) {
      const op = node.opType ?? '';
      let constant: boolean;
      if (op === 'Constant') constant = true;
      else if (NONDETERMINISTIC.has(op) || nodeSubgraphs(node).length > 0 || (node.domain && node.domain !== 'ai.onnx')) constant = false;
      else {
        const inputs = node.input.filter((n) => n);
        constant = inputs.length > 0 && inputs.every((n) => isConstantName(scope, n));
      }
      if (constant) for (const o of node.output) if (o) scope.constant.add(o);
    }
    byGraph.set(g.graph, scope);
    scopes.push(scope);
  }
  return { scopes, byGraph };
}

// ---------------------------------------------------------------------------------------------
// sources and chains

/** Where a weight is stored. */
interface Source {
  /** Identity for sharing: the TensorProto or the Constant's attribute. */
  key: object;
  name: string;
  kind: 'initializer' | 'constant';
  dims: number[];
  dtype: number;
  scope: Scope;
  read(): Float32Array;
  write(data: Float32Array): void;
}

/** One step of a chain with the dims it maps between. */
interface PlannedStep {
  op: ChainOp;
  node: NodeProto;
  /** Transpose only. */
  perm?: number[];
  inDims: number[];
  outDims: number[];
}

/** A tensor on a chain, named in the graph that defines it. */
interface ChainTensor {
  scope: Scope;
  name: string;
}

type Operand =
  | { kind: 'activation' }
  | { kind: 'weight'; source: Source; steps: PlannedStep[]; dims: number[]; tensors: ChainTensor[]; nodes: NodeProto[] }
  | { kind: 'quantized'; reason: string }
  | { kind: 'unsupported'; reason: string };

function tensorSource(model: OnnxModel, t: TensorProto, scope: Scope, name: string, kind: 'initializer' | 'constant'): Source {
  return {
    key: t,
    name,
    kind,
    dims: tensorDims(t),
    dtype: t.dataType ?? 0,
    scope,
    read: () => model.readTensor(t),
    write: (data) => model.writeTensor(t, data),
  };
}

/** The source held by a Constant node (value, value_float, value_floats), or a reason it is not one. */
function constantSource(model: OnnxModel, node: NodeProto, scope: Scope, name: string): Source | string {
  const value = attr(node, 'value');
  if (value?.t) return tensorSource(model, value.t, scope, name, 'constant');
  const vf = attr(node, 'value_float');
  if (vf) {
    return { key: vf, name, kind: 'constant', dims: [], dtype: 1, scope, read: () => Float32Array.of(vf.f ?? 0), write: (d) => void (vf.f = d[0]!) };
  }
  const vfs = attr(node, 'value_floats');
  if (vfs) {
    return { key: vfs, name, kind: 'constant', dims: [vfs.floats.length], dtype: 1, scope, read: () => Float32Array.from(vfs.floats), write: (d) => void (vfs.floats = Array.from(d)) };
  }
  return `Constant '${name}' holds no float tensor`;
}

/** The integer values of a constant (initializer or Constant, possibly behind Identity), or undefined. */
function constantInts(model: OnnxModel, scope: Scope, name: string): number[] | undefined {
  for (let hops = 0; hops < 16; hops++) {
    const def = resolveName(scope, name);
    if (!def) return undefined;
    let t: TensorProto | undefined;
    if (def.kind === 'initializer') t = def.scope.inits.get(name);
    else if (def.kind === 'node') {
      const node = def.scope.producers.get(name)!.node;
      if (node.opType === 'Identity') {
        scope = def.scope;
        name = node.input[0] ?? '';
        continue;
      }
      if (node.opType !== 'Constant') return undefined;
      const ints = attr(node, 'value_ints');
      if (ints) return ints.ints.map((v) => int64ToNumber(v));
      const i = attr(node, 'value_int');
      if (i) return [int64ToNumber(i.i)];
      t = attr(node, 'value')?.t ?? undefined;
    }
    if (!t) return undefined;
    const a = model.tensorToArray(t);
    if (a instanceof BigInt64Array || a instanceof BigUint64Array) return Array.from(bigIntsToNumbers(a));
    if (a instanceof Int32Array || a instanceof Int8Array || a instanceof Uint8Array || a instanceof Int16Array || a instanceof Uint16Array || a instanceof Uint32Array) return Array.from(a);
    return undefined;
  }
  return undefined;
}

/** One backward step found while walking the chain (dims are computed on the way forward). */
interface RawStep {
  op: ChainOp;
  node: NodeProto;
  perm?: number[];
  /** Reshape: the shape input; Squeeze/Unsqueeze: axes; Flatten: [axis]. */
  ints?: number[];
  allowZero?: boolean;
  castTo?: number;
}

/**
 * Follows operand `name` of a node in `scope` back to the tensor that stores it.
 * Activations (anything not computed from constants alone) give `activation`.
 */
function resolveOperand(model: OnnxModel, scope: Scope, name: string): Operand {
  if (!name || !isConstantName(scope, name)) return { kind: 'activation' };
  const raw: RawStep[] = [];
  const tensors: ChainTensor[] = [];
  const nodes: NodeProto[] = [];
  let source: Source | undefined;
  let at = scope;
  let current = name;
  for (let hops = 0; !source; hops++) {
    if (hops > 64) return { kind: 'unsupported', reason: `weight '${name}' is reached through more than 64 ops` };
    const def = resolveName(at, current)!;
    tensors.push({ scope: def.scope, name: current });
    if (def.kind === 'initializer') {
      source = tensorSource(model, def.scope.inits.get(current)!, def.scope, current, 'initializer');
      break;
    }
    if (def.kind !== 'node') return { kind: 'unsupported', reason: `weight '${name}' is not a constant` };
    const { node, index } = def.scope.producers.get(current)!;
    const op = node.opType ?? '';
    at = def.scope;
    if (op === 'Constant') {
      const s = constantSource(model, node, def.scope, current);
      if (typeof s === 'string') return { kind: 'unsupported', reason: s };
      source = s;
      nodes.push(node);
      break;
    }
    if (op === 'DequantizeLinear') {
      return { kind: 'quantized', reason: `quantized weight '${node.input[0] ?? current}' (DequantizeLinear); listed, not pruned` };
    }
    const step: RawStep = { op: op as ChainOp, node };
    if (op === 'Identity') {
      // values unchanged
    } else if (op === 'Cast') {
      step.castTo = attrInt(node, 'to', 0);
      if (!FLOAT_TYPES.has(step.castTo)) return { kind: 'unsupported', reason: `weight '${name}' is cast to ${elemTypeName(step.castTo)}, not a float type` };
    } else if (op === 'Transpose') {
      step.perm = attrInts(node, 'perm');
    } else if (op === 'Reshape' || ((op === 'Squeeze' || op === 'Unsqueeze') && node.input[1])) {
      const ints = constantInts(model, def.scope, node.input[1] ?? '');
      if (!ints) return { kind: 'unsupported', reason: `weight '${name}' reaches the node through ${op} '${nodeLabel(node, index)}' whose shape input is not a constant` };
      step.ints = ints;
      step.allowZero = op === 'Reshape' && attrInt(node, 'allowzero', 0) === 1;
    } else if (op === 'Squeeze' || op === 'Unsqueeze') {
      step.ints = attrInts(node, 'axes');
      if (op === 'Unsqueeze' && !step.ints) return { kind: 'unsupported', reason: `Unsqueeze '${nodeLabel(node, index)}' has no axes` };
    } else if (op === 'Flatten') {
      step.ints = [attrInt(node, 'axis', 1)];
    } else {
      return {
        kind: 'unsupported',
        reason: `weight '${name}' is computed by ${op} '${nodeLabel(node, index)}' (only Constant, Identity, Cast, Transpose, Reshape, Squeeze, Unsqueeze, Flatten chains over a float initializer are followed)`,
      };
    }
    raw.push(step);
    nodes.push(node);
    current = node.input[0] ?? '';
  }
  if (!FLOAT_TYPES.has(source.dtype)) return { kind: 'unsupported', reason: `weight '${source.name}' is ${elemTypeName(source.dtype)}, not a float tensor` };
  // forward: source → operand
  let dims = source.dims.slice();
  const steps: PlannedStep[] = [];
  for (let i = raw.length - 1; i >= 0; i--) {
    const r = raw[i]!;
    const out = stepDims(r, dims);
    if (typeof out === 'string') return { kind: 'unsupported', reason: `weight '${name}': ${out}` };
    steps.push({ op: r.op, node: r.node, ...(r.op === 'Transpose' ? { perm: r.perm ?? dims.map((_, k) => dims.length - 1 - k) } : {}), inDims: dims, outDims: out });
    dims = out;
  }
  return { kind: 'weight', source, steps, dims, tensors, nodes };
}

/** Output dims of one chain step, or why the step is invalid. */
function stepDims(r: RawStep, dims: number[]): number[] | string {
  const rank = dims.length;
  const size = dims.reduce((a, b) => a * b, 1);
  const norm = (a: number, n: number): number => (a < 0 ? a + n : a);
  switch (r.op) {
    case 'Identity':
    case 'Cast':
      return dims.slice();
    case 'Transpose': {
      const perm = r.perm ?? dims.map((_, k) => rank - 1 - k);
      if (perm.length !== rank || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) return `Transpose perm [${perm}] does not fit a ${rank}-D tensor`;
      return perm.map((p) => dims[p]!);
    }
    case 'Reshape': {
      const shape = r.ints!;
      const out = shape.map((d, i) => (d === 0 && !r.allowZero ? dims[i] ?? -2 : d));
      const known = out.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
      const infer = out.filter((d) => d === -1).length;
      if (out.some((d) => d < -1) || infer > 1) return `Reshape to [${shape}] is invalid for [${dims}]`;
      if (infer === 1) {
        if (known === 0 || size % known !== 0) return `Reshape to [${shape}] is invalid for [${dims}]`;
        out[out.indexOf(-1)] = size / known;
      }
      if (out.reduce((a, b) => a * b, 1) !== size) return `Reshape to [${shape}] does not keep the ${size} elements of [${dims}]`;
      return out;
    }
    case 'Squeeze': {
      const axes = r.ints ? r.ints.map((a) => norm(a, rank)) : dims.map((d, i) => (d === 1 ? i : -1)).filter((i) => i >= 0);
      if (axes.some((a) => dims[a] !== 1)) return `Squeeze axes [${r.ints}] are not unit dims of [${dims}]`;
      return dims.filter((_, i) => !axes.includes(i));
    }
    case 'Unsqueeze': {
      const outRank = rank + r.ints!.length;
      const axes = r.ints!.map((a) => norm(a, outRank));
      const out: number[] = [];
      let k = 0;
      for (let i = 0; i < outRank; i++) out.push(axes.includes(i) ? 1 : dims[k++]!);
      return out;
    }
    case 'Flatten': {
      const axis = norm(r.ints![0]!, rank);
      const a = dims.slice(0, axis).reduce((x, y) => x * y, 1);
      return [a, size / (a || 1)];
    }
  }
}

/** Applies the chain to source data (only Transposes move data). */
function applyChain(data: Float32Array, steps: readonly PlannedStep[]): Float32Array {
  for (const s of steps) if (s.op === 'Transpose') data = transposeND(data, s.inDims, s.perm!);
  return data;
}

/** Inverts the chain: operand data → source data. */
function invertChain(data: Float32Array, steps: readonly PlannedStep[]): Float32Array {
  for (let i = steps.length - 1; i >= 0; i--) {
    const s = steps[i]!;
    if (s.op === 'Transpose') data = transposeND(data, s.outDims, inversePerm(s.perm!));
  }
  return data;
}

// ---------------------------------------------------------------------------------------------
// uses: a node reading a weight, and how its view maps onto the operand

interface UseRecord {
  use: WeightUse;
  operand: Extract<Operand, { kind: 'weight' }>;
  rows: number;
  cols: number;
  /** Matrix views: the operand [r, c] (after dropping leading unit dims) and whether the view is its transpose. */
  r: number;
  c: number;
  /** Conv: group index/count and the group's slice of the operand. */
  groupIndex?: number;
  groups: number;
  scope: Scope;
  node: NodeProto;
}

function useRead(u: UseRecord, source: Float32Array): Float32Array {
  const operand = applyChain(source, u.operand.steps);
  if (u.use.op === 'Conv') {
    if (u.groups === 1) return operand;
    const start = (u.groupIndex ?? 0) * u.rows * u.cols;
    return operand.slice(start, start + u.rows * u.cols);
  }
  return u.use.transposeWeight ? transpose2d(operand, u.r, u.c) : operand;
}

function useWrite(u: UseRecord, w: Float32Array, currentSource: () => Float32Array): Float32Array {
  let operand: Float32Array;
  if (u.use.op === 'Conv') {
    if (u.groups === 1) operand = w.slice();
    else {
      operand = applyChain(currentSource(), u.operand.steps);
      operand.set(w, (u.groupIndex ?? 0) * u.rows * u.cols);
    }
  } else {
    operand = u.use.transposeWeight ? transpose2d(w, u.rows, u.cols) : w.slice();
  }
  return invertChain(operand, u.operand.steps);
}

/** A layout signature: uses with equal signatures map the source identically onto the view. */
function layoutSignature(u: UseRecord): string {
  const moves = u.operand.steps.filter((s) => s.op === 'Transpose').map((s) => `T${s.inDims}|${s.perm}`);
  return `${u.operand.steps.length ? u.operand.steps.at(-1)!.outDims : u.operand.source.dims}|${moves.join(';')}|${u.use.op === 'Conv' ? `g${u.groupIndex ?? 0}/${u.groups}` : u.use.transposeWeight}`;
}

/** Whether two uses put every source element at the same view position (checked with index-coded data). */
function sameMapping(a: UseRecord, b: UseRecord, n: number): boolean {
  if (layoutSignature(a) === layoutSignature(b)) return true;
  // float32 holds integers exactly below 2^24: compare the low and the high 12 bits of each index
  const probe = new Float32Array(n);
  for (const shift of [0, 12, 24]) {
    if (shift > 0 && n <= 2 ** shift) break;
    for (let i = 0; i < n; i++) probe[i] = Math.floor(i / 2 ** shift) % 4096;
    const x = useRead(a, probe);
    const y = useRead(b, probe);
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// the scan

/** Finds the prunable layers and the skipped weight-like nodes of `model` (all graphs), in graph order. */
export function scanLayers(model: OnnxModel): { views: WeightView[]; skipped: SkippedLayer[] } {
  const { scopes, byGraph } = buildScopes(model.graph);
  const skipped: SkippedLayer[] = [];
  const records: UseRecord[] = [];

  // readers of every tensor, keyed by the graph that defines it
  const readers = new Map<string, Array<{ node: NodeProto; label: string }>>();
  const tensorKey = (scope: Scope, name: string): string => `${scope.path}\u0000${name}`;
  for (const scope of scopes) {
    scope.graph.node.forEach((node, index) => {
      for (const input of node.input) {
        if (!input) continue;
        const def = resolveName(scope, input);
        if (!def) continue;
        const key = tensorKey(def.scope, input);
        const list = readers.get(key) ?? [];
        list.push({ node, label: nodeLabel(node, index) });
        readers.set(key, list);
      }
    });
  }

  const visit = (scope: Scope): void => {
    scope.graph.node.forEach((node, index) => {
      scanNode(model, scope, node, index, records, skipped);
      for (const { graph } of nodeSubgraphs(node)) visit(byGraph.get(graph)!);
    });
  };
  visit(scopes[0]!);

  // group uses by source tensor
  const bySource = new Map<object, UseRecord[]>();
  for (const r of records) {
    const list = bySource.get(r.operand.source.key) ?? [];
    list.push(r);
    bySource.set(r.operand.source.key, list);
  }
  const views: WeightView[] = [];
  const usedNames = new Set<string>();
  const unique = (name: string, node: string): string => {
    const n = usedNames.has(name) ? `${name}@${node}` : name;
    usedNames.add(n);
    return n;
  };
  const skipAll = (list: UseRecord[], reason: string): void => {
    const seen = new Set<NodeProto>();
    for (const r of list) {
      if (seen.has(r.node)) continue;
      seen.add(r.node);
      skipped.push({ nodeName: r.use.nodeName, op: r.use.op, reason, weightName: r.operand.source.name, ...(r.use.subgraph ? { subgraph: r.use.subgraph } : {}) });
    }
  };
  for (const list of bySource.values()) {
    const first = list[0]!;
    const source = first.operand.source;
    const nodesOf = [...new Set(list.map((r) => r.use.nodeName))];
    // uses must agree on the number of views (groups) and on every view's shape
    const groupCounts = new Set(list.map((r) => r.groups));
    const shapes = new Set(list.map((r) => `${r.rows}x${r.cols}`));
    if (groupCounts.size > 1 || shapes.size > 1) {
      skipAll(list, `weight '${source.name}' is shared by ${nodesOf.join(', ')}, which see it as different matrices (${[...shapes].join(' vs ')}${groupCounts.size > 1 ? `, groups ${[...groupCounts].join(' vs ')}` : ''}); listed, not pruned`);
      continue;
    }
    const byGroup = new Map<number, UseRecord[]>();
    for (const r of list) {
      const g = r.groupIndex ?? 0;
      byGroup.set(g, [...(byGroup.get(g) ?? []), r]);
    }
    const n = source.dims.reduce((a, b) => a * b, 1);
    let mismatch: UseRecord | undefined;
    for (const group of byGroup.values()) for (const r of group.slice(1)) if (!mismatch && !sameMapping(group[0]!, r, n)) mismatch = r;
    if (mismatch) {
      skipAll(list, `weight '${source.name}' is shared by ${nodesOf.join(', ')}, which read it in different layouts (e.g. one transposed); listed, not pruned`);
      continue;
    }
    // tied: readers of the source or of a chain tensor that are neither uses nor chain nodes
    const own = new Set<NodeProto>();
    for (const r of list) {
      own.add(r.node);
      for (const c of r.operand.nodes) own.add(c);
    }
    const tiedWith: string[] = [];
    const seenTensors = new Set<string>();
    for (const r of list) {
      for (const t of r.operand.tensors) {
        const key = tensorKey(t.scope, t.name);
        if (seenTensors.has(key)) continue;
        seenTensors.add(key);
        for (const reader of readers.get(key) ?? []) {
          if (own.has(reader.node) || SHAPE_ONLY.has(reader.node.opType ?? '') || tiedWith.includes(reader.label)) continue;
          tiedWith.push(reader.label);
        }
      }
    }
    for (const [, group] of [...byGroup].sort((a, b) => a[0] - b[0])) {
      const u0 = group[0]!;
      const uses = group.map((r) => r.use);
      const blocked = uses.find((u) => !u.capturable);
      const baseName = u0.groups > 1 ? `${source.name}#g${u0.groupIndex}` : source.name;
      const name = unique(baseName, u0.use.nodeName);
      const { via: _via, subgraph: _sub, capturable: _cap, captureNote: _note, ...top } = u0.use;
      views.push({
        ...top,
        name,
        weightName: source.name,
        rows: u0.rows,
        cols: u0.cols,
        ...(u0.groups > 1 ? { groupIndex: u0.groupIndex!, groups: u0.groups } : {}),
        via: u0.use.via,
        sourceKind: source.kind,
        sourceDType: elemTypeName(source.dtype),
        ...(source.scope.path ? { sourceSubgraph: source.scope.path } : {}),
        ...(u0.use.subgraph ? { subgraph: u0.use.subgraph } : {}),
        capturable: !blocked,
        ...(blocked ? { captureNote: blocked.captureNote! } : {}),
        uses,
        tied: tiedWith.length > 0,
        tiedWith: tiedWith.slice(),
        read: () => useRead(u0, source.read()),
        write: (w: Float32Array) => {
          checkSize(name, w, u0.rows * u0.cols);
          source.write(useWrite(u0, w, () => source.read()));
        },
      });
    }
  }
  // views in graph order of their first use
  const order = new Map(records.map((r, i) => [r.use, i] as const));
  views.sort((a, b) => order.get(a.uses[0]!)! - order.get(b.uses[0]!)!);
  return { views, skipped };
}

function checkSize(name: string, w: Float32Array, n: number): void {
  if (w.length !== n) throw new RangeError(`weight view '${name}': expected ${n} values, got ${w.length}`);
}

/** Classifies one node: records its uses, or a skipped entry. */
function scanNode(model: OnnxModel, scope: Scope, node: NodeProto, index: number, records: UseRecord[], skipped: SkippedLayer[]): void {
  const op = node.opType ?? '';
  const nodeName = nodeLabel(node, index);
  const where = scope.path ? { subgraph: scope.path } : {};
  const skip = (reason: string, weightName?: string): void => {
    skipped.push({ nodeName, op, reason, ...(weightName ? { weightName } : {}), ...where });
  };
  if (QUANTIZED_OPS.has(op)) return skip(`quantized operator ${op}; listed, not pruned`);
  if (node.domain && node.domain !== 'ai.onnx') return;
  const outputName = node.output[0] ?? '';
  const capture = (inputName: string): Pick<WeightUse, 'capturable' | 'captureNote'> => {
    const def = resolveName(scope, inputName);
    if (!scope.path || !def || !def.scope.path) return { capturable: true };
    return { capturable: false, captureNote: `activation '${inputName}' is computed inside subgraph '${def.scope.path}'; onnxruntime returns main-graph tensors only` };
  };
  if (op === 'Gemm' || op === 'MatMul') {
    const [a = '', b = ''] = node.input;
    const A = resolveOperand(model, scope, a);
    const B = resolveOperand(model, scope, b);
    if (A.kind === 'activation' && B.kind === 'activation') return;
    if (A.kind !== 'activation' && B.kind !== 'activation') return skip('both operands are constant');
    const weightIsB = B.kind !== 'activation';
    const W = weightIsB ? B : A;
    const wName = weightIsB ? b : a;
    if (W.kind === 'activation') return;
    if (W.kind !== 'weight') return skip(W.reason, wName);
    const dims = W.dims.slice();
    if (op === 'MatMul') while (dims.length > 2 && dims[0] === 1) dims.shift();
    if (dims.length !== 2) return skip(`weight '${wName}' has shape [${W.dims}]; only 2-D weights (leading unit dims allowed for MatMul) are prunable`, wName);
    const [r, c] = dims as [number, number];
    const transA = op === 'Gemm' ? attrInt(node, 'transA', 0) === 1 : false;
    const transB = op === 'Gemm' ? attrInt(node, 'transB', 0) === 1 : false;
    const alpha = op === 'Gemm' ? attrFloat(node, 'alpha', 1) : 1;
    const via = W.steps.map((s) => s.op);
    // right: y = x · B', B' = transB ? Bᵀ : B (K × N); view rows = N: transB ? B : Bᵀ.
    // left:  y = A' · x, A' = transA ? Aᵀ : A (M × K); view rows = M: transA ? Aᵀ : A.
    const transposed = weightIsB ? !transB : transA;
    const inputName = weightIsB ? a : b;
    const use: WeightUse = {
      op,
      nodeName,
      inputName,
      outputName,
      orientation: weightIsB ? 'right' : 'left',
      activationTransposed: weightIsB ? transA : transB,
      alpha,
      transposeWeight: transposed,
      via,
      ...where,
      ...capture(inputName),
    };
    records.push({ use, operand: W, rows: transposed ? c : r, cols: transposed ? r : c, r, c, groups: 1, scope, node });
    return;
  }
  if (op === 'Conv') {
    const [x = '', wName = ''] = node.input;
    const W = resolveOperand(model, scope, wName);
    if (W.kind === 'activation') return skip('weight is not a constant', wName);
    if (W.kind !== 'weight') return skip(W.reason, wName);
    const d = W.dims;
    if (d.length !== 3 && d.length !== 4) return skip(`only 1-D and 2-D convolutions are supported (kernel has ${d.length} dims)`, wName);
    const spatial = d.slice(2);
    const group = attrInt(node, 'group', 1);
    const outChannels = d[0]!;
    const inPerGroup = d[1]!;
    if (group < 1 || outChannels % group !== 0) return skip(`group ${group} does not divide ${outChannels} output channels`, wName);
    const autoPad = attr(node, 'auto_pad');
    const conv: ConvGeometry = {
      kernelShape: attrInts(node, 'kernel_shape') ?? spatial,
      strides: attrInts(node, 'strides') ?? spatial.map(() => 1),
      pads: attrInts(node, 'pads') ?? [...spatial, ...spatial].map(() => 0),
      dilations: attrInts(node, 'dilations') ?? spatial.map(() => 1),
      group,
      autoPad: autoPad?.s?.length ? new TextDecoder().decode(autoPad.s) : 'NOTSET',
      inChannelsPerGroup: inPerGroup,
      outChannels,
    };
    const rows = outChannels / group;
    const cols = spatial.reduce((p, k) => p * k, inPerGroup);
    const base = { op: 'Conv' as const, nodeName, inputName: x, outputName, orientation: 'right' as const, activationTransposed: false, alpha: 1, transposeWeight: false, conv, via: W.steps.map((s) => s.op), ...where, ...capture(x) };
    for (let gi = 0; gi < group; gi++) {
      records.push({ use: { ...base }, operand: W, rows, cols, r: rows, c: cols, ...(group > 1 ? { groupIndex: gi } : {}), groups: group, scope, node });
    }
  }
}

/** The prunable weight views of `model` (Gemm, MatMul with a constant 2-D operand, Conv; all graphs), in graph order. */
export function findPrunableLayers(model: OnnxModel): WeightView[] {
  return scanLayers(model).views;
}
