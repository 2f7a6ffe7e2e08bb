/**
 * Neural collapse of a whole ONNX model, layer by layer: the streaming measurement of every
 * selected tensor (which tensors, and the final linear classifier: ./select.ts) over a labelled
 * dataset through one onnxruntime capture session.
 *
 * Features. A tensor's features per sample are the sample's slice of the tensor flattened in
 * C order: a [B, C, H, W] feature map gives d = C·H·W, a [B, T, D] token tensor gives d = T·D
 * (every token position is a separate coordinate; nothing is pooled). The batch may be on any
 * axis: a sequence-first [T, B, D] tensor gives sample b's [T, D] slice, T-major, the same
 * features as the batch-first [B, T, D] (../runtime/batch-axis.ts finds the axis from the batch
 * size on the first batch). Graph inputs are measured from the batch's feeds.
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
import { asNetwork } from '../network/onnx.js';
import type { Network } from '../network/types.js';
import { scoredOutput } from '../runtime/evaluate.js';
import { argmax } from '../eval/metrics.js';
import { BatchLayout, type BatchAxisOptions } from '../runtime/batch-axis.js';
import { forEachBatch, type CapturedBatch } from '../runtime/capture.js';
import { ClassMeansAccumulator, CollapseAccumulator, type ClassMeans, type FeatureArray } from './accumulate.js';
import { measureCollapse, type Classifier, type CollapseMetrics } from './measure.js';
import { nearestClassMean } from './nc4.js';
import { type CollapseTensor, type LayerSelection, type ModelClassifier, type TensorRole } from './select.js';

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
  /** The flag that sets `batchSize`, named when a tensor's batch axis is ambiguous (default `--batch`). */
  batchFlag?: string;
  /** The fix named when a tensor has no batch axis (default: pick another tensor in --layers). */
  tensorAdvice?: string;
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

/** The metrics of ./measure.ts a {@link LayerCollapse} reports (NC3 and `equinormW` on the classifier's input only). */
type ReportedMetrics =
  | 'd' | 'nc1' | 'nc1Kept' | 'traceRatio' | 'cdnv' | 'withinTotalRatio' | 'etf' | 'equinorm' | 'equinormW'
  | 'equiangularity' | 'equiangularityMaxDev' | 'orthogonalFrame' | 'nc3' | 'nc3Dual'
  | 'effectiveRank' | 'numericalRank' | 'stableRank' | 'rankThreshold' | 'traceWithin' | 'traceBetween';

