/**
 * The graph side of whole-model collapse (./model.ts) on ONNX models: which tensors to measure,
 * the final linear classifier (for NC3), and the chained linear layers whose balancedness is
 * reported.
 */
import { SurgeonInputError } from '../errors.js';
import type { OnnxModel } from '../io/onnx/model.js';
import type { NodeProto } from '../io/onnx/proto.js';
import { attrFloat } from '../io/onnx/attributes.js';
import { findPrunableLayers, type WeightView } from '../io/onnx/operators.js';
import { balancedness } from './balancedness.js';

/** Which tensors {@link measureModelCollapse} measures. */
export type LayerSelection = 'default' | 'penultimate' | 'all' | readonly string[];

/** Why a tensor is in the measured set. */
export type TensorRole = 'layer-input' | 'activation' | 'named';

/** One tensor to measure, as planned by {@link selectCollapseTensors}. */
export interface CollapseTensor {
  /** Tensor name in the graph. */
  name: string;
  /** Prunable layers (WeightView names) this tensor feeds, in graph order. */
  feeds: string[];
  /** True for the input of the final classifier (see {@link findClassifier}). */
  penultimate: boolean;
  role: TensorRole;
}

/** The final linear classifier of a model, found by {@link findClassifier}. */
export interface ModelClassifier {
  /** The prunable layer (WeightView name). */
  layer: string;
  /** Its input tensor: the penultimate features. */
  input: string;
  /** The graph output it reaches. */
  output: string;
  /** Classes (rows of W). */
  K: number;
  /** Input features (columns of W). */
  d: number;
  /** Reads W (K × d, alpha applied) and the bias (beta applied), when there is one. */
  read(): { W: Float32Array; b?: Float32Array };
}

const ACTIVATIONS = new Set([
  'Relu', 'LeakyRelu', 'PRelu', 'Gelu', 'Elu', 'Selu', 'Celu', 'Sigmoid', 'HardSigmoid', 'HardSwish',
  'Softplus', 'Softsign', 'Mish', 'Tanh', 'ThresholdedRelu', 'Swish',
]);
/** Ops a classifier's logits may pass through on their way to the graph output. */
const PASS_THROUGH = new Set(['Identity', 'Dropout', 'Flatten', 'Squeeze', 'Cast']);
/** Element-wise ops allowed between two linear layers for their balancedness to be reported. */
const POINTWISE = new Set([...ACTIVATIONS, 'Add', 'Sub', 'Mul', 'Div', 'Erf', 'Identity', 'Dropout', 'Cast', 'Flatten', 'Clip']);

function producerIndex(model: OnnxModel): Map<string, number> {
  const index = new Map<string, number>();
  model.graph.node.forEach((node, i) => {
    for (const out of node.output) if (out) index.set(out, i);
  });
  return index;
}

function consumerIndex(model: OnnxModel): Map<string, NodeProto[]> {
  const index = new Map<string, NodeProto[]>();
  for (const node of model.graph.node) {
    for (const input of node.input) {
      if (!input) continue;
      const list = index.get(input);
      if (list) list.push(node);
      else index.set(input, [node]);
    }
  }
  return index;
}

/**
 * The final linear classifier: the last prunable Gemm/MatMul (features on the activation's last
 * axis) whose output reaches a graph output through only a bias Add (constant operand) and
 * identity-like ops (Identity, Dropout, Flatten, Squeeze, Cast). Its input is the penultimate
 * feature tensor; W = alpha·(its K × d view), b = beta·C for a Gemm, or the Add's constant.
 * Undefined when no layer qualifies.
 */
export function findClassifier(model: OnnxModel, views: readonly WeightView[] = findPrunableLayers(model)): ModelClassifier | undefined {
  const outputs = new Set(model.outputs.map((o) => o.name));
  const consumers = consumerIndex(model);
  const nodes = new Map(model.graph.node.map((n) => [n.output[0] ?? '', n]));
  for (let v = views.length - 1; v >= 0; v--) {
    const view = views[v]!;
    if (view.op === 'Conv' || view.orientation !== 'right' || view.activationTransposed) continue;
    const node = nodes.get(view.outputName);
    let biasName: string | undefined;
    let beta = 1;
    if (view.op === 'Gemm' && node) {
      const c = node.input[2];
      if (c) biasName = c;
      beta = attrFloat(node, 'beta', 1);
    }
    let tensor = view.outputName;
    let reached: string | undefined;
    for (let hops = 0; hops < 16; hops++) {
      if (outputs.has(tensor)) {
        reached = tensor;
        break;
      }
      const next = consumers.get(tensor) ?? [];
      if (next.length !== 1) break;
      const op = next[0]!.opType ?? '';
      if (op === 'Add' && biasName === undefined) {
        const other = next[0]!.input.find((n) => n !== tensor);
        if (!other || !model.initializer(other)) break;
        biasName = other;
      } else if (!PASS_THROUGH.has(op)) {
        break;
      }
      tensor = next[0]!.output[0] ?? '';
    }
    if (reached === undefined) continue;
    const K = view.rows;
    const found: ModelClassifier = {
      layer: view.name,
      input: view.inputName,
      output: reached,
      K,
      d: view.cols,
      read() {
        const W = view.read();
        if (view.alpha !== 1) for (let i = 0; i < W.length; i++) W[i]! *= view.alpha;
        const out: { W: Float32Array; b?: Float32Array } = { W };
        if (biasName && model.initializer(biasName)) {
          const raw = model.readInitializer(biasName);
          if (raw.length === K || raw.length === 1) {
            const b = new Float32Array(K);
            for (let k = 0; k < K; k++) b[k] = beta * raw[raw.length === 1 ? 0 : k]!;
            out.b = b;
          }
        }
        return out;
      },
    };
    return found;
  }
  return undefined;
}

