/**
 * The curve runner: the dense model, then every method × sparsity, each pruned
 * ({@link pruneModel}), evaluated ({@link evaluateModel}) and measured for neural collapse
 * ({@link measureModelCollapse}), timed phase by phase. Points already finished under the same
 * options are reused; `onPoint` is called after every point so the caller can save it at once.
 * No files and no console output here (see ./store.ts and the CLI).
 *
 * Collapse that cannot be measured does not stop the curve: a {@link SurgeonInputError} from the
 * measurement (a tensor without a batch axis, an ambiguous one, non-float or non-finite
 * features, ...) leaves the point without the per-layer profile (the penultimate features are
 * measured alone) or, when the penultimate features fail too, without collapse (`null`). The
 * reason goes to `onWarning` once per distinct message, not once per point, and into the
 * result's `warnings`. Any other error still ends the run.
 */
import { SurgeonInputError } from '../errors.js';
import type { ClassificationDataset, Dataset } from '../io/dataset.js';
import type { OnnxModel } from '../io/onnx/model.js';
import { asNetwork } from '../network/onnx.js';
import { countPruned } from '../pruners/masks.js';
import type { Network } from '../network/types.js';
import { measureModelCollapse, type LayerCollapse, type ModelCollapseOptions } from '../collapse/model.js';
import type { LayerSelection } from '../collapse/select.js';
import { pruneModel, type PruneModelOptions } from '../prune/model.js';
import type { SparsityPattern } from '../pruners/types.js';
import { evaluateModel } from '../runtime/evaluate.js';
import { samePoint } from './store.js';
import type { QuantizedWeight } from '../pruners/quantize.js';
import { OnnxNetwork } from '../network/onnx.js';
import type { StructureKind } from '../structure/graph.js';
import { compareLatency } from '../structure/latency.js';
import { modelCost, pruneStructured, structurePlan, type StructuredPruneOptions } from '../structure/prune.js';
import type { StructuredMethod } from '../structure/select.js';
import { probeFeeds } from '../structure/shapes.js';
import type { CurveCollapse, CurveCollapseMode, CurvePoint, CurveStructure } from './types.js';

/** One point to measure. */
export interface CurveGridPoint {
  method: string;
  sparsity: number;
  /** `dense`, `unstructured` or `N:M`. */
  pattern: string;
  /** Measure the per-layer NC1 profile here (the dense point and each method's sparsest point). */
  profile: boolean;
}

/**
 * The points of a curve in the order they run: `dense` first, then each method at each
 * sparsity (ascending). With an N:M pattern each method has one point at sparsity 1 − N/M. With
 * `structure` the points' pattern is the structure (`neurons`, `channels`, `heads`).
 */
export function curveGrid(methods: readonly string[], sparsities: readonly number[], pattern: SparsityPattern, structure?: StructureKind): CurveGridPoint[] {
  const grid: CurveGridPoint[] = [{ method: 'dense', sparsity: 0, pattern: 'dense', profile: true }];
  const unique = [...new Set(methods.filter((m) => m !== 'dense'))];
  const levels = pattern.kind === 'nm' ? [1 - pattern.n / pattern.m] : [...new Set(sparsities)].sort((a, b) => a - b);
  const name = structure ?? (pattern.kind === 'nm' ? `${pattern.n}:${pattern.m}` : 'unstructured');
  for (const method of unique) {
    levels.forEach((sparsity, i) => grid.push({ method, sparsity, pattern: name, profile: i === levels.length - 1 }));
  }
  return grid;
}

/** The library functions a curve calls (replaceable, e.g. to count calls in tests). */
export interface CurveDeps {
  pruneModel: typeof pruneModel;
  pruneStructured: typeof pruneStructured;
  evaluateModel: typeof evaluateModel;
  measureModelCollapse: typeof measureModelCollapse;
}

/** Progress of one phase of one point. */
export interface CurveProgress {
  /** 0-based index of the point in the grid, and the grid's length. */
  index: number;
  total: number;
  method: string;
  sparsity: number;
  phase: 'prune' | 'eval' | 'collapse';
  /** Fraction of the phase done, in [0, 1]. */
  fraction: number;
  detail?: string;
}

/**
 * A structured curve (`curve --structure`): every pruned point removes whole units with
 * {@link pruneStructured} (the methods magnitude, wanda, obs, iobs; damping, iterations, step,
 * calibration samples, threads and batch size come from `prune`), and every point records its
 * parameters, multiply-adds and onnxruntime latency beside the dense model's (ONNX models only).
 */
export interface StructuredCurveOptions extends Pick<StructuredPruneOptions, 'roundTo' | 'skip'> {
  structure: StructureKind;
  /** Timed runs per batch size of the latency measurement (default 20). */
  latencyRuns?: number;
}

