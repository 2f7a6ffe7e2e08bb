/**
 * Neural-collapse metrics as pure functions of accumulated statistics (./accumulate.ts).
 *
 * Notation: K classes, feature dimension d, N samples (N_k of class k), class means μ_k,
 * M = rows μ_k (K × d), global mean μ_G (unweighted (1/K)Σ_k μ_k by default; with
 * `weightedMean` the sample mean Σ_k (N_k/N) μ_k), centred means M̃ = rows μ_k − μ_G (K × d),
 * G = M̃M̃ᵀ (K × K), Σ_W = (1/N) Σ_i (h_i − μ_{y_i})(h_i − μ_{y_i})ᵀ, Σ_B = M̃ᵀM̃/K,
 * classifier W (K × d, row k = w_k) with optional bias b (K).
 *
 * No function here forms a d × d matrix: everything goes through K × K Grams and O(K·d) passes.
 *
 * Papers:
 * - NC1–NC4: Papyan, Han, Donoho, "Prevalence of neural collapse during the terminal phase of
 *   deep learning training", PNAS 2020.
 * - CDNV: Galanti, György, Hutter, "On the role of neural collapse in transfer learning", ICLR 2022.
 * - Within/total variance ratio: Wu & Mondelli, "Neural collapse beyond the unconstrained
 *   features model: landscape, dynamics, and generalization in the mean-field regime", 2025.
 * - Rank of the class means: Súkeník, Lampert, Mondelli, "Neural collapse versus low-rank bias:
 *   is deep neural collapse really optimal?", NeurIPS 2024.
 * - Effective rank: Roy & Vetterli, "The effective rank", EUSIPCO 2007.
 */
import { SurgeonInputError } from '../errors.js';
import { symeig } from '../linalg/symeig.js';
import type { CollapseStats } from './accumulate.js';

/** A last-layer linear classifier z = W h + b. */
export interface Classifier {
  /** K × d row-major; row k is w_k. */
  W: Float64Array | Float32Array;
  K: number;
  d: number;
  /** K biases. Not used by the geometric metrics; {@link linearPredictions} (./nc4.ts) uses it. */
  b?: Float64Array | Float32Array;
}

/** Options of {@link measureCollapse}. */
export interface MeasureOptions {
  /** The classifier the layer feeds, for NC3 and the classifier equinorm. */
  classifier?: Classifier;
  /** Centre at the sample mean Σ_k (N_k/N) μ_k instead of the unweighted mean of class means (default false). */
  weightedMean?: boolean;
  /**
   * Relative tolerance of the pseudo-inverse of G = M̃M̃ᵀ: eigenvalues λ ≤ tol·λ_max are dropped
   * (default 1e-6). Also sets the numerical-rank threshold (singular values ≤ √tol·σ_max).
   */
  pinvTolerance?: number;
}

/** Result of {@link measureCollapse}. Lower is more collapsed for every NC metric. */
export interface CollapseMetrics {
  layer?: string;
  d: number;
  K: number;
  samples: number;
  weightedMean: boolean;
  pinvTolerance: number;
  /** Tr(Σ_W). */
  traceWithin: number;
  /** Tr(Σ_B) = ‖M̃‖_F²/K. */
  traceBetween: number;
  /** Tr(Σ_T), Σ_T the covariance around the sample mean (see {@link withinTotalRatio}). */
  traceTotal: number;
  /** NC1 = Tr(Σ_W Σ_B⁺)/K (see {@link nc1Pinv}). NaN when all class means coincide. */
  nc1: number;
  /** Eigenvalues of G kept by the pseudo-inverse (≤ K − 1). */
  nc1Kept: number;
  /** Tr(Σ_W)/Tr(Σ_B). */
  traceRatio: number;
  /** See {@link cdnv}. */
  cdnv: number;
  /** Tr(Σ_W)/Tr(Σ_T) ∈ [0, 1]. */
  withinTotalRatio: number;
  /** NC2: distance of G to the simplex ETF (see {@link simplexEtfDistance}). */
  etf: number;
  /** NC2: std/mean of ‖μ_k − μ_G‖. */
  equinorm: number;
  /** NC2: std/mean of ‖w_k‖ (with a classifier). */
  equinormW?: number;
  /** NC2: std of the pairwise cosines of the centred means. */
  equiangularity: number;
  /** NC2: mean over pairs of |cos(μ̃_i, μ̃_j) + 1/(K−1)|. */
  equiangularityMaxDev: number;
  /** Distance of the uncentred Gram MMᵀ to an orthogonal frame (see {@link orthogonalFrameDistance}). */
  orthogonalFrame: number;
  /** NC3 (Papyan), with a classifier (see {@link selfDuality}). */
  nc3?: number;
  /** NC3, ETF-dual variant, with a classifier (see {@link selfDualityEtf}). */
  nc3Dual?: number;
  /** Numerical rank of M̃: singular values above {@link rankThreshold}. */
  numericalRank: number;
  /** Absolute singular-value threshold of the numerical rank, √pinvTolerance · σ_max. */
  rankThreshold: number;
  /** exp(entropy of σ/Σσ) over the singular values counted in the numerical rank. */
  effectiveRank: number;
  /** ‖M̃‖_F²/‖M̃‖_2². */
  stableRank: number;
  /** Singular values of M̃, descending (K values; from the eigenvalues of G, clipped at 0). */
  singularValues: number[];
}

