/**
 * SparseGPT (Frantar & Alistarh, "SparseGPT: Massive Language Models Can Be Accurately Pruned
 * in One-Shot", ICML 2023, Algorithm 1).
 *
 * The OBS column sweep: with U the upper Cholesky factor of H⁻¹ (UᵀU = H⁻¹, H damped), columns
 * j = 0…d−1 are visited in order; pruned weights of column j are set to zero and their error
 * err = (w_j − q_j)/U_jj is propagated to the columns not yet visited, W[:, j'] −= err · U_jj'.
 * Each step is exact OBS on the remaining columns (the rows of U are the Cholesky rows of the
 * successive inverse Hessians), so the accumulated loss Σ ½ err² equals ½ tr(ΔH Δᵀ) exactly.
 *
 * Blocks of B = 128 columns: the mask of a block is chosen adaptively when the sweep reaches
 * it, by the OBS saliency w²/[U_jj]² of the *current* (already updated) weights. The updates
 * are batched lazily (see {@link sparsegptSweep} for the schedule): a column only receives the
 * errors of earlier columns when the sweep needs it, in GEMMs on the engine. N:M: the mask of
 * every group of M columns is chosen when the sweep reaches its first column (B is rounded up
 * to a multiple of M).
 *
 * Mask semantics follow the reference implementation (IST-DASLab/sparsegpt): each block's
 * prunes are chosen jointly over rows × B by saliency; the block's count is its share of the
 * layer total in proportion to its live columns, so the per-layer count is exact (the
 * reference's threshold can be off by ties). N:M masks are exact per row and group.
 *
 * Layout: the sweep runs on Wᵀ (d × rows, Float64), so a column of W is contiguous, the
 * in-block axpy runs over contiguous memory and the lazy updates write row blocks of Wᵀ in place.
 */
import type { GemmEngine } from '../linalg/engine.js';
import { type PrunePlan, type Curvature, prepareCurvature, makePlan, newtonTarget, finishObs, upperFactor } from './curvature.js';
import { defaultEngine, selectSmallest, validatePattern, validateSparsity } from './masks.js';
import { AccumulatingPruner } from './session.js';
import { BufferPool } from '../linalg/pool.js';
import { extractBlock, transposeBlock } from '../linalg/blocks.js';
import { emptyQuantized, gridParams, maxCode, quantizeValue, dequantizeValue, validateGrid, type QuantGrid, type QuantizedWeight } from './quantize.js';
import { SurgeonInputError } from '../errors.js';
import type { LayerProblem, LayerPruneOptions, LayerPruneResult } from './types.js';

/** Options of {@link sparsegptPrune}. */
export interface SparseGPTOptions extends LayerPruneOptions {
  /** Columns per block (lazy batch updates and adaptive mask selection), default 128. */
  blocksize?: number;
  /**
   * Quantize the kept weights in the same sweep (SparseGPT §3.5, joint sparsification and
   * quantization): each column's kept weights are rounded on their group's grid, pruned ones
   * set to 0, and both errors are propagated. With sparsity 0 this is GPTQ.
   */
  quantize?: QuantGrid;
}

/** Extras of {@link sparsegptSweep}: GPTQ-style quantization, and a fixed mask instead of adaptive selection. */
export interface SweepExtras {
  /** Quantize kept weights on this grid (see ./quantize.ts); groups run along the columns from 0. */
  quant?: QuantGrid;
  /** 1 = kept, rows × d: use this mask (entries 0 are pruned) instead of choosing one; `plan` counts are ignored. */
  fixedMask?: Uint8Array;
}

/** Output of {@link sparsegptSweep}. */
export interface SweepResult {
  /** Pruned weights, rows × d row-major. */
  W: Float32Array;
  /** 1 = kept, rows × d. */
  mask: Uint8Array;
  /** Σ ½ (w − q)²/U_jj² = ½ tr(ΔH_damped Δᵀ) for Δ = Ŵ − target. */
  obsLoss: number;
  /** The codes, when the sweep quantized (W is then their dequantized values). */
  quantized?: QuantizedWeight;
}

