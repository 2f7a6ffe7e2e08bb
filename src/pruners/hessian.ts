/**
 * Streaming layer statistics for the layer-wise pruning problem (see ./types.ts):
 *   H = X̂ᵀX̂ / N   and, in sequential mode, C = XᵀX̂ / N   (d × d, Float64),
 * accumulated batch by batch from sample matrices (n × d, row-major Float32).
 *
 * Precision choice: each batch's Gram product runs on the engine in fp64 (the Float32 samples
 * are converted exactly while the engine packs them); the raw sums ΣX̂ᵀX̂ are kept in Float64 across batches and
 * divided by N only in {@link HessianAccumulator.result}, so any batch split gives the same H up
 * to fp64 rounding (~1e-15 relative). An fp32 product (engine created with precision 'float32')
 * is ~1.5–2× faster in onnxruntime but carries ~1e-7·√n relative error per batch sum; it is used
 * only when the caller hands over such an engine (the batch is then passed as Float32 unchanged).
 * Measured (bench/linalg.ts, 16,384 × 3072): see bench/results/linalg.json.
 */
import { syrk, type GemmEngine, type GramSum } from '../linalg/engine.js';
import { mirrorLower, mirrorLowerDivided } from '../linalg/blocks.js';
import { SurgeonInputError } from '../errors.js';

/** Options of {@link HessianAccumulator}. */
export interface HessianAccumulatorOptions {
  /** Engine for the Gram products. */
  engine: GemmEngine;
  /**
   * Cross term C = XᵀX̂/N from the dense inputs X. A batch given without X counts as X = X̂
   * (the dense and pruned-so-far inputs coincide, e.g. the first layer), so batches may mix.
   * true: always report C (C = H when X never came); false: ignore X, no C;
   * default: report C when at least one batch came with X.
   */
  cross?: boolean;
  /**
   * Merge small batches: rows are staged (as Float32) until at least this many are waiting and
   * then go through one Gram product, which costs far less than many small ones (a 64-row product
   * on a 3072² result is dominated by fixed costs). Default 0: every batch is multiplied as it
   * comes. With merging, call {@link HessianAccumulator.flush} before reading the results.
   */
  mergeRows?: number;
}

/**
 * Rows worth merging for inputs of width d: about 32 MiB of Float32 staging per matrix, at least
 * 256 rows and at most 4,096 (a 3072-wide layer merges 2,730 rows).
 */
export function defaultMergeRows(d: number): number {
  return Math.max(256, Math.min(4096, Math.floor((32 << 20) / (4 * d))));
}

/** What {@link HessianAccumulator.result} returns. */
export interface HessianStatistics {
  /** H = X̂ᵀX̂ / N (d × d, symmetric). */
  H: Float64Array;
  /** C = XᵀX̂ / N (d × d), when the cross term was accumulated. */
  C?: Float64Array;
  /** N, the number of samples (rows) added. */
  samples: number;
  /** d, the number of inputs. */
  d: number;
}

/**
 * Streaming accumulator of H = X̂ᵀX̂/N (and C = XᵀX̂/N). Calls to {@link addBatch} are
 * serialized internally; await them (or {@link flush}) before reading {@link result}.
 */
export class HessianAccumulator {
  readonly d: number;
  private readonly engine: GemmEngine;
  private readonly cross: boolean | undefined;
  private Hsum: Float64Array | undefined;
  private Csum: Float64Array | undefined;
  private N = 0;
  private bufXhat = new Float64Array(0);
  private bufX = new Float64Array(0);
  private bufGram = new Float64Array(0);
  private queue: Promise<void> = Promise.resolve();
  private readonly mergeRows: number;
  /** Staged rows (merging): X̂ and, when the staged batches came with X, X. */
  private stagedXhat: Float32Array = new Float32Array(0);
  private stagedX: Float32Array = new Float32Array(0);
  /** Pool buffers behind the staging arrays, given back in {@link free}. */
  private pooled: Float64Array[] = [];
  private staged = 0;
  private stagedWithX = false;
  /** The engine's running Gram sum of X̂ (undefined: not asked yet; null: the engine has none), drained into Hsum before Hsum is read. */
  private gram: GramSum | null | undefined;
  /** Whether Hsum is still all zeros (the first drain of the Gram sum then copies instead of adding). */
  private hsumZero = true;

  constructor(d: number, options: HessianAccumulatorOptions) {
    if (!Number.isInteger(d) || d <= 0) throw new RangeError(`HessianAccumulator: invalid input dimension d=${d}`);
    this.d = d;
    this.engine = options.engine;
    this.cross = options.cross;
    this.Hsum = new Float64Array(d * d);
    const merge = options.mergeRows ?? 0;
    if (!(Number.isInteger(merge) && merge >= 0)) throw new RangeError(`HessianAccumulator: mergeRows must be a non-negative integer, got ${merge}`);
    this.mergeRows = merge;
  }

