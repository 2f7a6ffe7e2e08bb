/**
 * Model-level pruning of any {@link Network} (ONNX, TF.js layers, TF.js graph) with any
 * layer-wise method of src/pruners.
 *
 * Flow (DESIGN.md, "The pruning flow"):
 * 1. the network gives every prunable layer as a rows × cols view with the activations it
 *    multiplies (`uses`; a weight shared by several nodes is one layer whose statistics are
 *    the sum over its uses);
 * 2. calibration batches run through the network and each layer's input activation streams
 *    into Float64 statistics: H = X̂ᵀX̂/N from the model pruned so far, C = XᵀX̂/N and
 *    Hd = XᵀX/N with the dense model's inputs X (sequential mode), on the calibration samples
 *    and, separately, on held-out samples that measure the reconstruction error;
 * 3. the layer pruner turns (W, H, C) into Ŵ, which is written back into the network;
 * 4. sequential mode visits layers stage by stage (stage = prunable depth), so each stage
 *    sees the inputs of the model pruned so far; `rounds` repeats the whole pass.
 *
 * Layers left dense, each reported with its reason: `skip`, tied weights (a tied embedding,
 * unless `includeTied`), and — for methods that need calibration data — layers whose input
 * cannot be captured (inside an If/Loop body or a composite TF.js layer).
 */
import { SurgeonInputError } from '../errors.js';
import type { OnnxModel } from '../io/onnx/model.js';
import type { Dataset } from '../io/dataset.js';
import { createEngine } from '../linalg/create-engine.js';
import type { GemmEngine } from '../linalg/engine.js';
import { defaultHeldOutSamples, getPruner, PRUNER_NAMES, type PrunerEntry } from '../pruners/registry.js';
import { globalMagnitudeThresholds } from '../pruners/magnitude.js';
import { countPruned } from '../pruners/masks.js';
import type { FactorCache, LayerProblem, SparsityPattern } from '../pruners/types.js';
import { asNetwork, isNetwork, type OnnxNetwork } from '../network/onnx.js';
import type { Network, NetworkLayer } from '../network/types.js';
import { releaseFactors } from '../pruners/curvature.js';
import { StageCache, type StageObserver, type CachedBatch } from './stage-cache.js';
import { gptqQuantize } from '../pruners/gptq.js';
import { objective } from '../pruners/masks.js';
import { rtnQuantize, validateGrid, type QuantGrid, type QuantizedWeight } from '../pruners/quantize.js';
import { sparsegptPrune } from '../pruners/sparsegpt.js';
import type { LayerPruneOptions, LayerPruneResult } from '../pruners/types.js';
import { relativeReconstructionError } from './error.js';
import { HeldOutModelLoss, type HeldOutLossKind } from './select.js';
import { accumulateStatistics, runnerBatches, sampleKeyTargets, type KeyStatistics, type RunnerBatches } from './statistics.js';

/** Options of {@link pruneModel}; every field is optional except `method` and `sparsity`. */
export interface PruneModelOptions {
  /** A method of the registry: magnitude, wanda, sparsegpt, obc, iht, iobs (or the name of `pruner`). */
  method: string;
  /** A layer pruner of your own, used instead of the registry's `method` (which then only names it in the report). */
  pruner?: PrunerEntry;
  /** Target fraction of zeros per pruned layer, in [0, 1) (ignored for N:M patterns). */
  sparsity: number;
  /** Unstructured (default) or N:M along the input dimension. */
  pattern?: SparsityPattern;
  /** Calibration samples (images or token windows) used for the statistics (default 512). */
  calibSamples?: number;
  /**
   * Further samples held out to measure reconstruction error and pick iterates (default: a
   * quarter of calibSamples for iht and iobs, which pick on them, a sixteenth for the other
   * methods, which only report on them; at least 1 — see defaultHeldOutSamples).
   */
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
  /**
   * iht / iobs: use the cross term C = XᵀX̂ (default true): in sequential mode the layer then
   * reproduces the dense model's output XWᵀ from its pruned input X̂ (target W (C + δI)(H + δI)⁻¹, see newtonTarget). false
   * prunes W against H alone, as SparseGPT does (an ablation).
   */
  crossTerm?: boolean;
  /**
   * How an iterative method's result is checked against its own first step (I-OBS: the one-shot
   * OBS solution, `iterations: 1`). 'model' (default with held-out samples and more than one
   * iteration): the one-shot model is pruned too, both models are scored on the model's loss
   * over the held-out samples — negative log-likelihood of the labels or next tokens, else KL
   * divergence from the dense model's output — and the lower is returned, so the iterations never
   * leave the model worse than one step on that loss (at the cost of the extra one-shot pass).
   * 'layer': the iterated model alone (each layer's iterate chosen by its held-out layer objective).
   */
  select?: 'model' | 'layer';
  /** Whole-network passes (default 1); later rounds recapture X̂ from the pruned model. */
  rounds?: number;
  /** All layers from the dense model's inputs (X̂ = X) instead of sequentially. */
  parallel?: boolean;
  /** Layer names (view, weight or node names) to leave dense. */
  skip?: string[];
  /** Also prune tied weights (a tied embedding that the lm_head shares; default false: left dense and reported). */
  includeTied?: boolean;
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
  /**
   * Sequential mode: keep the activations entering each stage and run only the sub-graph
   * between two stages (default true where the network offers segment runners: ONNX); false
   * runs both models from their inputs for every stage. Results are the same either way.
   */
  stageCache?: boolean;
  /** Bytes of cached stage activations held in memory; beyond it they go to a temporary file (default 2 GiB). */
  activationMemory?: number;
  /**
   * Precision of the statistics' products (H, C, Hd, and the held-out error's layer outputs):
   * 'fp32' (default; as PyTorch's SparseGPT) — Float32 GEMM products summed into Float64 across
   * batches, ≈1.5–2× faster, relative error of H ~1e-7 against the fp64 path, see
   * test/prune/statistics-precision.test.ts — or 'fp64' (Float64 products throughout).
   */
  statistics?: 'fp64' | 'fp32';
  /**
   * Quantize the (pruned) weights: `bits` 4 or 8 on groups of `groupSize` inputs per row, by
   * GPTQ (`method` 'gptq', default: the OBS sweep with rounding; with `method: 'sparsegpt'` the
   * mask is chosen in the same sweep, SparseGPT §3.5; after any other method its mask is kept)
   * or round-to-nearest ('rtn'). The network then holds the dequantized weights and the result
   * carries the codes for {@link Network.save}.
   */
  quantize?: QuantizeOptions;
}

