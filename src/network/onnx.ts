/**
 * ONNX models as a {@link Network}: the operator table (../io/onnx/operators.ts) gives the
 * prunable layers, onnxruntime runs batches (intermediate tensors become extra graph outputs of
 * a copy), and saving is atomic with external data carried along.
 */
import { existsSync, statSync } from 'node:fs';
import { SurgeonInputError } from '../errors.js';
import { decodeOnnxModel, OnnxModel, readOnnxModel } from '../io/onnx/model.js';
import { decodeModelProto } from '../io/onnx/proto.js';
import { encodeQuantized, type QuantizedTensorReport } from '../io/onnx/quantized.js';
import { scanLayers, type WeightView } from '../io/onnx/operators.js';
import { saveOnnxModel } from '../io/onnx/save.js';
import { elemTypeName, tensorDims, tensorSize } from '../io/onnx/tensor.js';
import { featureAxes, findClassifier, modelBalancedness, selectCollapseTensors, type LayerSelection } from '../collapse/select.js';
import { layoutDims, pruningStages, sampleKey, sampleLayout } from '../prune/layers.js';
import { sampleShape, toSamples } from '../prune/samples.js';
import { captureSession } from '../runtime/capture.js';
import { checkExecutionProviders, ModelSession, type NamedTensor } from '../runtime/session.js';
import { feedsAsTensors } from './feeds.js';
import { onnxSegmentModel, onnxStageBoundaries } from './onnx-segments.js';
import type { CollapsePlan, Feeds, LayerSamples, LayerUse, Network, NetworkFormatEntry, NetworkLayer, NetworkOutput, NetworkRunner, NetworkSummary, RunnerOptions, SavedNetwork, SaveNetworkOptions, SkippedNode } from './types.js';

/** The per-use fields of a weight view (a view with several uses lists them in `uses`). */
type ViewUse = Pick<WeightView, 'nodeName' | 'inputName' | 'outputName' | 'orientation' | 'activationTransposed' | 'op' | 'conv' | 'groupIndex' | 'groups' | 'name' | 'cols' | 'subgraph' | 'capturable'>;

/** The uses of a view: `view.uses` when the operator table found several, else the view itself. */
function usesOf(view: WeightView): ViewUse[] {
  if (!view.uses || view.uses.length === 0) return [view];
  return view.uses.map((u) => ({ ...view, ...u }) as ViewUse);
}

/** The sample rows of a captured activation for one use of a view. */
function samplesOf(use: ViewUse, tensor: NamedTensor): LayerSamples {
  if (!(tensor.data instanceof Float32Array)) {
    throw new SurgeonInputError(`layer ${use.name}: its input '${use.inputName}' is ${tensor.type}, not a float tensor; only float activations can be calibrated`);
  }
  const view = use as WeightView;
  const layout = sampleLayout(view, tensor.dims);
  const dims = layoutDims(view, tensor.dims);
  const { n, d } = sampleShape(dims, layout);
  if (d !== use.cols) throw new Error(`internal: layer ${use.name} expects ${use.cols} inputs per sample, its activation '${use.inputName}' gives ${d}`);
  return { X: toSamples(tensor.data, dims, layout), n };
}

/**
 * The tensor holding a use's product with the weight (see {@link LayerUse.product}): a
 * main-graph MatMul's output, or an ungrouped Conv's output with its constant bias (Gemm adds a
 * scale and a broadcast C; a grouped Conv's output holds every group).
 */
function productOf(u: ViewUse, model: OnnxModel): Pick<LayerUse, 'product' | 'productBias'> {
  if (u.subgraph || !u.capturable || !u.outputName) return {};
  if (u.op === 'MatMul') return { product: u.outputName };
  if (u.op !== 'Conv' || (u.groups ?? 1) > 1) return {};
  const node = model.graph.node.find((n) => n.output[0] === u.outputName);
  const bias = node?.input[2];
  if (!bias) return node ? { product: u.outputName } : {};
  return model.initializer(bias) ? { product: u.outputName, productBias: () => model.readInitializer(bias) } : {};
}

function layerOf(view: WeightView, model: OnnxModel): NetworkLayer {
  const uses = usesOf(view);
  const layerUses: LayerUse[] = uses.map((u) => ({
    node: u.nodeName,
    input: u.inputName,
    samples: (t) => samplesOf(u, t),
    ...productOf(u, model),
  }));
  const key = uses.map((u) => sampleKey(u as WeightView)).join('+');
  const detail: Record<string, string | number | boolean | number[] | string[]> = {};
  if (view.via?.length) detail.via = [...view.via];
  if (view.subgraph) detail.subgraph = view.subgraph;
  if (view.sourceDType && view.sourceDType !== 'float32') detail.dtype = view.sourceDType;
  if (view.groups) detail.group = `${view.groupIndex}/${view.groups}`;
  return {
    name: view.name,
    op: view.op,
    node: view.nodeName,
    weight: view.weightName,
    rows: view.rows,
    cols: view.cols,
    uses: layerUses,
    sampleKey: key,
    ...(view.capturable === false ? { uncapturable: view.captureNote ?? 'its input is computed inside a subgraph' } : {}),
    ...(view.tied && view.tiedWith.length ? { tiedWith: [...view.tiedWith] } : {}),
    ...(Object.keys(detail).length ? { detail } : {}),
    read: () => view.read(),
    write: (W) => view.write(W),
  };
}

