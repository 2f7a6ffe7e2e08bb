/**
 * Streaming task metrics on logits: classification accuracy and language-model perplexity.
 * Pure functions and accumulators on typed arrays; sums in Float64.
 */

/** Counts correct arg-max predictions of `logits` (n × K row-major) against `labels`. */
export class AccuracyAccumulator {
  correct = 0;
  samples = 0;

  /** Adds a batch; `predictions`, when given, receives each sample's arg-max class. */
  add(logits: Float32Array | Float64Array, n: number, K: number, labels: ArrayLike<number>, predictions?: Int32Array): void {
    for (let i = 0; i < n; i++) {
      const predicted = argmax(logits, i * K, K);
      if (predictions) predictions[i] = predicted;
      if (predicted === labels[i]) this.correct++;
    }
    this.samples += n;
  }

  /** correct / samples (NaN before any sample). */
  get accuracy(): number {
    return this.correct / this.samples;
  }
}

/** Index of the largest of `values[offset .. offset+length)` (first one on ties). */
export function argmax(values: ArrayLike<number>, offset: number, length: number): number {
  let best = 0;
  let bestValue = values[offset]!;
  for (let j = 1; j < length; j++) {
    const v = values[offset + j]!;
    if (v > bestValue) {
      bestValue = v;
      best = j;
    }
  }
  return best;
}

/** log Σ exp(values[offset .. offset+length)), computed stably (the maximum taken out first). */
export function logSumExp(values: ArrayLike<number>, offset: number, length: number): number {
  let max = -Infinity;
  for (let j = 0; j < length; j++) if (values[offset + j]! > max) max = values[offset + j]!;
  let sum = 0;
  for (let j = 0; j < length; j++) sum += Math.exp(values[offset + j]! - max);
  return max + Math.log(sum);
}

/**
 * Accumulates the negative log-likelihood of next-token targets:
 * NLL = −Σ log softmax(logits_t)[target_t], perplexity = exp(NLL / count).
 */
export class PerplexityAccumulator {
  nll = 0;
  count = 0;

  /** Adds `positions` rows of `logits` (positions × V) with their integer `targets`. */
  add(logits: Float32Array | Float64Array, positions: number, V: number, targets: ArrayLike<number | bigint>): void {
    for (let t = 0; t < positions; t++) {
      const offset = t * V;
      const target = Number(targets[t]);
      this.nll += logSumExp(logits, offset, V) - logits[offset + target]!;
    }
    this.count += positions;
  }

  /** exp(mean NLL). */
  get perplexity(): number {
    return Math.exp(this.nll / this.count);
  }
}

/**
 * Accumulates the Kullback–Leibler divergence KL(p ‖ q) between the softmax of reference
 * logits p (e.g. the dense model's) and of logits q, row by row: a label-free loss of a model
 * against its reference. `mean` = Σ KL / rows.
 */
export class DivergenceAccumulator {
  sum = 0;
  count = 0;

  /** Adds `rows` rows of V logits each. */
  add(reference: Float32Array | Float64Array, logits: Float32Array | Float64Array, rows: number, V: number): void {
    for (let r = 0; r < rows; r++) {
      const o = r * V;
      const logZP = logSumExp(reference, o, V);
      const logZQ = logSumExp(logits, o, V);
      let kl = 0;
      for (let j = 0; j < V; j++) {
        const logP = reference[o + j]! - logZP;
        kl += Math.exp(logP) * (logP - (logits[o + j]! - logZQ));
      }
      this.sum += kl;
    }
    this.count += rows;
  }

  /** Σ KL / rows (NaN before any row). */
  get mean(): number {
    return this.sum / this.count;
  }
}