/** What {@link PruneModelOptions.quantize} asks for. */
export interface QuantizeOptions extends QuantGrid {
  /** 'gptq' (default) or 'rtn' (round-to-nearest, no calibration needed). */
  method?: 'gptq' | 'rtn';
}

/**
 * Seconds per phase of a prune command. pruneModel fills capture, statistics, prune, error and
 * other (cloning the network, planning, writing weights back); read and save are the caller's
 * (the CLI fills them; 0 otherwise).
 */
export interface PruneProfile {
  /** Opening the model and loading the calibration data. */
  read: number;
  /** Forward passes (runner creation and runs, stage segments) and sample extraction. */
  capture: number;
  /** HessianAccumulator addBatch/result (H, C, Hd). */
  statistics: number;
  /** The layer pruner. */
  prune: number;
  /** Held-out reconstruction error measurement. */
  error: number;
  /** Model-level selection (`select: 'model'`): the one-shot pass and scoring both models on held-out samples. */
  select: number;
  /** Writing the pruned model. */
  save: number;
  /** The rest of pruneModel: cloning, planning, writing weights back into the network. */
  other: number;
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
  /** Quantized (bits), when `quantize` was given. */
  bits?: number;
  /** Left dense. */
  skipped?: boolean;
  /** Why a layer was left dense: `skip`, `tied`, `uncapturable: …`. */
  reason?: string;
}

/** The model-level check of an iterative method (see {@link PruneModelOptions.select}). */
export interface ModelSelection {
  /** 'nll' of the labels or next tokens, or 'kl' from the dense model's output. */
  loss: HeldOutLossKind;
  /** Held-out model loss of the iterated model and of the one-shot (first-step) model. */
  losses: { iterated: number; first: number };
  /** The model returned (the iterated one on ties). */
  chosen: 'iterated' | 'first';
  /** Seconds of the one-shot pass and of scoring both models (included in `seconds`). */
  seconds: number;
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
  /** Precision of the statistics' Gram products. */
  statistics: 'fp64' | 'fp32';
  /** Seconds per phase (see {@link PruneProfile}). */
  profile: PruneProfile;
  /** Peak resident set size of the process so far (bytes; resourceUsage().maxRSS). */
  peakRssBytes: number;
  /** The quantization applied (with `quantize`). */
  quantize?: { bits: number; groupSize: number; method: 'gptq' | 'rtn' };
  /** The check against the method's first step, when it ran (`select: 'model'`). */
  selection?: ModelSelection;
}

/** A fresh all-zero profile. */
export function emptyProfile(): PruneProfile {
  return { read: 0, capture: 0, statistics: 0, prune: 0, error: 0, select: 0, save: 0, other: 0 };
}

/** Peak resident set size of this process so far, in bytes. */
export function peakRssBytes(): number {
  return process.resourceUsage().maxRSS * 1024;
}