/** An ONNX model as a {@link Network}. */
export class OnnxNetwork implements Network {
  readonly format = 'onnx' as const;
  private cached: { layers: NetworkLayer[]; views: WeightView[]; skipped: SkippedNode[] } | undefined;

  /**
   * Wraps a decoded model (the network owns it from now on); its sessions run on
   * `executionProviders` (default the CPU; see SessionOptions).
   */
  constructor(readonly model: OnnxModel, readonly executionProviders?: readonly string[]) {}

  /** Session options of every runner: threads and the execution providers. */
  private sessionOptions(options: RunnerOptions): { threads: number; executionProviders?: readonly string[] } {
    return { threads: options.threads ?? 2, ...(this.executionProviders ? { executionProviders: this.executionProviders } : {}) };
  }

  get path(): string | undefined {
    return this.model.path;
  }

  get inputs() {
    return this.model.inputs;
  }

  get outputs(): NetworkOutput[] {
    return this.model.outputs;
  }

  private scan(): { layers: NetworkLayer[]; views: WeightView[]; skipped: SkippedNode[] } {
    if (!this.cached) {
      const { views, skipped } = scanLayers(this.model);
      this.cached = { views, layers: views.map((v) => layerOf(v, this.model)), skipped: skipped.map((s) => ({ node: s.subgraph ? `${s.subgraph}/${s.nodeName}` : s.nodeName, op: s.op, reason: s.reason })) };
    }
    return this.cached;
  }

  layers(): NetworkLayer[] {
    return this.scan().layers;
  }

  skipped(): SkippedNode[] {
    return this.scan().skipped;
  }

  stages(layers: readonly NetworkLayer[]): NetworkLayer[][] {
    // A layer's stage is the prunable depth of its deepest use's input.
    const { views } = this.scan();
    const all = this.layers();
    const viewOf = new Map(all.map((layer, i) => [layer, views[i]!]));
    return pruningStages(this.model, layers, (layer) => usesOf(viewOf.get(layer)!).map((u) => u.outputName));
  }

  async runner(fetch: readonly string[], options: RunnerOptions = {}): Promise<NetworkRunner> {
    const inputNames = new Set(this.inputs.map((i) => i.name));
    const captured = [...new Set(fetch.filter((n) => !inputNames.has(n)))];
    const session: ModelSession | undefined = captured.length ? await captureSession(this.model, captured, this.sessionOptions(options)) : undefined;
    const allowed = new Set(fetch);
    return {
      run: async (feeds: Feeds, names: readonly string[] = fetch) => {
        for (const n of names) if (!allowed.has(n)) throw new Error(`internal: runner was not created for tensor '${n}'`);
        const fromModel = names.filter((n) => !inputNames.has(n));
        const result: Record<string, NamedTensor> = fromModel.length ? await session!.run(feeds, fromModel) : {};
        const fed = feedsAsTensors(feeds);
        for (const n of names) {
          if (!inputNames.has(n)) continue;
          const t = fed[n];
          if (!t) throw new SurgeonInputError(`tensor '${n}' is a model input that this batch does not feed; feed it from the data`);
          result[n] = t;
        }
        return result;
      },
      release: async () => {
        await session?.release();
      },
    };
  }

  stageBoundaries(stages: readonly NetworkLayer[][]): string[][] | undefined {
    const inputs = stages.map((stage) => [...new Set(stage.flatMap((l) => l.uses.map((u) => u.input)))]);
    const nodes = stages.map((stage) => [...new Set(stage.flatMap((l) => l.uses.map((u) => u.node)))]);
    return onnxStageBoundaries(this.model, inputs, nodes);
  }

  async segmentRunner(from: readonly string[], to: readonly string[], options: RunnerOptions = {}): Promise<NetworkRunner> {
    const segment = onnxSegmentModel(this.model, from, to);
    const outputs = segment.model.outputs.map((o) => o.name);
    const session = outputs.length ? await ModelSession.create(segment.model, this.sessionOptions(options)) : undefined;
    const fed = new Set([...segment.graphInputs, ...segment.fromInputs]);
    const allowed = new Set(to);
    return {
      run: async (feeds: Feeds, names: readonly string[] = to) => {
        for (const n of names) if (!allowed.has(n)) throw new Error(`internal: segment runner was not created for tensor '${n}'`);
        const computed = names.filter((n) => outputs.includes(n));
        const inputs: Feeds = {};
        for (const n of fed) {
          const feed = feeds[n];
          if (!feed) throw new Error(`internal: segment input '${n}' was not fed`);
          inputs[n] = feed;
        }
        const result: Record<string, NamedTensor> = computed.length ? await session!.run(inputs, computed) : {};
        const given = feedsAsTensors(feeds);
        for (const n of names) {
          if (computed.includes(n)) continue;
          const t = given[n];
          if (!t) throw new Error(`internal: segment runner: '${n}' is neither computed nor fed`);
          result[n] = t;
        }
        return result;
      },
      release: async () => {
        await session?.release();
      },
    };
  }

