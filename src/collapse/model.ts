/**
 * Neural collapse of a whole ONNX model, layer by layer: which tensors to measure, the final
 * linear classifier, and the streaming measurement of every selected tensor over a labelled
 * dataset through one onnxruntime capture session.
 *
 * Features. A tensor's features per sample are the sample's slice of the tensor flattened in
 * C order: a [B, C, H, W] feature map gives d = C·H·W, a [B, T, D] token tensor gives d = T·D
 * (every token position is a separate coordinate; nothing is pooled). The batch must be on
 * axis 0.
 *
 * Passes. With `train` given, one pass over it first accumulates the class means that NC4's
 * nearest-class-mean rule uses. Then two passes over the evaluated split (the accumulators of
 * ./accumulate.ts need them): pass 1 gives the class means and the network's predictions
 * (arg-max of the first graph output, hence the accuracy), pass 2 the within-class statistics
 * and the NC4 disagreement counts. All passes stream batches through the same session; memory
 * per layer is O(K·d + K²) plus one Int32 prediction per evaluated sample, never N × d.
 */
import { SurgeonInputError } from '../errors.js';
import type { ClassificationDataset } from '../io/dataset.js';
import type { OnnxModel } from '../io/onnx/model.js';
import type { NodeProto } from '../io/onnx/proto.js';
import { findPrunableLayers, type WeightView } from '../io/onnx/operators.js';
import { captureSession, forEachBatch, type CapturedBatch } from '../runtime/capture.js';
import { ClassMeansAccumulator, CollapseAccumulator, type ClassMeans, type FeatureArray } from './accumulate.js';
import { measureCollapse, type Classifier } from './measure.js';
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

/** Progress phases of {@link measureModelCollapse}. */
export type CollapsePhase = 'train' | 'means' | 'covariance';

/** Options of {@link measureModelCollapse}. */
export interface ModelCollapseOptions {
  /**
   * Tensors to measure: 'default' (the input of every prunable layer, deduplicated, which
   * includes the penultimate features), 'penultimate' (only the classifier's input), 'all'
   * (default plus every activation output: Relu, Gelu, Erf-GELU, Sigmoid, Tanh, ...), or a list
   * of tensor names and prunable layer names (a layer name stands for its input tensor).
   */
  layers?: LayerSelection;
  /** Split whose class means NC4's nearest-class-mean rule uses (default: the evaluated split itself). */
  train?: ClassificationDataset;
  /** Measure only the first `limit` evaluated samples. */
  limit?: number;
  /** Samples per batch (default 128). Results do not depend on it beyond float32 inference rounding. */
  batchSize?: number;
  /** onnxruntime intra-op threads (default 2). */
  threads?: number;
  /** Centre at the sample mean instead of the unweighted mean of class means (see ./measure.ts). */
  weightedMean?: boolean;
  /** Relative pseudo-inverse tolerance of NC1 and the numerical rank (default 1e-6). */
  pinvTolerance?: number;
  /** Compute the balancedness of consecutive linear layers (default true). */
  balancedness?: boolean;
  /**
   * Called after every batch: `done` of `total` samples over the whole measurement
   * (train samples + 2 × evaluated samples), `phase` the current pass.
   */
  onProgress?: (done: number, total: number, phase: CollapsePhase) => void;
}

/** Collapse metrics of one measured tensor. Lower is more collapsed for every NC metric. */
export interface LayerCollapse {
  /** Tensor name. */
  name: string;
  /** First prunable layer the tensor feeds, when it feeds one. */
  layer?: string;
  /** Every prunable layer the tensor feeds (e.g. q, k and v projections sharing their input). */
  feeds: string[];
  role: TensorRole;
  /** Set on the classifier's input. */
  penultimate?: true;
  /** Per-sample shape (batch axis dropped); d is its product. */
  shape: number[];
  d: number;
  nc1: number;
  /** Eigenvalues NC1's pseudo-inverse kept (≤ K − 1). */
  nc1Kept: number;
  traceRatio: number;
  cdnv: number;
  withinTotalRatio: number;
  /** NC2: distance of the centred class means' Gram to the simplex ETF. */
  etf: number;
  /** NC2: std/mean of the centred class-mean norms. */
  equinorm: number;
  /** NC2: std/mean of the classifier row norms (penultimate layer). */
  equinormW?: number;
  /** NC2: std of the pairwise cosines of the centred means. */
  equiangularity: number;
  /** NC2: mean |cos + 1/(K−1)|. */
  equiangularityMaxDev: number;
  /** Distance of the uncentred means to an orthogonal frame. */
  orthogonalFrame: number;
  /** NC3 (Papyan) with the classifier (penultimate layer only). */
  nc3?: number;
  /** NC3, ETF-dual variant (penultimate layer only). */
  nc3Dual?: number;
  /**
   * NC4 (Papyan et al. 2020, see ./nc4.ts): rate at which the nearest-class-mean rule, with the
   * class means of `train` (else of the evaluated split), disagrees with the network's prediction.
   */
  nc4: number;
  effectiveRank: number;
  numericalRank: number;
  stableRank: number;
  /** Singular-value threshold of the numerical rank. */
  rankThreshold: number;
  traceWithin: number;
  traceBetween: number;
}

