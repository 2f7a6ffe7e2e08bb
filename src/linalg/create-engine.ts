/**
 * Engine selection. `createEngine()` (kind 'auto') returns an engine that runs small products
 * in TypeScript and large ones in onnxruntime, and falls back to TypeScript for good when
 * onnxruntime cannot be loaded.
 *
 * Threshold (measured on the reference 2-core AVX-512 machine, fp64): one onnxruntime call
 * costs ≈ 11–16 µs of fixed overhead (tensor wrapping, session run, result copy); the TypeScript
 * kernel runs at ≈ 3.5 GFLOP/s. Break-even is at m = k = n ≈ 22–26 (2·m·k·n ≈ 20–35 kflop):
 * 16³: TS 5 µs vs ORT 11 µs; 24³: TS 21 µs vs ORT 17 µs; 32³: TS 25 µs vs ORT 14–19 µs;
 * 64³: TS 150 µs vs ORT 24–37 µs (bench/results/linalg.json, callOverhead).
 */
import type { GemmEngine, GemmOptions, GramSum, Matrix, SyrkOptions } from './engine.js';
import { TypeScriptEngine, syrkSync, gemmSync } from './gemm-ts.js';
import { OnnxRuntimeEngine, type Precision } from './gemm-ort.js';
import type { BufferPool } from './pool.js';

/** Products with 2·m·k·n below this many flops run in TypeScript under 'auto'. */
export const AUTO_TS_MAX_FLOPS = 32_768;

/** Options of {@link createEngine}. */
export interface CreateEngineOptions {
  /** 'auto' (default): dispatch by size; 'onnxruntime': always native; 'typescript': never native. */
  kind?: 'auto' | 'onnxruntime' | 'typescript';
  /** onnxruntime intra-op threads (default 2). */
  threads?: number;
  /**
   * Element type of the native products (default 'float64'). 'float32' roughly doubles native
   * throughput at ~1e-7 relative rounding per product; only ask for it where that is acceptable.
   * The TypeScript path always computes in Float64.
   */
  precision?: Precision;
  /** Override of {@link AUTO_TS_MAX_FLOPS} for 'auto'. */
  tsMaxFlops?: number;
}

/**
 * Dispatching engine: TypeScript under `tsMaxFlops`, onnxruntime above; if onnxruntime fails to
 * load or to create a session, every later call runs in TypeScript.
 */
export class AutoEngine implements GemmEngine {
  readonly ts = new TypeScriptEngine();
  readonly native: OnnxRuntimeEngine;
  readonly tsMaxFlops: number;
  private nativeBroken = false;

  constructor(options: { threads?: number; precision?: Precision; tsMaxFlops?: number } = {}) {
    this.native = new OnnxRuntimeEngine({ threads: options.threads, precision: options.precision });
    this.tsMaxFlops = options.tsMaxFlops ?? AUTO_TS_MAX_FLOPS;
  }

  /** See {@link GemmEngine.pool}: the native engine's, so both paths share one. */
  get pool(): BufferPool {
    return this.native.pool;
  }

  /** Element type of the native products. */
  get precision(): Precision {
    return this.native.precision;
  }

  get name(): string {
    return this.nativeBroken ? 'typescript (onnxruntime unavailable)' : `auto(typescript < ${this.tsMaxFlops} flop, ${this.native.name})`;
  }

  /** Whether onnxruntime loaded and works (resolves false after a fallback). */
  async nativeAvailable(): Promise<boolean> {
    if (this.nativeBroken) return false;
    try {
      await this.native.warmup();
      return true;
    } catch {
      this.nativeBroken = true;
      return false;
    }
  }

  /** See {@link GemmEngine.gemm}. */
  async gemm(A: Matrix, B: Matrix, m: number, k: number, n: number, options?: GemmOptions): Promise<Float64Array> {
    if (this.nativeBroken || 2 * m * k * n < this.tsMaxFlops || !(await this.nativeAvailable())) {
      return gemmSync(A, B, m, k, n, options);
    }
    return this.native.gemm(A, B, m, k, n, options);
  }

  /** See {@link GemmEngine.syrk}; the TypeScript kernel does n·d² flops (one triangle). */
  async syrk(X: Matrix, n: number, d: number, options?: SyrkOptions): Promise<Float64Array> {
    if (this.nativeBroken || n * d * d < this.tsMaxFlops || !(await this.nativeAvailable())) {
      return syrkSync(X, n, d, options);
    }
    return this.native.syrk(X, n, d, options);
  }

  /** See {@link GemmEngine.gramSum}: the native one when onnxruntime works (no TypeScript path is faster than syrk). */
  async gramSum(d: number): Promise<GramSum | undefined> {
    if (this.nativeBroken || !(await this.nativeAvailable())) return undefined;
    return this.native.gramSum(d);
  }

  /** Releases the native sessions. */
  async dispose(): Promise<void> {
    await this.native.dispose();
  }
}

/**
 * Creates a GEMM engine: 'auto' (default) → {@link AutoEngine}; 'onnxruntime' →
 * {@link OnnxRuntimeEngine} (errors if onnxruntime cannot load surface on first use);
 * 'typescript' → {@link TypeScriptEngine}. Sessions are created lazily on first use.
 */
export function createEngine(options: CreateEngineOptions = {}): GemmEngine {
  const kind = options.kind ?? 'auto';
  switch (kind) {
    case 'typescript':
      return new TypeScriptEngine();
    case 'onnxruntime':
      return new OnnxRuntimeEngine({ threads: options.threads, precision: options.precision });
    case 'auto':
      return new AutoEngine(options);
    default:
      throw new RangeError(`createEngine: unknown kind '${String(kind)}' (expected auto, onnxruntime or typescript)`);
  }
}