/**
 * Global mean μ_G (d): unweighted (1/K) Σ_k μ_k, or with `weighted` the sample mean
 * Σ_k (N_k/N) μ_k. `means` K × d row-major, `counts` N_k.
 */
export function globalMean(means: ArrayLike<number>, counts: ArrayLike<number>, K: number, d: number, weighted = false): Float64Array {
  const mu = new Float64Array(d);
  let total = 0;
  for (let k = 0; k < K; k++) total += counts[k]!;
  for (let k = 0; k < K; k++) {
    const w = weighted ? counts[k]! / total : 1 / K;
    for (let j = 0; j < d; j++) mu[j] += w * means[k * d + j]!;
  }
  return mu;
}

/** Rows r_k − c (K × d), c a d-vector. */
export function centreRows(rows: ArrayLike<number>, K: number, d: number, c: ArrayLike<number>): Float64Array {
  const out = new Float64Array(K * d);
  for (let k = 0; k < K; k++) for (let j = 0; j < d; j++) out[k * d + j] = rows[k * d + j]! - c[j]!;
  return out;
}

/** A Bᵀ for A (m × d) and B (n × d) row-major: the m × n matrix of row inner products. */
export function rowProducts(A: ArrayLike<number>, m: number, B: ArrayLike<number>, n: number, d: number): Float64Array {
  const out = new Float64Array(m * n);
  for (let a = 0; a < m; a++) {
    for (let b = 0; b < n; b++) {
      let acc = 0;
      for (let j = 0; j < d; j++) acc += A[a * d + j]! * B[b * d + j]!;
      out[a * n + b] = acc;
    }
  }
  return out;
}

/** Gram matrix R Rᵀ (K × K) of the rows of R (K × d). */
export function gram(R: ArrayLike<number>, K: number, d: number): Float64Array {
  const G = new Float64Array(K * K);
  for (let a = 0; a < K; a++) {
    for (let b = a; b < K; b++) {
      let acc = 0;
      for (let j = 0; j < d; j++) acc += R[a * d + j]! * R[b * d + j]!;
      G[a * K + b] = acc;
      G[b * K + a] = acc;
    }
  }
  return G;
}

/** Result of {@link nc1Pinv}. */
export interface Nc1Result {
  nc1: number;
  /** Eigenvalues of G kept (λ > threshold). */
  kept: number;
  /** Absolute eigenvalue cut-off tol·λ_max(G). */
  threshold: number;
  /** Eigenvalues of G, descending. */
  gramEigenvalues: Float64Array;
}

/**
 * NC1 (Papyan, Han, Donoho 2020): Tr(Σ_W Σ_B⁺)/K, in K × K form.
 *
 * With G = M̃M̃ᵀ and Q = M̃ Σ_W M̃ᵀ (both K × K): Σ_B⁺ = (M̃ᵀM̃/K)⁺ = K·M̃ᵀ G⁺G⁺ M̃, hence
 *   NC1 = Tr(Σ_W M̃ᵀ G⁺G⁺ M̃) = Tr(G⁺G⁺Q) = Σ_{λ_j > τ} v_jᵀ Q v_j / λ_j²,
 * with G = Σ_j λ_j v_j v_jᵀ (Jacobi) and τ = tol·λ_max. Dropping λ_j ≤ τ is the same as the
 * pseudo-inverse of Σ_B with relative tolerance tol (its eigenvalues are λ_j/K).
 * G always has a null vector (1, or the count vector when weighted), so kept ≤ K − 1; fewer
 * when the means span fewer than K − 1 dimensions. NaN when nothing is kept (G = 0).
 *
 * @param G K × K, M̃M̃ᵀ.  @param Q K × K, M̃Σ_WM̃ᵀ (same centring as G).
 */
