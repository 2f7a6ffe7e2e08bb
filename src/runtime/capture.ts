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
 * tensors `names` of every batch. Awaits the callback before the next batch.
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
  for (const batch of batches(dataset, batchSize)) {
    const end = batch.start + batch.count;
    if (end <= from || batch.start >= to) continue;
    const lo = Math.max(from, batch.start) - batch.start;
    const hi = Math.min(to, end) - batch.start;
    const count = hi - lo;
    if (dataset.kind === 'classification') {
      const per = batch.x.length / batch.count;
      const x = batch.x.subarray(lo * per, hi * per);
      const tensors = await session.run({ [dataset.inputName]: { data: x, dims: [count, ...dataset.sampleShape] } }, names);
      await onBatch({ start: batch.start + lo, count, tensors, labels: (batch as ClassificationBatch).labels?.subarray(lo, hi) });
    } else {
      const T = dataset.seqLen;
      const x = batch.x.subarray(lo * T, hi * T);
      const tensors = await session.run({ [dataset.inputName]: { data: x, dims: [count, T] } }, names);
      await onBatch({ start: batch.start + lo, count, tensors, targets: (batch as TokenBatch).targets.subarray(lo * T, hi * T) });
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
