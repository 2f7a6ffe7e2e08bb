/**
 * Model-level pruning of an ONNX model with any layer-wise method of src/pruners.
 *
 * Flow (DESIGN.md, "The pruning flow"):
 * 1. the operator table gives every prunable weight view (Gemm, MatMul with a constant, Conv per group);
 * 2. calibration batches run through onnxruntime and each view's input activation streams into
 *    Float64 statistics: H = X̂ᵀX̂/N from the model pruned so far, C = XᵀX̂/N and Hd = XᵀX/N with
 *    the dense model's inputs X (sequential mode), on the calibration samples and, separately,
 *    on held-out samples that measure the reconstruction error;
 * 3. the layer pruner turns (W, H, C) into Ŵ, which is written back into the model;
 * 4. sequential mode visits layers stage by stage (stage = prunable depth), so each stage
 *    sees the inputs of the model pruned so far; `rounds` repeats the whole pass.
 */
import { SurgeonInputError } from '../errors.js';
import { readOnnxModel, type OnnxModel } from '../io/onnx/model.js';
import { findPrunableLayers, type WeightView } from '../io/onnx/operators.js';
import type { Dataset } from '../io/dataset.js';
import { createEngine } from '../linalg/create-engine.js';
import type { GemmEngine } from '../linalg/engine.js';
import { HessianAccumulator } from '../pruners/hessian.js';
import { getPruner, PRUNER_NAMES, type PrunerEntry } from '../pruners/registry.js';
import { globalMagnitudeThresholds } from '../pruners/magnitude.js';
import type { LayerProblem, SparsityPattern } from '../pruners/types.js';
import { batchFeeds, captureSession } from '../runtime/capture.js';
import type { ModelSession, NamedTensor } from '../runtime/session.js';
import { relativeReconstructionError, type InputStatistics } from './error.js';
import { layoutDims, pruningStages, sampleKey, sampleLayout } from './layers.js';
import { sampleShape, toSamples } from './samples.js';

/** Options of {@link pruneModel}; every field is optional except `method` and `sparsity`. */
export interface PruneModelOptions {
  /** A method of the registry: magnitude, wanda, sparsegpt, obc, iht, iobs. */
  method: string;
  /** Target fraction of zeros per pruned layer, in [0, 1) (ignored for N:M patterns). */
  sparsity: number;
  /** Unstructured (default) or N:M along the input dimension. */
  pattern?: SparsityPattern;
  /** Calibration samples (images or token windows) used for the statistics (default 512). */
  calibSamples?: number;
  /** Further samples held out to measure reconstruction error and pick iterates (default: a quarter of calibSamples, at least 1). */
  heldOutSamples?: number;
  /** Relative dampening λ of H (default 0.01). */
  damp?: number;
  /** Iterations of iterative methods (iht, iobs). */
  iterations?: number;
  /** Step size η of iterative methods. */
  step?: number;
  /** OBS projection of iobs: obc, sparsegpt, topk or auto. */
  projection?: string;
  /** Columns per adaptive-mask block of the SparseGPT sweep (sparsegpt, and iobs's sparsegpt projection; default 128). */
  blocksize?: number;
  /** Whole-network passes (default 1); later rounds recapture X̂ from the pruned model. */
  rounds?: number;
  /** All layers from the dense model's inputs (X̂ = X) instead of sequentially. */
  parallel?: boolean;
  /** Layer names (view, weight or node names) to leave dense. */
  skip?: string[];
  /** Per-layer sparsity overrides by layer name. */
  layerSparsity?: Record<string, number>;
  /** magnitude only: one threshold across all layers. */
  global?: boolean;
  /** onnxruntime threads for forward passes and GEMMs (default 2). */
  threads?: number;
  /** Samples per forward batch (default 64). */
  batchSize?: number;
  /** Progress callback. */
  onProgress?: (event: PruneProgress) => void;
  /** An engine to use (default: created and disposed by the call). */
  engine?: GemmEngine;
}

