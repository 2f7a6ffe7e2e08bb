/**
 * Streaming accumulators for neural-collapse statistics of one layer.
 *
 * Notation (shared with ./measure.ts): features h_i ∈ R^d (the layer output, flattened),
 * labels y_i ∈ {0..K−1}, N_k samples of class k, N = Σ_k N_k, class means μ_k,
 * M = rows μ_k (K × d), M̃ = rows μ_k − μ_G (K × d).
 *
 * Two-pass design (memory O(K·d + K²), never N × d, so d = 50 000 over 10 000 samples is fine):
 *
 * - Pass 1, {@link ClassMeansAccumulator}: counts N_k, class means μ_k (Welford updates per
 *   sample, Chan et al. 1979 merges between accumulators) and the Welford estimate of the
 *   within-class sums of squares. Float64 throughout.
 * - Pass 2, {@link WithinClassAccumulator}, built from the finished means: the exact
 *   within-class sums of squares SS_k = Σ_{y_i=k} ‖h_i − μ_k‖² and the K × K matrix
 *       Q = (1/N) Σ_i p_i p_iᵀ,  p_i = M̃_u (h_i − μ_{y_i}) ∈ R^K,
 *   i.e. Q = M̃_u Σ_W M̃_uᵀ with M̃_u centred at the unweighted global mean. Residuals
 *   h_i − μ_{y_i} are formed before projecting, so collapsed features (h_i ≈ μ_{y_i}, both
 *   large) lose nothing to cancellation.
 *
 * A single exact pass is impossible at O(K·d + K²) memory: Q needs M̃ Σ_W M̃ᵀ for the final M̃,
 * and updating it for moving means requires Σ_W itself (d × d).
 *
 * Accumulation is in sample order with Float64 sums, so results agree with one-shot
 * computation to ~1e-15 relative whatever the batch split; merging accumulators changes only
 * the rounding order.
 *
 * {@link CollapseAccumulator} wraps both passes behind one object.
 */
import { SurgeonInputError } from '../errors.js';

/** Features of a batch: n × d, row-major. */
export type FeatureArray = Float32Array | Float64Array;
/** Labels (or predictions) of a batch, one class index per sample. */
export type LabelArray = Int32Array | Uint8Array;

/** Shape of the accumulated layer. */
export interface CollapseShape {
  /** Number of classes K (≥ 2). */
  K: number;
  /** Feature dimension d (the layer's output, flattened). */
  d: number;
  /** Layer name, used in error messages only. */
  layer?: string;
}

/** Output of pass 1. All arrays are owned by the caller (copies). */
export interface ClassMeans {
  K: number;
  d: number;
  layer?: string;
  /** N. */
  samples: number;
  /** N_k (K). */
  counts: Float64Array;
  /** μ_k, K × d row-major. */
  means: Float64Array;
  /** Σ_{y_i=k} ‖h_i − μ_k‖² (K), Welford estimate from pass 1 (pass 2 recomputes it exactly). */
  withinSS: Float64Array;
}

/** Output of pass 2: everything {@link measureCollapse} needs. */
export interface CollapseStats extends ClassMeans {
  /** Σ_{y_i=k} ‖h_i − μ_k‖² (K), exact two-pass value. */
  withinSS: Float64Array;
  /**
   * Q = M̃_u Σ_W M̃_uᵀ (K × K, symmetric), M̃_u = rows μ_k − (1/K)Σ_j μ_j (unweighted centring),
   * Σ_W = (1/N) Σ_i (h_i − μ_{y_i})(h_i − μ_{y_i})ᵀ.
   */
  q: Float64Array;
}

function where(layer: string | undefined): string {
  return layer === undefined ? '' : ` of layer "${layer}"`;
}

function checkShape(shape: CollapseShape): void {
  const { K, d } = shape;
  if (!Number.isInteger(K) || K < 2) {
    throw new SurgeonInputError(
      `collapse metrics need at least 2 classes (got K = ${K}${where(shape.layer)}); pass labels with 2 or more classes`,
    );
  }
  if (!Number.isInteger(d) || d < 1) {
    throw new SurgeonInputError(`feature dimension d = ${d}${where(shape.layer)} is not a positive integer; pass the flattened layer width`);
  }
}

/**
 * Checks one batch before any state changes, so a rejected batch leaves the accumulator as it was.
 * `offset` is the number of samples seen before this batch (for error messages).
 */