export function nc1Pinv(G: ArrayLike<number>, Q: ArrayLike<number>, K: number, tol = 1e-6): Nc1Result {
  const eig = symeig(G, K, { vectors: true });
  const V = eig.vectors!;
  const lmax = Math.max(0, eig.values[0] ?? 0);
  const threshold = tol * lmax;
  let kept = 0;
  let nc1 = 0;
  for (let j = 0; j < K; j++) {
    const lam = eig.values[j]!;
    if (!(lam > threshold) || lam <= 0) continue;
    kept++;
    let vqv = 0;
    for (let a = 0; a < K; a++) {
      let qa = 0;
      for (let b = 0; b < K; b++) qa += Q[a * K + b]! * V[b * K + j]!;
      vqv += V[a * K + j]! * qa;
    }
    nc1 += vqv / (lam * lam);
  }
  return { nc1: kept === 0 ? NaN : nc1, kept, threshold, gramEigenvalues: eig.values };
}

/**
 * Q for the centring at μ_G = cᵀM (weights c, Σc = 1) from Q_u for the unweighted centring.
 * M̃_c = (I − 1δᵀ) M̃_u with δ = c − 1/K, so Q_c = (I − 1δᵀ) Q_u (I − δ1ᵀ):
 * (Q_c)_ab = (Q_u)_ab − (Q_uδ)_a − (Q_uδ)_b + δᵀQ_uδ.
 */
export function recentreQ(Qu: ArrayLike<number>, K: number, weights: ArrayLike<number>): Float64Array {
  const delta = new Float64Array(K);
  for (let k = 0; k < K; k++) delta[k] = weights[k]! - 1 / K;
  const qd = new Float64Array(K);
  let dqd = 0;
  for (let a = 0; a < K; a++) {
    let acc = 0;
    for (let b = 0; b < K; b++) acc += Qu[a * K + b]! * delta[b]!;
    qd[a] = acc;
    dqd += delta[a]! * acc;
  }
  const out = new Float64Array(K * K);
  for (let a = 0; a < K; a++) for (let b = 0; b < K; b++) out[a * K + b] = Qu[a * K + b]! - qd[a]! - qd[b]! + dqd;
  return out;
}

/**
 * CDNV (Galanti, György, Hutter 2022): the average over class pairs i < j of
 *   (σ_i² + σ_j²) / (2‖μ_i − μ_j‖²),   σ_k² = (1/N_k) Σ_{y=k} ‖h − μ_k‖²  (summed over dimensions).
 * `means` K × d, `variances` σ_k² (K). ‖μ_i − μ_j‖² is computed from the difference (no cancellation).
 * A pair with coincident means contributes +∞.
 */
export function cdnv(means: ArrayLike<number>, K: number, d: number, variances: ArrayLike<number>): number {
  let sum = 0;
  let pairs = 0;
  for (let a = 0; a < K; a++) {
    for (let b = a + 1; b < K; b++) {
      let dist2 = 0;
      for (let j = 0; j < d; j++) {
        const t = means[a * d + j]! - means[b * d + j]!;
        dist2 += t * t;
      }
      sum += (variances[a]! + variances[b]!) / (2 * dist2);
      pairs++;
    }
  }
  return sum / pairs;
}

/**
 * Within/total variance ratio (Wu & Mondelli 2025): Tr(Σ_W)/Tr(Σ_T) ∈ [0, 1], where
 * Σ_T = (1/N) Σ_i (h_i − μ̄)(h_i − μ̄)ᵀ is the total covariance around the sample mean
 * μ̄ = Σ_k (N_k/N) μ_k. By the law of total variance (exact, no cancellation):
 *   Tr(Σ_T) = Tr(Σ_W) + Σ_k (N_k/N) ‖μ_k − μ̄‖².
 * Returns { ratio, traceTotal }. 0 is full collapse; ratio is NaN only if every sample is identical.
 */
export function withinTotalRatio(
  means: ArrayLike<number>,
  counts: ArrayLike<number>,
  K: number,
  d: number,
  traceWithin: number,
): { ratio: number; traceTotal: number } {
  const mbar = globalMean(means, counts, K, d, true);
  let total = 0;
  for (let k = 0; k < K; k++) total += counts[k]!;
  let between = 0;
  for (let k = 0; k < K; k++) {
    let acc = 0;
    for (let j = 0; j < d; j++) {
      const t = means[k * d + j]! - mbar[j]!;
      acc += t * t;
    }
    between += (counts[k]! / total) * acc;
  }
  const traceTotal = traceWithin + between;
  return { ratio: traceWithin / traceTotal, traceTotal };
}