/** The feature axis of a view's input, negative (from the end) where broadcasting keeps it. */
function inputFeatureAxis(view: WeightView): number {
  if (view.op === 'Conv') return -(1 + (view.conv?.kernelShape.length ?? 2));
  if (view.orientation === 'right') return view.activationTransposed ? -2 : -1;
  return view.activationTransposed ? -1 : -2;
}

/** The feature axis of a view's output: channels for Conv, K on the last (right) or second-to-last (left) axis. */
function outputFeatureAxis(view: WeightView): number {
  if (view.op === 'Conv') return -(1 + (view.conv?.kernelShape.length ?? 2));
  return view.orientation === 'right' ? -1 : -2;
}

/**
 * Axes of tensors that hold features fixed by a layer's weights, so never the batch (for
 * ../runtime/batch-axis.ts): the contracted axis of every prunable layer's input, and the output
 * feature axis of every prunable layer, followed through element-wise ops (bias add, activation,
 * scaling). Axes are negative, counted from the end. Tensors not listed have no known feature axis.
 */
export function featureAxes(model: OnnxModel, views: readonly WeightView[] = findPrunableLayers(model)): Map<string, number[]> {
  const out = new Map<string, number[]>();
  const add = (tensor: string, axis: number) => {
    const list = out.get(tensor);
    if (!list) out.set(tensor, [axis]);
    else if (!list.includes(axis)) list.push(axis);
  };
  const consumers = consumerIndex(model);
  for (const view of views) {
    add(view.inputName, inputFeatureAxis(view));
    const axis = outputFeatureAxis(view);
    const queue = [view.outputName];
    const seen = new Set(queue);
    while (queue.length > 0 && seen.size < 64) {
      const t = queue.shift()!;
      add(t, axis);
      for (const node of consumers.get(t) ?? []) {
        if (!POINTWISE.has(node.opType ?? '') || node.opType === 'Flatten') continue;
        for (const o of node.output) if (o && !seen.has(o)) {
          seen.add(o);
          queue.push(o);
        }
      }
    }
  }
  return out;
}

/** Output tensors of activation nodes (ACTIVATIONS, and the Erf form of GELU: x·½(1 + erf(x/√2))). */
function activationOutputs(model: OnnxModel, consumers: Map<string, NodeProto[]>): string[] {
  const out: string[] = [];
  for (const node of model.graph.node) {
    const op = node.opType ?? '';
    if (ACTIVATIONS.has(op) && node.output[0]) out.push(node.output[0]);
    if (op === 'Erf') {
      // Erf → Add(1) → Mul(x) [→ Mul(0.5)]: the GELU output is the last Mul of the chain.
      const add = (consumers.get(node.output[0] ?? '') ?? [])[0];
      if (add?.opType !== 'Add') continue;
      const mul = (consumers.get(add.output[0] ?? '') ?? [])[0];
      if (mul?.opType !== 'Mul') continue;
      const half = consumers.get(mul.output[0] ?? '') ?? [];
      const last = half.length === 1 && half[0]!.opType === 'Mul' && half[0]!.input.some((n) => model.isConstant(n)) ? half[0]! : mul;
      if (last.output[0]) out.push(last.output[0]);
    }
  }
  return out;
}

/**
 * Plans the tensors {@link measureModelCollapse} measures, in graph order (graph inputs first,
 * then by producing node), whatever the order of a list of names.
 * @throws SurgeonInputError for an unknown name (listing the valid ones) or 'penultimate' without a classifier.
 */
