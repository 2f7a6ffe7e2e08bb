/**
 * Neural collapse of a TensorFlow.js layers model, layer by layer — the tfjs counterpart of
 * `measureModelCollapse` (../collapse/model.ts), with the same result shape, plus the AGOP view
 * (./agop.ts) on request.
 *
 * Features of the selected tensors (./collapse-plan.ts) come per batch from one sub-model
 * tf.model({inputs, outputs: [selected tensors…, model output]}); a tensor's per-sample slice is
 * flattened in C order (NHWC feature maps give d = H·W·C). Passes as for ONNX: an optional pass
 * over `train` for NC4's class means, then pass 1 (predictions, accuracy, class means) and pass 2
 * (within-class statistics, NC4) over the evaluated split, streaming into the accumulators of
 * ../collapse/accumulate.ts: memory O(K·d + K²) per layer, never N × d.
 *
 * Papers: Papyan, Han, Donoho, PNAS 2020 (NC1–NC4); see ../collapse/measure.ts for the others.
 */
import * as tf from '@tensorflow/tfjs';
import { SurgeonInputError } from '../errors.js';
import { ClassMeansAccumulator, CollapseAccumulator, type ClassMeans } from '../collapse/accumulate.js';
import { checkClasses, collapseResult, collapseRows, maxLabel, type ModelCollapse, type ModelCollapseOptions } from '../collapse/model.js';
import { nearestClassMean } from '../collapse/nc4.js';
import { argmax } from '../eval/metrics.js';
import { agopCorrelations, type AgopLayer, type AgopSkipped } from './agop.js';
import { findTfjsClassifier, selectTfjsCollapseTensors, tfjsBalancedness, type TfjsCollapseTensor } from './collapse-plan.js';
import { batchOf, range, type TfjsData } from './data.js';

/** Progress phases of {@link measureTfjsCollapse}. */
export type TfjsCollapsePhase = 'train' | 'means' | 'covariance' | 'agop';

/** Options of {@link measureTfjsCollapse}: those of the ONNX measurement, with tfjs data. */
export interface TfjsCollapseOptions extends Omit<ModelCollapseOptions, 'train' | 'threads' | 'onProgress'> {
  /** Split whose class means NC4's nearest-class-mean rule uses (default: the evaluated split). */
  train?: TfjsData;
  /** Also compute the AGOP view of every Dense layer (./agop.ts). */
  agop?: boolean;
  /** Widest Dense input the AGOP view measures (default 1024). */
  agopMaxDim?: number;
  /** Called after every batch: `done` of `total` samples over all passes. */
  onProgress?: (done: number, total: number, phase: TfjsCollapsePhase) => void;
}

/** Result of {@link measureTfjsCollapse}: the ONNX result shape plus the AGOP view. */
export interface TfjsCollapse extends ModelCollapse {
  /** Per Dense layer: correlation of W_lᵀW_l with AGOP_l and AGOP_l^{1/2} (with `agop`). */
  agop?: AgopLayer[];
  /** Dense layers the AGOP view skipped, with the reason. */
  agopSkipped?: AgopSkipped[];
}

interface State {
  tensor: TfjsCollapseTensor;
  /** Index in the sub-model's outputs (−1 for a model input). */
  output: number;
  shape: number[];
  d: number;
  acc: CollapseAccumulator;
  trainMeans?: ClassMeans;
  disagreements: number;
}

/** Runs `sub` on samples start..start+count of `data`: the float32 values of each output. */
function runBatch(sub: tf.LayersModel, data: TfjsData, start: number, count: number): Float32Array[] {
  const outs = tf.tidy(() => {
    const { x } = batchOf(data, range(start, count));
    const r = sub.predict(x, { batchSize: count });
    return Array.isArray(r) ? r : [r];
  });
  const values = outs.map((t) => t.dataSync() as Float32Array);
  tf.dispose(outs);
  return values;
}

function featuresOf(state: State, outputs: Float32Array[], data: TfjsData, start: number, count: number): Float32Array {
  if (state.output >= 0) return outputs[state.output]!;
  const per = data.x.length / data.count;
  return data.x.subarray(start * per, (start + count) * per);
}

/**
 * Measures neural collapse (NC1–NC4, CDNV, ETF distances, class-mean ranks) of the selected
 * tensors of a tfjs layers `model` on labelled `data` (see the module comment), and with
 * `agop` the AGOP view. K is the width of the model's output ([batch, K]); every class 0..K−1
 * must occur in the evaluated labels (and in `train`'s).
 *
 * @throws SurgeonInputError for a missing or single class, non-finite features, unknown layer names.
 */
