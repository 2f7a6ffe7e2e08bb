/**
 * Capture of intermediate tensors, batch by batch: the tensors are added as graph outputs of
 * a copy of the model, and every batch's values are handed to a callback, so a dataset of any
 * size streams through without being held in memory.
 */
import { readOnnxModel, type OnnxModel } from '../io/onnx/model.js';
import { batches, type ClassificationBatch, type Dataset, type TokenBatch } from '../io/dataset.js';
import { ModelSession, type NamedTensor, type SessionOptions } from './session.js';

/** One captured batch. */
export interface CapturedBatch {
  /** Index of the batch's first sample in the dataset, and its number of samples. */
  start: number;
  count: number;
  /** Captured tensors (and the requested outputs) by name. */
  tensors: Record<string, NamedTensor>;
  /** The graph inputs the batch was fed (batch on axis 0), by name. */
  feeds: BatchFeed['feeds'];
  /** The batch's labels (classification) or next-token targets (tokens), when known. */
  labels?: Int32Array;
  targets?: BigInt64Array | Int32Array;
}

/** Options of {@link captureTensors}. */
export interface CaptureOptions extends SessionOptions {
  /** Samples per batch (default 128). */
  batchSize?: number;
  /** Restrict to samples [start, end) of the dataset. */
  range?: [number, number];
}

/**
 * A session over a copy of `model` that also returns `names` (intermediate tensors). The
 * caller releases it. Graph outputs already present are reused.
 */
export async function captureSession(model: OnnxModel, names: readonly string[], options: SessionOptions = {}): Promise<ModelSession> {
  const copy = readOnnxModel(model.toBytes(), { baseDir: model.baseDir });
  copy.addGraphOutputs(names);
  return ModelSession.create(copy.toBytes(), options, model.path ?? 'model');
}

/**
 * Feeds `dataset` through `session` (see {@link captureSession}) and calls `onBatch` with the
 * tensors `names` of every batch. Awaits the callback before the next batch. With no `names`
 * the session is not run: the callback gets each batch's feeds (graph inputs) only.
 */
export async function forEachBatch(
  session: ModelSession,
  dataset: Dataset,
  names: readonly string[],
  onBatch: (batch: CapturedBatch) => void | Promise<void>,
  options: CaptureOptions = {},
): Promise<void> {
  const [from, to] = options.range ?? [0, dataset.count];
  const batchSize = options.batchSize ?? 128;
  const T = dataset.kind === 'tokens' ? dataset.seqLen : 0;
  for (const { batch, feeds, lo, hi } of batchFeeds(dataset, batchSize, from, to)) {
    // onnxruntime refuses an empty fetch list; nothing to fetch means nothing to run.
    const tensors = names.length > 0 ? await session.run(feeds, names) : {};
    const captured: CapturedBatch = { start: batch.start + lo, count: hi - lo, tensors, feeds };
    if ('labels' in batch && batch.labels) captured.labels = batch.labels.subarray(lo, hi);
    if ('targets' in batch) captured.targets = batch.targets.subarray(lo * T, hi * T);
    await onBatch(captured);
  }
}

/** The model feeds of one batch restricted to samples [from, to) of the dataset. */
export interface BatchFeed {
  batch: ClassificationBatch | TokenBatch;
  /** The slice [lo, hi) of the batch that lies inside [from, to). */
  lo: number;
  hi: number;
  feeds: Record<string, { data: Float32Array | BigInt64Array | Int32Array; dims: number[] }>;
}

/** Yields the model feeds of every batch of `dataset` that overlaps samples [from, to). */
export function* batchFeeds(dataset: Dataset, batchSize: number, from = 0, to = dataset.count): Generator<BatchFeed> {
  for (const batch of batches(dataset, batchSize)) {
    const end = batch.start + batch.count;
    if (end <= from || batch.start >= to) continue;
    const lo = Math.max(from, batch.start) - batch.start;
    const hi = Math.min(to, end) - batch.start;
    const count = hi - lo;
    if (dataset.kind === 'classification') {
      const per = batch.x.length / batch.count;
      yield { batch, lo, hi, feeds: { [dataset.inputName]: { data: batch.x.subarray(lo * per, hi * per) as Float32Array, dims: [count, ...dataset.sampleShape] } } };
    } else {
      const T = dataset.seqLen;
      yield { batch, lo, hi, feeds: { [dataset.inputName]: { data: batch.x.subarray(lo * T, hi * T), dims: [count, T] } } };
    }
  }
}

/** Convenience: {@link captureSession} + {@link forEachBatch} + release. */
export async function captureTensors(
  model: OnnxModel,
  dataset: Dataset,
  names: readonly string[],
  onBatch: (batch: CapturedBatch) => void | Promise<void>,
  options: CaptureOptions = {},
): Promise<void> {
  const session = await captureSession(model, names, options);
  try {
    await forEachBatch(session, dataset, names, onBatch, options);
  } finally {
    await session.release();
  }
}