/** Result of {@link measureModelCollapse}. */
export interface ModelCollapse {
  /** Accuracy of the network (arg-max of its first output) on the evaluated samples. */
  accuracy: number;
  /** Evaluated samples. */
  samples: number;
  /** Classes. */
  K: number;
  /** Where NC4's class means come from. */
  nc4MeansFrom: 'train' | 'eval';
  /** Samples of the `train` split used for NC4's means (when given). */
  trainSamples?: number;
  weightedMean: boolean;
  pinvTolerance: number;
  layers: LayerCollapse[];
  /** The final linear classifier used for NC3 (when found and it matches the features). */
  classifier?: { name: string; input: string; K: number; d: number };
  /** Balancedness ‖W_{l+1}ᵀW_{l+1} − W_l W_lᵀ‖_F / ‖W_l W_lᵀ‖_F of directly chained linear layers. */
  balancedness?: Array<{ lower: string; upper: string; value: number }>;
  /** Wall-clock seconds. */
  seconds: number;
}

const ACTIVATIONS = new Set([
  'Relu', 'LeakyRelu', 'PRelu', 'Gelu', 'Elu', 'Selu', 'Celu', 'Sigmoid', 'HardSigmoid', 'HardSwish',
  'Softplus', 'Softsign', 'Mish', 'Tanh', 'ThresholdedRelu', 'Swish',
]);
/** Ops a classifier's logits may pass through on their way to the graph output. */
const PASS_THROUGH = new Set(['Identity', 'Dropout', 'Flatten', 'Squeeze', 'Cast']);
/** Element-wise ops allowed between two linear layers for their balancedness to be reported. */
const POINTWISE = new Set([...ACTIVATIONS, 'Add', 'Sub', 'Mul', 'Div', 'Erf', 'Identity', 'Dropout', 'Cast', 'Flatten', 'Clip']);

