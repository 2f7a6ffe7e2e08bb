/**
 * GPTQ (Frantar, Ashkboos, Hoefler & Alistarh, "GPTQ: Accurate Post-Training Quantization for
 * Generative Pre-trained Transformers", ICLR 2023, Algorithm 1), and quantization after any
 * pruning method with the mask kept.
 *
 * GPTQ is OBS for quantization: with U the upper Cholesky factor of H⁻¹ (H damped), columns are
 * quantized in order, q_j = quant(w_j) on the row's group grid (set when the sweep reaches the
 * group's first column, on the updated weights), and the rounding error err = (w_j − q_j)/U_jj
 * is propagated to the columns not yet visited, W[:, j'] −= err·U_jj' — the OBQ update of
 * Frantar et al. 2022 in a fixed column order (equal to it step for step; a test checks this
 * against OBQ with explicit inverse downdates). It is the SparseGPT sweep with rounding instead
 * of zeroing, so it runs on that sweep ({@link sparsegptSweep}: same lazy batch updates on the
 * GEMM engine). Pruned weights (a fixed mask) are set to 0 in the same sweep and their error
 * propagated too, so the mask of any method is kept (SparseGPT §3.5 prunes and quantizes this
 * way; with `--method sparsegpt` the mask is chosen adaptively in the very same sweep, see
 * ./sparsegpt.ts).
 */
import type { GemmEngine } from '../linalg/engine.js';
import { finishObs, makePlan, newtonTarget, prepareCurvature, upperFactor } from './curvature.js';
import { defaultEngine } from './masks.js';
import { validateGrid, type QuantGrid } from './quantize.js';
import { sparsegptSweep } from './sparsegpt.js';
import type { LayerProblem, LayerPruneResult } from './types.js';

/** Options of {@link gptqQuantize}. */
export interface GptqOptions {
  quantize: QuantGrid;
  /** Relative dampening λ (default 0.01). */
  damp?: number;
  /** Columns per block of the sweep (default 128, rounded up to whole groups). */
  blocksize?: number;
  /** 1 = kept, rows × cols: weights to keep at 0 (a pruning method's mask). Default: none pruned. */
  mask?: Uint8Array;
  /**
   * Weights to quantize (rows × cols; the pruning method's result, zero where `mask` is 0).
   * Default: the layer's least-squares target ({@link newtonTarget}; W in parallel mode), as GPTQ does.
   */
  start?: Float32Array;
}

/**
 * Quantizes one layer with GPTQ (see the module comment). `loss` is the layer objective of the
 * result against the dense weights `problem.W` (see {@link LayerProblem}).
 */
export async function gptqQuantize(problem: LayerProblem, options: GptqOptions, engine: GemmEngine = defaultEngine()): Promise<LayerPruneResult> {
  const t0 = performance.now();
  validateGrid(options.quantize);
  const { rows, cols } = problem;
  const curv = prepareCurvature(problem, options.damp, 'gptq');
  const U = await upperFactor(curv, engine);
  const target = options.start ?? (await newtonTarget(problem, curv, { U }, engine));
  const plan = makePlan(rows, cols, { sparsity: 0 }, curv);
  const mask = options.mask ?? new Uint8Array(rows * cols).fill(1);
  const sweep = await sparsegptSweep(target, rows, cols, U, plan, options.blocksize ?? 128, engine, { quant: options.quantize, fixedMask: mask });
  // The sweep starts from `options.start` (not always the least-squares target): evaluate the objective.
  return finishObs(problem, curv, target, sweep, t0, engine, true);
}
