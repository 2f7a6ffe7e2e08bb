/**
 * Evaluation of a model (any {@link Network}, an ONNX model or an open session) on a dataset: accuracy for classifiers (arg-max of the first
 * output against the labels), perplexity for language models (every position of every window
 * scored against the next token). The scored output is `logits` when the model has one, else
 * its first output (so decoders' `present.*` outputs are ignored). Batches stream through onnxruntime; nothing but the running
 * sums is kept.
 */
import { SurgeonInputError } from '../errors.js';
import type { OnnxModel } from '../io/onnx/model.js';
import { asNetwork } from '../network/onnx.js';
import type { Network, NetworkRunner } from '../network/types.js';
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
  /** Output to score (default: the output named `logits`, else the model's first output). */
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

/** The output evaluation scores: `logits` when the model has one, else the first output. */
export function scoredOutput(outputs: readonly { name: string }[]): string | undefined {
  return outputs.find((o) => o.name === 'logits')?.name ?? outputs[0]?.name;
}

/** Runs `model` over `dataset` and returns accuracy or perplexity. */
export async function evaluateModel(model: Network | OnnxModel | ModelSession, dataset: Dataset, options: EvaluateOptions = {}): Promise<EvaluationResult> {
  const started = performance.now();
  if (dataset.kind === 'classification' && !dataset.labels) {
    throw new SurgeonInputError('the evaluation set has no labels; pass --labels FILE (or use --dataset fashion-mnist)');
  }
  let session: Pick<NetworkRunner, 'run'>;
  let release: (() => Promise<void>) | undefined;
  let output: string;
  if (model instanceof ModelSession) {
    output = options.outputName ?? scoredOutput(model.outputNames.map((name) => ({ name })))!;
    session = { run: (feeds, fetch) => model.run(feeds, fetch) };
  } else {
    const network = asNetwork(model);
    const chosen = options.outputName ?? scoredOutput(network.outputs);
    if (!chosen) throw new SurgeonInputError('the model has no output; pass a classifier or a language model');
    output = chosen;
    const runner = await network.runner([output], { threads: options.threads ?? 2 });
    session = runner;
    release = () => runner.release();
  }
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
          throw new SurgeonInputError(`output '${output}' has shape [${logits.dims.join(',')}] for a batch of ${batch.count}; pass a classifier whose output 'logits' (or first output) is [batch, classes]`);
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
        throw new SurgeonInputError(`output '${output}' has shape [${logits.dims.join(',')}]; pass a language model whose output 'logits' (or first output) is [batch, seq, vocab]`);
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
    await release?.();
  }
}
