/**
 * Structured pruning of TensorFlow.js layers models (`--structure neurons|channels`): the
 * dependency analysis on the Keras graph, and the writer of a physically smaller model folder.
 * Selection and correction are the ONNX path's ({@link pruneGroups}: statistics over the
 * network's runners, {@link selectUnits} on the consumers' H).
 *
 * A group is the units of a Dense (`units`, neurons) or Conv2D (`filters`, channels-last)
 * producer, followed through layers that keep the unit axis: Activation/ReLU/LeakyReLU/ELU,
 * Dropout, BatchNormalization (gamma, beta, moving mean and variance sliced), MaxPooling2D,
 * AveragePooling2D, GlobalAverage/MaxPooling2D, ZeroPadding2D and one Flatten (channels-last:
 * flattened index (h·W + w)·C + c, so channel c owns the columns p·C + c of the next Dense
 * kernel), to a single Dense or Conv2D consumer. Anything else on the way — Add, Concatenate,
 * Reshape, a tensor read by several layers, a model output — leaves the group alone, with the
 * reason in the plan's `blocked`.
 */
import * as tf from '@tensorflow/tfjs';
import { SurgeonInputError } from '../errors.js';
import type { Dataset } from '../io/dataset.js';
import { leafLayers } from '../network/tfjs-common.js';
import { TfjsLayersNetwork } from '../network/tfjs-layers.js';
import type { TfjsModelFile } from '../tfjs/io.js';
import { loadTfjsModelFile } from '../tfjs/model.js';
import type { BlockedGroup, NonProducer, StructureKind, StructurePlan, UnitConsumer, UnitGroup, UnitSlice } from './graph.js';
import { runStructured, validateStructuredOptions, type ModelCost, type StructuredPruneOptions, type StructuredPruneReport } from './prune.js';
import { sliceAxis, type GroupRemoval } from './shrink.js';

type KerasNode = tf.layers.Layer['inboundNodes'][number];

/** Layers the unit axis passes through unchanged (element-wise or per-channel spatial). */
const PASS_THROUGH = new Set(['Activation', 'ReLU', 'LeakyReLU', 'ELU', 'ThresholdedReLU', 'Dropout', 'SpatialDropout2D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout', 'MaxPooling2D', 'AveragePooling2D', 'GlobalAveragePooling2D', 'GlobalMaxPooling2D', 'ZeroPadding2D']);
/** Producer and consumer classes. */
const WEIGHTED = new Set(['Dense', 'Conv2D']);

function configOf(layer: tf.layers.Layer): Record<string, unknown> {
  return layer.getConfig() as Record<string, unknown>;
}

function weightOf(layer: tf.layers.Layer, short: string): tf.LayerVariable | undefined {
  return layer.weights.find((w) => w.originalName.split('/').pop() === short);
}

/** The Keras graph of `model`'s own layers: who reads each tensor, and which tensors are outputs. */
function readers(model: tf.LayersModel): { layers: tf.layers.Layer[]; readersOf: Map<tf.SymbolicTensor, tf.layers.Layer[]>; outputs: Set<tf.SymbolicTensor> } {
  if (model instanceof tf.Sequential && (model as unknown as { model?: unknown }).model == null) model.build();
  const layers = model.layers;
  const readersOf = new Map<tf.SymbolicTensor, tf.layers.Layer[]>();
  for (const layer of layers) {
    for (const node of layer.inboundNodes as KerasNode[]) {
      for (const t of node.inputTensors) readersOf.set(t, [...(readersOf.get(t) ?? []), layer]);
    }
  }
  return { layers, readersOf, outputs: new Set(model.outputs) };
}

/** Why `layer` cannot produce units, or undefined. */
function producerProblem(layer: tf.layers.Layer): string | undefined {
  const config = configOf(layer);
  if (layer.inboundNodes.length !== 1) return `layer is applied ${layer.inboundNodes.length} times (shared weights)`;
  if (layer.getClassName() === 'Conv2D' && config['dataFormat'] === 'channelsFirst') return 'channelsFirst Conv2D (only channels-last is followed)';
  if (!weightOf(layer, 'kernel')) return 'no kernel';
  return undefined;
}

/**
 * The dependency analysis of a TF.js layers model (see the module comment): groups of Dense
 * neurons and Conv2D channels that can shrink, those that cannot with the reason, and weighted
 * layers that produce no units.
 */