export function selectCollapseTensors(model: OnnxModel, selection: LayerSelection = 'default'): CollapseTensor[] {
  const views = findPrunableLayers(model);
  const classifier = findClassifier(model, views);
  // The inputs of every prunable use that onnxruntime can return (not computed inside an If/Loop/Scan body).
  const feeds = new Map<string, string[]>();
  for (const v of views) {
    for (const use of v.uses?.length ? v.uses : [{ inputName: v.inputName, capturable: v.capturable }]) {
      if (use.capturable === false) continue;
      const list = feeds.get(use.inputName);
      if (list) list.includes(v.name) || list.push(v.name);
      else feeds.set(use.inputName, [v.name]);
    }
  }
  const make = (name: string, role: TensorRole): CollapseTensor => ({ name, feeds: feeds.get(name) ?? [], penultimate: name === classifier?.input, role });
  const position = producerIndex(model);
  const order = (a: CollapseTensor, b: CollapseTensor) => (position.get(a.name) ?? -1) - (position.get(b.name) ?? -1);

  if (selection === 'penultimate') {
    if (!classifier) {
      throw new SurgeonInputError(
        'no final linear classifier found (a Gemm/MatMul whose output reaches the graph output through only a bias add); pass --layers with tensor or layer names instead of penultimate',
      );
    }
    return [make(classifier.input, 'layer-input')];
  }
  const defaults = [...feeds.keys()].map((name) => make(name, 'layer-input'));
  if (selection === 'default') return defaults.sort(order);
  const consumers = consumerIndex(model);
  if (selection === 'all') {
    const seen = new Set(defaults.map((t) => t.name));
    const all = defaults.slice();
    for (const name of activationOutputs(model, consumers)) {
      if (seen.has(name)) continue;
      seen.add(name);
      all.push(make(name, 'activation'));
    }
    return all.sort(order);
  }

  const byLayer = new Map<string, string>();
  for (const v of views) {
    for (const alias of [v.name, v.weightName, v.nodeName]) if (!byLayer.has(alias)) byLayer.set(alias, v.inputName);
  }
  const tensors = new Set<string>(model.inputs.map((i) => i.name));
  for (const node of model.graph.node) for (const out of node.output) if (out) tensors.add(out);
  const picked: CollapseTensor[] = [];
  const seen = new Set<string>();
  for (const raw of selection) {
    const name = raw.trim();
    if (!name) continue;
    const tensor = tensors.has(name) ? name : byLayer.get(name);
    if (tensor === undefined) {
      const layers = views.map((v) => v.name);
      const suggestions = [...new Set([...defaults.map((t) => t.name), ...activationOutputs(model, consumers)])];
      throw new SurgeonInputError(
        `unknown layer '${name}'; valid: penultimate, all, a prunable layer (${listOf(layers)}) or a tensor name (e.g. ${listOf(suggestions)})`,
      );
    }
    if (seen.has(tensor)) continue;
    seen.add(tensor);
    picked.push({ ...make(tensor, 'named'), role: feeds.has(tensor) ? 'layer-input' : 'named' });
  }
  if (picked.length === 0) throw new SurgeonInputError('--layers is empty; pass penultimate, all, or comma-separated tensor/layer names');
  return picked.sort(order);
}

/** `names` joined by commas, the first `max` of them and how many more. */
export function listOf(names: readonly string[], max = 24): string {
  if (names.length === 0) return 'none';
  const shown = names.slice(0, max).join(', ');
  return names.length > max ? `${shown}, … ${names.length - max} more` : shown;
}

/**
 * Balancedness (Jacot et al. 2025, see ./balancedness.ts) of every pair of Gemm/MatMul layers
 * where the upper one's input is computed from the lower one's output through element-wise ops
 * only (bias add, activation, scaling) and the shapes chain (upper.cols = lower.rows).
 */
export function modelBalancedness(model: OnnxModel, views: readonly WeightView[] = findPrunableLayers(model)): Array<{ lower: string; upper: string; value: number }> {
  const linear = views.filter((v) => v.op !== 'Conv' && v.orientation === 'right' && !v.activationTransposed);
  const byInput = new Map<string, WeightView[]>();
  for (const v of linear) {
    const list = byInput.get(v.inputName);
    if (list) list.push(v);
    else byInput.set(v.inputName, [v]);
  }
  const consumers = consumerIndex(model);
  const out: Array<{ lower: string; upper: string; value: number }> = [];
  for (const lower of linear) {
    // Breadth-first through element-wise nodes from the lower layer's output.
    const queue = [lower.outputName];
    const seen = new Set(queue);
    const uppers: WeightView[] = [];
    while (queue.length > 0 && seen.size < 64) {
      const t = queue.shift()!;
      for (const u of byInput.get(t) ?? []) if (u !== lower && !uppers.includes(u)) uppers.push(u);
      for (const node of consumers.get(t) ?? []) {
        if (!POINTWISE.has(node.opType ?? '')) continue;
        for (const o of node.output) if (o && !seen.has(o)) {
          seen.add(o);
          queue.push(o);
        }
      }
    }
    for (const upper of uppers) {
      if (upper.cols !== lower.rows) continue;
      const value = balancedness({ W: lower.read(), rows: lower.rows, cols: lower.cols, name: lower.name }, { W: upper.read(), rows: upper.rows, cols: upper.cols, name: upper.name });
      out.push({ lower: lower.name, upper: upper.name, value });
    }
  }
  return out;
}
