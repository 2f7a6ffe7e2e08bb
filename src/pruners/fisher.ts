/**
 * Block-diagonal empirical Fisher and the blockwise OBS projection shared by WoodFisher
 * (Singh & Alistarh, "WoodFisher: Efficient Second-Order Approximation for Neural Network
 * Compression", NeurIPS 2020) and global I-OBS (Wu et al., NeurIPS 2024).
 *
 * The parameters θ ∈ R^P are the concatenation of the prunable layers ("segments"), each cut into
 * blocks of B consecutive weights (blocks never cross segments). Per block,
 *   F = λI + (1/m) Σ_i g_i g_iᵀ
 * over m per-sample (or micro-batch) gradients g_i, with λ = damp · mean_q (1/m)Σ_i g_iq² (one λ
 * for the whole model, so saliencies stay comparable across layers). Its inverse is built by m
 * Woodbury rank-1 updates from I/λ (F⁻¹ ← F⁻¹ − F⁻¹g gᵀF⁻¹ / (m + gᵀF⁻¹g), WoodFisher) or by a
 * Cholesky inverse of the formed block. Memory: the inverses take P·B doubles.
 *
 * OBS projection of a point u: saliency ρ_q = u_q² / (2[F⁻¹]_qq); the pruned set Q is the K
 * smallest ρ (globally or per segment); in each block b with pruned set Q_b the kept weights get
 * the exact joint correction θ = u − F⁻¹_{:,Q_b} [F⁻¹_{Q_b Q_b}]⁻¹ u_{Q_b}, which minimises
 * ½(θ − u)ᵀF(θ − u) subject to θ_{Q_b} = 0.
 */
import { spdInverse } from '../linalg/spd.js';
import { mirrorLower } from '../linalg/blocks.js';
import { maskSmallestPerLayer } from './masks.js';

/** One prunable layer's range in θ. */
export interface FisherSegment {
  name: string;
  offset: number;
  size: number;
}

/** A block of consecutive weights [start, start+size). */
export interface FisherBlock {
  start: number;
  size: number;
}

/** How the block inverses are computed. */
export type FisherInverse = 'woodbury' | 'direct' | 'auto';

/** Options of the Fisher estimate. */
export interface FisherOptions {
  /** Block size B (default 128). */
  block?: number;
  /** Relative dampening: λ = damp · mean diagonal of the empirical Fisher (default 1e-3). */
  damp?: number;
  /** Default 'auto': Woodbury when m < B, else direct. */
  inverse?: FisherInverse;
}

/** Inverse blocks of F. */
export interface FisherInverseBlocks {
  blocks: FisherBlock[];
  /** inv[b] is blocks[b].size² (row-major). */
  inv: Float64Array[];
  lambda: number;
}

/** Blocks of at most `B` weights inside each segment. */
export function blockLayout(segments: FisherSegment[], B = 128): FisherBlock[] {
  const out: FisherBlock[] = [];
  for (const s of segments) for (let o = 0; o < s.size; o += B) out.push({ start: s.offset + o, size: Math.min(B, s.size - o) });
  return out;
}

/** λ = damp · mean_q (1/m) Σ_i G[i,q]² (+1e-12 so that F stays invertible). */
export function fisherDamping(G: Float32Array, m: number, damp: number): number {
  let s = 0;
  for (let i = 0; i < G.length; i++) s += G[i]! * G[i]!;
  return (damp * s) / Math.max(1, G.length) + 1e-12;
}

