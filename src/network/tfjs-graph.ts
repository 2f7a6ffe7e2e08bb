/**
 * TensorFlow.js graph models (tfjs-converter's frozen graphs, format "graph-model") as a
 * {@link Network}. Prunable layers are those of ../tfjs/graph.ts `findGraphLayers`: MatMul /
 * _FusedMatMul, Conv2D / _FusedConv2D in NHWC, and DepthwiseConv2dNative (one layer per input
 * channel, `weight#c<i>`), whose weight is a float32 Const of the manifest; a Const multiplied by
 * several nodes is one layer with several uses.
 *
 * Tensor names are GraphDef node names (`node:k` for a node's k-th output); the model inputs
 * are their Placeholder nodes. Batches run through `model.execute(feeds, names)` (executeAsync
 * for graphs with control flow). Writes replace the executor's constant (`setGraphWeight`);
 * saving keeps model.json byte-identical and rewrites only the prunable weights in the shards.
 */
import * as tf from '@tensorflow/tfjs';
import { SurgeonInputError } from '../errors.js';
import { balancedness } from '../collapse/balancedness.js';
import { listOf, type CollapseTensor, type LayerSelection, type ModelClassifier, type TensorRole } from '../collapse/select.js';
import type { ModelInputInfo } from '../io/dataset.js';
import type { NamedTensor } from '../runtime/session.js';
import { currentBackend, parseBackend, selectBackend } from '../tfjs/backend.js';
import { graphGeometry, loadTfjsGraphModelFile, readGraphView, saveGraphModel, setGraphWeight, writeGraphView, type GraphLayer, type LoadedGraphModel } from '../tfjs/graph.js';
import { readModelFile } from '../tfjs/io.js';
import { im2col, im2colShape, type ConvGeometry } from './conv.js';
import { asSparseReport } from './tfjs-common.js';
import type { TfjsSparseReport } from '../tfjs/sparse.js';
import { refuseTfjsQuantize } from '../tfjs/path.js';
import { asNamedTensor, fedAsFloat, feedTensors, folderBytes, refuseInputFolder, Lifetime } from './tfjs-common.js';
import type { CollapsePlan, Feeds, LayerSamples, LayerUse, Network, NetworkLayer, NetworkOutput, NetworkRunner, NetworkSummary, OpenNetworkOptions, SavedNetwork, SaveNetworkOptions, SkippedNode } from './types.js';

interface NodeDef {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, { b?: boolean; s?: string; list?: { i?: Array<string | number>; s?: string[] } }>;
}

const LAYER_OPS = new Set(['MatMul', '_FusedMatMul', 'Conv2D', '_FusedConv2D', 'DepthwiseConv2dNative']);
/** Ops a classifier's logits may pass through on their way to the graph output. */
const PASS_THROUGH = new Set(['BiasAdd', 'Add', 'AddV2', 'Identity', 'Softmax']);
/** Element-wise ops allowed between two MatMul layers for their balancedness to be reported. */
const POINTWISE = new Set(['BiasAdd', 'Add', 'AddV2', 'Identity', 'Relu', 'Relu6', 'Elu', 'Selu', 'LeakyRelu', 'Sigmoid', 'Tanh', 'Softplus', 'Mul']);
/** Ops whose outputs are not features (never measured under `all`). */
const NOT_FEATURES = new Set(['Const', 'Placeholder', 'Shape', 'ShapeN', 'Size', 'Rank', 'NoOp']);

/** `node:0` and `node` name the same tensor; control inputs (`^node`) are no tensors. */
function tensorOf(input: string): string {
  return input.replace(/:0$/, '');
}

/** The node producing `tensor` (`node:k` → node). */
function nodeOf(tensor: string): string {
  const m = /^(.*):\d+$/.exec(tensor);
  return m ? m[1]! : tensor;
}

const decode = (s: string | undefined) => (s === undefined ? undefined : Buffer.from(s, 'base64').toString('utf8'));

/** The layers of one weight (several uses when the Const is shared) and its channel for depthwise. */
interface LayerEntry {
  layer: NetworkLayer;
  graph: GraphLayer;
  /** The GraphDef nodes using the weight (same kind and orientation). */
  nodes: GraphLayer[];
  channel: number;
}

