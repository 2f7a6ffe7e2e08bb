/**
 * The model's loss on held-out samples, for model-level selection (issue 12): an iterative
 * method's result is checked against its own first step on what the *model* does, not on the
 * layer objective the pruner optimizes (a lower layer error does not always mean a better model):
 *   - the negative log-likelihood of the labels (classification) or of the next tokens
 *     (language models) when the held-out data has them,
 *   - else the KL divergence between the dense model's output distribution and the pruned one's.
 */
import type { Dataset } from '../io/dataset.js';
import { DivergenceAccumulator, PerplexityAccumulator } from '../eval/metrics.js';
import { batchFeeds } from '../runtime/capture.js';
import { scoredOutput } from '../runtime/evaluate.js';
import type { Network } from '../network/types.js';

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

  /** The loss of `network` (run from its graph inputs) over the range. */
  async measure(network: Network): Promise<number> {
    const runner = await network.runner([this.output], { threads: this.threads });
    try {
      const nll = new PerplexityAccumulator();
      const kl = new DivergenceAccumulator();
      let b = 0;
      for (const { batch, lo, hi, feeds } of batchFeeds(this.data, this.batchSize, this.range[0], this.range[1])) {
        const out = (await runner.run(feeds, [this.output]))[this.output]!;
        const logits = out.data as Float32Array;
        const count = hi - lo;
        if (this.kind === 'kl') {
          // One distribution per row over the last axis.
          const V = out.dims[out.dims.length - 1]!;
          kl.add(this.reference![b++]!, logits, logits.length / V, V);
        } else if ('targets' in batch) {
          const T = this.data.kind === 'tokens' ? this.data.seqLen : 1;
          nll.add(logits, count * T, logits.length / (count * T), batch.targets.subarray(lo * T, hi * T));
        } else {
          nll.add(logits, count, logits.length / count, batch.labels!.subarray(lo, hi));
        }
      }
      return this.kind === 'kl' ? kl.mean : nll.nll / nll.count;
    } finally {
      await runner.release();
    }
  }
}
