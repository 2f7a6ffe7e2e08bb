/**
 * TensorFlow.js layers models as a {@link Network}. The prunable kernels are those of
 * ../tfjs/model.ts (Dense, Conv2D, Conv1D, DepthwiseConv2D per input channel, kernels of
 * composite layers such as MultiHeadAttention without calibration); a batch runs through a
 * sub-model `tf.model({inputs: model.inputs, outputs})` sharing the model's layers, so any
 * symbolic tensor of the model's graph can be fetched.
 *
 * Tensor names: a symbolic tensor is named by the layer producing it (the model inputs by their
 * InputLayer's name), the convention of ../tfjs/collapse-plan.ts; a layer applied several times
 * (shared) names the output of its k-th application `layer@k`, and a layer with several outputs
 * its i-th output `layer:i`.
 *
 * Sample rows, in the column order of the kernel's view (../tfjs/model.ts): Dense → the rows of
 * the last axis (tokens flattened); Conv2D → NHWC im2col (NCHW for `channelsFirst`), columns
 * (kh, kw, c) as in the HWIO kernel, honouring padding, strides and dilation_rate; Conv1D → the
 * same with a unit height; DepthwiseConv2D channel c → that channel's kh·kw patches.
 */
import * as tf from '@tensorflow/tfjs';
import { SurgeonInputError } from '../errors.js';
import { listOf, type CollapseTensor, type LayerSelection, type ModelClassifier } from '../collapse/select.js';
import type { ModelInputInfo } from '../io/dataset.js';
import type { NamedTensor } from '../runtime/session.js';
import { currentBackend, parseBackend, selectBackend } from '../tfjs/backend.js';
import { findTfjsClassifier, selectTfjsCollapseTensors, tfjsBalancedness } from '../tfjs/collapse-plan.js';
import { loadTfjsModel, loadTfjsModelFile, prunableViews, readView, saveTfjsModel, writeView, type LoadedTfjsModel, type TfjsLayerView } from '../tfjs/model.js';
import { im2col, im2colShape, type ConvGeometry, type ConvLayout } from './conv.js';
import { asSparseReport } from './tfjs-common.js';
import type { TfjsSparseReport } from '../tfjs/sparse.js';
import { refuseTfjsQuantize } from '../tfjs/path.js';
import { asNamedTensor, fedAsFloat, feedTensors, folderBytes, leafLayers, refuseInputFolder, symbolicDims, Lifetime } from './tfjs-common.js';
import type { CollapsePlan, Feeds, LayerSamples, LayerUse, Network, NetworkLayer, NetworkOutput, NetworkRunner, NetworkSummary, OpenNetworkOptions, SavedNetwork, SaveNetworkOptions, SkippedNode } from './types.js';

/** A node of the Keras graph (one application of a layer); tfjs does not export the class. */
type KerasNode = tf.layers.Layer['inboundNodes'][number];

/** The model's graph: its nodes in topological order and a name for every tensor. */
interface KerasGraph {
  /** Nodes of the model (not of nested models), inputs first. */
  nodes: KerasNode[];
  byName: Map<string, tf.SymbolicTensor>;
  nameOf: Map<tf.SymbolicTensor, string>;
}

/** How a prunable kernel reads its input. */
type ReadMode = { kind: 'rows' } | { kind: 'conv'; geometry: ConvGeometry; layout: ConvLayout };

const CONV_CLASSES = new Set(['Conv2D', 'Conv1D', 'DepthwiseConv2D']);