/** A progress event of {@link pruneModel}. */
export interface PruneProgress {
  phase: 'capture' | 'prune';
  round: number;
  stage: number;
  stages: number;
  /** Layers finished so far (over all rounds), and the total. */
  layersDone: number;
  layersTotal: number;
  layer?: string;
}

/** One pruned (or skipped) layer. */
export interface PrunedLayerReport {
  name: string;
  op: string;
  rows: number;
  cols: number;
  /** Measured fraction of zeros after pruning. */
  sparsity: number;
  /** Held-out relative reconstruction error ‖ŴX̂ − WX‖²/‖WX‖² (null without calibration data). */
  error: number | null;
  /** The pruner's objective value (see LayerProblem). */
  loss: number;
  /** Absolute damping added to diag(H). */
  dampingUsed: number;
  /** Calibration sample rows (tokens, patches) behind H. */
  samples: number;
  seconds: number;
  skipped?: boolean;
}

/** What {@link pruneModel} returns besides the model. */
export interface PruneModelReport {
  method: string;
  sparsity: number;
  pattern: string;
  mode: 'sequential' | 'parallel';
  rounds: number;
  damp: number;
  calibSamples: number;
  heldOutSamples: number;
  engine: string;
  layers: PrunedLayerReport[];
  /** Over pruned layers: parameters, zeros, and their ratio. */
  totals: { parameters: number; zeros: number; sparsity: number; meanError: number | null };
  seconds: number;
}

/** Checks user-facing options; throws SurgeonInputError with a one-line fix. */
export function validatePruneOptions(options: PruneModelOptions): PrunerEntry {
  const entry = getPruner(options.method);
  if (!entry) throw new SurgeonInputError(`unknown method '${options.method}'; use one of ${PRUNER_NAMES.join(', ')}`);
  const pattern = options.pattern ?? { kind: 'unstructured' };
  if (pattern.kind === 'unstructured' && !(options.sparsity >= 0 && options.sparsity < 1)) {
    throw new SurgeonInputError(`sparsity ${options.sparsity} is outside [0, 1); pass e.g. --sparsity 0.5`);
  }
  if (pattern.kind === 'nm' && !(Number.isInteger(pattern.n) && Number.isInteger(pattern.m) && pattern.m > 0 && pattern.n >= 0 && pattern.n < pattern.m)) {
    throw new SurgeonInputError(`pattern ${pattern.n}:${pattern.m} is not N:M with 0 ≤ N < M; pass e.g. --pattern 2:4`);
  }
  for (const [name, s] of Object.entries(options.layerSparsity ?? {})) {
    if (!(s >= 0 && s < 1)) throw new SurgeonInputError(`layer sparsity ${s} for '${name}' is outside [0, 1); fix the override file`);
  }
  if (options.global && options.method !== 'magnitude') throw new SurgeonInputError('--global applies to --method magnitude only; drop it or use magnitude');
  if (options.rounds !== undefined && !(Number.isInteger(options.rounds) && options.rounds >= 1)) throw new SurgeonInputError(`--rounds ${options.rounds}: expected a positive integer`);
  return entry;
}

/** Per-sample-key statistics accumulators for one range of samples. */
interface RangeAccumulators {
  hat: HessianAccumulator;
  dense?: HessianAccumulator;
}

/**
 * Prunes a copy of `model` with `options.method` using calibration data `calib` (not needed
 * for magnitude). Returns the pruned model (the input is not modified) and a report.
 */