export function analyzeTfjsStructure(network: TfjsLayersNetwork): StructurePlan {
  const model = network.model;
  const { layers, readersOf, outputs } = readers(model);
  const groups: UnitGroup[] = [];
  const blocked: BlockedGroup[] = [];
  const nonProducers: NonProducer[] = [];
  layers.forEach((layer, order) => {
    const className = layer.getClassName();
    if (Array.isArray((layer as unknown as { layers?: unknown }).layers)) {
      nonProducers.push({ node: layer.name, op: className, reason: 'a nested model; its layers are not followed (flatten the model)' });
      return;
    }
    if (!WEIGHTED.has(className)) {
      if (layer.weights.some((w) => /kernel$/.test(w.originalName))) nonProducers.push({ node: layer.name, op: className, reason: `${className} is not a structured producer (Dense, Conv2D)` });
      return;
    }
    const kind: StructureKind = className === 'Dense' ? 'neurons' : 'channels';
    const kernel = weightOf(layer, 'kernel')!;
    const name = kernel.originalName;
    const problem = producerProblem(layer);
    if (problem) {
      nonProducers.push({ node: layer.name, op: className, reason: problem });
      return;
    }
    const units = kernel.shape[kernel.shape.length - 1]!;
    const bias = weightOf(layer, 'bias');
    const block = (reason: string) => blocked.push({ name, kind, producers: [layer.name], reason });
    const slices: UnitSlice[] = [];
    const tensors: string[] = [layer.name];
    let t = layer.inboundNodes[0]!.outputTensors[0]!;
    let span = 1;
    for (;;) {
      if (outputs.has(t)) return void block(`its output '${t.sourceLayer.name}' is a model output`);
      const next = readersOf.get(t) ?? [];
      if (next.length !== 1) return void block(next.length === 0 ? `its output '${t.sourceLayer.name}' is not read by any layer` : `'${t.sourceLayer.name}' is read by several layers (${next.map((l) => l.name).join(', ')})`);
      const reader = next[0]!;
      const rc = reader.getClassName();
      const config = configOf(reader);
      if (reader.inboundNodes.length !== 1) return void block(`'${reader.name}' is applied several times (shared layer)`);
      if (WEIGHTED.has(rc)) {
        if (rc === 'Conv2D' && config['dataFormat'] === 'channelsFirst') return void block(`consumer '${reader.name}' is channelsFirst`);
        const k = weightOf(reader, 'kernel');
        if (!k) return void block(`consumer '${reader.name}' has no kernel`);
        const inAxis = k.shape.length - 2;
        const viewSpan = rc === 'Dense' ? span : k.shape[0]! * k.shape[1]!;
        if (k.shape[inAxis]! * (rc === 'Dense' ? 1 : k.shape[0]! * k.shape[1]!) !== units * viewSpan) return void block(`consumer '${reader.name}' reads ${k.shape[inAxis]} inputs, not the ${units}×${span} of the group`);
        const rbias = weightOf(reader, 'bias');
        const consumer: UnitConsumer = { node: reader.name, op: rc as 'Dense' | 'Conv2D', tensor: k.originalName, axis: inAxis, offset: 0, span, viewSpan, unitsLast: true, ...(rbias ? { bias: rbias.originalName } : {}) };
        groups.push({ name, kind, units, producers: [{ node: layer.name, op: className as 'Dense' | 'Conv2D', weight: name, axis: kernel.shape.length - 1, rows: units, ...(bias ? { bias: bias.originalName } : {}) }], consumers: [consumer], slices, reshapes: [], tensors, order });
        return;
      }
      if (rc === 'BatchNormalization') {
        const axis = Number(config['axis'] ?? -1);
        const rank = t.shape.length;
        if (axis !== -1 && axis !== rank - 1) return void block(`BatchNormalization '${reader.name}' normalises axis ${axis}, not the unit axis`);
        for (const w of reader.weights) slices.push({ node: reader.name, op: rc, tensor: w.originalName, axis: 0, offset: 0, span: 1 });
      } else if (rc === 'Flatten') {
        if (span !== 1) return void block(`a second Flatten '${reader.name}'`);
        if (config['dataFormat'] === 'channelsFirst') return void block(`Flatten '${reader.name}' is channelsFirst`);
        const dims = t.shape.slice(1, -1);
        if (dims.some((d) => d == null)) return void block(`Flatten '${reader.name}' has an input of unknown spatial size`);
        span = (dims as number[]).reduce((a, b) => a * b, 1);
      } else if (PASS_THROUGH.has(rc)) {
        if (rc === 'Activation' && String(config['activation']) === 'softmax') return void block(`'${reader.name}' is a softmax over the units`);
        if (/Pooling2D|ZeroPadding2D|SpatialDropout2D/.test(rc) && config['dataFormat'] === 'channelsFirst') return void block(`'${reader.name}' is channelsFirst`);
      } else {
        return void block(`'${reader.name}' (${rc}) is not followed through${/^(Add|Concatenate|Multiply|Subtract|Average|Maximum|Minimum|Dot)$/.test(rc) ? ' (it merges the units with another tensor)' : ''}; the group is left alone`);
      }
      tensors.push(reader.name);
      t = reader.inboundNodes[0]!.outputTensors[0]!;
    }
  });
  groups.sort((a, b) => a.order - b.order);
  return { groups, blocked, nonProducers };
}