/**
 * Coefficient of variation of the row norms of R (K × d): std_k ‖r_k‖ / mean_k ‖r_k‖, with the
 * population std (divide by K). NC2 equinorm uses R = M̃ (and R = W for the classifier).
 * 0 when all norms are equal.
 */
export function equinorm(R: ArrayLike<number>, K: number, d: number): number {
  const norms = new Float64Array(K);
  for (let k = 0; k < K; k++) {
    let acc = 0;
    for (let j = 0; j < d; j++) acc += R[k * d + j]! * R[k * d + j]!;
    norms[k] = Math.sqrt(acc);
  }
  return coefficientOfVariation(norms);
}

function coefficientOfVariation(x: Float64Array): number {
  const n = x.length;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += x[i]!;
  mean /= n;
  let v = 0;
  for (let i = 0; i < n; i++) v += (x[i]! - mean) * (x[i]! - mean);
  return Math.sqrt(v / n) / mean;
}

/**
 * NC2 equiangularity from G = M̃M̃ᵀ (K × K): with cos_ij = G_ij/√(G_ii G_jj) over the K(K−1)/2
 * pairs i < j, returns `std` (population std of the cosines) and `meanAbsDev`, the mean of
 * |cos_ij + 1/(K−1)| (0 for a simplex ETF, whose cosines are all −1/(K−1)).
 */
export function equiangularity(G: ArrayLike<number>, K: number): { std: number; meanAbsDev: number } {
  const cos: number[] = [];
  for (let a = 0; a < K; a++) {
    for (let b = a + 1; b < K; b++) cos.push(G[a * K + b]! / Math.sqrt(G[a * K + a]! * G[b * K + b]!));
  }
  const n = cos.length;
  let mean = 0;
  for (const c of cos) mean += c;
  mean /= n;
  let v = 0;
  let dev = 0;
  for (const c of cos) {
    v += (c - mean) * (c - mean);
    dev += Math.abs(c + 1 / (K - 1));
  }
  return { std: Math.sqrt(v / n), meanAbsDev: dev / n };
}

/** ‖X‖_F of a flat array. */
function frob(X: ArrayLike<number>): number {
  let acc = 0;
  for (let i = 0; i < X.length; i++) acc += X[i]! * X[i]!;
  return Math.sqrt(acc);
}

/**
 * NC2 distance to the simplex ETF (Papyan et al. 2020, in Gram form):
 *   ‖ X/‖X‖_F − (I − 11ᵀ/K)/√(K−1) ‖_F
 * for a K × K matrix X (X = G = M̃M̃ᵀ for NC2, X = WM̃ᵀ for {@link selfDualityEtf}).
 * The target has unit Frobenius norm, so the value lies in [0, 2]; 0 iff X ∝ I − 11ᵀ/K, i.e.
 * the centred means have equal norms and pairwise cosines −1/(K−1).
 */
export function simplexEtfDistance(X: ArrayLike<number>, K: number): number {
  const nx = frob(X);
  const s = 1 / Math.sqrt(K - 1);
  let acc = 0;
  for (let a = 0; a < K; a++) {
    for (let b = 0; b < K; b++) {
      const target = ((a === b ? 1 : 0) - 1 / K) * s;
      const t = X[a * K + b]! / nx - target;
      acc += t * t;
    }
  }
  return Math.sqrt(acc);
}

/**
 * Distance of the uncentred class means to an orthogonal frame (the "ORTH" geometry studied as
 * an alternative to the simplex ETF, e.g. under MSE loss or without centring):
 *   ‖ MMᵀ/‖MMᵀ‖_F − I/√K ‖_F ∈ [0, 2],   M = rows μ_k (not centred).
 * 0 iff the class means are orthogonal with equal norms.
 */
export function orthogonalFrameDistance(Gu: ArrayLike<number>, K: number): number {
  const n = frob(Gu);
  const s = 1 / Math.sqrt(K);
  let acc = 0;
  for (let a = 0; a < K; a++) {
    for (let b = 0; b < K; b++) {
      const t = Gu[a * K + b]! / n - (a === b ? s : 0);
      acc += t * t;
    }
  }
  return Math.sqrt(acc);
}