  /**
   * Adds n samples: X̂ (n × d, inputs from the pruned-so-far model) and optionally X (n × d,
   * the dense model's inputs; used for C, see {@link HessianAccumulatorOptions.cross}).
   */
  addBatch(Xhat: Float32Array, n: number, X?: Float32Array): Promise<void> {
    const run = this.queue.then(() => this.add(Xhat, n, X));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Resolves when every pending {@link addBatch} has finished and every staged row is multiplied. */
  async flush(): Promise<void> {
    const run = this.queue.then(() => this.drain());
    this.queue = run.catch(() => undefined);
    await run;
  }

  private async add(Xhat: Float32Array, n: number, X?: Float32Array): Promise<void> {
    this.live();
    const d = this.d;
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`addBatch: invalid sample count n=${n}`);
    if (Xhat.length < n * d) {
      throw new SurgeonInputError(`calibration batch has ${Xhat.length} values, expected n × d = ${n} × ${d} = ${n * d}`);
    }
    const dense = this.cross === false ? undefined : X;
    if (dense && dense.length < n * d) {
      throw new SurgeonInputError(`dense-input batch has ${dense.length} values, expected n × d = ${n} × ${d} = ${n * d}`);
    }
    if (n === 0) {
      // A batch with X, even an empty one, starts the cross term.
      if (dense && this.Csum === undefined) {
        await this.drain();
        await this.multiply(Xhat, 0, dense);
      }
      return;
    }
    if (this.mergeRows === 0) return this.multiply(Xhat, n, dense);
    const withX = dense !== undefined;
    if (this.staged > 0 && (this.stagedWithX !== withX || this.staged + n > this.capacity())) await this.drain();
    if (this.staged === 0 && n >= this.mergeRows) return this.multiply(Xhat, n, dense);
    this.stage(Xhat, n, dense);
    if (this.staged >= this.mergeRows) await this.drain();
  }

  /** Staging capacity in rows. */
  private capacity(): number {
    return 2 * this.mergeRows;
  }

  /** Copies n rows into the staging buffers. */
  private stage(Xhat: Float32Array, n: number, dense: Float32Array | undefined): void {
    const d = this.d;
    const size = this.capacity() * d;
    if (this.stagedXhat.length !== size) this.stagedXhat = this.float32(size);
    this.stagedXhat.set(Xhat.subarray(0, n * d), this.staged * d);
    if (dense) {
      if (this.stagedX.length !== size) this.stagedX = this.float32(size);
      this.stagedX.set(dense.subarray(0, n * d), this.staged * d);
    }
    this.stagedWithX = dense !== undefined;
    this.staged += n;
  }

  /**
   * A Float32 staging array of `size` elements on memory from the engine's pool when it has one
   * (tens of MB per accumulator: fresh pages cost ≈ 0.5 ms per MB to map, pooled ones are mapped).
   */
  private float32(size: number): Float32Array {
    const pool = this.engine.pool;
    if (!pool) return new Float32Array(size);
    const base = pool.take(Math.ceil(size / 2));
    this.pooled.push(base);
    return new Float32Array(base.buffer, base.byteOffset, size);
  }

  /** Multiplies the staged rows. */
  private async drain(): Promise<void> {
    if (this.staged === 0) return;
    const n = this.staged;
    this.staged = 0;
    await this.multiply(this.stagedXhat, n, this.stagedWithX ? this.stagedX : undefined);
  }

  /** The Gram (and cross) products of n rows, added to the running sums. */
  private async multiply(Xhat: Float32Array, n: number, dense: Float32Array | undefined): Promise<void> {
    const Hsum = this.live();
    const d = this.d;
    // Earlier batches had X = X̂, so their cross term equals their Gram term.
    if (dense && this.Csum === undefined) {
      this.settle();
      mirrorLower(Hsum, d);
      this.Csum = Float64Array.from(Hsum);
    }
    const fp32 = enginePrecision(this.engine) === 'float32';
    // The Gram products take the Float32 batch as it is (the engine converts it while packing);
    // only the cross product needs Float64 copies.
    const Xh = Xhat.subarray(0, n * d);
    if (this.Csum !== undefined && !dense) {
      // X = X̂ for this batch: add the same Gram product to both sums.
      if (this.bufGram.length !== d * d) this.bufGram = new Float64Array(d * d);
      const G = await syrk(this.engine, Xh, n, d, { out: this.bufGram, beta: 0 });
      const C = this.Csum;
      this.hsumZero = false;
      for (let t = 0; t < G.length; t++) {
        Hsum[t] += G[t]!;
        C[t] += G[t]!;
      }
    } else {
      // Only the lower triangle of the running sum is kept; result() mirrors it once. Where the
      // engine keeps a running Gram sum, the batch is added there (drained into Hsum by settle()).
      this.gram ??= (await this.engine.gramSum?.(d)) ?? null;
      if (this.gram) await this.gram.add(Xh, n);
      else {
        this.hsumZero = false;
        await syrk(this.engine, Xh, n, d, { out: Hsum, beta: 1, lowerOnly: true });
      }
      if (dense && this.Csum) {
        if (!fp32 && this.bufXhat.length < n * d) this.bufXhat = new Float64Array(n * d);
        if (!fp32 && this.bufX.length < n * d) this.bufX = new Float64Array(n * d);
        const Xh64 = fp32 ? Xh : toFloat64(Xhat, n * d, this.bufXhat);
        const Xd = fp32 ? dense.subarray(0, n * d) : toFloat64(dense, n * d, this.bufX);
        await this.engine.gemm(Xd, Xh64, d, n, d, { transA: true, out: this.Csum, beta: 1 });
      }
    }
    this.N += n;
  }