/** Checks user-facing options; throws SurgeonInputError with a one-line fix. */
export function validatePruneOptions(options: PruneModelOptions): PrunerEntry {
  const entry = options.pruner ?? getPruner(options.method);
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
  if (options.select !== undefined && !entry.firstStep) throw new SurgeonInputError(`--select applies to iobs (its iterations), not to --method ${options.method}; drop it`);
  if (options.crossTerm !== undefined && !entry.needsCross) throw new SurgeonInputError(`--cross-term applies to iht and iobs, not to --method ${options.method} (which prunes W against H alone); drop it`);
  if (options.global && options.method !== 'magnitude') throw new SurgeonInputError('--global applies to --method magnitude only; drop it or use magnitude');
  if (options.rounds !== undefined && !(Number.isInteger(options.rounds) && options.rounds >= 1)) throw new SurgeonInputError(`--rounds ${options.rounds}: expected a positive integer`);
  if (options.statistics !== undefined && options.statistics !== 'fp64' && options.statistics !== 'fp32') throw new SurgeonInputError(`--statistics ${String(options.statistics)}: expected fp64 or fp32`);
  if (options.activationMemory !== undefined && !(Number.isFinite(options.activationMemory) && options.activationMemory >= 0)) {
    throw new SurgeonInputError(`activation memory ${options.activationMemory} is not a byte count ≥ 0; pass e.g. 2147483648 (2 GiB)`);
  }
  return entry;
}

/** The layers of a network and why some stay dense. */
interface LayerPlan {
  all: NetworkLayer[];
  pruned: NetworkLayer[];
  reasons: Map<NetworkLayer, string>;
}

function planLayers(network: Network, options: PruneModelOptions, needsData: boolean): LayerPlan {
  const all = network.layers();
  if (all.length === 0) {
    throw new SurgeonInputError(`the model has no prunable layers (${network.format === 'onnx' ? 'Gemm, MatMul with a constant weight, Conv' : 'Dense/Conv kernels, MatMul/Conv2D constants'}); nothing to prune`);
  }
  const reasons = new Map<NetworkLayer, string>();
  for (const layer of resolveNames(all, options.skip ?? [], '--skip')) reasons.set(layer, 'skip');
  for (const name of Object.keys(options.layerSparsity ?? {})) resolveNames(all, [name], 'the sparsity overrides');
  for (const layer of all) {
    if (reasons.has(layer)) continue;
    if (layer.tiedWith?.length && !options.includeTied) reasons.set(layer, `tied with ${layer.tiedWith.join(', ')} (pass --include-tied to prune it)`);
    else if (needsData && layer.uncapturable) reasons.set(layer, `uncapturable: ${layer.uncapturable}`);
  }
  return { all, pruned: all.filter((l) => !reasons.has(l)), reasons };
}

function matches(layer: NetworkLayer, name: string): boolean {
  return layer.name === name || layer.weight === name || layer.node === name || layer.uses.some((u) => u.node === name);
}

function resolveNames(layers: readonly NetworkLayer[], names: readonly string[], what: string): Set<NetworkLayer> {
  const found = new Set<NetworkLayer>();
  for (const name of names) {
    const hits = layers.filter((l) => matches(l, name));
    if (hits.length === 0) {
      const flag = what === '--skip' ? `--skip ${name}: no such layer` : `layer '${name}' in ${what} does not exist`;
      throw new SurgeonInputError(`${flag}; valid layers: ${listNames(layers.map((l) => l.name))}`);
    }
    for (const l of hits) found.add(l);
  }
  return found;
}

function listNames(names: readonly string[], max = 30): string {
  return names.length <= max ? names.join(', ') : `${names.slice(0, max).join(', ')}, … (${names.length - max} more; see surgeon inspect)`;
}

/**
 * Prunes a copy of `model` with `options.method` using calibration data `calib` (not needed
 * for magnitude). Returns the pruned model (the input is not modified) and a report. An
 * {@link OnnxModel} gives back an OnnxModel; any {@link Network} gives back a Network of the
 * same format.
 */
