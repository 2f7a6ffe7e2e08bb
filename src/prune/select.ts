/**
 * Model-level selection of a stage's weights (issue 12): a layer-wise pruner can offer, next to
 * its answer, alternative weights for the same layer (I-OBS: its first iterate, the one-shot OBS
 * solution). Which one is better for the *model* is decided here, on the loss of the model's
 * output over held-out samples, not on the layer objective the pruner optimizes:
 *   - the negative log-likelihood of the labels (classification) or of the next tokens
 *     (language models) when the held-out data has them,
 *   - else the KL divergence between the dense model's output distribution and the pruned one's.
 * A stage is scored once per candidate configuration (every layer of the stage takes the
 * candidate of that label, or its answer when it has none); the later stages are still dense at
 * that point. With a stage cache the model runs from the stage's cached boundary tensors, else
 * from the graph inputs.
 */
import type { Dataset } from '../io/dataset.js';
import { DivergenceAccumulator, PerplexityAccumulator } from '../eval/metrics.js';
import { batchFeeds } from '../runtime/capture.js';
import { scoredOutput } from '../runtime/evaluate.js';
import type { NamedTensor } from '../runtime/session.js';
import type { Feeds, Network, NetworkRunner } from '../network/types.js';
import type { LayerPruneResult } from '../pruners/types.js';
import type { CachedBatch } from './stage-cache.js';

/** How the held-out model loss is measured. */
export type HeldOutLossKind = 'nll' | 'kl';

/** The held-out loss of a network's scored output (`logits`, else its first output). */
export class HeldOutModelLoss {
  private constructor(
    /** 'nll' (labels or next tokens) or 'kl' (against the dense model's output). */
    readonly kind: HeldOutLossKind,
    /** The output scored. */
    readonly output: string,
    private readonly data: Dataset,
    private readonly range: [number, number],
    private readonly batchSize: number,
    private readonly threads: number,
    /** The dense model's output per batch ('kl' only). */
    private readonly reference?: Float32Array[],
  ) {}

  /**
   * The loss over samples `range` of `data`, for networks shaped like `dense`; undefined when
   * the network has no output to score. With `kl`, the dense model runs once over the range now.
   */
  static async create(dense: Network, data: Dataset, range: [number, number], options: { batchSize: number; threads: number }): Promise<HeldOutModelLoss | undefined> {
    const output = scoredOutput(dense.outputs);
    if (!output || range[1] <= range[0]) return undefined;
    const kind: HeldOutLossKind = data.kind === 'tokens' || data.labels ? 'nll' : 'kl';
    if (kind === 'nll') return new HeldOutModelLoss(kind, output, data, range, options.batchSize, options.threads);
    const reference: Float32Array[] = [];
    const runner = await dense.runner([output], { threads: options.threads });
    try {
      for (const { feeds } of batchFeeds(data, options.batchSize, range[0], range[1])) reference.push(Float32Array.from((await runner.run(feeds, [output]))[output]!.data as Float32Array));
    } finally {
      await runner.release();
    }
    return new HeldOutModelLoss(kind, output, data, range, options.batchSize, options.threads, reference);
  }

  /** The loss of `network` run from its graph inputs. */
  async measure(network: Network): Promise<number> {
    const runner = await network.runner([this.output], { threads: this.threads });
    try {
      return await this.score(runner, (async function* (data: Dataset, batchSize: number, [from, to]: [number, number]) {
        for (const { feeds } of batchFeeds(data, batchSize, from, to)) yield feeds;
      })(this.data, this.batchSize, this.range));
    } finally {
      await runner.release();
    }
  }

