/**
 * Evaluation of an ONNX model on a dataset: accuracy for classifiers (arg-max of the first
 * output against the labels), perplexity for language models (every position of every window
 * scored against the next token). Batches stream through onnxruntime; nothing but the running
 * sums is kept.
 */
import { SurgeonInputError } from '../errors.js';
import type { OnnxModel } from '../io/onnx/model.js';
import type { ClassificationBatch, Dataset, TokenBatch } from '../io/dataset.js';
import { batchFeeds } from './capture.js';
import { AccuracyAccumulator, PerplexityAccumulator } from '../eval/metrics.js';
import { ModelSession, type SessionOptions } from './session.js';

/** Options of {@link evaluateModel}. */
export interface EvaluateOptions extends SessionOptions {
  /** Samples (or token windows) per batch (default 256 for images, 16 for windows). */
  batchSize?: number;
  /** Called after every batch with the samples done so far. */
  onProgress?: (done: number, total: number) => void;
  /** Output to score (default: the model's first output). */
  outputName?: string;
}

/** What {@link evaluateModel} measured. */
export interface EvaluationResult {
  /** Samples (images) or windows evaluated. */
  samples: number;
  /** Classification accuracy in [0, 1] (classification datasets with labels). */
  accuracy?: number;
  /** Perplexity exp(mean NLL) over every scored position (token datasets). */
  perplexity?: number;
  /** Positions scored (token datasets). */
  positions?: number;
  /** Mean negative log-likelihood per position (token datasets). */
  nll?: number;
  /** Wall-clock seconds. */
  seconds: number;
}

/** Runs `model` over `dataset` and returns accuracy or perplexity. */
export async function evaluateModel(model: OnnxModel | ModelSession, dataset: Dataset, options: EvaluateOptions = {}): Promise<EvaluationResult> {
  const started = performance.now();
  if (dataset.kind === 'classification' && !dataset.labels) {
    throw new SurgeonInputError('the evaluation set has no labels; pass --labels FILE (or use --dataset fashion-mnist)');
  }
  const session = model instanceof ModelSession ? model : await ModelSession.create(model, options, model.path ?? 'model');
  const output = options.outputName ?? session.outputNames[0]!;
  try {
    if (dataset.kind === 'classification') {
      const accuracy = new AccuracyAccumulator();
      const batchSize = options.batchSize ?? 256;
      for (const { batch: b, feeds } of batchFeeds(dataset, batchSize)) {
        const batch = b as ClassificationBatch;
        const result = await session.run(feeds, [output]);
        const logits = result[output]!;
        const K = logits.data.length / batch.count;
        if (!Number.isInteger(K) || logits.dims[0] !== batch.count) {
          throw new SurgeonInputError(`output '${output}' has shape [${logits.dims.join(',')}] for a batch of ${batch.count}; pass a classifier whose first output is [batch, classes]`);
        }
        accuracy.add(logits.data as Float32Array, batch.count, K, batch.labels!);
        options.onProgress?.(batch.start + batch.count, dataset.count);
      }
      return { samples: accuracy.samples, accuracy: accuracy.accuracy, seconds: (performance.now() - started) / 1000 };
    }
    const perplexity = new PerplexityAccumulator();
    const batchSize = options.batchSize ?? 16;
    for (const { batch: b, feeds } of batchFeeds(dataset, batchSize)) {
      const batch = b as TokenBatch;
      const result = await session.run(feeds, [output]);
      const logits = result[output]!;
      const positions = batch.count * dataset.seqLen;
      const V = logits.data.length / positions;
      if (!Number.isInteger(V)) {
        throw new SurgeonInputError(`output '${output}' has shape [${logits.dims.join(',')}]; pass a language model whose first output is [batch, seq, vocab]`);
      }
      perplexity.add(logits.data as Float32Array, positions, V, batch.targets);
      options.onProgress?.(batch.start + batch.count, dataset.count);
    }
    return {
      samples: dataset.count,
      perplexity: perplexity.perplexity,
      positions: perplexity.count,
      nll: perplexity.nll / perplexity.count,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    if (!(model instanceof ModelSession)) await session.release();
  }
}