export async function pruneModel(model: OnnxModel, calib: Dataset | undefined, options: PruneModelOptions): Promise<{ model: OnnxModel; report: PruneModelReport; quantized?: Map<string, QuantizedWeight> }>;
export async function pruneModel(model: Network, calib: Dataset | undefined, options: PruneModelOptions): Promise<{ model: Network; report: PruneModelReport; quantized?: Map<string, QuantizedWeight> }>;
export async function pruneModel(model: Network | OnnxModel, calib: Dataset | undefined, options: PruneModelOptions): Promise<{ model: Network | OnnxModel; report: PruneModelReport; quantized?: Map<string, QuantizedWeight> }> {
  const entry = validatePruneOptions(options);
  const select = options.select ?? 'model';
  if (select !== 'model' && select !== 'layer') throw new SurgeonInputError(`select must be 'model' or 'layer', got '${String(select)}'`);
  const iterated = await pruneOnce(model, calib, options);
  const { report } = iterated;
  const firstStep = entry.firstStep;
  if (select !== 'model' || !firstStep || !calib || options.iterations === 1) return iterated;
  if (report.heldOutSamples === 0) {
    if (options.select === undefined) return iterated;
    disposeResult(iterated.model);
    throw new SurgeonInputError('--select model scores the model on held-out samples, and none are held out; pass more calibration samples, --held-out N ≥ 1, or --select layer');
  }
  // The check against the first step: prune the one-shot model too and keep the better on held-out model loss.
  const started = performance.now();
  let first: Awaited<ReturnType<typeof pruneOnce>>;
  try {
    first = await pruneOnce(model, calib, { ...options, ...firstStep });
  } catch (error) {
    disposeResult(iterated.model);
    throw error;
  }
  const range: [number, number] = [report.calibSamples, report.calibSamples + report.heldOutSamples];
  const loss = (await HeldOutModelLoss.create(asNetwork(model), calib, range, { batchSize: options.batchSize ?? 64, threads: options.threads ?? 2 }))!;
  const losses = { iterated: await loss.measure(asNetwork(iterated.model)), first: await loss.measure(asNetwork(first.model)) };
  const chosen = losses.first < losses.iterated ? 'first' : 'iterated';
  const [kept, dropped] = chosen === 'first' ? [first, iterated] : [iterated, first];
  disposeResult(dropped.model);
  const seconds = (performance.now() - started) / 1000;
  const profile = kept.report.profile;
  profile.select += seconds;
  kept.report.seconds = report.seconds + seconds;
  kept.report.selection = { loss: loss.kind, losses, chosen, seconds };
  return kept;
}

/** Frees a pruned model's native resources (a Network; an OnnxModel holds none). */
function disposeResult(model: Network | OnnxModel): void {
  if (isNetwork(model)) model.dispose();
}