/** The sample rows of a captured activation for `graph`'s view (channel −1: the whole weight). */
function samplesOf(name: string, input: string, graph: GraphLayer, geometry: ConvGeometry | undefined, cols: number, tensor: NamedTensor): LayerSamples {
  if (!(tensor.data instanceof Float32Array)) {
    throw new SurgeonInputError(`layer ${name}: its input '${input}' is ${tensor.type}, not a float tensor; only float activations can be calibrated`);
  }
  if (!geometry) {
    const d = tensor.dims[tensor.dims.length - 1]!;
    if (d !== cols) throw new Error(`internal: layer ${name} expects ${cols} inputs per sample, its activation '${input}' gives ${d}`);
    const n = tensor.data.length / d;
    return { X: tensor.data.subarray(0, n * d), n };
  }
  if (tensor.dims.length !== 4) throw new Error(`internal: layer ${name} (${graph.op}) expects an NHWC activation, '${input}' is [${tensor.dims.join(', ')}]`);
  const { n, d } = im2colShape(tensor.dims, geometry, 'NHWC');
  if (d !== cols) throw new Error(`internal: layer ${name} expects ${cols} inputs per sample, its activation '${input}' gives ${d}`);
  return { X: im2col(tensor.data, tensor.dims, geometry, { layout: 'NHWC', columnOrder: 'kh-kw-c' }).X, n };
}

/** A TF.js graph model as a {@link Network}. */
export class TfjsGraphNetwork implements Network {
  readonly format = 'tfjs-graph' as const;
  readonly inputs: readonly ModelInputInfo[];
  readonly outputs: readonly NetworkOutput[];
  readonly gradients = undefined;
  private readonly nodes: NodeDef[];
  private readonly byName: Map<string, NodeDef>;
  private cached: { entries: LayerEntry[]; skipped: SkippedNode[] } | undefined;
  private readonly life = new Lifetime(() => this.model.dispose());

  /** Wraps a loaded graph model (the network owns it from now on). */
  constructor(readonly loaded: LoadedGraphModel) {
    const { model, file } = loaded;
    this.nodes = (file.json.modelTopology as { node?: NodeDef[] }).node ?? [];
    this.byName = new Map(this.nodes.map((n) => [n.name, n]));
    this.inputs = model.inputs.map((t) => ({ name: t.name, elemType: t.dtype, dims: t.shape ? t.shape.map((v) => (v === null || v < 0 ? -1 : v)) : [], hasShape: Boolean(t.shape) }));
    this.outputs = model.outputs.map((t) => ({ name: tensorOf(t.name), elemType: t.dtype, dims: t.shape ? t.shape.map((v) => (v === null || v < 0 ? -1 : v)) : [] }));
  }

  get path(): string | undefined {
    return this.loaded.file.path;
  }

  /** The live tfjs graph model. */
  get model(): tf.GraphModel {
    return this.loaded.model;
  }

  private weightValues(weight: string): tf.Tensor {
    const t = this.model.weights[weight]?.[0];
    if (!t) throw new Error(`internal: graph weight ${weight} is not loaded`);
    return t;
  }

  private replaceWeight(weight: string, values: Float32Array, shape: number[]): void {
    const old = this.weightValues(weight);
    setGraphWeight(this.model, weight, tf.tensor(values, shape, 'float32'));
    old.dispose();
  }

