/**
 * Capture of intermediate tensors, batch by batch: the tensors are added as graph outputs of
 * a copy of the model, and every batch's values are handed to a callback, so a dataset of any
 * size streams through without being held in memory.
 */
import { readOnnxModel, type OnnxModel } from '../io/onnx/model.js';
import { batches, type ClassificationBatch, type Dataset, type TokenBatch } from '../io/dataset.js';
import { type Feed, generatedFeed } from '../io/feeds.js';
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
 * caller releases it. Graph outputs already present are reused. External data is read from the
 * model's folder; float16/bfloat16 captures come back as Float32Array (see {@link ModelSession}).
 */
export async function captureSession(model: OnnxModel, names: readonly string[], options: SessionOptions = {}): Promise<ModelSession> {
  const outputs = new Set(model.outputs.map((o) => o.name));
  // Only graph outputs asked for (evaluation): no copy needed.
  if (names.every((n) => outputs.has(n))) return ModelSession.create(model, options, model.path ?? 'model');
  const copy = readOnnxModel(model.toBytes(), { baseDir: model.baseDir });
  copy.addGraphOutputs(names);
  return ModelSession.create(copy, options, model.path ?? 'model');
}

/**
 * Feeds `dataset` through `session` (see {@link captureSession}) and calls `onBatch` with the
 * tensors `names` of every batch. Awaits the callback before the next batch. With no `names`
 * the session is not run: the callback gets each batch's feeds (graph inputs) only.
 */
export async function forEachBatch(
  session: { run(feeds: Record<string, Feed>, names: readonly string[]): Promise<Record<string, NamedTensor>> },
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
  /**
   * Every model input's feed for samples [lo, hi) of the batch: the primary input
   * (`dataset.inputName`), the `extra` inputs (sliced like it) and the `generated` ones.
   */
  feeds: Record<string, Feed>;
}

/**
 * Yields the model feeds of every batch of `dataset` that overlaps samples [from, to): all
 * inputs the dataset feeds (see {@link BatchFeed}). Generated inputs of the same batch size are
 * built once and shared between batches (treat feeds as read-only).
 */
export function* batchFeeds(dataset: Dataset, batchSize: number, from = 0, to = dataset.count): Generator<BatchFeed> {
  const generated = new Map<string, Feed>();
  for (const batch of batches(dataset, batchSize)) {
    const end = batch.start + batch.count;
    if (end <= from || batch.start >= to) continue;
    const lo = Math.max(from, batch.start) - batch.start;
    const hi = Math.min(to, end) - batch.start;
    const count = hi - lo;
    const feeds: Record<string, Feed> = {};
    if (dataset.kind === 'classification') {
      const per = batch.x.length / batch.count;
      feeds[dataset.inputName] = { data: batch.x.subarray(lo * per, hi * per), dims: [count, ...dataset.sampleShape], type: dataset.xType ?? 'float32' };
    } else {
      const T = dataset.seqLen;
      feeds[dataset.inputName] = { data: batch.x.subarray(lo * T, hi * T), dims: [count, T] };
    }
    const first = batch.start + lo;
    for (const [name, extra] of Object.entries(dataset.extra ?? {})) {
      const per = extra.sampleShape.reduce((a, b) => a * b, 1);
      feeds[name] = { data: extra.data.subarray(first * per, (first + count) * per), dims: [count, ...extra.sampleShape], type: extra.type };
    }
    for (const [name, spec] of Object.entries(dataset.generated ?? {})) {
      const key = `${count}:${name}`;
      let feed = generated.get(key);
      if (!feed) generated.set(key, (feed = generatedFeed(spec, count)));
      feeds[name] = feed;
    }
    yield { batch, lo, hi, feeds };
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