/** Options of {@link runCurve}. */
export interface CurveRunOptions {
  /** The dense model (any format; an OnnxModel is wrapped). */
  model: Network | OnnxModel;
  /** Evaluation data: labelled images (accuracy, collapse) or token windows (perplexity). */
  evaluation: Dataset;
  /** Calibration data for the pruners (all but magnitude need it). */
  calibration?: Dataset;
  grid: readonly CurveGridPoint[];
  pattern: SparsityPattern;
  collapse: CurveCollapseMode;
  /** Pruner options shared by every point. */
  prune?: Omit<PruneModelOptions, 'method' | 'sparsity' | 'pattern' | 'onProgress'>;
  /** Prune whole units instead (see {@link StructuredCurveOptions}). */
  structure?: StructuredCurveOptions;
  /** Option hashes: `dense` for the dense point, `prune` for pruned points. */
  hashes: { dense: string; prune: string };
  /** Saved points; those matching (method, sparsity, pattern, hash) are reused, not recomputed. */
  previous?: readonly CurvePoint[];
  /** onnxruntime threads for evaluation and collapse (default 2). */
  threads?: number;
  /** Evaluation and collapse batch size (evaluateModel's and measureModelCollapse's defaults when unset). */
  batchSize?: number;
  /** The fixes collapse errors (hence warnings) name: the batch-size flag and the advice for a tensor without a batch axis. */
  collapseAdvice?: Pick<ModelCollapseOptions, 'batchFlag' | 'tensorAdvice'>;
  /**
   * Bytes of a point's model as it would be written (the caller saves it with its storage and the
   * quantization codes, e.g. to a temporary file); points get `bytes` when given.
   */
  measureBytes?: (model: Network, quantized: ReadonlyMap<string, QuantizedWeight> | undefined) => Promise<number>;
  /** Called after every point (computed or reused) with all points so far, in grid order. */
  onPoint?: (points: CurvePoint[], point: CurvePoint, reused: boolean, index: number) => void;
  onProgress?: (event: CurveProgress) => void;
  /** Called once per distinct warning (collapse that could not be measured), when it first occurs. */
  onWarning?: (message: string) => void;
  deps?: Partial<CurveDeps>;
}

/** What {@link runCurve} returns. */
export interface CurveRunResult {
  points: CurvePoint[];
  /** Points taken from `previous`, and points measured now. */
  reused: number;
  computed: number;
  /** Distinct warnings of this run, in order (see the module comment). */
  warnings: string[];
}

function zeroFraction(network: Network): number {
  let zeros = 0;
  let total = 0;
  for (const layer of network.layers()) {
    const w = layer.read();
    zeros += countPruned(w);
    total += w.length;
  }
  return total ? zeros / total : 0;
}

function summarise(layers: readonly LayerCollapse[], profile: boolean): CurveCollapse {
  const main = layers.find((l) => l.penultimate) ?? layers[layers.length - 1]!;
  const out: CurveCollapse = { tensor: main.name, nc1: main.nc1, cdnv: main.cdnv, etf: main.etf, effectiveRank: main.effectiveRank };
  if (main.nc4 !== undefined) out.nc4 = main.nc4;
  if (profile) out.layers = layers.map((l) => ({ name: l.name, ...(l.layer !== undefined ? { layer: l.layer } : {}), d: l.d, nc1: l.nc1 }));
  return out;
}

/** What {@link measurePoint} needs besides the grid point: the model, data and shared options of a curve. */
export type PointOptions = Pick<CurveRunOptions, 'model' | 'evaluation' | 'calibration' | 'pattern' | 'collapse' | 'prune' | 'structure' | 'hashes' | 'threads' | 'batchSize' | 'collapseAdvice' | 'deps' | 'measureBytes'>;

/** Latency batch sizes of a structured curve. */
const LATENCY_BATCHES = [1, 64];

/**
 * Prunes one point of a structured curve; returns the model, the mean group error and what the
 * point records (its latency is measured after evaluation, see {@link structuredLatency}).
 */