/**
 * The SparseGPT sweep projecting `target` (rows × d, e.g. W, or the I-OBS Newton point) onto
 * the sparsity `plan` in the metric of H, given U (d × d upper, UᵀU = H⁻¹).
 *
 * Schedule (same arithmetic as the column-by-column sweep, reassociated): the columns are
 * visited in panels of {@link SWEEP_PANEL}. A panel is first brought up to date with every
 * earlier column's errors in one GEMM, Wᵀ[p1:p2] −= U[0:p1, p1:p2]ᵀ·Errᵀ[0:p1] (left-looking:
 * large inner dimension, each panel read and written once). Inside the panel, sub-blocks of
 * {@link SWEEP_SUBBLOCK} columns run the OBS steps in TypeScript and pass their errors to the
 * rest of the panel by a small GEMM. Masks of `blocksize` columns are chosen when the sweep
 * reaches them, on up-to-date weights, exactly as in the column order.
 */
export async function sparsegptSweep(
  target: Float32Array | Float64Array,
  rows: number,
  d: number,
  U: Float64Array,
  plan: PrunePlan,
  blocksize: number,
  engine: GemmEngine,
  extras: SweepExtras = {},
): Promise<SweepResult> {
  const fixed = extras.fixedMask;
  if (fixed && fixed.length !== rows * d) throw new Error(`internal: fixed mask has ${fixed.length} entries for ${rows}×${d}`);
  const nm = !fixed && plan.pattern?.kind === 'nm' ? plan.pattern : undefined;
  const quant = extras.quant;
  if (quant) validateGrid(quant);
  const G = quant?.groupSize ?? 1;
  if (quant && nm && G % nm.m !== 0) throw new SurgeonInputError(`--group-size ${G} is not a multiple of the pattern's M = ${nm.m}; choose a group size that holds whole N:M groups`);
  // Mask blocks hold whole quantization groups and N:M groups.
  let B = nm ? Math.ceil(blocksize / nm.m) * nm.m : Math.max(1, blocksize);
  if (quant) B = Math.ceil(B / G) * G;
  // Sub-blocks are a multiple of M so that N:M groups never straddle one, and either divide or are
  // divided by the quantization group, so a group's grid is set on weights that have every
  // earlier error applied; panels hold whole mask blocks so that a block's mask is chosen on
  // weights that have every earlier error applied.
  let L = Math.min(B, nm ? Math.ceil(SWEEP_SUBBLOCK / nm.m) * nm.m : SWEEP_SUBBLOCK);
  if (quant && L % G !== 0 && G % L !== 0) L = G;
  const P = Math.max(1, Math.round(SWEEP_PANEL / B)) * B;
  const pool = engine.pool ?? new BufferPool();
  const WT = pool.take(d * rows);
  transposeBlock(target, d, 0, 0, rows, d, WT);
  if (plan.nDead > 0) for (let j = 0; j < d; j++) if (plan.isDead[j]) WT.fill(0, j * rows, (j + 1) * rows);
  const errT = pool.take(d * rows);
  const keepT = new Uint8Array(d * rows).fill(1);
  if (fixed) transposeBlock(fixed, d, 0, 0, rows, d, keepT);
  const q = quant ? emptyQuantized(rows, d, quant) : undefined;
  const codesT = quant ? new Uint8Array(d * rows) : undefined;
  const scaleRow = new Float64Array(quant ? rows : 0);
  const zeroRow = new Float64Array(quant ? rows : 0);
  const Upanel = pool.take(Math.min(d, P) * d);
  const scores = pool.take(Math.max(B * rows, nm ? nm.m : 0));
  const scratch = pool.take(scores.length);
  const idx = new Int32Array(nm ? nm.m : 0);
  const counts = new Int32Array(nm ? 0 : 65536);
  let obsLoss = 0;

  for (let p1 = 0; p1 < d; p1 += P) {
    const p2 = Math.min(p1 + P, d);
    // Left-looking: the panel receives the errors of every earlier column.
    if (p1 > 0) await applyErrors(WT, errT, U, Upanel, rows, d, 0, p1, p1, p2, engine);
    for (let b1 = p1; b1 < p2; b1 += B) {
      const b2 = Math.min(b1 + B, p2);
      if (!nm && !fixed) selectBlockMask(WT, keepT, U, rows, d, b1, b2, plan, scores, scratch, counts);
      for (let i1 = b1; i1 < b2; i1 += L) {
        const i2 = Math.min(i1 + L, b2);
        for (let j = i1; j < i2; j++) {
          if (nm && (j - b1) % nm.m === 0) selectGroupMask(WT, keepT, U, rows, d, j, nm.n, nm.m, plan.isDead, scores, idx);
          if (quant && q && j % G === 0) setGroupGrid(WT, nm ? undefined : keepT, rows, j, Math.min(d, j + G), quant, q, scaleRow, zeroRow);
          obsLoss += quant ? quantizeColumn(WT, keepT, errT, U, rows, d, j, i2, scaleRow, zeroRow, maxCode(quant.bits), codesT!) : pruneColumn(WT, keepT, errT, U, rows, d, j, i2);
        }
        // The sub-block's errors to the rest of the panel.
        if (i2 < p2) await applyErrors(WT, errT, U, Upanel, rows, d, i1, i2, i2, p2, engine);
      }
    }
  }
  // Pruned entries of Wᵀ were set to exactly 0 when their column was visited, and no later
  // update touches a visited column.
  const W = new Float32Array(rows * d);
  transposeBlock(WT, rows, 0, 0, d, rows, W);
  const mask = new Uint8Array(rows * d);
  transposeBlock(keepT, rows, 0, 0, d, rows, mask);
  pool.give(WT, errT, Upanel, scores, scratch);
  if (q && codesT) {
    transposeBlock(codesT, rows, 0, 0, d, rows, q.codes);
    return { W, mask, obsLoss, quantized: q };
  }
  return { W, mask, obsLoss };
}