/** Walks the model's nodes (deepest first = topological) and names every tensor. */
function kerasGraph(model: tf.LayersModel): KerasGraph {
  // A Sequential model builds its graph lazily (on the first predict or summary).
  if (model instanceof tf.Sequential && (model as unknown as { model?: unknown }).model == null) model.build();
  const byDepth = (model as unknown as { nodesByDepth?: Record<string, KerasNode[]> }).nodesByDepth;
  if (!byDepth) throw new SurgeonInputError(`model '${model.name}' is not built (no graph of layers); build it with an input shape before opening it`);
  const depths = Object.keys(byDepth).map(Number).sort((a, b) => b - a);
  const nodes = depths.flatMap((d) => byDepth[String(d)] ?? []);
  const count = new Map<tf.layers.Layer, number>();
  for (const node of nodes) count.set(node.outboundLayer, (count.get(node.outboundLayer) ?? 0) + 1);
  const byName = new Map<string, tf.SymbolicTensor>();
  const nameOf = new Map<tf.SymbolicTensor, string>();
  for (const node of nodes) {
    const layer = node.outboundLayer;
    const shared = (count.get(layer) ?? 0) > 1;
    const k = layer.inboundNodes.indexOf(node);
    node.outputTensors.forEach((t, i) => {
      if (nameOf.has(t)) return;
      const name = `${layer.name}${shared ? `@${k}` : ''}${node.outputTensors.length > 1 ? `:${i}` : ''}`;
      byName.set(name, t);
      nameOf.set(t, name);
    });
  }
  return { nodes, byName, nameOf };
}

/** A number or a list of numbers as a list of `n` numbers. */
function tuple(value: unknown, n: number, fill: number): number[] {
  if (typeof value === 'number') return new Array<number>(n).fill(value);
  if (Array.isArray(value)) return Array.from({ length: n }, (_, i) => Number(value[i] ?? value[0] ?? fill));
  return new Array<number>(n).fill(fill);
}

/** How `view`'s layer reads its input (see the module comment). */
function readMode(view: TfjsLayerView): ReadMode {
  if (!CONV_CLASSES.has(view.className)) return { kind: 'rows' };
  const config = view.owner.getConfig() as Record<string, unknown>;
  const layout: ConvLayout = config['dataFormat'] === 'channelsFirst' ? 'NCHW' : 'NHWC';
  const padding = String(config['padding'] ?? 'valid');
  if (view.className === 'Conv1D') {
    const [k] = tuple(config['kernelSize'], 1, 1) as [number];
    const [s] = tuple(config['strides'], 1, 1) as [number];
    const [d] = tuple(config['dilationRate'], 1, 1) as [number];
    return {
      kind: 'conv',
      layout,
      geometry: {
        kernel: [1, k],
        strides: [1, s],
        dilations: [1, d],
        padding: padding === 'same' ? 'SAME' : padding === 'causal' ? [0, (k - 1) * d, 0, 0] : 'VALID',
        channelsPerGroup: view.shape[1]!,
        group: 0,
      },
    };
  }
  const [kh, kw] = tuple(config['kernelSize'], 2, 1) as [number, number];
  const [sh, sw] = tuple(config['strides'], 2, 1) as [number, number];
  const [dh, dw] = tuple(config['dilationRate'], 2, 1) as [number, number];
  const depthwise = view.className === 'DepthwiseConv2D';
  return {
    kind: 'conv',
    layout,
    geometry: { kernel: [kh, kw], strides: [sh, sw], dilations: [dh, dw], padding: padding === 'same' ? 'SAME' : 'VALID', channelsPerGroup: depthwise ? 1 : view.shape[2]!, group: 0 },
  };
}

/** The sample rows of a captured input for a layer of `cols` columns read with `mode`. */
function samplesOf(name: string, input: string, mode: ReadMode, cols: number, tensor: NamedTensor): LayerSamples {
  if (!(tensor.data instanceof Float32Array)) {
    throw new SurgeonInputError(`layer ${name}: its input '${input}' is ${tensor.type}, not a float tensor; only float activations can be calibrated`);
  }
  if (mode.kind === 'rows') {
    const d = tensor.dims[tensor.dims.length - 1]!;
    if (d !== cols) throw new Error(`internal: layer ${name} expects ${cols} inputs per sample, its activation '${input}' gives ${d}`);
    const n = tensor.data.length / d;
    return { X: tensor.data.subarray(0, n * d), n };
  }
  const { n, d } = im2colShape(tensor.dims, mode.geometry, mode.layout);
  if (d !== cols) throw new Error(`internal: layer ${name} expects ${cols} inputs per sample, its activation '${input}' gives ${d}`);
  return { X: im2col(tensor.data, tensor.dims, mode.geometry, { layout: mode.layout, columnOrder: 'kh-kw-c' }).X, n };
}

