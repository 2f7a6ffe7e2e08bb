/**
 * TensorFlow.js graph models (tfjs-converter's frozen-graph `model.json`, format "graph-model"):
 * loading through surgeon's file IO, finding prunable weights, reading and writing their views,
 * and saving with model.json unchanged and only the pruned weights rewritten in the shards.
 * ../network/tfjs-graph.ts wraps them as a Network, which the shared pipeline prunes.
 *
 * Prunable: MatMul / _FusedMatMul (weight on the right, no transpose_a), Conv2D / _FusedConv2D
 * and DepthwiseConv2dNative in NHWC, whose weight input is a float32 Const of the manifest.
 * Views (rows = outputs): MatMul [in, out] → out × in (transpose_b: the weight itself);
 * Conv2D HWIO [kh, kw, ci, co] → co × (kh·kw·ci); depthwise [kh, kw, C, M] → one M × (kh·kw)
 * problem per input channel (each channel sees only its own patches).
 * Conv inputs become rows by {@link im2colNhwc} (the shared im2col of ../network/conv.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { sparsifyTfjsFiles, type TfjsSaveOptions } from './sparse.js';
import { SurgeonInputError } from '../errors.js';
import { artifactsOf, readModelFile, replacedFiles, writeFolderAtomic, type TfjsModelFile } from './io.js';
import { kernelToView, viewToKernel } from './model.js';
import { im2col, type ConvGeometry } from '../network/conv.js';

/** Convolution geometry of a graph node (NHWC). */
export interface GraphConv {
  kernel: [number, number];
  strides: [number, number];
  dilations: [number, number];
  /** Explicit [top, left, bottom, right] pads, or TF's SAME/VALID rule. */
  padding: 'SAME' | 'VALID' | [number, number, number, number];
}

/** One prunable weight of a graph model. */
export interface GraphLayer {
  node: string;
  op: string;
  /** Const node (= manifest entry) holding the weight. */
  weight: string;
  /** The node output feeding the layer (what `execute` captures). */
  activation: string;
  kind: 'matmul' | 'conv2d' | 'depthwise';
  shape: number[];
  rows: number;
  cols: number;
  transposeB?: boolean;
  conv?: GraphConv;
}

/** A loaded graph model with its files and prunable layers. */
export interface LoadedGraphModel {
  model: tf.GraphModel;
  file: TfjsModelFile;
  layers: GraphLayer[];
}

interface NodeDef {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, { b?: boolean; s?: string; list?: { i?: Array<string | number> } }>;
}

const decode = (s: string | undefined) => (s === undefined ? undefined : Buffer.from(s, 'base64').toString('utf8'));
const ints = (a: NodeDef['attr'] extends infer T ? T : never, key: string) => (a?.[key]?.list?.i ?? []).map(Number);

/** The prunable layers of a graph model's GraphDef (see the module comment), in graph order. */
export function findGraphLayers(file: TfjsModelFile): GraphLayer[] {
  const nodes = ((file.json.modelTopology as { node?: NodeDef[] }).node ?? []);
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const weights = new Map(file.weights.map((w) => [w.name, w]));
  const out: GraphLayer[] = [];
  for (const node of nodes) {
    const kind = node.op === 'MatMul' || node.op === '_FusedMatMul' ? 'matmul' : node.op === 'Conv2D' || node.op === '_FusedConv2D' ? 'conv2d' : node.op === 'DepthwiseConv2dNative' ? 'depthwise' : undefined;
    if (!kind || !node.input || node.input.length < 2) continue;
    const weight = node.input[1]!.replace(/:0$/, '');
    const w = weights.get(weight);
    if (byName.get(weight)?.op !== 'Const' || !w || w.dtype !== 'float32' || w.quantized) continue;
    const a = node.attr;
    const layer: GraphLayer = { node: node.name, op: node.op, weight, activation: node.input[0]!, kind, shape: w.shape, rows: 0, cols: 0 };
    if (kind === 'matmul') {
      if (a?.transpose_a?.b || w.shape.length !== 2) continue;
      layer.transposeB = Boolean(a?.transpose_b?.b);
      [layer.rows, layer.cols] = layer.transposeB ? [w.shape[0]!, w.shape[1]!] : [w.shape[1]!, w.shape[0]!];
    } else {
      if ((decode(a?.data_format?.s) ?? 'NHWC') !== 'NHWC' || w.shape.length !== 4) continue;
      const [kh, kw, ci, co] = w.shape as [number, number, number, number];
      const strides = ints(a, 'strides');
      const dil = ints(a, 'dilations');
      const pad = decode(a?.padding?.s) ?? 'VALID';
      const ex = ints(a, 'explicit_paddings');
      layer.conv = {
        kernel: [kh, kw],
        strides: [strides[1] ?? 1, strides[2] ?? 1],
        dilations: [dil[1] ?? 1, dil[2] ?? 1],
        padding: pad === 'EXPLICIT' ? [ex[2] ?? 0, ex[4] ?? 0, ex[3] ?? 0, ex[5] ?? 0] : pad === 'SAME' ? 'SAME' : 'VALID',
      };
      [layer.rows, layer.cols] = kind === 'conv2d' ? [co, kh * kw * ci] : [ci * co, kh * kw];
    }
    out.push(layer);
  }
  return out;
}

/**
 * Loads a graph model from a folder, a model.json path or a `file://` URL.
 * @throws SurgeonInputError for missing files or shards, layers models, graphs tfjs cannot run.
 */