function attrOf(node: NodeProto, name: string): { f?: number | null; i?: unknown } | undefined {
  return node.attribute.find((a) => a.name === name) as { f?: number | null; i?: unknown } | undefined;
}

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
      beta = attrOf(node, 'beta')?.f ?? 1;
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
  const feeds = new Map<string, string[]>();
  for (const v of views) {
    const list = feeds.get(v.inputName);
    if (list) list.push(v.name);
    else feeds.set(v.inputName, [v.name]);
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

function listOf(names: readonly string[], max = 24): string {
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

/** Class counts of labels[0..n): checks every class 0..K−1 occurs and at least two do. */
export function checkClasses(labels: Int32Array, n: number, K: number, what: string): void {
  const counts = new Float64Array(K);
  let distinct = 0;
  for (let i = 0; i < n; i++) {
    const y = labels[i]!;
    if (y >= K) {
      throw new SurgeonInputError(`${what} label ${y} of sample ${i} is outside the model's ${K} classes 0..${K - 1}; pass labels in 0..${K - 1}`);
    }
    if (counts[y]++ === 0) distinct++;
  }
  if (distinct < 2) {
    throw new SurgeonInputError(
      `collapse metrics need at least 2 classes but the ${what} labels hold ${distinct === 0 ? 'no samples' : `only class ${labels[0]}`}; pass a labelled set with every class`,
    );
  }
  for (let k = 0; k < K; k++) {
    if (counts[k] === 0) {
      throw new SurgeonInputError(
        `class ${k} has no samples among the ${n} ${what} labels (classes 0..${K - 1}); collapse metrics need every class, pass a set with samples of each`,
      );
    }
  }
}

function requireLabels(dataset: ClassificationDataset, what: string): Int32Array {
  if (dataset.kind !== 'classification') {
    throw new SurgeonInputError(`collapse needs a labelled classification set for the ${what} split, not token windows; pass --inputs FILE --labels FILE or --dataset fashion-mnist`);
  }
  if (!dataset.labels) throw new SurgeonInputError('collapse needs labels; pass --labels FILE or --dataset fashion-mnist');
  return dataset.labels;
}

function maxLabel(labels: Int32Array, n: number): number {
  let max = -1;
  for (let i = 0; i < n; i++) if (labels[i]! > max) max = labels[i]!;
  return max;
}

/** Per-sample features of `name` in a captured batch, checked for shape and type. */
function featuresOf(batch: CapturedBatch, name: string, dataset: ClassificationDataset, inputs: ReadonlySet<string>): { data: FeatureArray; shape: number[] } {
  if (inputs.has(name)) {
    const per = dataset.x.length / dataset.count;
    return { data: dataset.x.subarray(batch.start * per, (batch.start + batch.count) * per), shape: dataset.sampleShape.slice() };
  }
  const t = batch.tensors[name];
  if (!t) throw new Error(`captured batch lacks tensor '${name}'`);
  if (!(t.data instanceof Float32Array || t.data instanceof Float64Array)) {
    throw new SurgeonInputError(`tensor '${name}' holds ${t.type} values, not floats; pick a float activation tensor in --layers`);
  }
  if (t.dims[0] !== batch.count) {
    throw new SurgeonInputError(
      `tensor '${name}' has shape [${t.dims.join(', ')}] for a batch of ${batch.count} samples; pick a tensor with the batch on axis 0 in --layers`,
    );
  }
  return { data: t.data, shape: t.dims.slice(1) };
}

/** Arg-max of each row of logits (n × width), first index on ties. */
function argmaxRows(logits: ArrayLike<number>, n: number, width: number, out: Int32Array, offset: number): void {
  for (let i = 0; i < n; i++) {
    const o = i * width;
    let best = 0;
    let value = logits[o]!;
    for (let j = 1; j < width; j++) {
      const v = logits[o + j]!;
      if (v > value) {
        value = v;
        best = j;
      }
    }
    out[offset + i] = best;
  }
}

/**
 * Nearest-class-mean labels argmin_k ‖h_i − μ_k‖² of n samples (features n × d), the same rule
 * and the same per-sample summation order as `nearestClassMean` in ./nc4.ts (so bit-identical
 * results, ties to the lowest class), with four samples per sweep of each mean row. Features
 * must already be validated (finite, n × d).
 */
function nearestMeans(features: FeatureArray, n: number, K: number, d: number, mu: Float64Array | Float32Array, out: Int32Array): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const r0 = i * d;
    const r1 = r0 + d;
    const r2 = r1 + d;
    const r3 = r2 + d;
    let b0 = Infinity, b1 = Infinity, b2 = Infinity, b3 = Infinity;
    let k0 = 0, k1 = 0, k2 = 0, k3 = 0;
    for (let k = 0; k < K; k++) {
      const mo = k * d;
      let a0 = 0, a1 = 0, a2 = 0, a3 = 0;
      for (let j = 0; j < d; j++) {
        const m = mu[mo + j]!;
        const t0 = features[r0 + j]! - m;
        const t1 = features[r1 + j]! - m;
        const t2 = features[r2 + j]! - m;
        const t3 = features[r3 + j]! - m;
        a0 += t0 * t0;
        a1 += t1 * t1;
        a2 += t2 * t2;
        a3 += t3 * t3;
      }
      if (a0 < b0) { b0 = a0; k0 = k; }
      if (a1 < b1) { b1 = a1; k1 = k; }
      if (a2 < b2) { b2 = a2; k2 = k; }
      if (a3 < b3) { b3 = a3; k3 = k; }
    }
    out[i] = k0;
    out[i + 1] = k1;
    out[i + 2] = k2;
    out[i + 3] = k3;
  }
  for (; i < n; i++) {
    const r0 = i * d;
    let b0 = Infinity;
    let k0 = 0;
    for (let k = 0; k < K; k++) {
      const mo = k * d;
      let a0 = 0;
      for (let j = 0; j < d; j++) {
        const t0 = features[r0 + j]! - mu[mo + j]!;
        a0 += t0 * t0;
      }
      if (a0 < b0) { b0 = a0; k0 = k; }
    }
    out[i] = k0;
  }
}

interface LayerState {
  tensor: CollapseTensor;
  shape?: number[];
  d?: number;
  acc?: CollapseAccumulator;
  trainAcc?: ClassMeansAccumulator;
  trainMeans?: ClassMeans;
  /** NC4 disagreements so far (pass 2). */
  disagreements: number;
}

function sameShape(state: LayerState, shape: number[], split: string): void {
  if (state.shape === undefined) return;
  if (shape.length !== state.shape.length || shape.some((v, i) => v !== state.shape![i])) {
    throw new SurgeonInputError(
      `tensor '${state.tensor.name}' changes shape from [${state.shape.join(', ')}] to [${shape.join(', ')}] per sample on the ${split} split; measure tensors of a fixed per-sample shape`,
    );
  }
}

