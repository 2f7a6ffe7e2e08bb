/**
 * The operator table: turns every prunable node (Gemm, MatMul with a constant 2-D
 * operand, Conv 1-D/2-D) into {@link WeightView}s over its weight initializer.
 *
 * A view is always `rows × cols` row-major with rows = output features and cols = input
 * features (for Conv: cin/group · kh · kw in PyTorch im2col order c, kh, kw), whatever
 * the storage layout; read()/write() transpose as needed.
 *
 * Not prunable (reported by {@link scanLayers} in `skipped`): weights that reach a
 * MatMul/Gemm through Transpose/Identity/Cast or any other node instead of directly as
 * an initializer, batched constants (> 2 dims), non-float weights, Conv with 3-D kernels,
 * ConvTranspose, nodes whose operands are all constant or all activations are ignored.
 */
import type { OnnxModel } from './model.js';
import { int64ToNumber, type AttributeProto, type NodeProto } from './proto.js';
import { tensorDims } from './tensor.js';

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

/** A prunable weight matrix of one node (or one group of a grouped Conv). */
export interface WeightView {
  /** Unique name: the initializer name, `#g<i>` appended per group of a grouped Conv, `@<node>` when an initializer is shared. */
  name: string;
  op: 'Gemm' | 'MatMul' | 'Conv';
  /** The node's name (may be empty in the file; then `op_type#index`). */
  nodeName: string;
  /** The initializer holding the weight. */
  weightName: string;
  /** Output features. */
  rows: number;
  /** Input features. */
  cols: number;
  /** Group index and count (Conv only). */
  groupIndex?: number;
  groups?: number;
  /** The activation tensor feeding the layer. */
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
  /** Whether the stored tensor is the transpose of the view. */
  transposeWeight: boolean;
  conv?: ConvGeometry;
  /** The weight as rows × cols row-major Float32Array (a fresh copy). */
  read(): Float32Array;
  /** Writes rows × cols row-major data back into the initializer, in its own dtype and layout. */
  write(w: Float32Array): void;
}

/** A node with a weight-like operand that is not turned into a view, and why. */
export interface SkippedLayer {
  nodeName: string;
  op: string;
  reason: string;
}

function attr(node: NodeProto, name: string): AttributeProto | undefined {
  return node.attribute.find((a) => a.name === name);
}
function attrInt(node: NodeProto, name: string, dflt: number): number {
  const a = attr(node, name);
  return a && a.i != null ? int64ToNumber(a.i) : dflt;
}
function attrInts(node: NodeProto, name: string): number[] | undefined {
  const a = attr(node, name);
  return a && a.ints.length ? a.ints.map((v) => int64ToNumber(v)) : undefined;
}
function attrFloat(node: NodeProto, name: string, dflt: number): number {
  const a = attr(node, name);
  return a && a.f != null ? a.f : dflt;
}

function transpose(src: Float32Array, r: number, c: number): Float32Array {
  const out = new Float32Array(r * c);
  for (let i = 0; i < r; i++) {
    const row = i * c;
    for (let j = 0; j < c; j++) out[j * r + i] = src[row + j]!;
  }
  return out;
}

const FLOAT_TYPES = new Set([1, 10, 11, 16]);

/** Builds a view over a whole 2-D initializer stored as `stored` (r × c); the view is its transpose when `transposed`. */
function matrixView(
  model: OnnxModel,
  base: Omit<WeightView, 'read' | 'write' | 'rows' | 'cols' | 'transposeWeight'>,
  r: number,
  c: number,
  transposed: boolean,
): WeightView {
  const rows = transposed ? c : r;
  const cols = transposed ? r : c;
  return {
    ...base,
    rows,
    cols,
    transposeWeight: transposed,
    read: () => {
      const w = model.readInitializer(base.weightName);
      return transposed ? transpose(w, r, c) : w;
    },
    write: (w: Float32Array) => {
      checkSize(base.name, w, rows * cols);
      model.setInitializer(base.weightName, transposed ? transpose(w, rows, cols) : w);
    },
  };
}

function checkSize(name: string, w: Float32Array, n: number): void {
  if (w.length !== n) throw new RangeError(`weight view '${name}': expected ${n} values, got ${w.length}`);
}