  async clone(): Promise<Network> {
    return new OnnxNetwork(decodeOnnxModel(this.model.toBytes(), this.model.path ?? 'model', { path: this.model.path, baseDir: this.model.baseDir }), this.executionProviders);
  }

  async save(out: string, options: SaveNetworkOptions = {}): Promise<SavedNetwork> {
    let model = this.model;
    let quantized: QuantizedTensorReport[] | undefined;
    if (options.quantized?.size) {
      // Encode the codes into a copy; this network keeps its float (dequantized) weights.
      const copy = decodeModelProto(this.model.toBytes());
      quantized = encodeQuantized(copy, this.model, this.scan().views, options.quantized);
      model = new OnnxModel(copy, { ...(this.model.path ? { path: this.model.path } : {}), ...(this.model.baseDir ? { baseDir: this.model.baseDir } : {}) });
    }
    const saved = saveOnnxModel(model, out, { ...(options.inputPath ? { inputPath: options.inputPath } : {}), storage: options.storage ?? 'dense', ...(options.sparseEncoding ? { sparseEncoding: options.sparseEncoding } : {}) });
    const external = saved.externalDataPath && existsSync(saved.externalDataPath) ? statSync(saved.externalDataPath).size : 0;
    return { path: saved.path, bytes: saved.bytes + external, ...(saved.sparse ? { sparse: saved.sparse } : {}), ...(quantized ? { quantized } : {}) };
  }

  summary(): NetworkSummary {
    const weights = new Set(this.scan().views.map((v) => v.weightName));
    let parameters = 0;
    const others: NetworkSummary['others'] = [];
    for (const t of this.model.graph.initializer) {
      const n = tensorSize(t);
      parameters += n;
      if (!weights.has(t.name ?? '')) others.push({ name: t.name ?? '', dtype: elemTypeName(t.dataType), shape: tensorDims(t), parameters: n });
    }
    const producer = [this.model.proto.producerName, this.model.proto.producerVersion].filter(Boolean).join(' ');
    return {
      format: 'onnx',
      ...(this.path ? { path: this.path } : {}),
      facts: {
        opset: this.model.opset,
        ...(producer ? { producer } : {}),
        ...(this.model.sparseStorage ? { 'stored sparse': `${this.model.sparseStorage.coo.length} sparse_initializer, ${this.model.sparseStorage.bitmask.length} bit mask (densified when read)` } : {}),
        ...(this.executionProviders ? { executionProviders: this.executionProviders.join(',') } : {}),
      },
      inputs: this.model.inputs,
      outputs: this.model.outputs,
      parameters,
      others,
    };
  }

  collapsePlan(selection: LayerSelection): CollapsePlan {
    const { views } = this.scan();
    const classifier = findClassifier(this.model, views);
    return {
      tensors: selectCollapseTensors(this.model, selection),
      ...(classifier ? { classifier } : {}),
      balancedness: () => modelBalancedness(this.model, views),
      featureAxes: featureAxes(this.model, views),
    };
  }

  /** Forgets the cached layer scan (after the graph itself changed). */
  invalidate(): void {
    this.cached = undefined;
  }

  dispose(): void {
    this.cached = undefined;
  }
}

/** Wraps an already decoded ONNX model. */
export function onnxNetwork(model: OnnxModel): OnnxNetwork {
  return new OnnxNetwork(model);
}

/** Whether `model` is a {@link Network} (not a bare decoded ONNX model). */
export function isNetwork(model: Network | OnnxModel): model is Network {
  return typeof (model as Network).layers === 'function' && typeof (model as Network).runner === 'function';
}

/** `model` as a Network: a Network as it is, a decoded ONNX model wrapped (library entry points take both). */
export function asNetwork(model: Network | OnnxModel): Network {
  return isNetwork(model) ? model : new OnnxNetwork(model);
}

/** The ONNX entry of the format registry. */
export const onnxFormat: NetworkFormatEntry = {
  format: 'onnx',
  detect: (path) => /\.onnx$/i.test(path) || (existsSync(path) && statSync(path).isFile() && !/\.json$/i.test(path)),
  open: async (path, options) => {
    if (options.backend !== undefined) throw new SurgeonInputError(`--backend ${options.backend} applies to TensorFlow.js models; ${path} is ONNX (onnxruntime runs it), drop --backend`);
    checkExecutionProviders(options.executionProviders, options.providerFlag);
    return new OnnxNetwork(readOnnxModel(path), options.executionProviders);
  },
};