/** Views by NetworkLayer: one per kernel, one per input channel of a depthwise kernel. */
interface LayerEntry {
  layer: NetworkLayer;
  view: TfjsLayerView;
  /** The Keras nodes using the kernel (empty when uncapturable because nested). */
  nodes: KerasNode[];
}

/** A TF.js layers model as a {@link Network}. */
export class TfjsLayersNetwork implements Network {
  readonly format = 'tfjs-layers' as const;
  readonly inputs: readonly ModelInputInfo[];
  readonly outputs: readonly NetworkOutput[];
  readonly gradients: { kind: 'tfjs-layers'; loaded: LoadedTfjsModel };
  private readonly graph: KerasGraph;
  private cached: LayerEntry[] | undefined;
  private readonly life = new Lifetime(() => this.model.dispose());

  /** Wraps a loaded model (the network owns it from now on). */
  constructor(readonly loaded: LoadedTfjsModel) {
    const { model } = loaded;
    this.graph = kerasGraph(model);
    this.inputs = model.inputs.map((t, i) => ({ name: model.inputNames[i]!, elemType: t.dtype, dims: symbolicDims(t.shape), hasShape: true }));
    this.outputs = model.outputs.map((t) => ({ name: this.graph.nameOf.get(t) ?? t.sourceLayer.name, elemType: t.dtype, dims: symbolicDims(t.shape) }));
    this.gradients = { kind: 'tfjs-layers', loaded };
  }

  get path(): string | undefined {
    return this.loaded.file.path;
  }

  /** The live tfjs model. */
  get model(): tf.LayersModel {
    return this.loaded.model;
  }