/** One pass of the pruning pipeline (see {@link pruneModel}). */
async function pruneOnce(model: Network | OnnxModel, calib: Dataset | undefined, options: PruneModelOptions): Promise<{ model: Network | OnnxModel; report: PruneModelReport; quantized?: Map<string, QuantizedWeight> }> {
  const started = performance.now();
  const profile = emptyProfile();
  const entry = validatePruneOptions(options);
  const network = asNetwork(model);
  const pattern = options.pattern ?? { kind: 'unstructured' as const };
  const damp = options.damp ?? 0.01;
  const rounds = options.rounds ?? 1;
  const sequential = !options.parallel;
  const quant = options.quantize;
  if (quant) validateGrid(quant);
  const quantMethod = quant?.method ?? 'gptq';
  if (quant && quantMethod !== 'gptq' && quantMethod !== 'rtn') throw new SurgeonInputError(`--quantize-method ${quantMethod}: expected gptq or rtn`);
  const gptq = quant !== undefined && quantMethod === 'gptq';
  const needsData = options.method !== 'magnitude' || gptq;
  if (needsData && !calib) throw new SurgeonInputError(`--method ${options.method}${gptq ? ' with GPTQ quantization' : ''} needs calibration data; pass --inputs FILE, --dataset NAME or --tokens FILE (or --quantize-method rtn)`);
  const codes = quant ? new Map<string, QuantizedWeight>() : undefined;
  const dense = await network.clone();
  const current = await network.clone();
  try {
    const plan = planLayers(current, options, needsData);
    const layers = plan.pruned;
    // The dense weights W of every layer (targets of every round).
    const denseLayers = new Map(dense.layers().map((l) => [l.name, l]));
    if (pattern.kind === 'nm') {
      for (const l of layers) {
        if (l.cols % pattern.m !== 0) {
          throw new SurgeonInputError(`layer ${l.name}: ${pattern.n}:${pattern.m} needs the input dimension (${l.cols}) to be a multiple of ${pattern.m}; use --skip ${l.name} or another pattern`);
        }
      }
    }
    const available = calib?.count ?? 0;
    const calibSamples = Math.min(options.calibSamples ?? 512, available);
    const heldOutSamples = calib ? Math.min(options.heldOutSamples ?? defaultHeldOutSamples(entry, calibSamples), Math.max(0, available - calibSamples)) : 0;
    if (calib && calibSamples < Math.max(1, entry.minSamples)) {
      throw new SurgeonInputError(`--method ${options.method} needs at least ${Math.max(1, entry.minSamples)} calibration samples, got ${calibSamples}; pass more samples (or --calib-samples)`);
    }

    const ownEngine = !options.engine;
    const engine = options.engine ?? createEngine({ threads: options.threads ?? 2 });
    // fp32 statistics: Float32 Gram products summed into Float64 (HessianAccumulator reads the engine's precision).
    const statsEngine = (options.statistics ?? 'fp32') === 'fp32' ? createEngine({ threads: options.threads ?? 2, precision: 'float32' }) : engine;
    /** Adds the seconds `work` takes to `phase`. */
    const timed = async <T>(phase: 'capture' | 'prune' | 'error', work: () => Promise<T>): Promise<T> => {
      const t0 = performance.now();
      try {
        return await work();
      } finally {
        profile[phase] += (performance.now() - t0) / 1000;
      }
    };
    const sparsityOf = layerSparsities(layers, options);
    const stages = sequential ? current.stages(layers) : [layers];
    const reports = new Map<NetworkLayer, PrunedLayerReport>();
    const layersTotal = layers.length * rounds;
    let layersDone = 0;
    const ranges: Array<[number, number]> = [[0, calibSamples]];
    if (heldOutSamples > 0) ranges.push([calibSamples, calibSamples + heldOutSamples]);
    const batchSize = options.batchSize ?? 64;
    // Methods without the cross term (sparsegpt, obc, wanda) need only H = X̂ᵀX̂ of the
    // calibration range; their error is measured directly from the activations of the error
    // range (held-out, or calibration when nothing is held out) after the stage is pruned, so
    // neither the dense model's calibration activations (when samples are held out) nor any
    // further Gram product is needed. Methods with C (iht, iobs) get H, C and Hd on every range
    // (the held-out ones pick their iterate) and the error from them.
    const crossTerm = entry.needsCross && options.crossTerm !== false;
    const direct = !crossTerm;
    const errorRange = heldOutSamples > 0 ? 1 : 0;
    const statisticRanges = direct ? [0] : ranges.map((_, r) => r);
    // Sequential mode with data: advance cached stage activations through segment runners where the network has them.
    const cache =
      sequential && calib && stages.length > 1 && options.stageCache !== false
        ? StageCache.create(current, dense, calib, stages.map((stage) => stage.filter((l) => !l.uncapturable)), {
            ranges, batchSize, threads: options.threads ?? 2, denseRanges: ranges.map((_, r) => !direct || r === errorRange),
            ...(options.activationMemory !== undefined ? { activationMemory: options.activationMemory } : {}),
          })
        : undefined;
    /** The batches of the ranges `which` at the current stage (with the dense model's activations when `withDense`). */
    const stageBatches = async (stage: readonly NetworkLayer[], which: number[], withDense: boolean): Promise<RunnerBatches> =>
      cache
        ? Object.assign(which.map((r) => cache.batches(r, withDense)), { release: async () => {} })
        : timed('capture', () => runnerBatches(current, withDense ? dense : undefined, calib!, stage, which.map((r) => ranges[r]!), batchSize, options.threads ?? 2));
    try {
      for (let round = 1; round <= rounds; round++) {
        if (cache) await timed('capture', () => cache.start(round === 1));
        for (let s = 0; s < stages.length; s++) {
          const stage = stages[s]!;
          const progress = (phase: PruneProgress['phase'], layer?: string) =>
            options.onProgress?.({ phase, round, stage: s + 1, stages: stages.length, layersDone, layersTotal, layer });
          progress('capture');
          // X̂ = X when nothing upstream is pruned yet (first stage of the first round) or in parallel mode.
          const exact = !sequential || (round === 1 && s === 0);
          const measurable = stage.filter((l) => !l.uncapturable);
          let stats: Map<string, KeyStatistics> | undefined;
          if (calib && measurable.length) {
            const batches = await stageBatches(measurable, statisticRanges, !exact && !direct);
            try {
              stats = await accumulateStatistics(sampleKeyTargets(measurable), batches, !exact && !direct, statsEngine, profile);
            } finally {
              await batches.release();
            }
          }
          const pruned: Array<{ layer: NetworkLayer; W: Float32Array; What: Float32Array }> = [];
          const answers: Array<{ layer: NetworkLayer; W: Float32Array; result: LayerPruneResult; layerStats: KeyStatistics | undefined; seconds: number }> = [];
          // Layers reading the same inputs (one H) share its factors.
          const factors = new Map<string, FactorCache>();
          for (const layer of stage) {
            progress('prune', layer.name);
            const layerStarted = performance.now();
            const W = denseLayers.get(layer.name)!.read();
            const layerStats = stats?.get(layer.sampleKey);
            const problem: LayerProblem = { W, rows: layer.rows, cols: layer.cols };
            if (layerStats) {
              problem.H = layerStats.calib.H;
              if (crossTerm && layerStats.calib.C) problem.C = layerStats.calib.C;
              if (layerStats.calib.Hdense) problem.Hdense = layerStats.calib.Hdense;
              problem.columnNorms = layerStats.columnNorms;
              if (layerStats.heldOut) problem.heldOut = layerStats.heldOut;
              if (!factors.has(layer.sampleKey)) factors.set(layer.sampleKey, new Map());
              problem.factors = factors.get(layer.sampleKey)!;
            }
            const layerSparsity = sparsityOf.get(layer)!;
            const pruneOptions = {
              sparsity: layerSparsity,
              pattern,
              damp,
              ...(options.iterations !== undefined ? { iterations: options.iterations } : {}),
              ...(options.step !== undefined ? { step: options.step } : {}),
              ...(options.projection !== undefined ? { projection: options.projection } : {}),
              ...(options.blocksize !== undefined ? { blocksize: options.blocksize } : {}),
            };
            const result = await timed('prune', () => (quant ? pruneAndQuantize(options.method, entry, problem, pruneOptions, quant, quantMethod, engine) : entry.prune(problem, pruneOptions, engine)));
            if (codes && result.quantized) codes.set(layer.name, result.quantized);
            layer.write(result.W);
            answers.push({ layer, W, result, layerStats, seconds: (performance.now() - layerStarted) / 1000 });
          }
          for (const cache of factors.values()) await releaseFactors(cache, engine);
          for (const { layer, W, result, layerStats, seconds } of answers) {
            // Where X̂ = X and the error range is the calibration range, H alone gives the error
            // (tr(ΔHΔᵀ)/tr(WHWᵀ), 2·rows·cols² flops); that is cheaper than measuring the outputs
            // (2·rows·cols·n) when cols ≤ n; it has no cancellation (tr(ΔHΔᵀ) directly), so its
            // products run in the statistics' precision, like the measured errors. With C and
            // XᵀX the three terms cancel: Float64 products.
            const fromH = direct && exact && errorRange === 0 && layerStats !== undefined && layer.cols <= layerStats.rows;
            const errorStats = layerStats && (!direct || fromH) ? (fromH ? { H: layerStats.calib.H } : (layerStats.heldOut ?? layerStats.calib)) : undefined;
            const error = errorStats ? await timed('error', () => relativeReconstructionError(fromH ? statsEngine : engine, W, result.W, layer.rows, layer.cols, errorStats)) : null;
            if (direct && !fromH && layerStats) pruned.push({ layer, W, What: result.W });
            reports.set(layer, {
              name: layer.name,
              op: layer.op,
              rows: layer.rows,
              cols: layer.cols,
              sparsity: zeroFraction(result.W),
              error,
              loss: result.loss,
              dampingUsed: result.dampingUsed,
              samples: layerStats?.rows ?? 0,
              seconds,
              ...(quant ? { bits: quant.bits } : {}),
            });
            layersDone++;
          }
          // The error of the stage's layers, measured on the activations of the error range:
          // where the stage cache advances and every use's product is a tensor of the network
          // (ONNX MatMul outputs), both models compute ŶX̂ᵀ-side and XWᵀ-side outputs anyway
          // while advancing, so the error is read off them; the other layers get two products.
          const advancing = cache !== undefined && s + 1 < stages.length;
          const observed = advancing ? pruned.filter((p) => p.layer.uses.every((u) => u.product)) : [];
          const multiplied = pruned.filter((p) => !observed.includes(p));
          if (multiplied.length) {
            const batches = await stageBatches(multiplied.map((p) => p.layer), [errorRange], !exact);
            try {
              const errors = await timed('error', () => measuredErrors(multiplied, batches[0]!, statsEngine));
              for (const [layer, error] of errors) reports.get(layer)!.error = error;
            } finally {
              await batches.release();
            }
          }
          if (advancing) {
            const sums = observed.map(() => ({ error: 0, dense: 0 }));
            // Conv products hold their bias: read once per stage.
            const biases = new Map(observed.flatMap((p) => p.layer.uses.filter((u) => u.productBias).map((u) => [u, u.productBias!()] as const)));
            const observer: StageObserver | undefined = observed.length
              ? {
                  range: errorRange,
                  names: [...new Set(observed.flatMap((p) => p.layer.uses.map((u) => u.product!)))],
                  batch: (hat, den) => {
                    const t0 = performance.now();
                    observed.forEach((p, i) => {
                      for (const u of p.layer.uses) {
                        const y = den[u.product!]!;
                        addDifference(sums[i]!, hat[u.product!]!.data as Float32Array, y.data as Float32Array, biases.has(u) ? { values: biases.get(u)!, inner: y.dims.slice(2).reduce((a, b) => a * b, 1) } : undefined);
                      }
                    });
                    // Inside the advance (timed as capture): moved to the error phase.
                    const seconds = (performance.now() - t0) / 1000;
                    profile.error += seconds;
                    profile.capture -= seconds;
                  },
                }
              : undefined;
            await timed('capture', () => cache.advance(s, observer));
            observed.forEach((p, i) => (reports.get(p.layer)!.error = relativeError(sums[i]!)));
          }
        }
      }
    } finally {
      cache?.release();
      if (ownEngine) await engine.dispose();
      if (statsEngine !== engine) await statsEngine.dispose();
    }
    const reportLayers: PrunedLayerReport[] = plan.all.map(
      (l) =>
        reports.get(l) ?? {
          name: l.name, op: l.op, rows: l.rows, cols: l.cols, sparsity: zeroFraction(l.read()), error: null, loss: 0, dampingUsed: 0, samples: 0, seconds: 0, skipped: true,
          reason: plan.reasons.get(l) ?? 'skip',
        },
    );
    const pruned = reportLayers.filter((l) => !l.skipped);
    const parameters = pruned.reduce((a, l) => a + l.rows * l.cols, 0);
    const zeros = pruned.reduce((a, l) => a + Math.round(l.sparsity * l.rows * l.cols), 0);
    const errors = pruned.map((l) => l.error).filter((e): e is number => e !== null);
    const report: PruneModelReport = {
      method: options.method,
      sparsity: pattern.kind === 'nm' ? 1 - pattern.n / pattern.m : options.sparsity,
      pattern: pattern.kind === 'nm' ? `${pattern.n}:${pattern.m}` : 'unstructured',
      mode: sequential ? 'sequential' : 'parallel',
      rounds,
      damp,
      calibSamples,
      heldOutSamples,
      engine: engine.name,
      layers: reportLayers,
      totals: { parameters, zeros, sparsity: parameters ? zeros / parameters : 0, meanError: errors.length ? errors.reduce((a, b) => a + b, 0) / errors.length : null },
      seconds: (performance.now() - started) / 1000,
      statistics: options.statistics ?? 'fp32',
      profile,
      peakRssBytes: peakRssBytes(),
      ...(quant ? { quantize: { bits: quant.bits, groupSize: quant.groupSize, method: quantMethod } } : {}),
    };
    profile.other = Math.max(0, report.seconds - profile.capture - profile.statistics - profile.prune - profile.error - profile.select);
    return { model: isNetwork(model) ? current : (current as OnnxNetwork).model, report, ...(codes ? { quantized: codes } : {}) };
  } catch (error) {
    current.dispose();
    throw error;
  } finally {
    dense.dispose();
  }
}