  private scan(): { entries: LayerEntry[]; skipped: SkippedNode[] } {
    if (this.cached) return this.cached;
    const found = this.loaded.layers;
    const byWeight = new Map<string, GraphLayer[]>();
    for (const l of found) {
      const list = byWeight.get(l.weight) ?? [];
      list.push(l);
      byWeight.set(l.weight, list);
    }
    const skipped: SkippedNode[] = [];
    const layerNodes = new Set(found.map((l) => l.node));
    for (const node of this.nodes) {
      if (!LAYER_OPS.has(node.op) || layerNodes.has(node.name)) continue;
      skipped.push({ node: node.name, op: node.op, reason: this.skipReason(node) });
    }
    const entries: LayerEntry[] = [];
    for (const [weight, all] of byWeight) {
      const first = all[0]!;
      const same = all.filter((l) => l.kind === first.kind && l.transposeB === first.transposeB && JSON.stringify(l.conv) === JSON.stringify(first.conv));
      const tied = [...all.filter((l) => !same.includes(l)).map((l) => l.node), ...this.nodes.filter((n) => !layerNodes.has(n.name) && (n.input ?? []).some((i) => nodeOf(tensorOf(i)) === weight)).map((n) => n.name)];
      const make = (channel: number): LayerEntry => {
        const [kh, kw, , M] = first.shape as [number, number, number, number];
        const rows = channel >= 0 ? M : first.rows;
        const cols = channel >= 0 ? kh * kw : first.cols;
        const name = channel >= 0 ? `${weight}#c${channel}` : weight;
        const geometry = first.kind === 'matmul' ? undefined : graphGeometry(first.conv!, channel >= 0 ? 1 : first.shape[2]!, channel >= 0 ? channel : 0);
        const uses: LayerUse[] = same.map((l) => {
          const input = tensorOf(l.activation);
          return { node: l.node, input, samples: (t: NamedTensor) => samplesOf(name, input, l, geometry, cols, t) };
        });
        const detail: Record<string, string | number | boolean | number[] | string[]> = { kind: first.kind, shape: first.shape.slice() };
        if (first.transposeB) detail['transposeB'] = true;
        if (channel >= 0) detail['channel'] = channel;
        const shape = first.shape;
        return {
          graph: first,
          nodes: same,
          channel,
          layer: {
            name,
            op: first.op,
            node: first.node,
            weight,
            rows,
            cols,
            uses,
            sampleKey: uses.map((u) => `${u.input}|${geometry ? JSON.stringify(geometry) : 'rows'}`).join('+'),
            ...(tied.length ? { tiedWith: tied } : {}),
            detail,
            read: () => readGraphView(first, this.weightValues(weight).dataSync() as Float32Array, channel),
            write: (W) => {
              if (W.length !== rows * cols) throw new Error(`internal: layer ${name} takes ${rows * cols} weights, got ${W.length}`);
              const out = channel >= 0 ? Float32Array.from(this.weightValues(weight).dataSync() as Float32Array) : new Float32Array(rows * cols);
              writeGraphView(first, W, channel, out);
              this.replaceWeight(weight, out, shape);
            },
          },
        };
      };
      if (first.kind === 'depthwise') for (let c = 0; c < first.shape[2]!; c++) entries.push(make(c));
      else entries.push(make(-1));
    }
    this.cached = { entries, skipped };
    return this.cached;
  }

  private skipReason(node: NodeDef): string {
    const weight = node.input?.[1] ? nodeOf(tensorOf(node.input[1])) : undefined;
    const w = weight ? this.loaded.file.weights.find((x) => x.name === weight) : undefined;
    if (!weight || this.byName.get(weight)?.op !== 'Const' || !w) return 'its weight is not a constant of the weights manifest (computed or fed at run time)';
    if (w.dtype !== 'float32' || w.quantized) return `its weight is ${w.quantized ? 'quantized' : w.dtype}; only float32 weights are pruned`;
    if (node.attr?.transpose_a?.b) return 'transpose_a is set (the activation is transposed)';
    const format = decode(node.attr?.data_format?.s);
    if (format && format !== 'NHWC') return `data_format ${format}; only NHWC convolutions are pruned`;
    return `its weight has shape [${w.shape.join(', ')}], which is not a ${node.op.includes('MatMul') ? 'matrix' : '4-D filter'}`;
  }

  layers(): NetworkLayer[] {
    return this.scan().entries.map((e) => e.layer);
  }

  skipped(): SkippedNode[] {
    return this.scan().skipped;
  }

  /** Prunable depth of every node's output (iterative: graphs can be deep). */
  private depths(): Map<string, number> {
    const prunable = new Set(this.scan().entries.flatMap((e) => e.nodes.map((n) => n.node)));
    const depth = new Map<string, number>();
    const visiting = new Set<string>();
    const inputsOf = (n: NodeDef) => (n.input ?? []).filter((i) => !i.startsWith('^')).map((i) => nodeOf(tensorOf(i)));
    for (const root of this.nodes) {
      const stack = [root.name];
      while (stack.length > 0) {
        const top = stack[stack.length - 1]!;
        if (depth.has(top)) {
          stack.pop();
          continue;
        }
        const node = this.byName.get(top);
        const inputs = node ? inputsOf(node) : [];
        const pending = inputs.filter((i) => !depth.has(i) && !visiting.has(i));
        if (pending.length > 0 && !visiting.has(top)) {
          visiting.add(top);
          stack.push(...pending);
          continue;
        }
        let d = 0;
        for (const i of inputs) d = Math.max(d, depth.get(i) ?? 0);
        depth.set(top, d + (prunable.has(top) ? 1 : 0));
        visiting.delete(top);
        stack.pop();
      }
    }
    return depth;
  }