  private entries(): LayerEntry[] {
    if (this.cached) return this.cached;
    const usesOf = new Map<tf.layers.Layer, KerasNode[]>();
    for (const node of this.graph.nodes) {
      const list = usesOf.get(node.outboundLayer) ?? [];
      list.push(node);
      usesOf.set(node.outboundLayer, list);
    }
    const entries: LayerEntry[] = [];
    for (const view of prunableViews(this.model)) {
      const nodes = usesOf.get(view.owner) ?? [];
      const mode = readMode(view);
      let uncapturable: string | undefined;
      if (!CONV_CLASSES.has(view.className) && view.className !== 'Dense') {
        uncapturable = `its input is computed inside the ${view.className} layer '${view.layer}'; calibration cannot capture it (data-free methods such as magnitude still prune it)`;
      } else if (nodes.length === 0) {
        uncapturable = `layer '${view.layer}' is inside a nested model, whose tensors cannot be fetched from the outer model; flatten the model to calibrate it`;
      } else if (nodes.some((n) => n.inputTensors.length !== 1 || !this.graph.nameOf.has(n.inputTensors[0]!))) {
        uncapturable = `layer '${view.layer}' does not take a single tensor of the model's graph`;
      }
      const uses = (channel: number, cols: number): LayerUse[] => {
        const m: ReadMode = mode.kind === 'conv' && channel >= 0 ? { ...mode, geometry: { ...mode.geometry, group: channel } } : mode;
        if (uncapturable || nodes.length === 0) {
          const reason = uncapturable!;
          const label = channel >= 0 ? `${view.name}#c${channel}` : view.name;
          return [{ node: view.layer, input: `${view.layer}/input`, samples: () => { throw new SurgeonInputError(`layer ${label}: ${reason}`); } }];
        }
        return nodes.map((n) => {
          const input = this.graph.nameOf.get(n.inputTensors[0]!)!;
          const k = view.owner.inboundNodes.indexOf(n);
          const label = channel >= 0 ? `${view.name}#c${channel}` : view.name;
          return { node: nodes.length > 1 ? `${view.layer}@${k}` : view.layer, input, samples: (t: NamedTensor) => samplesOf(label, input, m, cols, t) };
        });
      };
      const keyOf = (list: LayerUse[], m: ReadMode, channel: number) =>
        list.map((u) => `${u.input}|${m.kind === 'rows' ? 'rows' : JSON.stringify({ ...m.geometry, group: channel < 0 ? 0 : channel, layout: m.layout })}`).join('+');
      const detail = { layer: view.layer, className: view.className, kernelShape: view.shape.slice() };
      if (view.className === 'DepthwiseConv2D') {
        const [kh, kw, C, M] = view.shape as [number, number, number, number];
        const K = kh * kw;
        for (let c = 0; c < C; c++) {
          const list = uses(c, K);
          entries.push({
            view,
            nodes,
            layer: {
              name: `${view.name}#c${c}`,
              op: view.className,
              node: list[0]!.node,
              weight: view.name,
              rows: M,
              cols: K,
              uses: list,
              sampleKey: keyOf(list, mode, c),
              ...(uncapturable ? { uncapturable } : {}),
              detail: { ...detail, channel: c },
              read: () => readView(view).slice(c * M * K, (c + 1) * M * K),
              write: (W) => {
                if (W.length !== M * K) throw new Error(`internal: layer ${view.name}#c${c} takes ${M * K} weights, got ${W.length}`);
                const all = readView(view);
                all.set(W, c * M * K);
                writeView(view, all);
              },
            },
          });
        }
        continue;
      }
      const list = uses(-1, view.cols);
      entries.push({
        view,
        nodes,
        layer: {
          name: view.name,
          op: view.className,
          node: list[0]!.node,
          weight: view.name,
          rows: view.rows,
          cols: view.cols,
          uses: list,
          sampleKey: keyOf(list, mode, -1),
          ...(uncapturable ? { uncapturable } : {}),
          detail,
          read: () => readView(view),
          write: (W) => {
            if (W.length !== view.rows * view.cols) throw new Error(`internal: layer ${view.name} takes ${view.rows * view.cols} weights, got ${W.length}`);
            writeView(view, W);
          },
        },
      });
    }
    this.cached = entries;
    return entries;
  }

  layers(): NetworkLayer[] {
    return this.entries().map((e) => e.layer);
  }

  skipped(): SkippedNode[] {
    const prunable = new Set(prunableViews(this.model).map((v) => v.owner));
    const out: SkippedNode[] = [];
    for (const l of leafLayers(this.model.layers)) {
      if (prunable.has(l)) continue;
      if (l.weights.some((w) => /(kernel|embeddings)$/.test(w.originalName))) {
        out.push({ node: l.name, op: l.getClassName(), reason: `${l.getClassName()} is not a prunable layer class (prunable: Dense, Conv1D, Conv2D, DepthwiseConv2D)` });
      }
    }
    return out;
  }

  stages(layers: readonly NetworkLayer[]): NetworkLayer[][] {
    // A tensor's depth is the number of prunable layers on the longest path from the inputs.
    const entries = this.entries();
    const wanted = new Set(layers);
    const prunableLayers = new Set(entries.map((e) => e.view.owner));
    const containsPrunable = (l: tf.layers.Layer): boolean => {
      const inner = (l as unknown as { layers?: tf.layers.Layer[] }).layers;
      return prunableLayers.has(l) || (Array.isArray(inner) && inner.some(containsPrunable));
    };
    const depth = new Map<tf.SymbolicTensor, number>();
    const nodeDepth = new Map<KerasNode, number>();
    for (const node of this.graph.nodes) {
      let d = 0;
      for (const t of node.inputTensors) if (!node.outputTensors.includes(t)) d = Math.max(d, depth.get(t) ?? 0);
      nodeDepth.set(node, d);
      const out = containsPrunable(node.outboundLayer) ? d + 1 : d;
      for (const t of node.outputTensors) if (!depth.has(t)) depth.set(t, out);
    }
    const stageOf = new Map<NetworkLayer, number>();
    for (const e of entries) if (wanted.has(e.layer) && !e.layer.uncapturable) stageOf.set(e.layer, Math.max(0, ...e.nodes.map((n) => nodeDepth.get(n) ?? 0)));
    const stages: NetworkLayer[][] = [];
    for (const layer of layers) (stages[stageOf.get(layer) ?? 0] ??= []).push(layer);
    return stages.filter((s) => s && s.length > 0);
  }