function zeroFraction(w: Float32Array): number {
  return w.length ? countPruned(w) / w.length : 0;
}

/** Target sparsity of every layer: uniform, per-layer overrides, or global magnitude thresholds. */
function layerSparsities(layers: readonly NetworkLayer[], options: PruneModelOptions): Map<NetworkLayer, number> {
  const result = new Map<NetworkLayer, number>();
  const overrides = options.layerSparsity ?? {};
  for (const l of layers) {
    const key = Object.keys(overrides).find((name) => matches(l, name));
    result.set(l, key !== undefined ? overrides[key]! : options.sparsity);
  }
  if (!options.global) return result;
  // Global magnitude: one threshold over all layers (exactly round(s·P) zeros); each layer's
  // share of the pruned weights becomes its sparsity.
  const weights = layers.map((l) => ({ W: l.read() }));
  const { pruneCounts } = globalMagnitudeThresholds(weights, options.sparsity);
  layers.forEach((l, i) => result.set(l, pruneCounts[i]! / weights[i]!.W.length));
  return result;
}

/**
 * Adds Σ(ŷ − y)² and Σ(y − bias)² of one batch's outputs (pruned ŷ, dense y) to `sum`, in
 * Float64; `bias` (optional, the bias both outputs include) holds one value per channel of y,
 * channels on axis 1 with `inner` elements each. Without it, y is one channel with bias 0.
 */