export async function pruneModel(model: OnnxModel, calib: Dataset | undefined, options: PruneModelOptions): Promise<{ model: OnnxModel; report: PruneModelReport }> {
  const started = performance.now();
  const entry = validatePruneOptions(options);
  const pattern = options.pattern ?? { kind: 'unstructured' as const };
  const damp = options.damp ?? 0.01;
  const rounds = options.rounds ?? 1;
  const sequential = !options.parallel;
  const dense = readOnnxModel(model.toBytes(), { baseDir: model.baseDir });
  const current = readOnnxModel(model.toBytes(), { baseDir: model.baseDir });
  const allViews = findPrunableLayers(current);
  // The dense weights W of every view (targets of every round).
  const denseViews = new Map(findPrunableLayers(dense).map((v) => [v.name, v]));
  if (allViews.length === 0) throw new SurgeonInputError('the model has no prunable layers (Gemm, MatMul with a constant weight, Conv); nothing to prune');
  const skip = resolveSkip(allViews, options.skip ?? []);
  for (const name of Object.keys(options.layerSparsity ?? {})) {
    if (!allViews.some((v) => v.name === name || v.weightName === name || v.nodeName === name)) {
      throw new SurgeonInputError(`layer '${name}' in the sparsity overrides does not exist; valid layers: ${allViews.map((v) => v.name).join(', ')}`);
    }
  }
  const views = allViews.filter((v) => !skip.has(v));
  if (pattern.kind === 'nm') {
    for (const v of views) {
      if (v.cols % pattern.m !== 0) {
        throw new SurgeonInputError(`layer ${v.name}: ${pattern.n}:${pattern.m} needs the input dimension (${v.cols}) to be a multiple of ${pattern.m}; use --skip ${v.name} or another pattern`);
      }
    }
  }
  const needsData = options.method !== 'magnitude';
  if (needsData && !calib) throw new SurgeonInputError(`--method ${options.method} needs calibration data; pass --inputs FILE, --dataset NAME or --tokens FILE`);
  const available = calib?.count ?? 0;
  const calibSamples = Math.min(options.calibSamples ?? 512, available);
  const heldOutSamples = calib ? Math.min(options.heldOutSamples ?? Math.max(1, Math.floor(calibSamples / 4)), Math.max(0, available - calibSamples)) : 0;
  if (calib && calibSamples < Math.max(1, entry.minSamples)) {
    throw new SurgeonInputError(`--method ${options.method} needs at least ${Math.max(1, entry.minSamples)} calibration samples, got ${calibSamples}; pass more samples (or --calib-samples)`);
  }

  const ownEngine = !options.engine;
  const engine = options.engine ?? createEngine({ threads: options.threads ?? 2 });
  const sparsityOf = layerSparsities(views, options);
  const stages = sequential ? pruningStages(current, views) : [views];
  const reports = new Map<WeightView, PrunedLayerReport>();
  const layersTotal = views.length * rounds;
  let layersDone = 0;
  try {
    for (let round = 1; round <= rounds; round++) {
      for (let s = 0; s < stages.length; s++) {
        const stage = stages[s]!;
        const progress = (phase: PruneProgress['phase'], layer?: string) =>
          options.onProgress?.({ phase, round, stage: s + 1, stages: stages.length, layersDone, layersTotal, layer });
        progress('capture');
        // X̂ = X when nothing upstream is pruned yet (first stage of the first round) or in parallel mode.
        const exact = !sequential || (round === 1 && s === 0);
        const stats = calib ? await collectStatistics(current, dense, calib, stage, { exact, calibSamples, heldOutSamples, engine, threads: options.threads, batchSize: options.batchSize, entry }) : undefined;
        for (const view of stage) {
          progress('prune', view.name);
          const layerStarted = performance.now();
          const W = denseViews.get(view.name)!.read();
          const key = sampleKey(view);
          const layerStats = stats?.get(key);
          const problem: LayerProblem = { W, rows: view.rows, cols: view.cols };
          if (layerStats) {
            problem.H = layerStats.calib.H;
            if (entry.needsCross && layerStats.calib.C) problem.C = layerStats.calib.C;
            if (layerStats.calib.Hdense) problem.Hdense = layerStats.calib.Hdense;
            problem.columnNorms = layerStats.columnNorms;
            if (layerStats.heldOut) problem.heldOut = layerStats.heldOut;
          }
          const result = await entry.prune(
            problem,
            {
              sparsity: sparsityOf.get(view)!,
              pattern,
              damp,
              ...(options.iterations !== undefined ? { iterations: options.iterations } : {}),
              ...(options.step !== undefined ? { step: options.step } : {}),
              ...(options.projection !== undefined ? { projection: options.projection } : {}),
              ...(options.blocksize !== undefined ? { blocksize: options.blocksize } : {}),
            },
            engine,
          );
          view.write(result.W);
          const errorStats = layerStats ? (layerStats.heldOut ?? layerStats.calib) : undefined;
          reports.set(view, {
            name: view.name,
            op: view.op,
            rows: view.rows,
            cols: view.cols,
            sparsity: zeroFraction(result.W),
            error: errorStats ? await relativeReconstructionError(engine, W, result.W, view.rows, view.cols, errorStats) : null,
            loss: result.loss,
            dampingUsed: result.dampingUsed,
            samples: layerStats?.rows ?? 0,
            seconds: (performance.now() - layerStarted) / 1000,
          });
          layersDone++;
        }
      }
    }
  } finally {
    if (ownEngine) await engine.dispose();
  }
  const layers: PrunedLayerReport[] = allViews.map(
    (v) =>
      reports.get(v) ?? { name: v.name, op: v.op, rows: v.rows, cols: v.cols, sparsity: zeroFraction(v.read()), error: null, loss: 0, dampingUsed: 0, samples: 0, seconds: 0, skipped: true },
  );
  const pruned = layers.filter((l) => !l.skipped);
  const parameters = pruned.reduce((a, l) => a + l.rows * l.cols, 0);
  const zeros = pruned.reduce((a, l) => a + Math.round(l.sparsity * l.rows * l.cols), 0);
  const errors = pruned.map((l) => l.error).filter((e): e is number => e !== null);
  return {
    model: current,
    report: {
      method: options.method,
      sparsity: pattern.kind === 'nm' ? 1 - pattern.n / pattern.m : options.sparsity,
      pattern: pattern.kind === 'nm' ? `${pattern.n}:${pattern.m}` : 'unstructured',
      mode: sequential ? 'sequential' : 'parallel',
      rounds,
      damp,
      calibSamples,
      heldOutSamples,
      engine: engine.name,
      layers,
      totals: { parameters, zeros, sparsity: parameters ? zeros / parameters : 0, meanError: errors.length ? errors.reduce((a, b) => a + b, 0) / errors.length : null },
      seconds: (performance.now() - started) / 1000,
    },
  };
}