/**
 * The grid of the group of columns [j1, j2) for every row (GPTQ sets it when the sweep reaches
 * the group's first column, on the updated weights), from the kept weights when `keepT` is
 * given (the mask is known), else from all of them (N:M masks are chosen later).
 */
function setGroupGrid(WT: Float64Array, keepT: Uint8Array | undefined, rows: number, j1: number, j2: number, grid: QuantGrid, q: QuantizedWeight, scaleRow: Float64Array, zeroRow: Float64Array): void {
  const g = Math.floor(j1 / grid.groupSize);
  for (let r = 0; r < rows; r++) {
    let lo = Infinity;
    let hi = -Infinity;
    for (let j = j1; j < j2; j++) {
      if (keepT && keepT[j * rows + r] === 0) continue;
      const w = WT[j * rows + r]!;
      if (w < lo) lo = w;
      if (w > hi) hi = w;
    }
    const { scale, zero } = gridParams(lo === Infinity ? 0 : lo, hi === -Infinity ? 0 : hi, grid.bits);
    scaleRow[r] = scale;
    zeroRow[r] = zero;
    q.scales[r * q.groups + g] = scale;
    q.zeros[r * q.groups + g] = zero;
  }
}

/**
 * OBS step of column j with quantization (GPTQ; SparseGPT §3.5 when some weights are pruned):
 * pruned weights become 0, kept ones their grid value; err = (w − ŵ)/U_jj goes to Errᵀ[j, :] and
 * to the columns j+1 … end−1. Returns the column's ½Σerr².
 */