function addDifference(sum: { error: number; dense: number }, yhat: Float32Array | Float64Array, y: Float32Array | Float64Array, bias?: { values: Float32Array; inner: number }): void {
  const values = bias?.values ?? NO_BIAS;
  const inner = bias?.inner ?? y.length;
  const C = values.length;
  if (y.length > 0 && y.length % (C * inner) !== 0) throw new Error(`internal: a product of ${y.length} values does not hold ${C} channels of ${inner}`);
  let error = 0;
  let norm = 0;
  for (let start = 0, c = 0; start < y.length; start += inner, c = c + 1 === C ? 0 : c + 1) {
    const b = values[c]!;
    for (let t = start; t < start + inner; t++) {
      const e = yhat[t]! - y[t]!;
      const v = y[t]! - b;
      error += e * e;
      norm += v * v;
    }
  }
  sum.error += error;
  sum.dense += norm;
}

/** The bias of outputs without one (see addDifference). */
const NO_BIAS = new Float32Array(1);

/** error / dense of summed squares (0 for 0/0, Infinity for x/0). */
function relativeError({ error, dense }: { error: number; dense: number }): number {
  return dense > 0 ? error / dense : error === 0 ? 0 : Infinity;
}

/**
 * Relative reconstruction error ‖Ŵ X̂ᵀ − W Xᵀ‖² / ‖W Xᵀ‖² of each pruned layer, measured
 * directly on `batches` (held-out, or calibration when nothing is held out): the layer outputs
 * (X̂ from `hat`, X from `dense`, or X̂ where the batches have no dense activations, X̂ = X)
 * through the pruned and the dense weights, squared differences summed in Float64. Two
 * products of n × cols × rows per use, instead of cols × cols Gram products (C, XᵀX) over the rows.
 */
