/**
 * Pruning tfjs layers models: the network side of the Fisher pruners (per-sample gradients of
 * the cross-entropy w.r.t. the prunable kernels, in view layout) and one-shot pruning by
 * global magnitude, WoodFisher (Singh & Alistarh 2020) or global I-OBS (Wu et al. 2024).
 */
import * as tf from '@tensorflow/tfjs';
import { SurgeonInputError } from '../errors.js';
import type { Allocation, FisherInverse, FisherSegment } from '../pruners/fisher.js';
import { type FisherProblem, type GlobalIterate, type GlobalPruneResult, globalIobsPrune, globalMagnitudePrune, woodfisherPrune } from '../pruners/global-iobs.js';
import { batchOf, crossEntropy, logitsOf, range, type TfjsData } from './data.js';
import { kernelToView, prunableViews, readView, type TfjsLayerView, viewToKernel, writeView } from './model.js';

/** Methods for tfjs models. */
export const TFJS_METHODS = ['magnitude', 'woodfisher', 'iobs'] as const;
/** One of {@link TFJS_METHODS}. */
export type TfjsMethod = (typeof TFJS_METHODS)[number];

/** The concatenated view parameters θ of `views` and their segments. */
export function flattenViews(views: TfjsLayerView[]): { theta: Float32Array; segments: FisherSegment[] } {
  const segments: FisherSegment[] = [];
  let offset = 0;
  for (const v of views) {
    segments.push({ name: v.name, offset, size: v.rows * v.cols });
    offset += v.rows * v.cols;
  }
  const theta = new Float32Array(offset);
  views.forEach((v, i) => theta.set(readView(v), segments[i]!.offset));
  return { theta, segments };
}

/** Writes θ back into the views' variables. */
export function writeTheta(views: TfjsLayerView[], segments: FisherSegment[], theta: Float32Array): void {
  views.forEach((v, i) => writeView(v, theta.subarray(segments[i]!.offset, segments[i]!.offset + segments[i]!.size)));
}

/** Options of {@link tfjsFisherProblem}. */
export interface FisherDataOptions {
  /** Number of gradients m (default 256). */
  samples?: number;
  /** Samples per gradient (default 1: per-sample gradients). */
  microBatch?: number;
}

/**
 * The {@link FisherProblem} of `model`'s prunable kernels: gradients on the first
 * samples·microBatch samples of `calib`, held-out loss on `heldOut`.
 */
export function tfjsFisherProblem(model: tf.LayersModel, views: TfjsLayerView[], calib: TfjsData, heldOut: TfjsData | undefined, options: FisherDataOptions = {}): FisherProblem {
  const { theta, segments } = flattenViews(views);
  const mb = options.microBatch ?? 1;
  const m = Math.max(1, Math.min(options.samples ?? 256, Math.floor(calib.count / mb)));
  if (calib.count < mb) throw new SurgeonInputError(`${calib.count} calibration samples are fewer than one micro-batch of ${mb}; pass more data`);
  const P = theta.length;
  const vars = views.map((v) => v.variable.read() as tf.Variable);
  const gradOf = (idx: Int32Array, into: Float32Array, at: number) => {
    const grads = tf.tidy(() => {
      const { x, y } = batchOf(calib, idx);
      const { grads } = tf.variableGrads(() => crossEntropy(logitsOf(model, x), y), vars);
      return vars.map((v) => grads[v.name]!);
    });
    grads.forEach((g, i) => {
      const view = views[i]!;
      into.set(kernelToView(g.dataSync(), view.rows, view.cols), at + segments[i]!.offset);
    });
    tf.dispose(grads);
  };
  return {
    segments,
    theta,
    async gradients(th, perSample) {
      writeTheta(views, segments, th);
      const mean = new Float32Array(P);
      if (!perSample) {
        gradOf(range(0, m * mb), mean, 0);
        return { m, mean };
      }
      const G = new Float32Array(m * P);
      for (let s = 0; s < m; s++) gradOf(range(s * mb, mb), G, s * P);
      for (let s = 0; s < m; s++) for (let q = 0; q < P; q++) mean[q]! += G[s * P + q]! / m;
      return { G, m, mean };
    },
    heldOutLoss: heldOut
      ? async (th) => {
          writeTheta(views, segments, th);
          let sum = 0;
          for (let start = 0; start < heldOut.count; start += 256) {
            const n = Math.min(256, heldOut.count - start);
            const l = tf.tidy(() => {
              const { x, y } = batchOf(heldOut, range(start, n));
              return crossEntropy(logitsOf(model, x), y);
            });
            sum += l.dataSync()[0]! * n;
            l.dispose();
          }
          return sum / heldOut.count;
        }
      : undefined,
  };
}