function quantizeColumn(
  WT: Float64Array,
  keepT: Uint8Array,
  errT: Float64Array,
  U: Float64Array,
  rows: number,
  d: number,
  j: number,
  end: number,
  scaleRow: Float64Array,
  zeroRow: Float64Array,
  maxq: number,
  codesT: Uint8Array,
): number {
  const ujj = U[j * d + j];
  const col = j * rows;
  let loss = 0;
  for (let r = 0; r < rows; r++) {
    const w = WT[col + r];
    const zero = zeroRow[r];
    let value = 0;
    let code = zero;
    if (keepT[col + r] === 1) {
      code = quantizeValue(w, scaleRow[r], zero, maxq);
      value = dequantizeValue(code, scaleRow[r], zero);
    }
    codesT[col + r] = code;
    const err = (w - value) / ujj;
    WT[col + r] = value;
    errT[col + r] = err;
    loss += 0.5 * err * err;
  }
  propagate(WT, errT, U, rows, d, j, end);
  return loss;
}

/**
 * Lazy batch update: the errors of columns [k1, k2) reach columns [c1, c2),
 * Wᵀ[c1:c2, :] −= U[k1:k2, c1:c2]ᵀ · Errᵀ[k1:k2, :], one GEMM on the engine (`Upanel` holds the
 * contiguous copy of the U block).
 */
async function applyErrors(
  WT: Float64Array,
  errT: Float64Array,
  U: Float64Array,
  Upanel: Float64Array,
  rows: number,
  d: number,
  k1: number,
  k2: number,
  c1: number,
  c2: number,
  engine: GemmEngine,
): Promise<void> {
  const Ublock = extractBlock(U, d, k1, c1, k2 - k1, c2 - c1, Upanel.subarray(0, (k2 - k1) * (c2 - c1)));
  await engine.gemm(Ublock, errT.subarray(k1 * rows, k2 * rows), c2 - c1, k2 - k1, rows, {
    transA: true,
    alpha: -1,
    beta: 1,
    out: WT.subarray(c1 * rows, c2 * rows),
  });
}

/** Columns per left-looking panel update of {@link sparsegptSweep} (rounded to whole mask blocks). */
export const SWEEP_PANEL = 128;
/** Columns per TypeScript sub-block of {@link sparsegptSweep}. */
export const SWEEP_SUBBLOCK = 16;

/**
 * OBS step of column j: the pruned weights of the column are zeroed, their errors
 * err = w/U_jj are written to Errᵀ[j, :] (0 for kept weights) and propagated to the columns
 * j+1 … end−1: Wᵀ[j', :] −= U[j, j']·err. Returns the column's ½Σerr².
 */
function pruneColumn(WT: Float64Array, keepT: Uint8Array, errT: Float64Array, U: Float64Array, rows: number, d: number, j: number, end: number): number {
  const ujj = U[j * d + j];
  const col = j * rows;
  let loss = 0;
  let any = false;
  for (let r = 0; r < rows; r++) {
    if (keepT[col + r] === 1) {
      errT[col + r] = 0;
      continue;
    }
    const err = WT[col + r] / ujj;
    WT[col + r] = 0;
    errT[col + r] = err;
    loss += 0.5 * err * err;
    if (err !== 0) any = true;
  }
  if (any) propagate(WT, errT, U, rows, d, j, end);
  return loss;
}

/** Wᵀ[j', :] −= U[j, j']·Errᵀ[j, :] for j' = j+1 … end−1. */
function propagate(WT: Float64Array, errT: Float64Array, U: Float64Array, rows: number, d: number, j: number, end: number): void {
  const col = j * rows;
  // Four destination columns per pass, so each err value is loaded once per four updates.
  const urow = j * d;
  let jp = j + 1;
  for (; jp + 3 < end; jp += 4) {
    const u0 = U[urow + jp];
    const u1 = U[urow + jp + 1];
    const u2 = U[urow + jp + 2];
    const u3 = U[urow + jp + 3];
    const d0 = jp * rows;
    const d1 = d0 + rows;
    const d2 = d1 + rows;
    const d3 = d2 + rows;
    for (let r = 0; r < rows; r++) {
      const er = errT[col + r];
      WT[d0 + r] -= u0 * er;
      WT[d1 + r] -= u1 * er;
      WT[d2 + r] -= u2 * er;
      WT[d3 + r] -= u3 * er;
    }
  }
  for (; jp < end; jp++) {
    const u = U[urow + jp];
    const dst = jp * rows;
    for (let r = 0; r < rows; r++) WT[dst + r] -= u * errT[col + r];
  }
}

