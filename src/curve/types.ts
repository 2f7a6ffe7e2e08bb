/**
 * Data types of a sparsity curve: the points `surgeon curve` measures and the results.json
 * file that holds them (format `surgeon-curve`, version 1).
 */

/** Collapse selection of a curve: the penultimate features, every layer, or nothing. */
export type CurveCollapseMode = 'penultimate' | 'all' | 'none';

/** NC1 of one measured tensor, for the per-layer profile. */
export interface CurveLayerNc1 {
  /** Tensor name. */
  name: string;
  /** The prunable layer the tensor feeds, when it feeds one. */
  layer?: string;
  /** Features per sample. */
  d: number;
  nc1: number;
}

/** Collapse metrics of one point (penultimate features), plus an optional per-layer NC1 profile. */
export interface CurveCollapse {
  /** The tensor the scalar metrics below describe (the classifier's input). */
  tensor: string;
  nc1: number;
  cdnv: number;
  /** NC2: distance of the centred class means' Gram to the simplex ETF. */
  etf: number;
  /** NC4: nearest-class-mean vs network disagreement rate. */
  nc4?: number;
  effectiveRank: number;
  /** NC1 of every measured tensor in graph order (dense and sparsest points, or all points with --collapse all). */
  layers?: CurveLayerNc1[];
}

/** Wall-clock seconds of one point. */
export interface CurveSeconds {
  prune: number;
  eval: number;
  collapse: number;
  total: number;
}

/** Latency of a point's model at one batch size, with the dense model's measured interleaved with it. */
export interface CurveLatency {
  batch: number;
  /** Median milliseconds per batch of the point's model, and of the dense model in the same measurement. */
  ms: number;
  denseMs: number;
}

/** What a point of a structured curve (`curve --structure`) measured besides the metric. */
export interface CurveStructure {
  /** `neurons`, `channels` or `heads`. */
  structure: string;
  /** Float parameters and multiply-adds per sample of the point's model. */
  parameters: number;
  macs: number;
  /** onnxruntime latency at batch 1 and 64 (median, interleaved with the dense model). */
  latency: CurveLatency[];
  /** Units kept of every pruned group (absent for the dense point). */
  groups?: Array<{ name: string; kept: number; units: number }>;
}

/** One point of the curve: the dense model (method `dense`, sparsity 0) or a pruned one. */
export interface CurvePoint {
  /** `dense` or a pruning method. */
  method: string;
  /** Target sparsity (for N:M patterns 1 − N/M; with `--structure` the fraction of units removed). */
  sparsity: number;
  /** `unstructured`, `N:M`, `dense`, or the structure (`neurons`, `channels`, `heads`) of a structured curve. */
  pattern: string;
  /** Classification accuracy in [0, 1]. */
  accuracy?: number;
  /** Perplexity (token models). */
  perplexity?: number;
  /** Evaluated samples (images or token windows). */
  samples: number;
  /** Measured fraction of zeros over the prunable layers (structured points: the fraction of parameters removed). */
  measuredSparsity: number;
  /** Bytes of the model as written with the curve's storage (and quantization), when measured. */
  bytes?: number;
  /** Mean held-out relative reconstruction error of the pruned layers (structured points: of the groups' consumers on the calibration data; null when not measured). */
  meanError: number | null;
  /** Sizes and latency of the points of a structured curve. */
  structured?: CurveStructure;
  seconds: CurveSeconds;
  /** Collapse metrics, or null when not measured (see `note`). */
  collapse: CurveCollapse | null;
  /** Why something was not measured. */
  note?: string;
  /** Hash of the options the point depends on; a rerun reuses the point only when it matches. */
  optionsHash: string;
  /** ISO time the point finished. */
  finishedAt: string;
}

/** One point's job when the curve ran on a queue (`surgeon curve --queue`). */
export interface CurveQueueJob {
  method: string;
  sparsity: number;
  pattern: string;
  /** `done` (the point is in `points`), `failed` (every attempt failed), `queued` (not finished when the file was written). */
  state: 'done' | 'failed' | 'queued';
  /** The worker (`host:pid`) that measured the point. */
  worker?: string;
  /** Failed attempts. */
  attempts: number;
  /** The error of every failed attempt, oldest first (each names the worker it happened on). */
  errors: string[];
}

/** The environment a curve was measured in. */
export interface CurveEnvironment {
  versions: { surgeon: string; node: string; onnxruntime: string; vega: string; vegaLite: string };
  machine: { os: string; arch: string; cpu: string; cores: number; memoryGiB: number };
}

/** The contents of results.json. */
export interface CurveResults extends CurveEnvironment {
  format: 'surgeon-curve';
  version: 1;
  /** The command line that produced the file. */
  command: string;
  /** The model: path, format (onnx, tfjs-layers, tfjs-graph), SHA-256 of its files and their bytes. */
  model: { path: string; format?: string; sha256: string; bytes: number };
  /** What the evaluation measured. */
  metric: 'accuracy' | 'perplexity';
  /** Everything the points depend on (data, pruner options, collapse selection, grid). */
  options: Record<string, unknown>;
  /** Hashes the points are matched by: `dense` for the dense point, `prune` for the others. */
  hashes: { dense: string; prune: string };
  /** ISO time of the first point, and of the last write. */
  started: string;
  updated: string;
  points: CurvePoint[];
  /**
   * What could not be measured (collapse of a model whose tensors have no usable batch axis,
   * ...), once per distinct reason; the points concerned have `collapse: null` or no profile.
   * Absent in files written before it existed.
   */
  warnings?: string[];
  /**
   * Present when points were measured by queue workers: the queue (URL without password) and
   * each job (who measured the point, errors of failed attempts), latest run first merged over
   * earlier ones by point.
   */
  queue?: { url: string; jobs: CurveQueueJob[] };
}