  stages(layers: readonly NetworkLayer[]): NetworkLayer[][] {
    const depth = this.depths();
    const stageOf = new Map<NetworkLayer, number>();
    for (const e of this.scan().entries) stageOf.set(e.layer, Math.max(0, ...e.nodes.map((n) => depth.get(nodeOf(tensorOf(n.activation))) ?? 0)));
    const stages: NetworkLayer[][] = [];
    for (const layer of layers) (stages[stageOf.get(layer) ?? 0] ??= []).push(layer);
    return stages.filter((s) => s && s.length > 0);
  }

  async runner(fetch: readonly string[]): Promise<NetworkRunner> {
    this.life.check();
    for (const name of fetch) {
      const node = this.byName.get(nodeOf(name));
      if (!node || node.op === 'Const') {
        throw new SurgeonInputError(`tensor '${name}' is not an activation of this graph; fetch a node name (inputs ${listOf(this.inputs.map((i) => i.name))}, layers' inputs ${listOf([...new Set(this.layers().map((l) => l.uses[0]!.input))])})`);
      }
    }
    const inputNames = this.inputs.map((i) => i.name);
    const inputSet = new Set(inputNames);
    const dtypes = this.model.inputs.map((t) => t.dtype);
    const allowed = new Set(fetch);
    return {
      run: async (feeds: Feeds, names: readonly string[] = fetch) => {
        this.life.check();
        for (const n of names) if (!allowed.has(n)) throw new Error(`internal: runner was not created for tensor '${n}'`);
        const computed = [...new Set(names.filter((n) => !inputSet.has(n)))];
        const result: Record<string, NamedTensor> = {};
        if (computed.length > 0) {
          const xs = feedTensors(inputNames, dtypes, feeds);
          const map: tf.NamedTensorMap = {};
          inputNames.forEach((n, i) => (map[n] = xs[i]!));
          try {
            const outs = await this.execute(map, computed);
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
      release: async () => {},
    };
  }

  /** execute, or executeAsync for graphs with control flow or dynamic shapes. */
  private async execute(feeds: tf.NamedTensorMap, names: string[]): Promise<tf.Tensor[]> {
    const executor = (this.model as unknown as { executor?: { isControlFlowModel?: boolean; isDynamicShapeModel?: boolean } }).executor;
    if (executor?.isControlFlowModel || executor?.isDynamicShapeModel) {
      const y = await this.model.executeAsync(feeds, names);
      return Array.isArray(y) ? y : [y];
    }
    const y = this.model.execute(feeds, names);
    return Array.isArray(y) ? y : [y];
  }

  async clone(): Promise<Network> {
    this.life.check();
    const copy = await loadTfjsGraphModelFile(this.loaded.file);
    const network = new TfjsGraphNetwork(copy);
    for (const weight of new Set(this.loaded.layers.map((l) => l.weight))) {
      const t = this.weightValues(weight);
      network.replaceWeight(weight, Float32Array.from(t.dataSync() as Float32Array), t.shape.slice());
    }
    return network;
  }

  async save(out: string, options: SaveNetworkOptions = {}): Promise<SavedNetwork> {
    this.life.check();
    refuseInputFolder(out, options.inputPath);
    refuseTfjsQuantize(Boolean(options.quantized?.size), options.storage === 'sparse' ? options.sparseEncoding : undefined);
    const sparse: TfjsSparseReport[] = [];
    const path = saveGraphModel(this.loaded, out, { storage: options.storage ?? 'dense', sparse });
    return { path, bytes: folderBytes(path), ...(options.storage === 'sparse' ? { sparse: sparse.map(asSparseReport) } : {}) };
  }

  summary(): NetworkSummary {
    const prunable = new Set(this.loaded.layers.map((l) => l.weight));
    let parameters = 0;
    const others: NetworkSummary['others'] = [];
    for (const w of this.loaded.file.weights) {
      const n = w.shape.reduce((a, b) => a * b, 1);
      parameters += n;
      if (!prunable.has(w.name)) others.push({ name: w.name, dtype: w.dtype, shape: w.shape.slice(), parameters: n });
    }
    const { generatedBy, convertedBy } = this.loaded.file.json as { generatedBy?: unknown; convertedBy?: unknown };
    const facts: Record<string, string | number> = { backend: currentBackend()?.name ?? tf.getBackend(), modelFormat: 'graph-model' };
    if (typeof generatedBy === 'string') facts['generatedBy'] = generatedBy;
    if (typeof convertedBy === 'string') facts['convertedBy'] = convertedBy;
    return { format: 'tfjs-graph', ...(this.path ? { path: this.path } : {}), facts, inputs: this.inputs.slice(), outputs: this.outputs.slice(), parameters, others };
  }

  private consumers(): Map<string, NodeDef[]> {
    const out = new Map<string, NodeDef[]>();
    for (const n of this.nodes) {
      for (const i of n.input ?? []) {
        if (i.startsWith('^')) continue;
        const t = tensorOf(i);
        const list = out.get(t) ?? [];
        list.push(n);
        out.set(t, list);
      }
    }
    return out;
  }

  /**
   * The final linear classifier: the last MatMul layer whose output reaches a graph output
   * through bias adds, Identity and Softmax only (a _FusedMatMul only with a plain BiasAdd).
   */
  private classifier(): ModelClassifier | undefined {
    const outputs = new Set(this.outputs.map((o) => o.name));
    const consumers = this.consumers();
    const matmuls = this.scan().entries.filter((e) => e.graph.kind === 'matmul' && e.nodes.length === 1);
    const isConst = (input: string | undefined) => input !== undefined && this.byName.get(nodeOf(tensorOf(input)))?.op === 'Const';
    for (const e of matmuls.reverse()) {
      const node = this.byName.get(e.graph.node)!;
      let bias: string | undefined;
      if (node.op === '_FusedMatMul') {
        const fused = (node.attr?.fused_ops?.list?.s ?? []).map((s) => decode(s));
        if (fused.length !== 1 || fused[0] !== 'BiasAdd' || !isConst(node.input?.[2])) continue;
        bias = nodeOf(tensorOf(node.input![2]!));
      }
      let cur = node.name;
      let reached: string | undefined;
      for (let hops = 0; hops < 8; hops++) {
        if (outputs.has(cur)) {
          reached = cur;
          break;
        }
        const next = consumers.get(cur) ?? [];
        if (next.length !== 1 || !PASS_THROUGH.has(next[0]!.op)) break;
        const n = next[0]!;
        if (n.op !== 'Identity' && n.op !== 'Softmax') {
          const other = (n.input ?? []).find((i) => tensorOf(i) !== cur);
          if (bias !== undefined || !isConst(other)) break;
          bias = nodeOf(tensorOf(other!));
        }
        cur = n.name;
      }
      if (!reached) continue;
      const { layer } = e;
      const b = bias;
      return {
        layer: layer.name,
        input: layer.uses[0]!.input,
        output: reached,
        K: layer.rows,
        d: layer.cols,
        read: () => {
          const W = layer.read();
          const t = b !== undefined ? this.model.weights[b]?.[0] : undefined;
          return t && t.size === layer.rows ? { W, b: Float32Array.from(t.dataSync() as Float32Array) } : { W };
        },
      };
    }
    return undefined;
  }

  collapsePlan(selection: LayerSelection): CollapsePlan {
    const entries = this.scan().entries;
    const classifier = this.classifier();
    const order = new Map(this.nodes.map((n, i) => [n.name, i]));
    const feeds = new Map<string, string[]>();
    const byLayer = new Map<string, string>();
    for (const e of entries) {
      for (const use of e.layer.uses) {
        const list = feeds.get(use.input) ?? [];
        if (!list.includes(e.layer.name)) list.push(e.layer.name);
        feeds.set(use.input, list);
      }
      byLayer.set(e.layer.name, e.layer.uses[0]!.input);
      if (!byLayer.has(e.layer.weight)) byLayer.set(e.layer.weight, e.layer.uses[0]!.input);
      if (!byLayer.has(e.graph.node)) byLayer.set(e.graph.node, e.layer.uses[0]!.input);
    }
    const make = (name: string, role: TensorRole): CollapseTensor => ({ name, feeds: feeds.get(name) ?? [], penultimate: name === classifier?.input, role });
    const sorted = (list: CollapseTensor[]) => list.sort((a, b) => (order.get(nodeOf(a.name)) ?? -1) - (order.get(nodeOf(b.name)) ?? -1));
    const balance = () => this.balancedness();
    let tensors: CollapseTensor[];
    if (selection === 'penultimate') {
      if (!classifier) throw new SurgeonInputError('no final MatMul classifier found (a MatMul whose output reaches the graph output through a bias add or softmax only); pass --layers with node names instead of penultimate');
      tensors = [make(classifier.input, 'layer-input')];
    } else if (selection === 'default' || selection === 'all') {
      tensors = sorted([...feeds.keys()].map((n) => make(n, 'layer-input')));
      if (selection === 'all') {
        const seen = new Set(tensors.map((t) => t.name));
        const outputs = new Set(this.outputs.map((o) => o.name));
        for (const name of this.reachable()) {
          const node = this.byName.get(name)!;
          if (seen.has(name) || outputs.has(name) || NOT_FEATURES.has(node.op)) continue;
          tensors.push(make(name, 'activation'));
        }
        sorted(tensors);
      }
    } else {
      const picked: CollapseTensor[] = [];
      const seen = new Set<string>();
      for (const raw of selection) {
        const name = raw.trim();
        if (!name) continue;
        const node = this.byName.get(nodeOf(name));
        const tensor = node && node.op !== 'Const' ? name : byLayer.get(name);
        if (tensor === undefined) {
          throw new SurgeonInputError(`unknown layer '${name}'; valid: penultimate, all, a node name for its output (${listOf(this.reachable())}) or a prunable weight for its input (${listOf([...byLayer.keys()])})`);
        }
        if (seen.has(tensor)) continue;
        seen.add(tensor);
        picked.push(make(tensor, feeds.has(tensor) ? 'layer-input' : 'named'));
      }
      if (picked.length === 0) throw new SurgeonInputError('--layers is empty; pass penultimate, all, or comma-separated node/weight names');
      tensors = sorted(picked);
    }
    return { tensors, ...(classifier ? { classifier } : {}), balancedness: balance, batchFirst: true };
  }

  /** Nodes computed from the graph inputs, in GraphDef order. */
  private reachable(): string[] {
    const consumers = this.consumers();
    const seen = new Set<string>(this.inputs.map((i) => i.name));
    const queue = [...seen];
    while (queue.length > 0) {
      const t = queue.shift()!;
      for (const n of consumers.get(t) ?? []) if (!seen.has(n.name)) {
        seen.add(n.name);
        queue.push(n.name);
      }
    }
    return this.nodes.filter((n) => seen.has(n.name) && !this.inputs.some((i) => i.name === n.name)).map((n) => n.name);
  }

  /** Balancedness of MatMul pairs chained through element-wise ops only (see ../collapse/balancedness.ts). */
  private balancedness(): Array<{ lower: string; upper: string; value: number }> {
    const linear = this.scan().entries.filter((e) => e.graph.kind === 'matmul');
    const byInput = new Map<string, LayerEntry[]>();
    for (const e of linear) for (const n of e.nodes) {
      const t = tensorOf(n.activation);
      byInput.set(t, [...(byInput.get(t) ?? []), e]);
    }
    const consumers = this.consumers();
    const out: Array<{ lower: string; upper: string; value: number }> = [];
    for (const lower of linear) {
      const queue = lower.nodes.map((n) => n.node);
      const seen = new Set(queue);
      const uppers: LayerEntry[] = [];
      while (queue.length > 0 && seen.size < 64) {
        const t = queue.shift()!;
        for (const u of byInput.get(t) ?? []) if (u !== lower && !uppers.includes(u)) uppers.push(u);
        for (const n of consumers.get(t) ?? []) {
          if (!POINTWISE.has(n.op) || seen.has(n.name)) continue;
          seen.add(n.name);
          queue.push(n.name);
        }
      }
      for (const upper of uppers) {
        if (upper.layer.cols !== lower.layer.rows) continue;
        const value = balancedness({ W: lower.layer.read(), rows: lower.layer.rows, cols: lower.layer.cols, name: lower.layer.name }, { W: upper.layer.read(), rows: upper.layer.rows, cols: upper.layer.cols, name: upper.layer.name });
        out.push({ lower: lower.layer.name, upper: upper.layer.name, value });
      }
    }
    return out;
  }

  dispose(): void {
    this.cached = undefined;
    this.life.end();
  }
}

/** Wraps a loaded graph model (the network owns it). */
export function tfjsGraphNetwork(loaded: LoadedGraphModel): TfjsGraphNetwork {
  return new TfjsGraphNetwork(loaded);
}

/**
 * Opens a TF.js graph model (a folder holding model.json, the model.json itself, or a `file://`
 * URL) as a {@link Network}, on the backend `options.backend` (default: auto).
 * @throws SurgeonInputError for a bad backend, missing files or shards, layers models, graphs tfjs cannot run.
 */
export async function openTfjsGraphNetwork(path: string, options: OpenNetworkOptions = {}): Promise<Network> {
  await selectBackend(parseBackend(options.backend));
  return new TfjsGraphNetwork(await loadTfjsGraphModelFile(readModelFile(path)));
}