/** Parameters (every float weight) and per-sample multiply-adds of the Dense and Conv2D layers of `model`. */
export function tfjsModelCost(model: tf.LayersModel): ModelCost {
  let parameters = 0;
  for (const w of model.weights) if (w.dtype === 'float32') parameters += w.shape.reduce((a: number, b) => a * (b ?? 1), 1);
  let macs = 0;
  for (const l of leafLayers(model.layers)) {
    const kernel = weightOf(l, 'kernel');
    if (!kernel || !WEIGHTED.has(l.getClassName())) continue;
    const shapes = (Array.isArray(l.outputShape[0]) ? l.outputShape : [l.outputShape]) as Array<Array<number | null>>;
    const out = shapes[0]!.slice(1).reduce((a: number, b) => a * (b ?? 1), 1);
    macs += out * kernel.shape.slice(0, -1).reduce((a: number, b) => a * (b ?? 1), 1);
  }
  return { parameters, macs };
}

/** The variable of a weight by its saved name. */
function variable(model: tf.LayersModel, name: string): tf.LayerVariable {
  const w = model.weights.find((v) => v.originalName === name);
  if (!w) throw new Error(`internal: no weight ${name}`);
  return w;
}

/** A float32 weight's current values, by saved name. */
export function readTfjsWeight(model: tf.LayersModel, name: string): Float32Array {
  return Float32Array.from(variable(model, name).read().dataSync() as Float32Array);
}

/** Writes a float32 weight (same shape), by saved name. */
export function writeTfjsWeight(model: tf.LayersModel, name: string, values: Float32Array): void {
  const v = variable(model, name);
  const t = tf.tensor(values, v.shape as number[], 'float32');
  v.write(t);
  t.dispose();
}

/** Per weight: the axis and indices of every removed unit (the consumer's input indices p·units + u after a Flatten). */
function edits(removals: readonly GroupRemoval[]): Array<{ tensor: string; axis: number; indices: Set<number> }> {
  const out: Array<{ tensor: string; axis: number; indices: Set<number> }> = [];
  for (const { group, units } of removals) {
    const removed = new Set(units);
    for (const p of group.producers) {
      out.push({ tensor: p.weight, axis: p.axis, indices: removed });
      if (p.bias) out.push({ tensor: p.bias, axis: 0, indices: removed });
    }
    for (const s of group.slices) out.push({ tensor: s.tensor, axis: s.axis, indices: removed });
    for (const c of group.consumers) {
      const indices = new Set<number>();
      for (const u of units) for (let p = 0; p < c.span; p++) indices.add(p * group.units + u);
      out.push({ tensor: c.tensor, axis: c.axis, indices });
    }
  }
  return out;
}

/**
 * Zeroes the removed units of `removals` in `model` (producer kernels and biases, normalisation
 * slices, consumer columns): the masked model.
 */
export function zeroTfjsUnits(model: tf.LayersModel, removals: readonly GroupRemoval[]): void {
  for (const e of edits(removals)) {
    const v = variable(model, e.tensor);
    const { data } = sliceAxis(readTfjsWeight(model, e.tensor), v.shape as number[], e.axis, e.indices, 'zero');
    writeTfjsWeight(model, e.tensor, data);
  }
}

/** Layer configs of a layers-model topology, by name (Sequential and functional). */
function layerConfigs(topology: unknown): Map<string, Record<string, unknown>> {
  const out = new Map<string, Record<string, unknown>>();
  const walk = (node: unknown) => {
    if (!node || typeof node !== 'object') return;
    if (Array.isArray(node)) return void node.forEach(walk);
    const n = node as { class_name?: string; config?: unknown; model_config?: unknown };
    if (n.model_config) walk(n.model_config);
    if (!n.config || typeof n.config !== 'object') return;
    if (Array.isArray(n.config)) return void walk(n.config);
    const config = n.config as Record<string, unknown>;
    if (Array.isArray(config['layers'])) walk(config['layers']);
    else if (typeof config['name'] === 'string') out.set(config['name'], config);
  };
  walk(topology);
  return out;
}

