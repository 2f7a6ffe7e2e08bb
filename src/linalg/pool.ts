/**
 * Reusable Float64 scratch memory for the kernels that run once per layer.
 *
 * A fresh large typed array is not free: the operating system maps its pages on first touch,
 * measured at ≈ 0.5 ms per MB on the 2-core reference machine (a 3072 × 3072 Float64 matrix
 * costs ≈ 36 ms before any arithmetic, as long as a 3072³/3-flop GEMM at native speed). The
 * blocked factorizations and the SparseGPT sweep therefore take their temporaries from a pool
 * that keeps buffers between calls; pruning a model's layers one after the other reuses the
 * same pages. Engines own one (see {@link GemmEngine.pool}), released with the engine.
 */

/** Options of {@link BufferPool}. */
export interface BufferPoolOptions {
  /** Most bytes kept for reuse once released (default 1 GiB); larger releases are dropped. */
  maxRetainedBytes?: number;
}

/** A best-fit free list of Float64Array buffers. Not thread-safe (one per engine / worker). */
export class BufferPool {
  private readonly free: Float64Array[] = [];
  private readonly bases = new WeakMap<ArrayBufferLike, Float64Array>();
  private retained = 0;
  readonly maxRetainedBytes: number;

  constructor(options: BufferPoolOptions = {}) {
    this.maxRetainedBytes = options.maxRetainedBytes ?? 2 ** 30;
  }

  /**
   * A Float64Array of exactly `n` elements, backed by a pooled buffer of at least `n`.
   * Its contents are undefined (whatever the last user left).
   */
  take(n: number): Float64Array {
    let best = -1;
    for (let i = 0; i < this.free.length; i++) {
      const len = this.free[i]!.length;
      if (len >= n && (best < 0 || len < this.free[best]!.length)) best = i;
    }
    if (best < 0) {
      const fresh = new Float64Array(n);
      this.bases.set(fresh.buffer, fresh);
      return fresh;
    }
    const base = this.free[best]!;
    this.free.splice(best, 1);
    this.retained -= base.byteLength;
    return base.subarray(0, n);
  }

  /** Returns buffers obtained from {@link take} (any view of them) for reuse. */
  give(...views: Float64Array[]): void {
    for (const v of views) {
      const base = this.bases.get(v.buffer);
      if (!base || this.free.includes(base)) continue;
      if (this.retained + base.byteLength > this.maxRetainedBytes) continue;
      this.free.push(base);
      this.retained += base.byteLength;
    }
  }

  /** Bytes currently held for reuse. */
  get retainedBytes(): number {
    return this.retained;
  }

  /** Drops every retained buffer. */
  clear(): void {
    this.free.length = 0;
    this.retained = 0;
  }
}
