/** Shared test helpers: seeded RNG and a direct (d × d) reference for the collapse metrics. */
import { symPinv } from '../../src/linalg/symeig.js';
import { gaussian, mulberry32 as rng } from '../../src/random.js';

export { gaussian, rng };

export function relErr(a: number, b: number): number {
  if (a === b) return 0;
  return Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b));
}

/** Random labelled data: every class present, means spread `spread`, noise `noise`. */
export function randomData(
  N: number,
  K: number,
  d: number,
  seed: number,
  opts: { spread?: number; noise?: number; offset?: number; f32?: boolean } = {},
): { features: Float32Array | Float64Array; labels: Int32Array } {
  const g = gaussian(rng(seed));
  const mus = Array.from({ length: K }, () => Array.from({ length: d }, () => (opts.spread ?? 3) * g() + (opts.offset ?? 0)));
  const features = opts.f32 ? new Float32Array(N * d) : new Float64Array(N * d);
  const labels = new Int32Array(N);
  for (let i = 0; i < N; i++) {
    const y = i < K ? i : Math.floor(rng(seed * 7919 + i)() * K);
    labels[i] = y;
    for (let j = 0; j < d; j++) features[i * d + j] = mus[y]![j]! + (opts.noise ?? 1) * g();
  }
  return { features, labels };
}

/** Direct reference: every quantity from its textbook d × d definition. */
export function reference(
  features: ArrayLike<number>,
  labels: ArrayLike<number>,
  N: number,
  K: number,
  d: number,
  tol = 1e-6,
  weighted = false,
): { nc1: number; kept: number; traceRatio: number; cdnv: number; withinTotalRatio: number; traceWithin: number } {
  const counts = new Array<number>(K).fill(0);
  const mu = Array.from({ length: K }, () => new Array<number>(d).fill(0));
  for (let i = 0; i < N; i++) {
    counts[labels[i]!]++;
    for (let j = 0; j < d; j++) mu[labels[i]!]![j] += features[i * d + j]!;
  }
  for (let k = 0; k < K; k++) for (let j = 0; j < d; j++) mu[k]![j] /= counts[k]!;
  const muG = new Array<number>(d).fill(0);
  for (let k = 0; k < K; k++) for (let j = 0; j < d; j++) muG[j] += (weighted ? counts[k]! / N : 1 / K) * mu[k]![j]!;
  const SW = new Float64Array(d * d);
  const var_ = new Array<number>(K).fill(0);
  for (let i = 0; i < N; i++) {
    const y = labels[i]!;
    for (let a = 0; a < d; a++) {
      const ra = features[i * d + a]! - mu[y]![a]!;
      var_[y] += ra * ra;
      for (let b = 0; b < d; b++) SW[a * d + b] += (ra * (features[i * d + b]! - mu[y]![b]!)) / N;
    }
  }
  const SB = new Float64Array(d * d);
  for (let k = 0; k < K; k++)
    for (let a = 0; a < d; a++)
      for (let b = 0; b < d; b++) SB[a * d + b] += ((mu[k]![a]! - muG[a]!) * (mu[k]![b]! - muG[b]!)) / K;
  const { pinv, kept } = symPinv(SB, d, tol);
  let tr = 0;
  for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) tr += SW[a * d + b]! * pinv[b * d + a]!;
  let trW = 0;
  let trB = 0;
  for (let a = 0; a < d; a++) {
    trW += SW[a * d + a]!;
    trB += SB[a * d + a]!;
  }
  let cd = 0;
  let pairs = 0;
  for (let a = 0; a < K; a++)
    for (let b = a + 1; b < K; b++) {
      let dist = 0;
      for (let j = 0; j < d; j++) dist += (mu[a]![j]! - mu[b]![j]!) ** 2;
      cd += (var_[a]! / counts[a]! + var_[b]! / counts[b]!) / (2 * dist);
      pairs++;
    }
  // Total covariance around the sample mean, directly.
  const mbar = new Array<number>(d).fill(0);
  for (let i = 0; i < N; i++) for (let j = 0; j < d; j++) mbar[j] += features[i * d + j]! / N;
  let trT = 0;
  for (let i = 0; i < N; i++) for (let j = 0; j < d; j++) trT += (features[i * d + j]! - mbar[j]!) ** 2 / N;
  return { nc1: tr / K, kept, traceRatio: trW / trB, cdnv: cd / pairs, withinTotalRatio: trW / trT, traceWithin: trW };
}