function zeroFraction(w: Float32Array): number {
  let z = 0;
  for (let i = 0; i < w.length; i++) if (w[i] === 0) z++;
  return w.length ? z / w.length : 0;
}

function resolveSkip(views: readonly WeightView[], names: readonly string[]): Set<WeightView> {
  const skip = new Set<WeightView>();
  for (const name of names) {
    const hits = views.filter((v) => v.name === name || v.weightName === name || v.nodeName === name);
    if (hits.length === 0) throw new SurgeonInputError(`--skip ${name}: no such layer; valid layers: ${views.map((v) => v.name).join(', ')}`);
    for (const v of hits) skip.add(v);
  }
  return skip;
}

/** Target sparsity of every view: uniform, per-layer overrides, or global magnitude thresholds. */
function layerSparsities(views: readonly WeightView[], options: PruneModelOptions): Map<WeightView, number> {
  const result = new Map<WeightView, number>();
  const overrides = options.layerSparsity ?? {};
  for (const v of views) result.set(v, overrides[v.name] ?? overrides[v.weightName] ?? overrides[v.nodeName] ?? options.sparsity);
  if (!options.global) return result;
  // Global magnitude: one threshold over all layers (exactly round(s·P) zeros); each layer's
  // share of the pruned weights becomes its sparsity.
  const weights = views.map((v) => ({ W: v.read() }));
  const { pruneCounts } = globalMagnitudeThresholds(weights, options.sparsity);
  views.forEach((v, l) => result.set(v, pruneCounts[l]! / weights[l]!.W.length));
  return result;
}

/** Statistics of one sample key (views sharing an activation and layout). */
interface KeyStatistics {
  calib: InputStatistics;
  heldOut?: InputStatistics;
  columnNorms: Float64Array;
  /** Calibration sample rows. */
  rows: number;
}

/**
 * Streams calibration (and held-out) batches through the current model (X̂) and, unless
 * `exact`, the dense model (X), accumulating H, C and Hd per sample key of `stage`.
 */