  async runner(fetch: readonly string[]): Promise<NetworkRunner> {
    this.life.check();
    const inputNames = this.model.inputNames;
    const inputSet = new Set(inputNames);
    for (const name of fetch) {
      if (!this.graph.byName.has(name)) {
        throw new SurgeonInputError(`tensor '${name}' is not a tensor of this model; fetch one of ${listOf([...this.graph.byName.keys()])}`);
      }
    }
    const allowed = new Set(fetch);
    const dtypes = this.model.inputs.map((t) => t.dtype);
    const subModels = new Map<string, tf.LayersModel>();
    const subModel = (names: readonly string[]): tf.LayersModel => {
      const key = names.join('\u0000');
      let sub = subModels.get(key);
      if (!sub) {
        // The sub-model shares the model's layers and weights: nothing of its own to dispose.
        sub = tf.model({ inputs: this.model.inputs, outputs: names.map((n) => this.graph.byName.get(n)!) });
        subModels.set(key, sub);
      }
      return sub;
    };
    return {
      run: async (feeds: Feeds, names: readonly string[] = fetch) => {
        this.life.check();
        for (const n of names) if (!allowed.has(n)) throw new Error(`internal: runner was not created for tensor '${n}'`);
        const computed = [...new Set(names.filter((n) => !inputSet.has(n)))];
        const result: Record<string, NamedTensor> = {};
        if (computed.length > 0) {
          const xs = feedTensors(inputNames, dtypes, feeds);
          try {
            const sub = subModel(computed);
            const batch = xs[0]!.shape[0] ?? 1;
            const outs = tf.tidy(() => {
              const y = sub.predict(xs.length === 1 ? xs[0]! : xs, { batchSize: Math.max(1, batch) });
              return Array.isArray(y) ? y : [y];
            });
            try {
              computed.forEach((n, i) => (result[n] = asNamedTensor(outs[i]!)));
            } finally {
              tf.dispose(outs);
            }
          } finally {
            tf.dispose(xs);
          }
        }
        for (const n of names) if (inputSet.has(n)) result[n] = fedAsFloat(feeds, n);
        return result;
      },
      release: async () => {
        subModels.clear();
      },
    };
  }

  async clone(): Promise<Network> {
    this.life.check();
    const copy = await loadTfjsModelFile(this.loaded.file);
    const src = this.model.weights;
    const dst = copy.model.weights;
    if (src.length !== dst.length) throw new Error(`internal: the reloaded model has ${dst.length} weights, the original ${src.length}`);
    dst.forEach((w, i) => {
      if (w.originalName !== src[i]!.originalName) throw new Error(`internal: weight ${i} is ${w.originalName} in the reloaded model, ${src[i]!.originalName} in the original`);
      const t = tf.clone(src[i]!.read());
      w.write(t);
      t.dispose();
    });
    return new TfjsLayersNetwork(copy);
  }