/** Options of {@link pruneTfjsModel}. */
export interface TfjsPruneOptions extends FisherDataOptions {
  method: TfjsMethod;
  sparsity: number;
  allocation?: Allocation;
  block?: number;
  damp?: number;
  inverse?: FisherInverse;
  iterations?: number;
  step?: number;
  /** Layer names (or weight names) left dense. */
  skip?: string[];
  onIteration?(entry: GlobalIterate): void;
}

/** Per-layer outcome. */
export interface TfjsLayerReport {
  layer: string;
  weight: string;
  className: string;
  rows: number;
  cols: number;
  sparsity: number;
}

/** What {@link pruneTfjsModel} did. */
export interface TfjsPruneReport {
  method: TfjsMethod;
  sparsity: number;
  allocation: Allocation;
  layers: TfjsLayerReport[];
  zeros: number;
  parameters: number;
  history: GlobalIterate[];
  bestIteration: number;
  seconds: number;
}

/**
 * Prunes `model`'s prunable kernels in place (one shot) and returns the report and the masks
 * (weight name → kernel-layout mask tensor, for fine-tuning with fixed masks).
 */
export async function pruneTfjsModel(
  model: tf.LayersModel,
  calib: TfjsData | undefined,
  heldOut: TfjsData | undefined,
  options: TfjsPruneOptions,
): Promise<{ report: TfjsPruneReport; masks: Map<string, tf.Tensor> }> {
  const t0 = performance.now();
  const skip = new Set(options.skip ?? []);
  const views = prunableViews(model).filter((v) => !skip.has(v.layer) && !skip.has(v.name));
  if (views.length === 0) throw new SurgeonInputError('the model has no prunable layers (Dense, Conv1D, Conv2D, DepthwiseConv2D) left to prune');
  const allocation = options.allocation ?? 'global';
  let result: GlobalPruneResult;
  let segments: FisherSegment[];
  if (options.method === 'magnitude') {
    const flat = flattenViews(views);
    segments = flat.segments;
    result = globalMagnitudePrune(flat, options.sparsity, allocation);
  } else {
    if (!calib) throw new SurgeonInputError(`--method ${options.method} needs calibration data with labels; pass --dataset fashion-mnist:train or --inputs/--labels`);
    const problem = tfjsFisherProblem(model, views, calib, heldOut, options);
    segments = problem.segments;
    const common = { sparsity: options.sparsity, allocation, block: options.block, damp: options.damp, inverse: options.inverse, onIteration: options.onIteration };
    result = options.method === 'woodfisher' ? await woodfisherPrune(problem, common) : await globalIobsPrune(problem, { ...common, iterations: options.iterations, step: options.step });
  }
  writeTheta(views, segments, result.theta);
  const masks = new Map<string, tf.Tensor>();
  const layers: TfjsLayerReport[] = views.map((v, i) => {
    const seg = segments[i]!;
    const mask = result.mask.subarray(seg.offset, seg.offset + seg.size);
    let zeros = 0;
    for (let q = 0; q < mask.length; q++) if (mask[q] === 0) zeros++;
    masks.set(v.name, tf.tensor(viewToKernel(mask, v.rows, v.cols), v.shape, 'float32'));
    return { layer: v.layer, weight: v.name, className: v.className, rows: v.rows, cols: v.cols, sparsity: zeros / seg.size };
  });
  const parameters = segments.reduce((a, s) => a + s.size, 0);
  const zeros = layers.reduce((a, l) => a + Math.round(l.sparsity * l.rows * l.cols), 0);
  return {
    report: { method: options.method, sparsity: options.sparsity, allocation, layers, zeros, parameters, history: result.history, bestIteration: result.bestIteration, seconds: (performance.now() - t0) / 1000 },
    masks,
  };
}