/**
 * The files of `file` (the input model) with the removed units of `removals` gone from the
 * weights of `model` (the masked model, its weights current): model.json with each producer's
 * `units`/`filters` updated and a manifest of the smaller shapes, one weight shard.
 */
export function shrunkTfjsFile(file: TfjsModelFile, model: tf.LayersModel, removals: readonly GroupRemoval[]): TfjsModelFile {
  const values = new Map<string, { data: Float32Array; dims: number[] }>();
  for (const w of model.weights) values.set(w.originalName, { data: readTfjsWeight(model, w.originalName), dims: w.shape as number[] });
  for (const e of edits(removals)) {
    const v = values.get(e.tensor)!;
    values.set(e.tensor, sliceAxis(v.data, v.dims, e.axis, e.indices, 'remove'));
  }
  const json = JSON.parse(file.text) as TfjsModelFile['json'];
  const configs = layerConfigs(json.modelTopology);
  for (const { group, units } of removals) {
    for (const p of group.producers) {
      const config = configs.get(p.node);
      const key = p.op === 'Dense' ? 'units' : 'filters';
      if (!config || typeof config[key] !== 'number') throw new SurgeonInputError(`${file.path}: layer '${p.node}' has no ${key} in model.json's topology; re-save the model with tfjs layers`);
      config[key] = (config[key] as number) - units.length;
    }
  }
  const shard = 'group1-shard1of1.bin';
  const specs = (json.weightsManifest ?? []).flatMap((g) => g.weights);
  for (const spec of specs) {
    const v = values.get(spec.name);
    if (!v) continue;
    if (spec.dtype !== 'float32' || spec.quantization) throw new SurgeonInputError(`${file.path}: weight ${spec.name} is not plain float32; re-export without quantization`);
    spec.shape = v.dims.slice();
  }
  json.weightsManifest = [{ paths: [shard], weights: specs }];
  const weights: TfjsModelFile['weights'] = [];
  let offset = 0;
  const chunks: Uint8Array[] = [];
  for (const spec of specs) {
    const v = values.get(spec.name);
    const old = file.weights.find((w) => w.name === spec.name)!;
    const bytes = v ? new Uint8Array(v.data.buffer, v.data.byteOffset, v.data.byteLength) : file.data.subarray(old.offset, old.offset + old.byteLength);
    weights.push({ name: spec.name, shape: spec.shape.slice(), dtype: spec.dtype, offset, byteLength: bytes.length, quantized: false });
    chunks.push(bytes);
    offset += bytes.length;
  }
  const data = new Uint8Array(offset);
  let at = 0;
  for (const c of chunks) {
    data.set(c, at);
    at += c.length;
  }
  return { ...file, text: JSON.stringify(json), json, weights, shards: [{ path: shard, bytes: data }], data };
}

/**
 * Structured pruning of a copy of a TF.js layers model (the options and report of
 * {@link pruneStructured}); returns the smaller model, whose `save` writes a new folder. The
 * report has no latency (onnxruntime does not run TF.js models).
 */
export async function pruneStructuredTfjs(network: TfjsLayersNetwork, calib: Dataset | undefined, options: StructuredPruneOptions): Promise<{ model: TfjsLayersNetwork; report: StructuredPruneReport }> {
  const started = performance.now();
  validateStructuredOptions(options);
  if (options.structure === 'heads') throw new SurgeonInputError('--structure heads applies to ONNX models only; for a TF.js layers model use --structure neurons or channels');
  if (options.method !== 'magnitude' && !calib) throw new SurgeonInputError(`--structure with --method ${options.method} needs calibration data; pass --inputs FILE, --dataset NAME or --tokens FILE`);
  return runStructured(network, analyzeTfjsStructure(network), calib, options, started, {
    context: (current) => ({
      readBias: (name) => readTfjsWeight(current.model, name),
      writeBias: (name, values) => writeTfjsWeight(current.model, name, values),
      zero: (removal) => zeroTfjsUnits(current.model, [removal]),
    }),
    finish: async (current, removals) => {
      const output = new TfjsLayersNetwork(await loadTfjsModelFile(shrunkTfjsFile(network.loaded.file, current.model, removals)));
      return { model: output, before: tfjsModelCost(network.model), after: tfjsModelCost(output.model) };
    },
  });
}