export function validateBatch(
  shape: CollapseShape,
  features: FeatureArray,
  labels: LabelArray,
  n: number,
  offset: number,
  what = 'label',
): void {
  const { K, d, layer } = shape;
  if (!Number.isInteger(n) || n < 0) {
    throw new SurgeonInputError(`batch size n = ${n} is not a non-negative integer; pass the number of samples in the batch`);
  }
  if (features.length !== n * d) {
    throw new SurgeonInputError(
      `feature length mismatch${where(layer)}: got ${features.length} values for n = ${n} samples of d = ${d} (expected ${n * d}); pass an n × d row-major batch`,
    );
  }
  if (labels.length !== n) {
    throw new SurgeonInputError(`${what} length mismatch${where(layer)}: got ${labels.length} ${what}s for n = ${n} samples; pass one ${what} per sample`);
  }
  for (let i = 0; i < n; i++) {
    const y = labels[i]!;
    if (!(y >= 0 && y < K)) {
      throw new SurgeonInputError(
        `${what} ${y} of sample ${offset + i}${where(layer)} is out of range 0..${K - 1}; pass ${what}s in 0..${K - 1} or set --classes`,
      );
    }
  }
  for (let i = 0; i < n * d; i++) {
    const v = features[i]!;
    if (!Number.isFinite(v)) {
      const s = Math.floor(i / d);
      throw new SurgeonInputError(
        `sample ${offset + s}${where(layer)} has a non-finite feature (${v} at index ${i - s * d}); collapse metrics need finite features — check the model input and this layer's activations`,
      );
    }
  }
}

/**
 * Pass 1: class counts, class means and within-class sums of squares.
 *
 * Per sample (Welford 1962): N_k ← N_k + 1, δ = h − μ_k, μ_k ← μ_k + δ/N_k,
 * SS_k ← SS_k + δ·(h − μ_k^new). Merge (Chan, Golub, LeVeque 1979): with δ = μ_k^b − μ_k^a,
 * μ_k = μ_k^a + δ·N_k^b/N_k, SS_k = SS_k^a + SS_k^b + ‖δ‖²·N_k^a·N_k^b/N_k.
 * Memory: K·d + 2K doubles.
 */
export class ClassMeansAccumulator {
  readonly K: number;
  readonly d: number;
  readonly layer?: string;
  private readonly counts: Float64Array;
  private readonly means: Float64Array;
  private readonly ss: Float64Array;
  private n = 0;

  constructor(shape: CollapseShape) {
    checkShape(shape);
    this.K = shape.K;
    this.d = shape.d;
    if (shape.layer !== undefined) this.layer = shape.layer;
    this.counts = new Float64Array(this.K);
    this.means = new Float64Array(this.K * this.d);
    this.ss = new Float64Array(this.K);
  }

  /** Samples seen so far. */
  get samples(): number {
    return this.n;
  }

  /** Adds n samples: `features` n × d row-major, `labels` n class indices in 0..K−1. */
  addBatch(features: FeatureArray, labels: LabelArray, n: number): void {
    validateBatch(this, features, labels, n, this.n);
    const { d, means, counts, ss } = this;
    for (let i = 0; i < n; i++) {
      const y = labels[i]!;
      const cnt = counts[y]! + 1;
      counts[y] = cnt;
      const inv = 1 / cnt;
      const base = y * d;
      const fo = i * d;
      let acc = 0;
      for (let j = 0; j < d; j++) {
        const x = features[fo + j]!;
        const m = means[base + j]!;
        const delta = x - m;
        const m2 = m + delta * inv;
        means[base + j] = m2;
        acc += delta * (x - m2);
      }
      ss[y] += acc;
    }
    this.n += n;
  }

  /** Merges another pass-1 accumulator of the same shape into this one (Chan et al.). */
  merge(other: ClassMeansAccumulator): this {
    if (other.K !== this.K || other.d !== this.d) {
      throw new SurgeonInputError(
        `cannot merge collapse accumulators of shapes K=${other.K}, d=${other.d} and K=${this.K}, d=${this.d}; merge accumulators of the same layer`,
      );
    }
    const { d } = this;
    for (let k = 0; k < this.K; k++) {
      const na = this.counts[k]!;
      const nb = other.counts[k]!;
      if (nb === 0) continue;
      const nt = na + nb;
      const wb = nb / nt;
      let dd = 0;
      for (let j = 0; j < d; j++) {
        const delta = other.means[k * d + j]! - this.means[k * d + j]!;
        this.means[k * d + j] += delta * wb;
        dd += delta * delta;
      }
      this.ss[k] += other.ss[k]! + dd * (na * nb) / nt;
      this.counts[k] = nt;
    }
    this.n += other.n;
    return this;
  }