/**
 * Adaptive mask of block [i1, i2), as in the reference: the block's prunes are chosen jointly
 * over all rows × block columns by the OBS saliency w²/U_jj² of the current (already updated)
 * weights, so rows that need more weights keep more. The block prunes all its dead inputs plus
 * its share of the layer's live prunes (proportional to its live columns), so the layer total
 * is exact; per-row counts vary, as in SparseGPT. Ties go to the lower (column, row) position.
 */
function selectBlockMask(
  WT: Float64Array,
  keepT: Uint8Array,
  U: Float64Array,
  rows: number,
  d: number,
  i1: number,
  i2: number,
  plan: PrunePlan,
  scores: Float64Array,
  scratch: Float64Array,
  counts: Int32Array,
): void {
  const count = i2 - i1;
  const live = d - plan.nDead;
  const liveBefore1 = plan.liveBefore[i1];
  const liveBefore2 = plan.liveBefore[i2];
  let k = 0;
  for (let r = 0; r < rows; r++) {
    const extra = Math.max(0, plan.counts[r] - plan.nDead);
    k += live > 0 ? Math.floor((extra * liveBefore2) / live) - Math.floor((extra * liveBefore1) / live) : 0;
  }
  for (let t = 0; t < count; t++) {
    const j = i1 + t;
    const u = U[j * d + j];
    const base = j * rows;
    if (plan.isDead[j]) {
      keepT.fill(0, base, base + rows);
      scores.fill(Infinity, t * rows, (t + 1) * rows);
      continue;
    }
    const inv = 1 / (u * u);
    for (let r = 0; r < rows; r++) {
      const w = WT[base + r];
      scores[t * rows + r] = w * w * inv;
    }
  }
  if (k === 0) return;
  const len = count * rows;
  const kth = { below: 0 };
  const v = kthSmallest(scores, len, k, scratch, counts, kth);
  let ties = k - kth.below;
  const base = i1 * rows;
  for (let i = 0; i < len; i++) {
    const sc = scores[i];
    if (sc < v || (sc === v && ties-- > 0)) keepT[base + i] = 0;
  }
}

/** Whether Float64 high words sit at odd Uint32 indices (true on every platform Node runs on). */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * The k-th smallest (1-based, 1 ≤ k ≤ len) of the non-negative values[0..len) (+Infinity
 * allowed); values is not modified. Radix selection on the IEEE-754 bits, which order like
 * the numbers for non-negative doubles: a 4096-bucket histogram of the top 12 bits, a
 * 65536-bucket one of the next 16 inside the chosen bucket, then quickselect among the few
 * values that share those 28 bits (copied to `scratch`). `counts` needs 65536 entries. `out`
 * (optional) receives how many of the values are strictly below the result.
 */
export function kthSmallest(values: Float64Array, len: number, k: number, scratch: Float64Array, counts: Int32Array, out?: { below: number }): number {
  if (!LITTLE_ENDIAN) {
    const v = quickselect(scratch, values, len, k - 1);
    if (out) out.below = countBelow(values, len, v);
    return v;
  }
  const hi = new Uint32Array(values.buffer, values.byteOffset, 2 * len);
  counts.fill(0, 0, 4096);
  for (let i = 1; i < 2 * len; i += 2) counts[hi[i]! >>> 20]!++;
  let b1 = 0;
  let rest = k;
  while (rest > counts[b1]!) rest -= counts[b1++]!;
  counts.fill(0);
  for (let i = 1; i < 2 * len; i += 2) {
    const h = hi[i]!;
    if (h >>> 20 === b1) counts[(h >>> 4) & 0xffff]!++;
  }
  let b2 = 0;
  // Values in lower buckets are below the result: k − rest of them.
  while (rest > counts[b2]!) rest -= counts[b2++]!;
  const key = ((b1 << 16) | b2) >>> 0;
  let n = 0;
  for (let i = 0; i < len; i++) if (hi[2 * i + 1]! >>> 4 === key) scratch[n++] = values[i]!;
  const v = quickselect(scratch, scratch, n, rest - 1);
  // quickselect permuted scratch, which still holds the n values of the final bucket.
  if (out) out.below = k - rest + countBelow(scratch, n, v);
  return v;
}

