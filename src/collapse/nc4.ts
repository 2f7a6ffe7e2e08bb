/**
 * NC4 (Papyan, Han, Donoho 2020): simplification to the nearest class centre. The network's
 * decision argmax_k (Wh + b)_k converges to the nearest-class-mean (NCC) rule
 * argmin_k ‖h − μ_k‖ with μ_k the class means of the training (or calibration) split.
 *
 * NC4 here is the disagreement rate on the evaluated split,
 *   NC4 = (1/N) Σ_i 1[ argmin_k ‖h_i − μ_k‖ ≠ ŷ_i ],
 * ŷ_i the network's prediction; accumulated over batches as counts. Ties in the NCC rule go
 * to the lowest class index.
 */
import { SurgeonInputError } from '../errors.js';
import { validateBatch } from './accumulate.js';
import type { FeatureArray, LabelArray } from './accumulate.js';
import type { Classifier } from './measure.js';

/** Class means to classify against: μ_k as rows of a K × d row-major array. */
export interface ClassMeansLike {
  K: number;
  d: number;
  means: Float64Array | Float32Array;
  layer?: string;
}

/** Running NC4 counts. */
export interface Nc4Counts {
  samples: number;
  disagreements: number;
  /** disagreements / samples (NaN before any sample). */
  rate: number;
}

function checkMeans(m: ClassMeansLike): void {
  if (!Number.isInteger(m.K) || m.K < 2) {
    throw new SurgeonInputError(`collapse metrics need at least 2 classes (got K = ${m.K}); pass labels with 2 or more classes`);
  }
  if (m.means.length !== m.K * m.d) {
    throw new SurgeonInputError(`class means have ${m.means.length} values, expected K × d = ${m.K * m.d}; pass the means of the same layer`);
  }
}

/**
 * Nearest-class-mean labels argmin_k ‖h_i − μ_k‖² of n samples (features n × d row-major).
 * The squared distance is summed from differences, so nearly equal distances are not lost
 * to cancellation. Cost K·d per sample.
 */
export function nearestClassMean(features: FeatureArray, n: number, means: ClassMeansLike): Int32Array {
  checkMeans(means);
  const { K, d } = means;
  if (features.length !== n * d) {
    throw new SurgeonInputError(
      `feature length mismatch: got ${features.length} values for n = ${n} samples of d = ${d} (expected ${n * d}); pass an n × d row-major batch`,
    );
  }
  const out = new Int32Array(n);
  nearestMeans(features, n, K, d, means.means, out);
  return out;
}

/**
 * The loop of {@link nearestClassMean}, unchecked, into `out`: four samples per sweep of each
 * mean row (each sample's distance is still summed over j in order, so the labels do not depend
 * on the blocking; ties go to the lowest class).
 */
function nearestMeans(features: FeatureArray, n: number, K: number, d: number, mu: Float64Array | Float32Array, out: Int32Array): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const r0 = i * d;
    const r1 = r0 + d;
    const r2 = r1 + d;
    const r3 = r2 + d;
    let b0 = Infinity, b1 = Infinity, b2 = Infinity, b3 = Infinity;
    let k0 = 0, k1 = 0, k2 = 0, k3 = 0;
    for (let k = 0; k < K; k++) {
      const mo = k * d;
      let a0 = 0, a1 = 0, a2 = 0, a3 = 0;
      for (let j = 0; j < d; j++) {
        const m = mu[mo + j]!;
        const t0 = features[r0 + j]! - m;
        const t1 = features[r1 + j]! - m;
        const t2 = features[r2 + j]! - m;
        const t3 = features[r3 + j]! - m;
        a0 += t0 * t0;
        a1 += t1 * t1;
        a2 += t2 * t2;
        a3 += t3 * t3;
      }
      if (a0 < b0) { b0 = a0; k0 = k; }
      if (a1 < b1) { b1 = a1; k1 = k; }
      if (a2 < b2) { b2 = a2; k2 = k; }
      if (a3 < b3) { b3 = a3; k3 = k; }
    }
    out[i] = k0;
    out[i + 1] = k1;
    out[i + 2] = k2;
    out[i + 3] = k3;
  }
  for (; i < n; i++) {
    const r0 = i * d;
    let b0 = Infinity;
    let k0 = 0;
    for (let k = 0; k < K; k++) {
      const mo = k * d;
      let a0 = 0;
      for (let j = 0; j < d; j++) {
        const t0 = features[r0 + j]! - mu[mo + j]!;
        a0 += t0 * t0;
      }
      if (a0 < b0) { b0 = a0; k0 = k; }
    }
    out[i] = k0;
  }
}

/**
 * Adds one batch to the NC4 counts: features n × d (n = predictions.length), the network's
 * predicted classes, and the class means of the training/calibration split. Returns new counts
 * (previous + this batch); pass the result back in for the next batch.
 */
export function nc4(features: FeatureArray, predictions: LabelArray, means: ClassMeansLike, previous?: Nc4Counts): Nc4Counts {
  checkMeans(means);
  const n = predictions.length;
  const offset = previous?.samples ?? 0;
  validateBatch(means, features, predictions, n, offset, 'prediction');
  const ncc = nearestClassMean(features, n, means);
  let dis = 0;
  for (let i = 0; i < n; i++) if (ncc[i] !== predictions[i]) dis++;
  const samples = offset + n;
  const disagreements = (previous?.disagreements ?? 0) + dis;
  return { samples, disagreements, rate: samples === 0 ? NaN : disagreements / samples };
}

/**
 * Predictions argmax_k (W h_i + b)_k of a linear classifier (W K × d, b K optional) for n samples,
 * e.g. to feed {@link nc4} when only the penultimate features are at hand. Ties go to the lowest index.
 */
export function linearPredictions(features: FeatureArray, n: number, classifier: Classifier): Int32Array {
  const { W, K, d, b } = classifier;
  if (W.length !== K * d || (b !== undefined && b.length !== K)) {
    throw new SurgeonInputError(`classifier is ${K} × ${d} with ${W.length} weights${b ? ` and ${b.length} biases` : ''}; pass a K × d weight and K biases`);
  }
  if (features.length !== n * d) {
    throw new SurgeonInputError(
      `feature length mismatch: got ${features.length} values for n = ${n} samples of d = ${d} (expected ${n * d}); pass an n × d row-major batch`,
    );
  }
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = -Infinity;
    let arg = 0;
    for (let k = 0; k < K; k++) {
      let acc = b ? b[k]! : 0;
      for (let j = 0; j < d; j++) acc += W[k * d + j]! * features[i * d + j]!;
      if (acc > best) {
        best = acc;
        arg = k;
      }
    }
    out[i] = arg;
  }
  return out;
}