/** F⁻¹ of one block by m Woodbury rank-1 updates from I/λ. */
export function woodburyInverse(G: Float32Array, m: number, P: number, block: FisherBlock, lambda: number): Float64Array {
  const n = block.size;
  const inv = new Float64Array(n * n);
  for (let i = 0; i < n; i++) inv[i * n + i] = 1 / lambda;
  const g = new Float64Array(n);
  const v = new Float64Array(n);
  for (let s = 0; s < m; s++) {
    const base = s * P + block.start;
    for (let i = 0; i < n; i++) g[i] = G[base + i]!;
    let denom = m;
    for (let i = 0; i < n; i++) {
      let acc = 0;
      const row = i * n;
      for (let j = 0; j < n; j++) acc += inv[row + j]! * g[j]!;
      v[i] = acc;
      denom += g[i]! * acc;
    }
    for (let i = 0; i < n; i++) {
      const vi = v[i]! / denom;
      const row = i * n;
      for (let j = 0; j < n; j++) inv[row + j]! -= vi * v[j]!;
    }
  }
  return inv;
}

/** The formed block λI + (1/m) Σ g gᵀ. */
export function fisherBlock(G: Float32Array, m: number, P: number, block: FisherBlock, lambda: number): Float64Array {
  const n = block.size;
  const F = new Float64Array(n * n);
  for (let s = 0; s < m; s++) {
    const base = s * P + block.start;
    for (let i = 0; i < n; i++) {
      const gi = G[base + i]! / m;
      if (gi === 0) continue;
      for (let j = 0; j <= i; j++) F[i * n + j]! += gi * G[base + j]!;
    }
  }
  for (let i = 0; i < n; i++) F[i * n + i]! += lambda;
  mirrorLower(F, n);
  return F;
}

/**
 * Inverse blocks of the dampened empirical Fisher of the m × P gradient matrix `G` (row-major,
 * one gradient per row).
 */
export async function fisherInverse(G: Float32Array, m: number, segments: FisherSegment[], options: FisherOptions = {}): Promise<FisherInverseBlocks> {
  const P = segments.reduce((a, s) => Math.max(a, s.offset + s.size), 0);
  if (G.length !== m * P) throw new RangeError(`fisherInverse: G has ${G.length} values, expected ${m}×${P}`);
  const B = options.block ?? 128;
  const blocks = blockLayout(segments, B);
  const lambda = fisherDamping(G, m, options.damp ?? 1e-3);
  const method = options.inverse === 'woodbury' || (options.inverse !== 'direct' && m < B) ? 'woodbury' : 'direct';
  const inv: Float64Array[] = [];
  for (const b of blocks) inv.push(method === 'woodbury' ? woodburyInverse(G, m, P, b, lambda) : await spdInverse(fisherBlock(G, m, P, b, lambda), b.size));
  return { blocks, inv, lambda };
}

/** Identity "inverse" blocks (F = I): OBS reduces to hard thresholding. */
export function identityInverse(segments: FisherSegment[], B = 128): FisherInverseBlocks {
  const blocks = blockLayout(segments, B);
  const inv = blocks.map((b) => {
    const I = new Float64Array(b.size * b.size);
    for (let i = 0; i < b.size; i++) I[i * b.size + i] = 1;
    return I;
  });
  return { blocks, inv, lambda: 0 };
}

/** y = F⁻¹ x, blockwise. */
export function applyInverse(F: FisherInverseBlocks, x: ArrayLike<number>): Float64Array {
  const y = new Float64Array(x.length);
  F.blocks.forEach((b, k) => {
    const inv = F.inv[k]!;
    const n = b.size;
    for (let i = 0; i < n; i++) {
      let acc = 0;
      for (let j = 0; j < n; j++) acc += inv[i * n + j]! * x[b.start + j]!;
      y[b.start + i] = acc;
    }
  });
  return y;
}

/** Where to compare saliencies: across all layers, or within each layer at the same sparsity. */
export type Allocation = 'global' | 'uniform';

/** Result of {@link obsProject}. */
export interface ObsProjection {
  theta: Float64Array;
  /** 1 keep, 0 pruned (length P). */
  mask: Uint8Array;
  /** Σ_b ½ u_Qᵀ [F⁻¹_QQ]⁻¹ u_Q: the quadratic model's loss increase. */
  obsLoss: number;
}