  /**
   * The class means, after checking every class has samples.
   * @throws SurgeonInputError naming the first class without samples.
   */
  finalize(): ClassMeans {
    for (let k = 0; k < this.K; k++) {
      if (this.counts[k] === 0) {
        throw new SurgeonInputError(
          `class ${k} has no samples among labels 0..${this.K - 1}${where(this.layer)}; pass a set with every class or set --classes`,
        );
      }
    }
    const out: ClassMeans = {
      K: this.K,
      d: this.d,
      samples: this.n,
      counts: this.counts.slice(),
      means: this.means.slice(),
      withinSS: this.ss.slice(),
    };
    if (this.layer !== undefined) out.layer = this.layer;
    return out;
  }
}

/** Samples per block and dimensions per tile of the pass-2 projection (cache blocking). */
const BLOCK = 16;
const TILE = 2048;

/**
 * Pass 2: exact within-class sums of squares and Q = M̃_u Σ_W M̃_uᵀ (see the module comment),
 * given the class means of pass 1. Cost K·d multiply-adds per sample (the projection
 * M̃_u (h_i − μ_{y_i}), blocked over 16 samples × 2048 dimensions) plus K² for p pᵀ.
 * Memory: K·d (centred means) + 16·d (residual block) + K² doubles.
 */
export class WithinClassAccumulator {
  readonly K: number;
  readonly d: number;
  readonly layer?: string;
  /** The pass-1 result this pass is relative to. */
  readonly source: ClassMeans;
  private readonly centred: Float64Array;
  private readonly qSum: Float64Array;
  private readonly ss: Float64Array;
  private readonly counts: Float64Array;
  private residual: Float64Array | undefined;
  private n = 0;

  constructor(means: ClassMeans) {
    checkShape(means);
    const { K, d } = means;
    if (means.means.length !== K * d || means.counts.length !== K) {
      throw new SurgeonInputError(`class means have ${means.means.length} values, expected K × d = ${K * d}; pass the result of ClassMeansAccumulator.finalize()`);
    }
    this.K = K;
    this.d = d;
    if (means.layer !== undefined) this.layer = means.layer;
    this.source = means;
    // M̃_u = M − 1 μ_uᵀ, μ_u = (1/K) Σ_k μ_k.
    const mu = new Float64Array(d);
    for (let k = 0; k < K; k++) for (let j = 0; j < d; j++) mu[j] += means.means[k * d + j]!;
    for (let j = 0; j < d; j++) mu[j] /= K;
    this.centred = new Float64Array(K * d);
    for (let k = 0; k < K; k++) for (let j = 0; j < d; j++) this.centred[k * d + j] = means.means[k * d + j]! - mu[j]!;
    this.qSum = new Float64Array(K * K);
    this.ss = new Float64Array(K);
    this.counts = new Float64Array(K);
  }

  /** Samples seen so far. */
  get samples(): number {
    return this.n;
  }

  /** Adds n samples (the same data as pass 1, any batching and order). */
  addBatch(features: FeatureArray, labels: LabelArray, n: number): void {
    validateBatch(this, features, labels, n, this.n);
    const { K, d, centred, qSum, ss, counts } = this;
    const mu = this.source.means;
    const blockRows = Math.min(BLOCK, n);
    if (!this.residual || this.residual.length < blockRows * d) this.residual = new Float64Array(blockRows * d);
    const r = this.residual;
    const proj = new Float64Array(BLOCK * K);
    for (let start = 0; start < n; start += BLOCK) {
      const nb = Math.min(BLOCK, n - start);
      for (let s = 0; s < nb; s++) {
        const y = labels[start + s]!;
        const fo = (start + s) * d;
        const mo = y * d;
        const ro = s * d;
        let acc = 0;
        for (let j = 0; j < d; j++) {
          const v = features[fo + j]! - mu[mo + j]!;
          r[ro + j] = v;
          acc += v * v;
        }
        ss[y] += acc;
        counts[y]++;
      }
      proj.fill(0);
      for (let t0 = 0; t0 < d; t0 += TILE) {
        const t1 = Math.min(d, t0 + TILE);
        for (let k = 0; k < K; k++) {
          const mo = k * d;
          let s = 0;
          // Four residual rows per sweep of the mean row (register blocking).
          for (; s + 4 <= nb; s += 4) {
            const r0 = s * d;
            const r1 = r0 + d;
            const r2 = r1 + d;
            const r3 = r2 + d;
            let a0 = 0;
            let a1 = 0;
            let a2 = 0;
            let a3 = 0;
            for (let j = t0; j < t1; j++) {
              const c = centred[mo + j]!;
              a0 += c * r[r0 + j]!;
              a1 += c * r[r1 + j]!;
              a2 += c * r[r2 + j]!;
              a3 += c * r[r3 + j]!;
            }
            proj[s * K + k] += a0;
            proj[(s + 1) * K + k] += a1;
            proj[(s + 2) * K + k] += a2;
            proj[(s + 3) * K + k] += a3;
          }
          for (; s < nb; s++) {
            const ro = s * d;
            let acc = 0;
            for (let j = t0; j < t1; j++) acc += centred[mo + j]! * r[ro + j]!;
            proj[s * K + k] += acc;
          }
        }
      }
      for (let s = 0; s < nb; s++) {
        const po = s * K;
        for (let a = 0; a < K; a++) {
          const pa = proj[po + a]!;
          if (pa === 0) continue;
          for (let b = a; b < K; b++) qSum[a * K + b] += pa * proj[po + b]!;
        }
      }
    }
    this.n += n;
  }