/** Finds the prunable layers and the skipped weight-like nodes of `model`, in graph order. */
export function scanLayers(model: OnnxModel): { views: WeightView[]; skipped: SkippedLayer[] } {
  const views: WeightView[] = [];
  const skipped: SkippedLayer[] = [];
  const used = new Set<string>();
  const unique = (name: string, node: string): string => {
    const n = used.has(name) ? `${name}@${node}` : name;
    used.add(n);
    return n;
  };
  const constant2d = (name: string | undefined): number[] | undefined => {
    const t = name ? model.initializer(name) : undefined;
    if (!t || !FLOAT_TYPES.has(t.dataType ?? 0)) return undefined;
    const d = tensorDims(t);
    return d.length === 2 ? d : undefined;
  };
  const skip = (nodeName: string, op: string, reason: string): void => {
    skipped.push({ nodeName, op, reason });
  };

  model.graph.node.forEach((node, index) => {
    const op = node.opType ?? '';
    if (node.domain && node.domain !== 'ai.onnx') return;
    const nodeName = node.name || `${op}#${index}`;
    const outputName = node.output[0] ?? '';
    if (op === 'Gemm' || op === 'MatMul') {
      const [a, b] = node.input as [string, string];
      const aDims = constant2d(a);
      const bDims = constant2d(b);
      const transA = op === 'Gemm' ? attrInt(node, 'transA', 0) === 1 : false;
      const transB = op === 'Gemm' ? attrInt(node, 'transB', 0) === 1 : false;
      const alpha = op === 'Gemm' ? attrFloat(node, 'alpha', 1) : 1;
      const common = { op: op as 'Gemm' | 'MatMul', nodeName, outputName, alpha };
      if (aDims && bDims) return skip(nodeName, op, 'both operands are constant');
      if (bDims) {
        // y = x · B', B' = transB ? Bᵀ : B (K × N); view rows = N: transB ? B : Bᵀ.
        const base = { ...common, name: unique(b, nodeName), weightName: b, inputName: a, orientation: 'right' as const, activationTransposed: transA };
        views.push(matrixView(model, base, bDims[0]!, bDims[1]!, !transB));
        return;
      }
      if (aDims) {
        // y = A' · x, A' = transA ? Aᵀ : A (M × K); view rows = M: transA ? Aᵀ : A.
        const base = { ...common, name: unique(a, nodeName), weightName: a, inputName: b, orientation: 'left' as const, activationTransposed: transB };
        views.push(matrixView(model, base, aDims[0]!, aDims[1]!, transA));
        return;
      }
      const constLike = [a, b].find((n) => n && (model.initializer(n) || isConstantPath(model, n)));
      if (constLike) skip(nodeName, op, `weight '${constLike}' is not a 2-D float initializer used directly (reaches the node through another op, is batched, or is not float)`);
      return;
    }
    if (op === 'Conv') {
      const [x, wName] = node.input as [string, string];
      const t = wName ? model.initializer(wName) : undefined;
      if (!t || !FLOAT_TYPES.has(t.dataType ?? 0)) return skip(nodeName, op, 'weight is not a float initializer');
      const d = tensorDims(t);
      if (d.length !== 3 && d.length !== 4) return skip(nodeName, op, `only 1-D and 2-D convolutions are supported (kernel has ${d.length} dims)`);
      const spatial = d.slice(2);
      const group = attrInt(node, 'group', 1);
      const outChannels = d[0]!;
      const inPerGroup = d[1]!;
      if (group < 1 || outChannels % group !== 0) return skip(nodeName, op, `group ${group} does not divide ${outChannels} output channels`);
      const conv: ConvGeometry = {
        kernelShape: attrInts(node, 'kernel_shape') ?? spatial,
        strides: attrInts(node, 'strides') ?? spatial.map(() => 1),
        pads: attrInts(node, 'pads') ?? [...spatial, ...spatial].map(() => 0),
        dilations: attrInts(node, 'dilations') ?? spatial.map(() => 1),
        group,
        autoPad: attr(node, 'auto_pad')?.s?.length ? new TextDecoder().decode(attr(node, 'auto_pad')!.s) : 'NOTSET',
        inChannelsPerGroup: inPerGroup,
        outChannels,
      };
      const rows = outChannels / group;
      const cols = spatial.reduce((p, k) => p * k, inPerGroup);
      for (let gi = 0; gi < group; gi++) {
        const name = unique(group > 1 ? `${wName}#g${gi}` : wName, nodeName);
        const start = gi * rows * cols;
        views.push({
          name, op: 'Conv', nodeName, weightName: wName, rows, cols, inputName: x, outputName,
          orientation: 'right', activationTransposed: false, alpha: 1, transposeWeight: false, conv,
          ...(group > 1 ? { groupIndex: gi, groups: group } : {}),
          read: () => model.readInitializer(wName).slice(start, start + rows * cols),
          write: (w: Float32Array) => {
            checkSize(name, w, rows * cols);
            if (group === 1) return model.setInitializer(wName, w);
            const all = model.readInitializer(wName);
            all.set(w, start);
            model.setInitializer(wName, all);
          },
        });
      }
    }
  });
  return { views, skipped };
}

/** Whether `name` is produced from constants only through a simple op (Transpose, Identity, Cast, Constant). */
function isConstantPath(model: OnnxModel, name: string): boolean {
  const p = model.producer(name);
  if (!p) return false;
  if (p.opType === 'Constant') return true;
  if (p.opType === 'Transpose' || p.opType === 'Identity' || p.opType === 'Cast' || p.opType === 'DequantizeLinear') {
    const src = p.input[0];
    return !!src && (!!model.initializer(src) || isConstantPath(model, src));
  }
  return false;
}

/** The prunable weight views of `model` (Gemm, MatMul with a constant 2-D operand, Conv), in graph order. */
export function findPrunableLayers(model: OnnxModel): WeightView[] {
  return scanLayers(model).views;
}