/** Solves A z = r for a small SPD A (n × n, overwritten) by Cholesky; returns z. */
function choleskySolve(A: Float64Array, n: number, r: Float64Array): Float64Array {
  for (let j = 0; j < n; j++) {
    let d = A[j * n + j]!;
    for (let k = 0; k < j; k++) d -= A[j * n + k]! * A[j * n + k]!;
    const l = Math.sqrt(Math.max(d, 1e-300));
    A[j * n + j] = l;
    for (let i = j + 1; i < n; i++) {
      let s = A[i * n + j]!;
      for (let k = 0; k < j; k++) s -= A[i * n + k]! * A[j * n + k]!;
      A[i * n + j] = s / l;
    }
  }
  const z = Float64Array.from(r);
  for (let i = 0; i < n; i++) {
    let s = z[i]!;
    for (let k = 0; k < i; k++) s -= A[i * n + k]! * z[k]!;
    z[i] = s / A[i * n + i]!;
  }
  for (let i = n - 1; i >= 0; i--) {
    let s = z[i]!;
    for (let k = i + 1; k < n; k++) s -= A[k * n + i]! * z[k]!;
    z[i] = s / A[i * n + i]!;
  }
  return z;
}

/** Number of zeros per segment (uniform) or in total (global) at `sparsity`. */
export function pruneCounts(segments: FisherSegment[], sparsity: number): { total: number; perSegment: number[] } {
  const perSegment = segments.map((s) => Math.round(sparsity * s.size));
  const P = segments.reduce((a, s) => a + s.size, 0);
  return { total: Math.round(sparsity * P), perSegment };
}

/** Selects the pruned set by `scores` (smallest pruned), globally or per segment. */
export function selectPruned(scores: Float64Array, segments: FisherSegment[], sparsity: number, allocation: Allocation): Uint8Array {
  const counts = pruneCounts(segments, sparsity);
  if (allocation === 'global') return maskSmallestPerLayer(scores, scores.length, counts.total);
  const mask = new Uint8Array(scores.length).fill(1);
  segments.forEach((s, i) => mask.set(maskSmallestPerLayer(scores.subarray(s.offset, s.offset + s.size), s.size, counts.perSegment[i]!), s.offset));
  return mask;
}

/**
 * OBS projection of `u` onto `sparsity` in the block metric F (see the module comment). With
 * identity blocks it is the hard threshold of u.
 */
export function obsProject(u: Float64Array, F: FisherInverseBlocks, segments: FisherSegment[], sparsity: number, allocation: Allocation = 'global'): ObsProjection {
  const P = u.length;
  const scores = new Float64Array(P);
  F.blocks.forEach((b, k) => {
    const inv = F.inv[k]!;
    for (let i = 0; i < b.size; i++) scores[b.start + i] = (u[b.start + i]! * u[b.start + i]!) / (2 * inv[i * b.size + i]!);
  });
  const mask = selectPruned(scores, segments, sparsity, allocation);
  const theta = Float64Array.from(u);
  let obsLoss = 0;
  F.blocks.forEach((b, k) => {
    const inv = F.inv[k]!;
    const n = b.size;
    const Q: number[] = [];
    for (let i = 0; i < n; i++) if (mask[b.start + i] === 0) Q.push(i);
    if (Q.length === 0) return;
    const q = Q.length;
    const A = new Float64Array(q * q);
    const r = new Float64Array(q);
    for (let a = 0; a < q; a++) {
      r[a] = u[b.start + Q[a]!]!;
      for (let c = 0; c < q; c++) A[a * q + c] = inv[Q[a]! * n + Q[c]!]!;
    }
    const z = choleskySolve(A, q, r);
    for (let a = 0; a < q; a++) obsLoss += 0.5 * r[a]! * z[a]!;
    for (let i = 0; i < n; i++) {
      let acc = 0;
      for (let a = 0; a < q; a++) acc += inv[i * n + Q[a]!]! * z[a]!;
      theta[b.start + i]! -= acc;
    }
    for (const i of Q) theta[b.start + i] = 0;
  });
  return { theta, mask, obsLoss };
}