  async save(out: string, options: SaveNetworkOptions = {}): Promise<SavedNetwork> {
    this.life.check();
    refuseInputFolder(out, options.inputPath);
    refuseTfjsQuantize(Boolean(options.quantized?.size), options.storage === 'sparse' ? options.sparseEncoding : undefined);
    const sparse: TfjsSparseReport[] = [];
    const path = saveTfjsModel(this.loaded, out, { storage: options.storage ?? 'dense', sparse });
    return { path, bytes: folderBytes(path), ...(options.storage === 'sparse' ? { sparse: sparse.map(asSparseReport) } : {}) };
  }

  summary(): NetworkSummary {
    const prunable = new Set(prunableViews(this.model).map((v) => v.variable));
    let parameters = 0;
    const others: NetworkSummary['others'] = [];
    for (const w of this.model.weights) {
      const n = w.shape.reduce((a: number, b) => a * (b ?? 1), 1);
      parameters += n;
      if (!prunable.has(w)) others.push({ name: w.originalName, dtype: w.dtype, shape: (w.shape as number[]).slice(), parameters: n });
    }
    const { generatedBy, convertedBy } = this.loaded.file.json as { generatedBy?: unknown; convertedBy?: unknown };
    const facts: Record<string, string | number> = { backend: currentBackend()?.name ?? tf.getBackend(), modelFormat: 'layers-model' };
    if (typeof generatedBy === 'string') facts['generatedBy'] = generatedBy;
    if (typeof convertedBy === 'string') facts['convertedBy'] = convertedBy;
    return {
      format: 'tfjs-layers',
      ...(this.path ? { path: this.path } : {}),
      facts,
      inputs: this.inputs.slice(),
      outputs: this.outputs.slice(),
      parameters,
      others,
    };
  }

  collapsePlan(selection: LayerSelection): CollapsePlan {
    const model = this.model;
    const byKerasLayer = new Map<string, string[]>();
    for (const e of this.entries()) {
      const list = byKerasLayer.get(e.view.layer) ?? [];
      list.push(e.layer.name);
      byKerasLayer.set(e.view.layer, list);
    }
    const named = (t: tf.SymbolicTensor, fallback: string) => this.graph.nameOf.get(t) ?? fallback;
    const tensors: CollapseTensor[] = selectTfjsCollapseTensors(model, selection).map((t) => ({
      name: named(t.symbolic, t.name),
      feeds: t.feeds.flatMap((l) => byKerasLayer.get(l) ?? [l]),
      penultimate: t.penultimate,
      role: t.role,
    }));
    const found = findTfjsClassifier(model);
    let classifier: ModelClassifier | undefined;
    if (found) {
      const weight = this.entries().find((e) => e.view.layer === found.layer && e.view.className === 'Dense')?.layer.name ?? found.layer;
      classifier = { layer: weight, input: named(found.symbolic, found.input), output: this.outputs[0]!.name, K: found.K, d: found.d, read: () => found.read() };
    }
    const weightOf = (layer: string) => byKerasLayer.get(layer)?.[0] ?? layer;
    return {
      tensors,
      ...(classifier ? { classifier } : {}),
      balancedness: () => tfjsBalancedness(model).map((b) => ({ lower: weightOf(b.lower), upper: weightOf(b.upper), value: b.value })),
      batchFirst: true,
    };
  }

  dispose(): void {
    this.cached = undefined;
    this.life.end();
  }
}

/** Wraps an in-memory tfjs layers model and the files it came from (the network owns it). */
export function tfjsLayersNetwork(loaded: LoadedTfjsModel): TfjsLayersNetwork {
  return new TfjsLayersNetwork(loaded);
}

/**
 * Opens a TF.js layers model (a folder holding model.json, the model.json itself, or a
 * `file://` URL) as a {@link Network}, on the backend `options.backend` (default: auto).
 * @throws SurgeonInputError for a bad backend, missing files or shards, graph models, unsupported layers.
 */
export async function openTfjsLayersNetwork(path: string, options: OpenNetworkOptions = {}): Promise<Network> {
  await selectBackend(parseBackend(options.backend));
  return new TfjsLayersNetwork(await loadTfjsModel(path));
}