/**
 * NC3 self-duality (Papyan et al. 2020): ‖ Wᵀ/‖W‖_F − M̃ᵀ/‖M̃‖_F ‖_F² ∈ [0, 4],
 * W and M̃ both K × d (the classifier is not centred). 0 iff W = c·M̃ for some c > 0.
 * Computed entrywise (not as 2 − 2cos) so small values keep their relative accuracy.
 */
export function selfDuality(W: ArrayLike<number>, Mc: ArrayLike<number>, K: number, d: number): number {
  const nw = frob(W);
  const nm = frob(Mc);
  let acc = 0;
  for (let i = 0; i < K * d; i++) {
    const t = W[i]! / nw - Mc[i]! / nm;
    acc += t * t;
  }
  return acc;
}

/**
 * NC3, ETF-dual variant (as in rhubarbwu/neural-collapse's `simplex_etf_error(M, W)`):
 * the simplex-ETF distance {@link simplexEtfDistance} of the K × K matrix WM̃ᵀ,
 *   ‖ WM̃ᵀ/‖WM̃ᵀ‖_F − (I − 11ᵀ/K)/√(K−1) ‖_F ∈ [0, 2].
 * It is 0 iff the classifier responses to the class means, (WM̃ᵀ)_kj = ⟨w_k, μ_j − μ_G⟩, have the
 * simplex-ETF pattern: equal on the diagonal, equal off it, rows summing to zero. Under exact
 * NC2 + NC3 (M̃ an ETF, W = cM̃) it is 0; unlike {@link selfDuality} it is invariant to any
 * component of W orthogonal to the span of the means.
 */
export function selfDualityEtf(W: ArrayLike<number>, Mc: ArrayLike<number>, K: number, d: number): number {
  return simplexEtfDistance(rowProducts(W, K, Mc, K, d), K);
}

/** Result of {@link classMeanRank}. */
export interface RankResult {
  numericalRank: number;
  /** Absolute singular-value threshold √tol·σ_max. */
  threshold: number;
  effectiveRank: number;
  stableRank: number;
  /** Singular values, descending. */
  singularValues: Float64Array;
}

/**
 * Rank measures of the centred class-mean matrix M̃ (K × d) (Súkeník, Lampert, Mondelli 2024),
 * from the eigenvalues λ_j of G = M̃M̃ᵀ: singular values σ_j = √max(λ_j, 0).
 * - numerical rank: #{σ_j > √tol·σ_max} (= #{λ_j > tol·λ_max}, the count NC1's pseudo-inverse keeps).
 *   Gram eigenvalues carry absolute error ~ε·λ_max, so σ below ~√ε·σ_max are noise; tol ≥ 1e-12.
 * - effective rank (Roy & Vetterli 2007): exp(−Σ p_j log p_j), p_j = σ_j/Σσ, over the σ_j counted
 *   in the numerical rank (rounding noise in the null space is left out).
 * - stable rank: ‖M̃‖_F²/‖M̃‖_2² = Σλ_j / λ_max.
 * A simplex ETF of K classes has all three equal to K − 1. All zero when M̃ = 0.
 */
export function classMeanRank(gramEigenvalues: ArrayLike<number>, tol = 1e-6): RankResult {
  const K = gramEigenvalues.length;
  const sv = new Float64Array(K);
  let trace = 0;
  for (let j = 0; j < K; j++) {
    const l = Math.max(0, gramEigenvalues[j]!);
    sv[j] = Math.sqrt(l);
    trace += l;
  }
  sv.sort().reverse();
  const smax = sv[0] ?? 0;
  const threshold = Math.sqrt(tol) * smax;
  let rank = 0;
  let sum = 0;
  for (let j = 0; j < K; j++) {
    if (sv[j]! > threshold && sv[j]! > 0) {
      rank++;
      sum += sv[j]!;
    }
  }
  let entropy = 0;
  for (let j = 0; j < rank; j++) {
    const p = sv[j]! / sum;
    entropy -= p * Math.log(p);
  }
  return {
    numericalRank: rank,
    threshold,
    effectiveRank: rank === 0 ? 0 : Math.exp(entropy),
    stableRank: smax === 0 ? 0 : trace / (smax * smax),
    singularValues: sv,
  };
}