/** How many of values[0..len) are below v. */
function countBelow(values: Float64Array, len: number, v: number): number {
  let below = 0;
  for (let i = 0; i < len; i++) if (values[i]! < v) below++;
  return below;
}

/** The (target+1)-th smallest of src[0..len), by quickselect on a copy in `a` (Hoare partition, median of three). */
function quickselect(a: Float64Array, src: Float64Array, len: number, target: number): number {
  if (a !== src) a.set(src.subarray(0, len));
  let lo = 0;
  let hi = len - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    let x = a[lo]!;
    let y = a[mid]!;
    let z = a[hi]!;
    if (x > y) [x, y] = [y, x];
    if (y > z) [y, z] = [z, y];
    if (x > y) [x, y] = [y, x];
    const pivot = y;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i] = a[j]!;
        a[j] = t;
        i++;
        j--;
      }
    }
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else return a[target]!;
  }
  return a[target]!;
}

/** N:M mask of the group of M columns starting at j: the M − N smallest w²/U_jj² per row (dead inputs first). */
function selectGroupMask(
  WT: Float64Array,
  keepT: Uint8Array,
  U: Float64Array,
  rows: number,
  d: number,
  j: number,
  n: number,
  m: number,
  isDead: Uint8Array,
  scores: Float64Array,
  idx: Int32Array,
): void {
  let deadHere = 0;
  for (let t = 0; t < m; t++) deadHere += isDead[j + t];
  const k = Math.max(m - n, deadHere);
  for (let r = 0; r < rows; r++) {
    for (let t = 0; t < m; t++) {
      const w = WT[(j + t) * rows + r];
      const u = U[(j + t) * d + j + t];
      scores[t] = isDead[j + t] ? -Infinity : (w * w) / (u * u);
    }
    selectSmallest(scores, 0, m, k, idx);
    for (let t = 0; t < k; t++) keepT[(j + idx[t]) * rows + r] = 0;
  }
}

/**
 * SparseGPT pruning of one layer (needs `problem.H`). With `problem.C` (sequential mode) the
 * sweep prunes the least-squares target W (C + δI)(H + δI)⁻¹ ({@link newtonTarget}) instead of
 * W, which minimizes the objective ½‖ŴX̂ᵀ − WXᵀ‖²/N. `loss` is that objective, undamped (computed from the OBS
 * identity ½tr(ΔHΔᵀ) = obsLoss − ½·dampingUsed·‖Δ‖² in parallel mode).
 */
export async function sparsegptPrune(
  problem: LayerProblem,
  options: SparseGPTOptions,
  engine: GemmEngine = defaultEngine(),
): Promise<LayerPruneResult> {
  const t0 = performance.now();
  validateSparsity(options.sparsity);
  validatePattern(problem.cols, options.pattern);
  const curv: Curvature = prepareCurvature(problem, options.damp, 'sparsegpt');
  const U = await upperFactor(curv, engine);
  const target = await newtonTarget(problem, curv, { U }, engine);
  const plan = makePlan(problem.rows, problem.cols, options, curv);
  const sweep = await sparsegptSweep(target, problem.rows, problem.cols, U, plan, options.blocksize ?? 128, engine, options.quantize ? { quant: options.quantize } : {});
  return finishObs(problem, curv, target, sweep, t0, engine);
}

/**
 * SparseGPT for library users with their own framework, in the style of the reference's
 * `SparseGPT` class: feed calibration inputs with `addBatch`, then `prune`.
 */
export class SparseGPT extends AccumulatingPruner<SparseGPTOptions> {
  protected override run(problem: LayerProblem, options: SparseGPTOptions, engine: GemmEngine): Promise<LayerPruneResult> {
    return sparsegptPrune(problem, options, engine);
  }
}
