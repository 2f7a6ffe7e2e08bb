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
import type { CurveCollapse, CurveCollapseMode, CurvePoint } from './types.js';

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
 * sparsity (ascending). With an N:M pattern each method has one point at sparsity 1 − N/M.
 */
export function curveGrid(methods: readonly string[], sparsities: readonly number[], pattern: SparsityPattern): CurveGridPoint[] {
  const grid: CurveGridPoint[] = [{ method: 'dense', sparsity: 0, pattern: 'dense', profile: true }];
  const unique = [...new Set(methods.filter((m) => m !== 'dense'))];
  const levels = pattern.kind === 'nm' ? [1 - pattern.n / pattern.m] : [...new Set(sparsities)].sort((a, b) => a - b);
  const name = pattern.kind === 'nm' ? `${pattern.n}:${pattern.m}` : 'unstructured';
  for (const method of unique) {
    levels.forEach((sparsity, i) => grid.push({ method, sparsity, pattern: name, profile: i === levels.length - 1 }));
  }
  return grid;
}

/** The library functions a curve calls (replaceable, e.g. to count calls in tests). */
export interface CurveDeps {
  pruneModel: typeof pruneModel;
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
export type PointOptions = Pick<CurveRunOptions, 'model' | 'evaluation' | 'calibration' | 'pattern' | 'collapse' | 'prune' | 'hashes' | 'threads' | 'batchSize' | 'collapseAdvice' | 'deps' | 'measureBytes'>;

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
  const deps: CurveDeps = { pruneModel, evaluateModel, measureModelCollapse, ...options.deps };
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
  if (g.method !== 'dense') {
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