async function pruneStructuredPoint(options: PointOptions, g: CurveGridPoint, dense: Network, deps: CurveDeps, progress: (fraction: number, detail?: string) => void): Promise<{ model: Network; meanError: number | null; measuredSparsity: number; structured: Omit<CurveStructure, 'latency'> }> {
  const s = options.structure!;
  const p = options.prune ?? {};
  const { model, report } = await deps.pruneStructured(dense, options.calibration, {
    structure: s.structure,
    method: g.method as StructuredMethod,
    sparsity: g.sparsity,
    ...(s.roundTo !== undefined ? { roundTo: s.roundTo } : {}),
    ...(s.skip ? { skip: s.skip } : {}),
    ...(p.damp !== undefined ? { damp: p.damp } : {}),
    ...(p.iterations !== undefined ? { iterations: p.iterations } : {}),
    ...(p.step !== undefined ? { step: p.step } : {}),
    ...(p.calibSamples !== undefined ? { calibSamples: p.calibSamples } : {}),
    ...(p.threads !== undefined ? { threads: p.threads } : {}),
    ...(p.batchSize !== undefined ? { batchSize: p.batchSize } : {}),
    onProgress: (done, total, group) => progress(total ? done / total : 1, group),
  });
  const errors = report.groups.map((x) => x.error).filter((e): e is number => e !== null);
  return {
    model,
    meanError: errors.length ? errors.reduce((a, b) => a + b, 0) / errors.length : null,
    measuredSparsity: 1 - report.after.parameters / report.before.parameters,
    structured: {
      structure: s.structure,
      parameters: report.after.parameters,
      macs: report.after.macs,
      groups: report.groups.map((x) => ({ name: x.name, kept: x.units - x.removed, units: x.units })),
    },
  };
}

/** Parameters and multiply-adds of the dense model of a structured curve. */
async function denseCost(options: PointOptions, dense: Network): Promise<Omit<CurveStructure, 'latency'>> {
  if (!(dense instanceof OnnxNetwork)) throw new SurgeonInputError(`--structure applies to ONNX models only; structured pruning of ${dense.format} models is not implemented yet (drop --structure)`);
  const { shapes } = await structurePlan(dense.model, options.calibration ?? options.evaluation, options.threads ?? 2);
  const cost = modelCost(dense.model, shapes);
  return { structure: options.structure!.structure, parameters: cost.parameters, macs: cost.macs };
}

/** onnxruntime latency of `model` beside the dense model's (interleaved), at batch 1 and 64. */
async function structuredLatency(options: PointOptions, dense: Network, model: Network): Promise<CurveStructure['latency']> {
  if (!(dense instanceof OnnxNetwork) || !(model instanceof OnnxNetwork)) throw new Error('internal: structured curves measure ONNX models');
  const probe = probeFeeds(dense.model, options.calibration ?? options.evaluation);
  const models = model === dense ? [dense.model] : [model.model, dense.model];
  const measured = await compareLatency(models, probe, LATENCY_BATCHES, { threads: options.threads ?? 2, runs: options.structure!.latencyRuns ?? 20 });
  const own = measured[0]!;
  const base = measured[measured.length - 1]!;
  return own.map((l, i) => ({ batch: l.batch, ms: l.medianMs, denseMs: base[i]!.medianMs }));
}

/**
 * Measures one grid point: prune (unless dense), evaluate, measure collapse. The one
 * point-execution function of every curve, local ({@link runCurve}) or spread over queue workers
 * (../queue), so both give the same points. `warn` gets each collapse warning (see the module
 * comment); progress events carry `index`/`total` as given.
 */