/**
 * Measures neural collapse (NC1–NC4, CDNV, ETF distances, class-mean ranks, see ./measure.ts)
 * of the selected tensors of `model` on a labelled `dataset`, streaming batches through one
 * capture session (see the module comment for the passes and the flattening of features).
 *
 * K is the width of the model's first output ([batch, K]; when that width is dynamic, the
 * largest label + 1, checked against the width on the first batch); every class 0..K−1 must
 * occur in the evaluated labels (and in `train`'s).
 *
 * @throws SurgeonInputError for missing labels, a missing class, a single class, non-finite
 *   features, unknown layer names, tensors without the batch on axis 0.
 */
export async function measureModelCollapse(model: OnnxModel, dataset: ClassificationDataset, options: ModelCollapseOptions = {}): Promise<ModelCollapse> {
  const started = performance.now();
  const labels = requireLabels(dataset, 'evaluated');
  if (options.limit !== undefined && !(Number.isInteger(options.limit) && options.limit > 0)) {
    throw new SurgeonInputError(`--limit ${options.limit}: expected a positive integer`);
  }
  const n = Math.min(dataset.count, options.limit ?? dataset.count);
  const train = options.train;
  const trainLabels = train ? requireLabels(train, 'train') : undefined;
  const outputName = model.outputs[0]?.name;
  if (!outputName) throw new SurgeonInputError('the model has no graph output; pass a classifier whose first output is [batch, classes]');
  const outDims = model.outputs[0]!.dims;
  const staticWidth = outDims.length === 2 && typeof outDims[1] === 'number' && outDims[1] > 0 ? outDims[1] : undefined;
  const K = staticWidth ?? Math.max(maxLabel(labels, n) + 1, trainLabels ? maxLabel(trainLabels, train!.count) + 1 : 0);
  checkClasses(labels, n, K, 'evaluated');
  if (train) checkClasses(trainLabels!, train.count, K, 'train');

  const views = findPrunableLayers(model);
  const tensors = selectCollapseTensors(model, options.layers ?? 'default');
  const classifier = findClassifier(model, views);
  const inputs = new Set(model.inputs.map((i) => i.name));
  const captured = [...new Set(tensors.map((t) => t.name).filter((name) => !inputs.has(name)))];
  const states: LayerState[] = tensors.map((tensor) => ({ tensor, disagreements: 0 }));
  const batchSize = options.batchSize ?? 128;
  const total = (train ? train.count : 0) + 2 * n;
  let done = 0;
  const progress = (count: number, phase: CollapsePhase) => {
    done += count;
    options.onProgress?.(done, total, phase);
  };

  const session = await captureSession(model, [...captured, outputName], { threads: options.threads ?? 2 });
  try {
    // Optional pass over the train split: class means for NC4.
    if (train) {
      await forEachBatch(session, train, captured, (batch) => {
        for (const state of states) {
          const { data, shape } = featuresOf(batch, state.tensor.name, train, inputs);
          if (!state.trainAcc) {
            state.shape = shape;
            state.d = data.length / batch.count;
            state.trainAcc = new ClassMeansAccumulator({ K, d: state.d, layer: state.tensor.name });
          }
          sameShape(state, shape, 'train');
          state.trainAcc.addBatch(data, batch.labels!, batch.count);
        }
        progress(batch.count, 'train');
      }, { batchSize });
      for (const state of states) {
        state.trainMeans = state.trainAcc!.finalize();
        delete state.trainAcc;
      }
    }

    // Pass 1: predictions, accuracy, class means.
    const predictions = new Int32Array(n);
    let correct = 0;
    let width: number | undefined;
    await forEachBatch(session, dataset, [...captured, outputName], (batch) => {
      const logits = batch.tensors[outputName]!;
      const w = logits.data.length / batch.count;
      if (!Number.isInteger(w) || w < 1 || logits.dims[0] !== batch.count) {
        throw new SurgeonInputError(`output '${outputName}' has shape [${logits.dims.join(', ')}] for a batch of ${batch.count}; pass a classifier whose first output is [batch, classes]`);
      }
      if (width === undefined) {
        width = w;
        // Only reachable with a dynamic output width: more outputs than labelled classes means
        // a class without samples; fewer means labels the model cannot predict.
        if (w > K) checkClasses(labels, n, w, 'evaluated');
        if (w < K) {
          throw new SurgeonInputError(`the model has ${w} output classes but the labels go up to ${K - 1}; pass labels in 0..${w - 1}`);
        }
      }
      argmaxRows(logits.data as Float32Array, batch.count, w, predictions, batch.start);
      const y = batch.labels!;
      for (let i = 0; i < batch.count; i++) if (predictions[batch.start + i] === y[i]) correct++;
      for (const state of states) {
        const { data, shape } = featuresOf(batch, state.tensor.name, dataset, inputs);
        if (!state.acc) {
          sameShape(state, shape, 'evaluated');
          state.shape = shape;
          state.d = data.length / batch.count;
          state.acc = new CollapseAccumulator({ K, d: state.d, layer: state.tensor.name });
        }
        sameShape(state, shape, 'evaluated');
        state.acc.addBatch(data, y, batch.count);
      }
      progress(batch.count, 'means');
    }, { batchSize, range: [0, n] });

    // Pass 2: within-class statistics and NC4 against the train (or own) class means.
    for (const state of states) {
      const own = state.acc!.startSecondPass();
      state.trainMeans ??= own;
    }
    const ncc = new Int32Array(batchSize);
    await forEachBatch(session, dataset, captured, (batch) => {
      const preds = predictions.subarray(batch.start, batch.start + batch.count);
      for (const state of states) {
        const { data } = featuresOf(batch, state.tensor.name, dataset, inputs);
        state.acc!.addBatch(data, batch.labels!, batch.count); // validates the batch (finite, n × d)
        nearestMeans(data, batch.count, K, state.d!, state.trainMeans!.means, ncc);
        for (let i = 0; i < batch.count; i++) if (ncc[i] !== preds[i]) state.disagreements++;
      }
      progress(batch.count, 'covariance');
    }, { batchSize, range: [0, n] });

    let classifierWeights: Classifier | undefined;
    let classifierInfo: ModelCollapse['classifier'];
    const layers: LayerCollapse[] = states.map((state) => {
      const stats = state.acc!.finalize();
      let cls: Classifier | undefined;
      if (state.tensor.penultimate && classifier && classifier.K === K && classifier.d === state.d) {
        if (!classifierWeights) {
          const { W, b } = classifier.read();
          classifierWeights = { W, K, d: classifier.d, ...(b ? { b } : {}) };
          classifierInfo = { name: classifier.layer, input: classifier.input, K, d: classifier.d };
        }
        cls = classifierWeights;
      }
      const m = measureCollapse(stats, {
        ...(cls ? { classifier: cls } : {}),
        ...(options.weightedMean !== undefined ? { weightedMean: options.weightedMean } : {}),
        ...(options.pinvTolerance !== undefined ? { pinvTolerance: options.pinvTolerance } : {}),
      });
      const row: LayerCollapse = {
        name: state.tensor.name,
        ...(state.tensor.feeds.length > 0 ? { layer: state.tensor.feeds[0]! } : {}),
        feeds: state.tensor.feeds,
        role: state.tensor.role,
        ...(state.tensor.penultimate ? { penultimate: true as const } : {}),
        shape: state.shape!,
        d: m.d,
        nc1: m.nc1,
        nc1Kept: m.nc1Kept,
        traceRatio: m.traceRatio,
        cdnv: m.cdnv,
        withinTotalRatio: m.withinTotalRatio,
        etf: m.etf,
        equinorm: m.equinorm,
        ...(m.equinormW !== undefined ? { equinormW: m.equinormW } : {}),
        equiangularity: m.equiangularity,
        equiangularityMaxDev: m.equiangularityMaxDev,
        orthogonalFrame: m.orthogonalFrame,
        ...(m.nc3 !== undefined ? { nc3: m.nc3, nc3Dual: m.nc3Dual! } : {}),
        nc4: state.disagreements / n,
        effectiveRank: m.effectiveRank,
        numericalRank: m.numericalRank,
        stableRank: m.stableRank,
        rankThreshold: m.rankThreshold,
        traceWithin: m.traceWithin,
        traceBetween: m.traceBetween,
      };
      return row;
    });

    const bal = options.balancedness === false ? [] : modelBalancedness(model, views);
    const result: ModelCollapse = {
      accuracy: correct / n,
      samples: n,
      K,
      nc4MeansFrom: train ? 'train' : 'eval',
      ...(train ? { trainSamples: train.count } : {}),
      weightedMean: options.weightedMean === true,
      pinvTolerance: options.pinvTolerance ?? 1e-6,
      layers,
      ...(classifierInfo ? { classifier: classifierInfo } : {}),
      ...(bal.length > 0 ? { balancedness: bal } : {}),
      seconds: (performance.now() - started) / 1000,
    };
    return result;
  } finally {
    await session.release();
  }
}
