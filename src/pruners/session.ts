/**
 * The stateful lifecycle of the reference SparseGPT implementation (Frantar & Alistarh 2023,
 * `SparseGPT` class: construct on a layer, `add_batch` calibration inputs, `fasterprune`,
 * `free`) for library users who run their own framework. Every method class (SparseGPT, OBC,
 * IHT, IOBS, Wanda) is a thin subclass delegating to its pure `xxxPrune` function.
 */
import type { GemmEngine } from '../linalg/engine.js';
import { HessianAccumulator } from './hessian.js';
import { defaultEngine } from './masks.js';
import type { LayerProblem, LayerPruneOptions, LayerPruneResult } from './types.js';

/** Options of an {@link AccumulatingPruner}. */
export interface PrunerSessionOptions {
  /** GEMM engine for accumulation and pruning (default: pure TypeScript). */
  engine?: GemmEngine;
}

/**
 * Base class: `constructor(W, rows, cols, {engine})`, `addBatch(Xhat, n, X?)` (sample matrices
 * n × cols, row-major; X = the dense model's inputs in sequential mode), `prune(options)`, `free()`.
 */
export abstract class AccumulatingPruner<O extends LayerPruneOptions> {
  readonly W: Float32Array;
  readonly rows: number;
  readonly cols: number;
  protected readonly engine: GemmEngine;
  private accumulator: HessianAccumulator | undefined;

  constructor(W: Float32Array, rows: number, cols: number, options: PrunerSessionOptions = {}) {
    this.W = W;
    this.rows = rows;
    this.cols = cols;
    this.engine = options.engine ?? defaultEngine();
    this.accumulator = new HessianAccumulator(cols, { engine: this.engine });
  }

  /** Adds n calibration samples X̂ (n × cols), and the dense inputs X in sequential mode. */
  async addBatch(Xhat: Float32Array, n: number, X?: Float32Array): Promise<void> {
    await this.live().addBatch(Xhat, n, X);
  }

  /** Prunes W with the statistics accumulated so far; `W` itself is not modified. */
  async prune(options: O, extra: Pick<LayerProblem, 'heldOut'> = {}): Promise<LayerPruneResult> {
    const acc = this.live();
    await acc.flush();
    const stats = acc.result();
    const problem: LayerProblem = {
      W: this.W,
      rows: this.rows,
      cols: this.cols,
      H: stats.H,
      C: stats.C,
      columnNorms: acc.columnNorms(),
      heldOut: extra.heldOut,
    };
    return this.run(problem, options, this.engine);
  }

  /** Releases the accumulated statistics; the object cannot be used afterwards. */
  free(): void {
    this.accumulator?.free();
    this.accumulator = undefined;
  }

  /** The method itself. */
  protected abstract run(problem: LayerProblem, options: O, engine: GemmEngine): Promise<LayerPruneResult>;

  private live(): HessianAccumulator {
    if (!this.accumulator) throw new Error('pruner used after free()');
    return this.accumulator;
  }
}
