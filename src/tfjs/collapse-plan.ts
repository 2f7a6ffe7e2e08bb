/**
 * Which tensors of a TensorFlow.js layers model neural collapse is measured on, its final linear
 * classifier, and the balancedness of chained Dense layers — the tfjs counterparts of
 * selectCollapseTensors, findClassifier and modelBalancedness in ../collapse/select.ts.
 *
 * A tensor is named by the layer that produces it (the model input by its InputLayer's name),
 * so `fc1` is fc1's output (after its fused activation). In `layers` lists, a layer name stands
 * for that layer's output and a prunable weight name (`fc2/kernel`) for that layer's input — the
 * ONNX convention, where a prunable layer's name stands for its input.
 */
import * as tf from '@tensorflow/tfjs';
import { SurgeonInputError } from '../errors.js';
import { balancedness } from '../collapse/balancedness.js';
import { listOf, type CollapseTensor, type LayerSelection, type TensorRole } from '../collapse/select.js';
import { prunableViews, readView, type TfjsLayerView } from './model.js';

/** A tensor to measure, with its symbolic handle in the model's graph. */
export interface TfjsCollapseTensor extends CollapseTensor {
  symbolic: tf.SymbolicTensor;
  /** True when the tensor is a model input (its features are the data themselves). */
  isInput: boolean;
}

/** The final Dense layer of a tfjs classifier (see {@link findTfjsClassifier}). */
export interface TfjsClassifier {
  /** Layer name. */
  layer: string;
  /** Name of its input tensor (the penultimate features). */
  input: string;
  symbolic: tf.SymbolicTensor;
  K: number;
  d: number;
  /** W (K × d, rows = classes) and the bias, when the layer has one. */
  read(): { W: Float32Array; b?: Float32Array };
}