  /**
   * The loss of `network` run from the tensors `boundary` (with the graph inputs), as `batches`
   * holds them for the held-out range (a stage cache's batches, in dataset order, batched like this loss).
   */
  async measureFrom(network: Network, boundary: readonly string[], batches: AsyncIterable<CachedBatch>): Promise<number> {
    if (!network.segmentRunner) return this.measure(network);
    const runner = await network.segmentRunner(boundary, [this.output], { threads: this.threads });
    try {
      return await this.score(runner, (async function* () {
        for await (const { hat } of batches) yield asFeeds(hat);
      })());
    } finally {
      await runner.release();
    }
  }

  /** Runs `runner` on `feeds` (one per batch of the range, in order) and accumulates the loss. */
  private async score(runner: NetworkRunner, feeds: AsyncIterable<Feeds>): Promise<number> {
    const nll = new PerplexityAccumulator();
    const kl = new DivergenceAccumulator();
    const batches = batchFeeds(this.data, this.batchSize, this.range[0], this.range[1]);
    let b = 0;
    for await (const feed of feeds) {
      const next = batches.next();
      if (next.done) throw new Error('internal: more held-out batches than the range holds');
      const { batch, lo, hi } = next.value;
      const out = (await runner.run(feed, [this.output]))[this.output]!;
      const logits = out.data as Float32Array;
      const count = hi - lo;
      if (this.kind === 'kl') {
        // One distribution per row over the last axis.
        const V = out.dims[out.dims.length - 1]!;
        kl.add(this.reference![b]!, logits, logits.length / V, V);
      } else if ('targets' in batch) {
        const T = this.data.kind === 'tokens' ? this.data.seqLen : 1;
        nll.add(logits, count * T, logits.length / (count * T), batch.targets.subarray(lo * T, hi * T));
      } else {
        nll.add(logits, count, logits.length / count, batch.labels!.subarray(lo, hi));
      }
      b++;
    }
    return this.kind === 'kl' ? kl.mean : nll.nll / nll.count;
  }
}

function asFeeds(tensors: Record<string, NamedTensor>): Feeds {
  const feeds: Feeds = {};
  for (const [name, t] of Object.entries(tensors)) feeds[name] = { data: t.data as Feeds[string]['data'], dims: t.dims, type: t.type as Feeds[string]['type'] };
  return feeds;
}

/** One layer's answer within a stage, before model-level selection. */
export interface StageAnswer<L extends { write(W: Float32Array): void } = { write(W: Float32Array): void }> {
  /** Where the weights go (the network's layer). */
  layer: L;
  /** The method's result; replaced by the alternative kept, if any. */
  result: LayerPruneResult;
  /** The alternative label that replaced the method's answer. */
  candidate?: string;
}

/**
 * Scores the stage with every layer at its answer (as written), then with every layer that
 * offers the alternative of each label at that alternative (the others at their answers), by
 * `score` (the held-out model loss of the network as written), and leaves the lowest written;
 * the answers win ties. Updates the `result` and `candidate` of the layers that changed.
 * Returns the losses per candidate ('answer' and each label) and the label kept.
 */
export async function selectStage(answers: StageAnswer[], score: () => Promise<number>): Promise<{ losses: Record<string, number>; chosen: string }> {
  const losses: Record<string, number> = { answer: await score() };
  let chosen = 'answer';
  const labels = [...new Set(answers.flatMap((a) => (a.result.alternatives ?? []).map((c) => c.label)))];
  const alternative = (a: StageAnswer, label: string) => a.result.alternatives?.find((c) => c.label === label);
  for (const label of labels) {
    for (const a of answers) {
      const c = alternative(a, label);
      if (c) a.layer.write(c.W);
    }
    losses[label] = await score();
    if (losses[label]! < losses[chosen]!) chosen = label;
    for (const a of answers) if (alternative(a, label)) a.layer.write(a.result.W);
  }
  if (chosen !== 'answer') {
    for (const a of answers) {
      const c = alternative(a, chosen);
      if (!c) continue;
      a.layer.write(c.W);
      a.result = { ...a.result, W: c.W, mask: c.mask, loss: c.loss };
      a.candidate = chosen;
    }
  }
  return { losses, chosen };
}