export async function loadTfjsGraphModel(path: string): Promise<LoadedGraphModel> {
  return loadTfjsGraphModelFile(readModelFile(path));
}

/**
 * Loads a graph model from an already read model file (a fresh model with the file's weights).
 * @throws SurgeonInputError for layers models and graphs tfjs cannot run.
 */
export async function loadTfjsGraphModelFile(file: TfjsModelFile): Promise<LoadedGraphModel> {
  if (file.format !== 'graph-model') throw new SurgeonInputError(`${file.path}: a tfjs layers model, not a graph model; load it with loadTfjsModel`);
  try {
    const model = await tf.loadGraphModel({ load: async () => artifactsOf(file) });
    return { model, file, layers: findGraphLayers(file) };
  } catch (error) {
    throw new SurgeonInputError(`${file.path}: tfjs cannot load the graph (${String((error as Error).message ?? error).split('\n')[0]}); re-export it with tensorflowjs_converter`);
  }
}

/**
 * im2col of an NHWC activation `x` [B, H, W, C] for channels c0..c0+count: one row per output
 * position, columns in the HWIO filter's order (i, j, c): X[(b, oh, ow), (i·kw + j)·count + c].
 * A thin wrapper over the shared {@link im2col} (../network/conv.ts); `c0` must be a multiple of `count`.
 */
export function im2colNhwc(x: ArrayLike<number>, dims: readonly number[], conv: GraphConv, c0 = 0, count = dims[3]!): { X: Float32Array; n: number; d: number } {
  if (c0 % count !== 0) throw new Error(`internal: im2colNhwc channels ${c0}..${c0 + count - 1} are not a group of ${count}`);
  return im2col(x, dims, graphGeometry(conv, count, c0 / count), { layout: 'NHWC', columnOrder: 'kh-kw-c' });
}

/** The shared geometry of a graph conv for the view of `channelsPerGroup` channels of group `group`. */
export function graphGeometry(conv: GraphConv, channelsPerGroup: number, group = 0): ConvGeometry {
  return { kernel: conv.kernel, strides: conv.strides, dilations: conv.dilations, padding: conv.padding, channelsPerGroup, group };
}

/**
 * Replaces a constant of a loaded graph model. Through the executor's weightMap setter, which
 * also records the new tensor's id as a weight so that execution never disposes it.
 */
export function setGraphWeight(model: tf.GraphModel, name: string, tensor: tf.Tensor): void {
  const executor = (model as unknown as { executor?: { weightMap: Record<string, tf.Tensor[]> } }).executor;
  if (!executor) throw new Error('setGraphWeight: this tfjs-converter version has no GraphModel.executor');
  executor.weightMap = { ...model.weights, [name]: [tensor] };
}

/**
 * The view of a layer's weight `values` (stored layout) as rows × cols: the whole weight for
 * MatMul / Conv2D (`channel` −1), one input channel's M × (kh·kw) filters for a depthwise weight.
 */
export function readGraphView(layer: GraphLayer, values: ArrayLike<number>, channel = -1): Float32Array {
  if (layer.kind === 'matmul') return layer.transposeB ? Float32Array.from(values) : kernelToView(values, layer.rows, layer.cols);
  if (layer.kind === 'conv2d') return kernelToView(values, layer.rows, layer.cols);
  const [kh, kw, C, M] = layer.shape as [number, number, number, number];
  if (!(channel >= 0 && channel < C)) throw new Error(`internal: depthwise weight ${layer.weight} has no channel ${channel}`);
  const W = new Float32Array(M * kh * kw);
  for (let p = 0; p < kh * kw; p++) for (let m = 0; m < M; m++) W[m * kh * kw + p] = values[(p * C + channel) * M + m]!;
  return W;
}

/** Writes a view `W` (see {@link readGraphView}) back into the weight's stored layout `out`. */
export function writeGraphView(layer: GraphLayer, W: ArrayLike<number>, channel: number, out: Float32Array): void {
  if (layer.kind === 'matmul') out.set(layer.transposeB ? W : viewToKernel(W, layer.rows, layer.cols));
  else if (layer.kind === 'conv2d') out.set(viewToKernel(W, layer.rows, layer.cols));
  else {
    const [kh, kw, C, M] = layer.shape as [number, number, number, number];
    if (!(channel >= 0 && channel < C)) throw new Error(`internal: depthwise weight ${layer.weight} has no channel ${channel}`);
    for (let p = 0; p < kh * kw; p++) for (let m = 0; m < M; m++) out[(p * C + channel) * M + m] = W[m * kh * kw + p]!;
  }
}

/**
 * Saves `loaded` with its current weights to `outDir`: model.json byte-identical, shards with the
 * same layout, only the prunable weights rewritten. Atomic; never the input folder. Returns the
 * path of the written model.json.
 */
export function saveGraphModel(loaded: LoadedGraphModel, outDir: string, options: TfjsSaveOptions = {}): string {
  const changed = new Map<string, Float32Array>();
  for (const layer of loaded.layers) {
    const t = loaded.model.weights[layer.weight]?.[0];
    if (t) changed.set(layer.weight, Float32Array.from(t.dataSync() as Float32Array));
  }
  const files = replacedFiles(loaded.file, changed);
  if (options.storage !== 'sparse') return writeFolderAtomic(outDir, files, loaded.file.dir);
  const encoded = sparsifyTfjsFiles(files);
  options.sparse?.push(...encoded.sparse);
  return writeFolderAtomic(outDir, encoded.files, loaded.file.dir);
}