async function collectStatistics(
  current: OnnxModel,
  dense: OnnxModel,
  calib: Dataset,
  stage: readonly WeightView[],
  options: { exact: boolean; calibSamples: number; heldOutSamples: number; engine: GemmEngine; threads?: number; batchSize?: number; entry: PrunerEntry },
): Promise<Map<string, KeyStatistics>> {
  const byKey = new Map<string, WeightView>();
  for (const view of stage) if (!byKey.has(sampleKey(view))) byKey.set(sampleKey(view), view);
  const names = [...new Set(stage.map((v) => v.inputName))];
  const sessionOptions = { threads: options.threads ?? 2 };
  const hatSession = await captureSession(current, names, sessionOptions);
  const denseSession = options.exact ? undefined : await captureSession(dense, names, sessionOptions);
  const result = new Map<string, KeyStatistics>();
  try {
    const ranges: Array<[number, number]> = [[0, options.calibSamples]];
    if (options.heldOutSamples > 0) ranges.push([options.calibSamples, options.calibSamples + options.heldOutSamples]);
    const accumulated: Array<Map<string, RangeAccumulators>> = [];
    for (const [from, to] of ranges) {
      const accs = new Map<string, RangeAccumulators>();
      for (const [key, view] of byKey) {
        accs.set(key, {
          hat: new HessianAccumulator(view.cols, { engine: options.engine, cross: !options.exact }),
          dense: options.exact ? undefined : new HessianAccumulator(view.cols, { engine: options.engine, cross: false }),
        });
      }
      for (const { feeds } of batchFeeds(calib, options.batchSize ?? 64, from, to)) {
        const hat = await hatSession.run(feeds, names);
        const den = denseSession ? await denseSession.run(feeds, names) : undefined;
        for (const [key, view] of byKey) {
          const acc = accs.get(key)!;
          const Xhat = samplesOf(view, hat[view.inputName]!);
          if (den) {
            const X = samplesOf(view, den[view.inputName]!);
            await acc.hat.addBatch(Xhat.X, Xhat.n, X.X);
            await acc.dense!.addBatch(X.X, X.n);
          } else {
            await acc.hat.addBatch(Xhat.X, Xhat.n);
          }
        }
      }
      accumulated.push(accs);
    }
    for (const [key] of byKey) {
      const calibAcc = accumulated[0]!.get(key)!;
      const stats = calibAcc.hat.result();
      const calibStats: InputStatistics = { H: stats.H };
      if (stats.C) calibStats.C = stats.C;
      if (calibAcc.dense) calibStats.Hdense = calibAcc.dense.result().H;
      const entry: KeyStatistics = { calib: calibStats, columnNorms: calibAcc.hat.columnNorms(), rows: stats.samples };
      const heldAcc = accumulated[1]?.get(key);
      if (heldAcc && heldAcc.hat.samples > 0) {
        const held = heldAcc.hat.result();
        entry.heldOut = { H: held.H };
        if (held.C) entry.heldOut.C = held.C;
        if (heldAcc.dense) entry.heldOut.Hdense = heldAcc.dense.result().H;
      }
      for (const acc of accumulated.map((a) => a.get(key)!)) {
        acc.hat.free();
        acc.dense?.free();
      }
      result.set(key, entry);
    }
  } finally {
    await hatSession.release();
    await denseSession?.release();
  }
  return result;
}

/** The sample matrix of a captured activation for `view`. */
function samplesOf(view: WeightView, tensor: NamedTensor): { X: Float32Array; n: number } {
  if (!(tensor.data instanceof Float32Array)) {
    throw new SurgeonInputError(`layer ${view.name}: its input '${view.inputName}' is ${tensor.type}, not float32; only float32 activations can be calibrated`);
  }
  const layout = sampleLayout(view, tensor.dims);
  const dims = layoutDims(view, tensor.dims);
  const { n, d } = sampleShape(dims, layout);
  if (d !== view.cols) throw new Error(`internal: layer ${view.name} expects ${view.cols} inputs per sample, its activation gives ${d}`);
  return { X: toSamples(tensor.data, dims, layout), n };
}

export type { ModelSession };