  /** Merges another pass-2 accumulator built from the same pass-1 means. */
  merge(other: WithinClassAccumulator): this {
    if (other.source !== this.source) {
      const a = other.source.means;
      const b = this.source.means;
      let same = a.length === b.length;
      for (let i = 0; same && i < a.length; i++) same = a[i] === b[i];
      if (!same) {
        throw new SurgeonInputError('cannot merge second-pass collapse accumulators built from different class means; build both from the same ClassMeans');
      }
    }
    for (let i = 0; i < this.qSum.length; i++) this.qSum[i] += other.qSum[i]!;
    for (let k = 0; k < this.K; k++) {
      this.ss[k] += other.ss[k]!;
      this.counts[k] += other.counts[k]!;
    }
    this.n += other.n;
    return this;
  }

  /**
   * The statistics for {@link measureCollapse}.
   * @throws SurgeonInputError when pass 2 did not see the same class counts as pass 1.
   */
  finalize(): CollapseStats {
    const { K } = this;
    for (let k = 0; k < K; k++) {
      if (this.counts[k] !== this.source.counts[k]) {
        throw new SurgeonInputError(
          `second collapse pass saw ${this.counts[k]} samples of class ${k}${where(this.layer)} but the first pass saw ${this.source.counts[k]}; feed the same samples to both passes`,
        );
      }
    }
    const q = new Float64Array(K * K);
    const invN = 1 / this.n;
    for (let a = 0; a < K; a++) {
      for (let b = a; b < K; b++) {
        const v = this.qSum[a * K + b]! * invN;
        q[a * K + b] = v;
        q[b * K + a] = v;
      }
    }
    const out: CollapseStats = {
      K,
      d: this.d,
      samples: this.n,
      counts: this.source.counts.slice(),
      means: this.source.means.slice(),
      withinSS: this.ss.slice(),
      q,
    };
    if (this.layer !== undefined) out.layer = this.layer;
    return out;
  }
}

/**
 * Both passes behind one object: call {@link addBatch} over the data, {@link startSecondPass},
 * {@link addBatch} over the same data again, then {@link finalize}.
 */
export class CollapseAccumulator {
  readonly shape: CollapseShape;
  private first: ClassMeansAccumulator;
  private second: WithinClassAccumulator | undefined;

  constructor(shape: CollapseShape) {
    this.first = new ClassMeansAccumulator(shape);
    this.shape = { ...shape };
  }

  /** 1 while accumulating means, 2 after {@link startSecondPass}. */
  get pass(): 1 | 2 {
    return this.second ? 2 : 1;
  }

  /** Adds a batch to the current pass. */
  addBatch(features: FeatureArray, labels: LabelArray, n: number): void {
    if (this.second) this.second.addBatch(features, labels, n);
    else this.first.addBatch(features, labels, n);
  }

  /** Ends pass 1 (checks every class has samples) and returns the class means. */
  startSecondPass(): ClassMeans {
    if (this.second) return this.second.source;
    const means = this.first.finalize();
    this.second = new WithinClassAccumulator(means);
    return means;
  }

  /** Ends pass 2 and returns the statistics for {@link measureCollapse}. */
  finalize(): CollapseStats {
    if (!this.second) {
      throw new SurgeonInputError('collapse accumulator is still in its first pass; call startSecondPass() and feed the data again before finalize()');
    }
    return this.second.finalize();
  }
}

/**
 * Both passes over in-memory data (features n × d, row-major), for small sets and tests.
 * Streaming callers use {@link CollapseAccumulator} instead.
 */
export function collapseStats(features: FeatureArray, labels: LabelArray, n: number, shape: CollapseShape): CollapseStats {
  const acc = new CollapseAccumulator(shape);
  acc.addBatch(features, labels, n);
  acc.startSecondPass();
  acc.addBatch(features, labels, n);
  return acc.finalize();
}