export async function measureTfjsCollapse(model: tf.LayersModel, data: TfjsData, options: TfjsCollapseOptions = {}): Promise<TfjsCollapse> {
  const started = performance.now();
  if (options.limit !== undefined && !(Number.isInteger(options.limit) && options.limit > 0)) {
    throw new SurgeonInputError(`--limit ${options.limit}: expected a positive integer`);
  }
  const n = Math.min(data.count, options.limit ?? data.count);
  const train = options.train;
  const outShape = model.outputs[0]!.shape;
  if (outShape.length !== 2) throw new SurgeonInputError(`the model's output has shape [${outShape.join(', ')}]; collapse needs a classifier whose output is [batch, classes]`);
  const K = outShape[1] ?? Math.max(maxLabel(data.labels, n) + 1, train ? maxLabel(train.labels, train.count) + 1 : 0);
  checkClasses(data.labels, n, K, 'evaluated');
  if (train) checkClasses(train.labels, train.count, K, 'train');

  const tensors = selectTfjsCollapseTensors(model, options.layers ?? 'default');
  const classifier = findTfjsClassifier(model);
  const captured = tensors.filter((t) => !t.isInput);
  // The sub-model shares the model's layers and weights: nothing of its own to dispose.
  const outputs = captured.map((t) => t.symbolic);
  let logitsAt = outputs.indexOf(model.outputs[0]!);
  if (logitsAt < 0) logitsAt = outputs.push(model.outputs[0]!) - 1;
  const sub = tf.model({ inputs: model.inputs, outputs });
  const per = (t: TfjsCollapseTensor) => t.symbolic.shape.slice(1) as number[];
  const states: State[] = tensors.map((tensor) => {
    const shape = tensor.isInput ? data.sampleShape.slice() : per(tensor);
    if (shape.some((v) => v === null || !(v > 0))) throw new SurgeonInputError(`tensor '${tensor.name}' has a dynamic per-sample shape [${shape.join(', ')}]; measure tensors of a fixed shape`);
    const d = shape.reduce((a, b) => a * b, 1);
    return { tensor, output: tensor.isInput ? -1 : captured.indexOf(tensor), shape, d, acc: new CollapseAccumulator({ K, d, layer: tensor.name }), disagreements: 0 };
  });
  const batchSize = options.batchSize ?? 128;
  const total = (train ? train.count : 0) + 2 * n + (options.agop ? n : 0);
  let done = 0;
  const progress = (count: number, phase: TfjsCollapsePhase) => {
    done += count;
    options.onProgress?.(done, total, phase);
  };

  if (train) {
    const accs = states.map((s) => new ClassMeansAccumulator({ K, d: s.d, layer: s.tensor.name }));
    for (let start = 0; start < train.count; start += batchSize) {
      const count = Math.min(batchSize, train.count - start);
      const outputs = runBatch(sub, train, start, count);
      const y = train.labels.subarray(start, start + count);
      states.forEach((s, i) => accs[i]!.addBatch(featuresOf(s, outputs, train, start, count), y, count));
      progress(count, 'train');
    }
    states.forEach((s, i) => (s.trainMeans = accs[i]!.finalize()));
  }

  // Pass 1: predictions, accuracy, class means.
  const predictions = new Int32Array(n);
  let correct = 0;
  for (let start = 0; start < n; start += batchSize) {
    const count = Math.min(batchSize, n - start);
    const outputs = runBatch(sub, data, start, count);
    const logits = outputs[logitsAt]!;
    const y = data.labels.subarray(start, start + count);
    for (let i = 0; i < count; i++) {
      const best = argmax(logits, i * K, K);
      predictions[start + i] = best;
      if (best === y[i]) correct++;
    }
    for (const s of states) s.acc.addBatch(featuresOf(s, outputs, data, start, count), y, count);
    progress(count, 'means');
  }

  // Pass 2: within-class statistics and NC4 against the train (or own) class means.
  for (const s of states) {
    const own = s.acc.startSecondPass();
    s.trainMeans ??= own;
  }
  for (let start = 0; start < n; start += batchSize) {
    const count = Math.min(batchSize, n - start);
    const outputs = runBatch(sub, data, start, count);
    const y = data.labels.subarray(start, start + count);
    for (const s of states) {
      const features = featuresOf(s, outputs, data, start, count);
      s.acc.addBatch(features, y, count); // validates the batch (finite, n × d)
      const ncc = nearestClassMean(features, count, s.trainMeans!);
      for (let i = 0; i < count; i++) if (ncc[i] !== predictions[start + i]) s.disagreements++;
    }
    progress(count, 'covariance');
  }

  const rows = collapseRows(states, classifier, K, n, options);

  let agop: Awaited<ReturnType<typeof agopCorrelations>> | undefined;
  if (options.agop) {
    let last = 0;
    agop = await agopCorrelations(model, data, {
      batchSize,
      limit: n,
      ...(options.agopMaxDim !== undefined ? { maxDim: options.agopMaxDim } : {}),
      onProgress: (d) => {
        progress(d - last, 'agop');
        last = d;
      },
    });
  }
  const bal = options.balancedness === false ? [] : tfjsBalancedness(model);
  return {
    ...collapseResult({ correct, n, K, trainSamples: train?.count, options, rows, balancedness: bal, started }),
    ...(agop ? { agop: agop.layers, ...(agop.skipped.length > 0 ? { agopSkipped: agop.skipped } : {}) } : {}),
  };
}