async function measuredErrors(layers: ReadonlyArray<{ layer: NetworkLayer; W: Float32Array; What: Float32Array }>, batches: AsyncIterable<CachedBatch>, engine: GemmEngine): Promise<Map<NetworkLayer, number>> {
  const sums = layers.map(() => ({ error: 0, dense: 0 }));
  // Where X̂ = X, the difference is one product with Δ = Ŵ − W (no cancellation between two outputs).
  const deltas = new Map<NetworkLayer, Float32Array>();
  const deltaOf = (layer: NetworkLayer, W: Float32Array, What: Float32Array): Float32Array => {
    let delta = deltas.get(layer);
    if (!delta) {
      delta = new Float32Array(W.length);
      for (let t = 0; t < W.length; t++) delta[t] = What[t]! - W[t]!;
      deltas.set(layer, delta);
    }
    return delta;
  };
  for await (const { hat, dense } of batches) {
    for (let i = 0; i < layers.length; i++) {
      const { layer, W, What } = layers[i]!;
      const sum = sums[i]!;
      for (const use of layer.uses) {
        const Xhat = use.samples(hat[use.input]!);
        const X = dense ? use.samples(dense[use.input]!) : Xhat;
        const Y = await engine.gemm(X.X, W, X.n, layer.cols, layer.rows, { transB: true });
        const D = dense
          ? await engine.gemm(Xhat.X, What, Xhat.n, layer.cols, layer.rows, { transB: true })
          : await engine.gemm(Xhat.X, deltaOf(layer, W, What), Xhat.n, layer.cols, layer.rows, { transB: true });
        if (dense) {
          addDifference(sum, D, Y);
        } else {
          let error = 0;
          let norm = 0;
          for (let t = 0; t < Y.length; t++) {
            error += D[t]! * D[t]!;
            norm += Y[t]! * Y[t]!;
          }
          sum.error += error;
          sum.dense += norm;
        }
      }
    }
  }
  return new Map(layers.map(({ layer }, i) => [layer, relativeError(sums[i]!)]));
}

/**
 * One layer pruned and quantized: sparsity 0 quantizes W alone (GPTQ or RTN); SparseGPT with GPTQ
 * chooses the mask and quantizes in one sweep (SparseGPT §3.5); any other method prunes first and
 * its mask is kept while GPTQ (or RTN) quantizes the remaining weights.
 */
async function pruneAndQuantize(
  method: string,
  entry: PrunerEntry,
  problem: LayerProblem,
  options: LayerPruneOptions & Record<string, unknown>,
  grid: QuantGrid,
  quantMethod: 'gptq' | 'rtn',
  engine: GemmEngine,
): Promise<LayerPruneResult> {
  const t0 = performance.now();
  const nothingPruned = options.sparsity === 0 && options.pattern?.kind !== 'nm';
  if (quantMethod === 'gptq') {
    if (nothingPruned) return gptqQuantize(problem, { quantize: grid, damp: options.damp ?? 0.01, ...(options['blocksize'] !== undefined ? { blocksize: options['blocksize'] as number } : {}) }, engine);
    if (method === 'sparsegpt') return sparsegptPrune(problem, { ...options, quantize: grid }, engine);
    const pruned = await entry.prune(problem, options, engine);
    const q = await gptqQuantize(problem, { quantize: grid, damp: options.damp ?? 0.01, mask: pruned.mask, start: pruned.W }, engine);
    return { ...q, seconds: (performance.now() - t0) / 1000 };
  }
  const pruned = nothingPruned ? undefined : await entry.prune(problem, options, engine);
  const { W, quantized } = rtnQuantize(pruned?.W ?? problem.W, problem.rows, problem.cols, grid, pruned?.mask);
  const loss = problem.H ? await objective({ W0: problem.W, What: W, rows: problem.rows, cols: problem.cols, H: problem.H, C: problem.C, Hdense: problem.Hdense }, engine) : (pruned?.loss ?? 0);
  return {
    W,
    mask: pruned?.mask ?? new Uint8Array(W.length).fill(1),
    loss,
    dampingUsed: pruned?.dampingUsed ?? 0,
    seconds: (performance.now() - t0) / 1000,
    quantized,
  };
}