function checkStats(stats: CollapseStats): void {
  const { K, d } = stats;
  if (!Number.isInteger(K) || K < 2) {
    throw new SurgeonInputError(`collapse metrics need at least 2 classes (got K = ${K}); pass labels with 2 or more classes`);
  }
  if (
    stats.means.length !== K * d ||
    stats.counts.length !== K ||
    stats.withinSS.length !== K ||
    stats.q.length !== K * K
  ) {
    throw new SurgeonInputError('collapse statistics have inconsistent array sizes; pass the result of WithinClassAccumulator.finalize()');
  }
  for (let k = 0; k < K; k++) {
    if (!(stats.counts[k]! > 0)) {
      throw new SurgeonInputError(`class ${k} has no samples among labels 0..${K - 1}; pass a set with every class or set --classes`);
    }
  }
}

function checkClassifier(c: Classifier, K: number, d: number): void {
  if (c.K !== K || c.d !== d || c.W.length !== K * d) {
    throw new SurgeonInputError(
      `classifier is ${c.K} × ${c.d} (${c.W.length} weights) but the features have K = ${K} classes of d = ${d}; pass the K × d weight of the final linear layer fed by this layer`,
    );
  }
  if (c.b !== undefined && c.b.length !== K) {
    throw new SurgeonInputError(`classifier bias has ${c.b.length} entries, expected K = ${K}; pass one bias per class`);
  }
  for (let i = 0; i < c.W.length; i++) {
    if (!Number.isFinite(c.W[i]!)) {
      throw new SurgeonInputError(`classifier weight ${i} is ${c.W[i]}; pass finite weights`);
    }
  }
}

/**
 * All collapse metrics of one layer from its two-pass statistics.
 * Cost O(K²·d + K³); memory O(K·d + K²).
 */
export function measureCollapse(stats: CollapseStats, options: MeasureOptions = {}): CollapseMetrics {
  checkStats(stats);
  const { K, d, means, counts } = stats;
  const weighted = options.weightedMean === true;
  const tol = options.pinvTolerance ?? 1e-6;
  if (!(tol >= 0 && tol < 1)) {
    throw new SurgeonInputError(`pinv tolerance ${tol} is outside [0, 1); pass a relative tolerance such as 1e-6`);
  }
  if (options.classifier) checkClassifier(options.classifier, K, d);

  const N = stats.samples;
  const muG = globalMean(means, counts, K, d, weighted);
  const Mc = centreRows(means, K, d, muG);
  const G = gram(Mc, K, d);
  let Q: Float64Array = stats.q instanceof Float64Array ? stats.q : Float64Array.from(stats.q);
  if (weighted) {
    const c = new Float64Array(K);
    for (let k = 0; k < K; k++) c[k] = counts[k]! / N;
    Q = recentreQ(stats.q, K, c);
  }

  let traceWithin = 0;
  for (let k = 0; k < K; k++) traceWithin += stats.withinSS[k]!;
  traceWithin /= N;
  let trG = 0;
  for (let k = 0; k < K; k++) trG += G[k * K + k]!;
  const traceBetween = trG / K;

  const nc1 = nc1Pinv(G, Q, K, tol);
  const variances = new Float64Array(K);
  for (let k = 0; k < K; k++) variances[k] = stats.withinSS[k]! / counts[k]!;
  const wt = withinTotalRatio(means, counts, K, d, traceWithin);
  const angles = equiangularity(G, K);
  const rank = classMeanRank(nc1.gramEigenvalues, tol);

  const out: CollapseMetrics = {
    d,
    K,
    samples: N,
    weightedMean: weighted,
    pinvTolerance: tol,
    traceWithin,
    traceBetween,
    traceTotal: wt.traceTotal,
    nc1: nc1.nc1,
    nc1Kept: nc1.kept,
    traceRatio: traceWithin / traceBetween,
    cdnv: cdnv(means, K, d, variances),
    withinTotalRatio: wt.ratio,
    etf: simplexEtfDistance(G, K),
    equinorm: equinorm(Mc, K, d),
    equiangularity: angles.std,
    equiangularityMaxDev: angles.meanAbsDev,
    orthogonalFrame: orthogonalFrameDistance(gram(means, K, d), K),
    numericalRank: rank.numericalRank,
    rankThreshold: rank.threshold,
    effectiveRank: rank.effectiveRank,
    stableRank: rank.stableRank,
    singularValues: Array.from(rank.singularValues),
  };
  if (stats.layer !== undefined) out.layer = stats.layer;
  if (options.classifier) {
    const W = options.classifier.W;
    out.equinormW = equinorm(W, K, d);
    out.nc3 = selfDuality(W, Mc, K, d);
    out.nc3Dual = selfDualityEtf(W, Mc, K, d);
  }
  return out;
}