/** Layers a classifier's logits may pass through on their way to the model output. */
const PASS_THROUGH = new Set(['Activation', 'Softmax', 'Dropout', 'Flatten', 'Reshape']);
/** Layers allowed between two Dense layers for their balancedness to be reported. */
const POINTWISE = new Set(['Activation', 'ReLU', 'LeakyReLU', 'ELU', 'PReLU', 'ThresholdedReLU', 'Dropout', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout']);

/** The single input of `layer`, or undefined for multi-input / shared layers. */
export function singleInput(layer: tf.layers.Layer): tf.SymbolicTensor | undefined {
  try {
    const input = layer.input;
    return Array.isArray(input) ? (input.length === 1 ? input[0] : undefined) : input;
  } catch {
    return undefined;
  }
}

/** Name of a symbolic tensor: its producing layer's name. */
export function tensorName(t: tf.SymbolicTensor): string {
  return t.sourceLayer.name;
}

/** The prunable views whose layer is a top-level layer of `model` (nested models are not measured). */
function topViews(model: tf.LayersModel): TfjsLayerView[] {
  const top = new Set(model.layers.map((l) => l.name));
  return prunableViews(model).filter((v) => top.has(v.layer));
}

/**
 * The final linear classifier: the Dense layer whose output reaches the model's first output
 * through only Activation/Softmax/Dropout/Flatten/Reshape layers, applied to rank-2 features.
 * W = kernelᵀ (K × d), b its bias. Undefined when there is none.
 */
export function findTfjsClassifier(model: tf.LayersModel): TfjsClassifier | undefined {
  let layer: tf.layers.Layer | undefined = model.outputs[0]?.sourceLayer as tf.layers.Layer | undefined;
  for (let hops = 0; layer && hops < 8; hops++) {
    if (layer.getClassName() === 'Dense') break;
    if (!PASS_THROUGH.has(layer.getClassName())) return undefined;
    layer = singleInput(layer)?.sourceLayer as tf.layers.Layer | undefined;
  }
  if (!layer || layer.getClassName() !== 'Dense') return undefined;
  const input = singleInput(layer);
  if (!input || input.shape.length !== 2) return undefined;
  const kernel = layer.getWeights()[0]!;
  const [d, K] = kernel.shape as [number, number];
  const dense = layer;
  return {
    layer: dense.name,
    input: tensorName(input),
    symbolic: input,
    K,
    d,
    read() {
      const [k, bias] = dense.getWeights();
      const kv = k!.dataSync();
      const W = new Float32Array(K * d);
      for (let i = 0; i < d; i++) for (let c = 0; c < K; c++) W[c * d + i] = kv[i * K + c]!;
      return bias ? { W, b: Float32Array.from(bias.dataSync()) } : { W };
    },
  };
}

/**
 * Plans the tensors to measure, in graph order: 'default' the inputs of every prunable layer
 * (which include the penultimate features), 'penultimate' only the classifier's input, 'all'
 * default plus every other layer's output except the model output, or a list of names (see the
 * module comment).
 * @throws SurgeonInputError for an unknown name (listing the valid ones) or 'penultimate' without a classifier.
 */
export function selectTfjsCollapseTensors(model: tf.LayersModel, selection: LayerSelection = 'default'): TfjsCollapseTensor[] {
  const views = topViews(model);
  const classifier = findTfjsClassifier(model);
  const inputs = new Set(model.inputs.map(tensorName));
  const feeds = new Map<string, string[]>();
  const symbolic = new Map<string, tf.SymbolicTensor>();
  for (const t of model.inputs) symbolic.set(tensorName(t), t);
  for (const layer of model.layers) {
    try {
      const out = layer.output;
      if (!Array.isArray(out)) symbolic.set(layer.name, out);
    } catch {
      // a shared layer has no single output; it cannot be named
    }
  }
  const byWeight = new Map<string, string>();
  for (const v of views) {
    const input = singleInput(model.getLayer(v.layer));
    if (!input) continue;
    const name = tensorName(input);
    symbolic.set(name, input);
    byWeight.set(v.name, name);
    const list = feeds.get(name) ?? [];
    if (!list.includes(v.layer)) list.push(v.layer);
    feeds.set(name, list);
  }
  const position = new Map(model.layers.map((l, i) => [l.name, i]));
  const order = (a: TfjsCollapseTensor, b: TfjsCollapseTensor) => (position.get(a.name) ?? -1) - (position.get(b.name) ?? -1);
  const make = (name: string, role: TensorRole): TfjsCollapseTensor => ({
    name,
    feeds: feeds.get(name) ?? [],
    penultimate: name === classifier?.input,
    role,
    symbolic: symbolic.get(name)!,
    isInput: inputs.has(name),
  });

  if (selection === 'penultimate') {
    if (!classifier) {
      throw new SurgeonInputError('no final Dense classifier found (a Dense layer on [batch, d] features feeding the model output); pass --layers with layer names instead of penultimate');
    }
    return [make(classifier.input, 'layer-input')];
  }
  const defaults = [...feeds.keys()].map((name) => make(name, 'layer-input'));
  if (selection === 'default') return defaults.sort(order);
  const outputs = new Set(model.outputs.map(tensorName));
  if (selection === 'all') {
    const seen = new Set(defaults.map((t) => t.name));
    const all = defaults.slice();
    for (const name of symbolic.keys()) {
      if (seen.has(name) || outputs.has(name) || inputs.has(name)) continue;
      seen.add(name);
      all.push(make(name, 'activation'));
    }
    return all.sort(order);
  }
  const picked: TfjsCollapseTensor[] = [];
  const seen = new Set<string>();
  for (const raw of selection) {
    const name = raw.trim();
    if (!name) continue;
    const tensor = symbolic.has(name) ? name : byWeight.get(name);
    if (tensor === undefined) {
      throw new SurgeonInputError(
        `unknown layer '${name}'; valid: penultimate, all, a layer name for its output (${listOf([...symbolic.keys()])}) or a prunable weight for its input (${listOf([...byWeight.keys()])})`,
      );
    }
    if (seen.has(tensor)) continue;
    seen.add(tensor);
    picked.push(make(tensor, feeds.has(tensor) ? 'layer-input' : 'named'));
  }
  if (picked.length === 0) throw new SurgeonInputError('--layers is empty; pass penultimate, all, or comma-separated layer/weight names');
  return picked.sort(order);
}

/**
 * Balancedness (Jacot et al. 2025, ../collapse/balancedness.ts) of every pair of Dense layers
 * where the upper one's input is the lower one's output, possibly through activation/dropout
 * layers, and the shapes chain.
 */
export function tfjsBalancedness(model: tf.LayersModel): Array<{ lower: string; upper: string; value: number }> {
  const dense = topViews(model).filter((v) => v.className === 'Dense' && v.shape.length === 2);
  const byLayer = new Map(dense.map((v) => [v.layer, v]));
  const out: Array<{ lower: string; upper: string; value: number }> = [];
  for (const upper of dense) {
    let source = singleInput(model.getLayer(upper.layer))?.sourceLayer as tf.layers.Layer | undefined;
    for (let hops = 0; source && POINTWISE.has(source.getClassName()) && hops < 8; hops++) {
      source = singleInput(source)?.sourceLayer as tf.layers.Layer | undefined;
    }
    const lower = source ? byLayer.get(source.name) : undefined;
    if (!lower || upper.cols !== lower.rows) continue;
    const value = balancedness({ W: readView(lower), rows: lower.rows, cols: lower.cols, name: lower.layer }, { W: readView(upper), rows: upper.rows, cols: upper.cols, name: upper.layer });
    out.push({ lower: lower.layer, upper: upper.layer, value });
  }
  return out;
}