/** Collapse metrics of one measured tensor. Lower is more collapsed for every NC metric. */
export interface LayerCollapse extends Pick<CollapseMetrics, ReportedMetrics> {
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
  /**
   * NC4 (Papyan et al. 2020, see ./nc4.ts): rate at which the nearest-class-mean rule, with the
   * class means of `train` (else of the evaluated split), disagrees with the network's prediction.
   */
  nc4: number;
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

/** The largest of labels[0..n) (−1 when n = 0). */
export function maxLabel(labels: Int32Array, n: number): number {
  let max = -1;
  for (let i = 0; i < n; i++) if (labels[i]! > max) max = labels[i]!;
  return max;
}

/**
 * Per-sample features (count × d, sample-major) of a state's tensor in a captured batch, checked
 * for type; graph inputs come from the batch's feeds. The batch axis is found on the first batch
 * and checked on the others (../runtime/batch-axis.ts).
 */
function featuresOf(batch: CapturedBatch, state: LayerState): { data: FeatureArray; shape: number[] } {
  const name = state.tensor.name;
  const t = batch.tensors[name] ?? batch.feeds[name];
  if (!t) {
    if (state.input) throw new SurgeonInputError(`tensor '${name}' is a graph input the data do not feed; pick a tensor computed from the fed input '${Object.keys(batch.feeds).join("', '")}' in --layers`);
    throw new Error(`captured batch lacks tensor '${name}'`);
  }
  if (!(t.data instanceof Float32Array || t.data instanceof Float64Array)) {
    const type = 'type' in t ? t.type : 'integer';
    throw new SurgeonInputError(`tensor '${name}' holds ${type} values, not floats; pick a float activation tensor in --layers`);
  }
  return state.layout.features(t.data, t.dims, batch.count);
}

/** Arg-max of each row of logits (n × width), first index on ties. */
function argmaxRows(logits: ArrayLike<number>, n: number, width: number, out: Int32Array, offset: number): void {
  for (let i = 0; i < n; i++) out[offset + i] = argmax(logits, i * width, width);
}

interface LayerState {
  tensor: CollapseTensor;
  /** Whether the tensor is a graph input (taken from the feeds, batch on axis 0). */
  input: boolean;
  /** Where its samples are. */
  layout: BatchLayout;
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
 *   features, unknown layer names, tensors whose batch axis is missing or ambiguous (see
 *   ../runtime/batch-axis.ts).
 */
export async function measureModelCollapse(model: Network | OnnxModel, dataset: ClassificationDataset, options: ModelCollapseOptions = {}): Promise<ModelCollapse> {
  const network = asNetwork(model);
  const started = performance.now();
  const labels = requireLabels(dataset, 'evaluated');
  if (options.limit !== undefined && !(Number.isInteger(options.limit) && options.limit > 0)) {
    throw new SurgeonInputError(`--limit ${options.limit}: expected a positive integer`);
  }
  const n = Math.min(dataset.count, options.limit ?? dataset.count);
  const train = options.train;
  const trainLabels = train ? requireLabels(train, 'train') : undefined;
  const output = network.outputs.find((o) => o.name === scoredOutput(network.outputs));
  if (!output) throw new SurgeonInputError('the model has no graph output; pass a classifier whose output (logits, or the first) is [batch, classes]');
  const outputName = output.name;
  const outDims = output.dims;
  const staticWidth = outDims.length === 2 && typeof outDims[1] === 'number' && outDims[1] > 0 ? outDims[1] : undefined;
  const K = staticWidth ?? Math.max(maxLabel(labels, n) + 1, trainLabels ? maxLabel(trainLabels, train!.count) + 1 : 0);
  checkClasses(labels, n, K, 'evaluated');
  if (train) checkClasses(trainLabels!, train.count, K, 'train');

  const plan = network.collapsePlan(options.layers ?? 'default');
  const tensors = plan.tensors;
  const classifier = plan.classifier;
  const inputs = new Set(network.inputs.map((i) => i.name));
  const captured = [...new Set(tensors.map((t) => t.name).filter((name) => !inputs.has(name)))];
  const axes = plan.featureAxes ?? new Map<string, number[]>();
  const layoutOptions: BatchAxisOptions = {
    ...(options.batchFlag !== undefined ? { batchFlag: options.batchFlag } : {}),
    ...(options.tensorAdvice !== undefined ? { tensorAdvice: options.tensorAdvice } : {}),
  };
  const states: LayerState[] = tensors.map((tensor) => {
    const input = inputs.has(tensor.name);
    const layout = new BatchLayout(tensor.name, { ...layoutOptions, exclude: axes.get(tensor.name) ?? [] }, input || plan.batchFirst ? 0 : undefined);
    return { tensor, input, layout, disagreements: 0 };
  });
  const batchSize = options.batchSize ?? 128;
  const total = (train ? train.count : 0) + 2 * n;
  let done = 0;
  const progress = (count: number, phase: CollapsePhase) => {
    done += count;
    options.onProgress?.(done, total, phase);
  };

  const session = await network.runner([...captured, outputName], { threads: options.threads ?? 2 });
  try {
    // Optional pass over the train split: class means for NC4.
    if (train) {
      await forEachBatch(session, train, captured, (batch) => {
        for (const state of states) {
          const { data, shape } = featuresOf(batch, state);
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
        const { data, shape } = featuresOf(batch, state);
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
    await forEachBatch(session, dataset, captured, (batch) => {
      const preds = predictions.subarray(batch.start, batch.start + batch.count);
      for (const state of states) {
        const { data } = featuresOf(batch, state);
        state.acc!.addBatch(data, batch.labels!, batch.count); // validates the batch (finite, n × d)
        const ncc = nearestClassMean(data, batch.count, state.trainMeans!);
        for (let i = 0; i < batch.count; i++) if (ncc[i] !== preds[i]) state.disagreements++;
      }
      progress(batch.count, 'covariance');
    }, { batchSize, range: [0, n] });

    const measured = states.map((s) => ({ tensor: s.tensor, shape: s.shape!, d: s.d!, acc: s.acc!, disagreements: s.disagreements }));
    const rows = collapseRows(measured, classifier, K, n, options);

    const bal = options.balancedness === false ? [] : plan.balancedness();
    return collapseResult({ correct, n, K, trainSamples: train?.count, options, rows, balancedness: bal, started });
  } finally {
    await session.release();
  }
}

/** A tensor measured over both passes on the evaluated split. */
export interface MeasuredTensor {
  tensor: CollapseTensor;
  /** Per-sample shape (batch axis dropped). */
  shape: number[];
  d: number;
  /** Its statistics after pass 2. */
  acc: CollapseAccumulator;
  /** NC4 disagreements over the evaluated samples. */
  disagreements: number;
}

/**
 * The per-tensor rows of a {@link ModelCollapse} once pass 2 is over (shared with the tfjs
 * measurement): finalizes each accumulator and measures it, with the classifier (NC3, classifier
 * equinorm) on the penultimate tensor when it has K rows and the tensor's d columns; NC4 is the
 * disagreement rate over the `n` evaluated samples. Also returns the classifier used, if any.
 */
export function collapseRows(
  states: readonly MeasuredTensor[],
  classifier: Pick<ModelClassifier, 'layer' | 'input' | 'K' | 'd' | 'read'> | undefined,
  K: number,
  n: number,
  options: Pick<ModelCollapseOptions, 'weightedMean' | 'pinvTolerance'>,
): { layers: LayerCollapse[]; classifier: ModelCollapse['classifier'] } {
  let classifierWeights: Classifier | undefined;
  let classifierInfo: ModelCollapse['classifier'];
  const layers = states.map((state): LayerCollapse => {
    const stats = state.acc.finalize();
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
    return {
      name: state.tensor.name,
      ...(state.tensor.feeds.length > 0 ? { layer: state.tensor.feeds[0]! } : {}),
      feeds: state.tensor.feeds,
      role: state.tensor.role,
      ...(state.tensor.penultimate ? { penultimate: true as const } : {}),
      shape: state.shape,
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
  });
  return { layers, classifier: classifierInfo };
}

/**
 * The {@link ModelCollapse} object from its measured parts (shared with the tfjs measurement, so
 * both report the same fields with the same defaults).
 */
export function collapseResult(parts: {
  correct: number;
  n: number;
  K: number;
  /** Samples of the split NC4's class means came from, when it is not the evaluated one. */
  trainSamples: number | undefined;
  options: Pick<ModelCollapseOptions, 'weightedMean' | 'pinvTolerance'>;
  rows: ReturnType<typeof collapseRows>;
  balancedness: NonNullable<ModelCollapse['balancedness']>;
  /** performance.now() at the start of the measurement. */
  started: number;
}): ModelCollapse {
  const { rows, trainSamples, balancedness } = parts;
  return {
    accuracy: parts.correct / parts.n,
    samples: parts.n,
    K: parts.K,
    nc4MeansFrom: trainSamples !== undefined ? 'train' : 'eval',
    ...(trainSamples !== undefined ? { trainSamples } : {}),
    weightedMean: parts.options.weightedMean === true,
    pinvTolerance: parts.options.pinvTolerance ?? 1e-6,
    layers: rows.layers,
    ...(rows.classifier ? { classifier: rows.classifier } : {}),
    ...(balancedness.length > 0 ? { balancedness } : {}),
    seconds: (performance.now() - parts.started) / 1000,
  };
}