  /** N, the number of samples added so far (staged ones included). */
  get samples(): number {
    return this.N + this.staged;
  }

  /** H = X̂ᵀX̂/N and C = XᵀX̂/N (fresh arrays; the accumulator keeps going). */
  result(): HessianStatistics {
    return this.scaled(false);
  }

  /**
   * {@link result} without copies: the running sums are scaled in place and handed over, and
   * the accumulator is freed (a d = 3072 copy costs ~0.1 s; the pipeline takes every result once).
   */
  take(): HessianStatistics {
    const stats = this.scaled(true);
    this.free();
    return stats;
  }

  /** The sums divided by N, into fresh arrays or (`inPlace`) into the sums themselves. */
  private scaled(inPlace: boolean): HessianStatistics {
    const { Hsum, N } = this.finished();
    // Only the lower triangle of Hsum is kept up to date; H gets it mirrored.
    const H = mirrorLowerDivided(Hsum, this.d, N, inPlace ? Hsum : new Float64Array(Hsum.length));
    let C: Float64Array | undefined;
    if (this.Csum) C = divided(this.Csum, N, inPlace ? this.Csum : new Float64Array(this.Csum.length));
    else if (this.cross === true) C = Float64Array.from(H);
    return { H, C, samples: N, d: this.d };
  }

  /** Adds what the engine's running Gram sum holds into the lower triangle of Hsum. */
  private settle(): void {
    if (this.gram && this.Hsum) {
      this.gram.drainLowerInto(this.Hsum, this.hsumZero);
      this.hsumZero = false;
    }
  }

  /** The live sum and N, checking that every row is multiplied and some were added. */
  private finished(): { Hsum: Float64Array; N: number } {
    this.settle();
    const Hsum = this.live();
    if (this.staged > 0) throw new Error('HessianAccumulator: staged rows are not multiplied yet; await flush() before result()');
    if (this.N === 0) throw new SurgeonInputError('no calibration samples were added; pass a calibration set with at least one sample');
    return { Hsum, N: this.N };
  }

  /**
   * ‖X̂_j‖₂ = sqrt(Σ_samples x̂_j²) per input j (what Wanda multiplies |W_ij| by), read from the
   * diagonal of the accumulated sum X̂ᵀX̂ (so it equals √(N·H_jj)); not divided by N.
   */
  columnNorms(): Float64Array {
    const Hsum = this.live();
    if (this.staged > 0) throw new Error('HessianAccumulator: staged rows are not multiplied yet; await flush() before columnNorms()');
    this.settle();
    const d = this.d;
    const norms = new Float64Array(d);
    for (let j = 0; j < d; j++) norms[j] = Math.sqrt(Hsum[j * d + j]!);
    return norms;
  }

  /** Releases the statistics and buffers; the accumulator cannot be used afterwards. */
  free(): void {
    this.Hsum = undefined;
    this.Csum = undefined;
    this.bufXhat = new Float64Array(0);
    this.bufX = new Float64Array(0);
    this.bufGram = new Float64Array(0);
    this.stagedXhat = new Float32Array(0);
    this.stagedX = new Float32Array(0);
    if (this.pooled.length) this.engine.pool?.give(...this.pooled);
    this.pooled = [];
    this.gram?.release?.();
    this.gram = undefined;
    this.staged = 0;
  }

  private live(): Float64Array {
    if (!this.Hsum) throw new Error('HessianAccumulator used after free()');
    return this.Hsum;
  }
}

/** The engine's native precision when it declares one. */
function enginePrecision(engine: GemmEngine): string | undefined {
  const p = (engine as { precision?: unknown }).precision;
  return typeof p === 'string' ? p : undefined;
}

/** out[t] = src[t] / N for every t (out may be src). */
function divided(src: Float64Array, N: number, out: Float64Array): Float64Array {
  for (let t = 0; t < src.length; t++) out[t] = src[t]! / N;
  return out;
}

/** Converts the first `count` values of `src` into `buf` (length ≥ count); returns the exact view. */
function toFloat64(src: Float32Array, count: number, buf: Float64Array): Float64Array {
  for (let t = 0; t < count; t++) buf[t] = src[t]!;
  return buf.length === count ? buf : buf.subarray(0, count);
}