export async function measurePoint(
  options: PointOptions,
  g: CurveGridPoint,
  at: { index: number; total: number },
  warn: (message: string) => void = () => {},
  onProgress?: (event: CurveProgress) => void,
): Promise<CurvePoint> {
  const deps: CurveDeps = { pruneModel, pruneStructured, evaluateModel, measureModelCollapse, ...options.deps };
  const threads = options.threads ?? 2;
  const hash = g.method === 'dense' ? options.hashes.dense : options.hashes.prune;
  const { index, total } = at;
  const progress = (phase: CurveProgress['phase'], fraction: number, detail?: string) =>
    onProgress?.({ index, total, method: g.method, sparsity: g.sparsity, phase, fraction, ...(detail !== undefined ? { detail } : {}) });
  const started = performance.now();
  const dense = asNetwork(options.model);
  let model = dense;
  let pruned: Network | undefined;
  let meanError: number | null = null;
  let measuredSparsity: number;
  let quantized: ReadonlyMap<string, QuantizedWeight> | undefined;
  let structured: Omit<CurveStructure, 'latency'> | undefined;
  if (options.structure) {
    progress('prune', 0);
    if (g.method !== 'dense') {
      const point = await pruneStructuredPoint(options, g, dense, deps, (fraction, detail) => progress('prune', fraction, detail));
      pruned = point.model;
      model = point.model;
      meanError = point.meanError;
      measuredSparsity = point.measuredSparsity;
      structured = point.structured;
    } else {
      structured = await denseCost(options, dense);
      measuredSparsity = 0;
    }
  } else if (g.method !== 'dense') {
    progress('prune', 0);
    const { model: prunedModel, report, quantized: codes } = await deps.pruneModel(dense, options.calibration, {
      ...options.prune,
      method: g.method,
      sparsity: g.sparsity,
      pattern: options.pattern,
      onProgress: (e) => progress('prune', e.layersTotal ? e.layersDone / e.layersTotal : 0, e.phase === 'capture' ? `capture stage ${e.stage}/${e.stages}` : (e.layer ?? '')),
    });
    pruned = prunedModel;
    model = prunedModel;
    quantized = codes;
    meanError = report.totals.meanError;
    measuredSparsity = report.totals.sparsity;
  } else {
    measuredSparsity = zeroFraction(model);
  }
  const bytes = options.measureBytes ? await options.measureBytes(model, quantized) : undefined;
  const afterPrune = performance.now();
  progress('eval', 0);
  const evaluation = await deps.evaluateModel(model, options.evaluation, {
    threads,
    ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}),
    onProgress: (done, all) => progress('eval', all ? done / all : 1),
  });
  const afterEval = performance.now();
  let collapse: CurveCollapse | null = null;
  let note: string | undefined;
  if (options.collapse !== 'none') {
    if (options.evaluation.kind === 'tokens') {
      note = 'collapse not measured: token windows have no class labels';
    } else {
      progress('collapse', 0);
      const measure = (layers: LayerSelection) =>
        deps.measureModelCollapse(model, options.evaluation as ClassificationDataset, {
          layers,
          threads,
          balancedness: false,
          ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}),
          ...options.collapseAdvice,
          onProgress: (done, all, phase) => progress('collapse', all ? done / all : 1, phase),
        });
      const layers: LayerSelection = options.collapse === 'all' ? 'all' : g.profile ? 'default' : 'penultimate';
      const profile = g.profile || options.collapse === 'all';
      try {
        collapse = summarise((await measure(layers)).layers, profile);
      } catch (error) {
        if (!(error instanceof SurgeonInputError)) throw error;
        if (layers === 'penultimate') {
          warn(`collapse not measured: ${error.message}`);
        } else {
          // The profile failed on some tensor: the penultimate features alone may still work.
          try {
            collapse = summarise((await measure('penultimate')).layers, false);
            warn(`per-layer collapse profile not measured (penultimate features only): ${error.message}`);
          } catch (second) {
            if (!(second instanceof SurgeonInputError)) throw second;
            warn(`collapse not measured: ${second.message}`);
          }
        }
        if (!collapse) note = 'collapse not measured (see warnings)';
      }
    }
  }
  const latency = structured ? await structuredLatency(options, dense, model) : undefined;
  const finished = performance.now();
  pruned?.dispose();
  const point: CurvePoint = {
    method: g.method,
    sparsity: g.sparsity,
    pattern: g.pattern,
    ...(evaluation.accuracy !== undefined ? { accuracy: evaluation.accuracy } : {}),
    ...(evaluation.perplexity !== undefined ? { perplexity: evaluation.perplexity } : {}),
    samples: evaluation.samples,
    measuredSparsity,
    ...(bytes !== undefined ? { bytes } : {}),
    meanError,
    ...(structured ? { structured: { ...structured, latency: latency! } } : {}),
    seconds: {
      prune: (afterPrune - started) / 1000,
      eval: (afterEval - afterPrune) / 1000,
      collapse: (finished - afterEval) / 1000,
      total: (finished - started) / 1000,
    },
    collapse,
    ...(note !== undefined ? { note } : {}),
    optionsHash: hash,
    finishedAt: new Date().toISOString(),
  };
  return point;
}

/** Measures (or reuses) every point of `options.grid`; see the module comment. */
export async function runCurve(options: CurveRunOptions): Promise<CurveRunResult> {
  const points: CurvePoint[] = [];
  const warnings: string[] = [];
  const warn = (message: string) => {
    if (warnings.includes(message)) return;
    warnings.push(message);
    options.onWarning?.(message);
  };
  let reused = 0;
  let computed = 0;
  const total = options.grid.length;
  for (let index = 0; index < total; index++) {
    const g = options.grid[index]!;
    const saved = reusablePoint(options, g);
    if (saved) {
      points.push(saved);
      reused++;
      options.onPoint?.(points.slice(), saved, true, index);
      continue;
    }
    const point = await measurePoint(options, g, { index, total }, warn, options.onProgress);
    points.push(point);
    computed++;
    options.onPoint?.(points.slice(), point, false, index);
  }
  return { points, reused, computed, warnings };
}

/** The saved point of `options.previous` that stands for `g` under the curve's hashes, if any. */
export function reusablePoint(options: Pick<CurveRunOptions, 'previous' | 'hashes'>, g: CurveGridPoint): CurvePoint | undefined {
  const hash = g.method === 'dense' ? options.hashes.dense : options.hashes.prune;
  return options.previous?.find((p) => samePoint(p, g.method, g.sparsity, g.pattern, hash));
}
