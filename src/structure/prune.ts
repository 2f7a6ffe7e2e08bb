/**
 * Structured pruning of an ONNX model: removes a fraction of the units (neurons or channels) of
 * every group the dependency analysis (./graph.ts) finds, chooses them with magnitude, Wanda,
 * group OBS or I-OBS (./select.ts) on the consumers' input statistics, and writes a model whose
 * tensors are physically smaller (./shrink.ts).
 *
 * Groups are visited in graph order. Each group's consumer inputs are captured from the model
 * pruned so far (X̂, with the earlier groups' units zeroed and their consumers corrected) and,
 * once something upstream changed, from the dense model (X) for the cross term C = XᵀX̂/N; the
 * statistics stream in Float64 through the pipeline's accumulators (src/prune/statistics.ts). A consumer
 * with a bias gets a constant-1 input column, so the OBS correction moves the removed units'
 * mean contribution into the bias. The chosen units are zeroed in the working model (the
 * masked model), and at the end removed for real.
 */
import { SurgeonInputError } from '../errors.js';
import type { Dataset } from '../io/dataset.js';
import type { OnnxModel } from '../io/onnx/model.js';
import { tensorDims, tensorSize } from '../io/onnx/tensor.js';
import { createEngine } from '../linalg/create-engine.js';
import type { GemmEngine } from '../linalg/engine.js';
import { asNetwork, OnnxNetwork } from '../network/onnx.js';
import type { Network, NetworkLayer } from '../network/types.js';
import { relativeReconstructionError } from '../prune/error.js';
import { accumulateStatistics, runnerBatches, withOnesColumn, type StatisticsTarget } from '../prune/statistics.js';
import { analyzeStructure, type BlockedGroup, type NonProducer, type StructureKind, type StructurePlan, type UnitConsumer, type UnitGroup } from './graph.js';
import { STRUCTURED_METHODS, selectUnits, type ConsumerProblem, type StructuredMethod } from './select.js';
import { measureShapes, probeFeeds } from './shapes.js';
import { shrinkModel, type GroupRemoval } from './shrink.js';

/** The structures `--structure` accepts. */
export const STRUCTURES = ['neurons', 'channels', 'heads'] as const;

/** Options of {@link pruneStructured}. */
export interface StructuredPruneOptions {
  /** Which groups shrink: Gemm/MatMul neurons or Conv channels. */
  structure: StructureKind;
  method: StructuredMethod;
  /** Fraction of the units of every eligible group to remove, in [0, 1). */
  sparsity: number;
  /** Calibration samples for the statistics (default 512). */
  calibSamples?: number;
  /** Relative dampening λ (default 0.01). */
  damp?: number;
  /** iobs iterations (default 3) and step (default 0.5). */
  iterations?: number;
  step?: number;
  /**
   * Keep a multiple of this many units per group (nearest, at least one multiple; default 1).
   * onnxruntime's blocked (NCHWc) convolutions need channel counts that are multiples of the
   * CPU's block (16 with AVX-512, 8 with AVX2); other counts fall back to slower kernels.
   */
  roundTo?: number;
  /** Groups to leave alone, by producer weight or node name. */
  skip?: string[];
  /** onnxruntime threads (default 2). */
  threads?: number;
  /** Samples per forward batch (default 64). */
  batchSize?: number;
  /** An engine to use (default: created and disposed by the call). */
  engine?: GemmEngine;
  /** Progress: groups done of total, the group's name. */
  onProgress?: (done: number, total: number, group: string) => void;
}

/** One pruned group. */
export interface StructuredGroupReport {
  name: string;
  kind: StructureKind;
  producers: string[];
  consumers: string[];
  units: number;
  removed: number;
  /** Calibration relative reconstruction error ‖ŴX̂ᵀ − WXᵀ‖²/‖WXᵀ‖² of the consumers' outputs, summed over consumers (null without data). */
  error: number | null;
  /** Absolute damping per consumer (obs, iobs). */
  dampingUsed: number[];
  /** iobs: objective of every iterate (0: the obs start) and the one kept. */
  history?: number[];
  bestIteration?: number;
  seconds: number;
}

/** Parameters (float initializer entries) and multiply-adds per sample of a model. */
export interface ModelCost {
  parameters: number;
  /** Multiply-adds of the Gemm, MatMul and Conv nodes for one sample. */
  macs: number;
}

/** What {@link pruneStructured} returns besides the model. */
export interface StructuredPruneReport {
  structure: StructureKind;
  method: StructuredMethod;
  sparsity: number;
  roundTo: number;
  damp: number;
  calibSamples: number;
  groups: StructuredGroupReport[];
  /** Groups that cannot shrink (any kind), with the reason. */
  blocked: BlockedGroup[];
  /** Groups of the other kind (not selected by `structure`). */
  otherKind: string[];
  /** Weighted nodes that produce no units, with the reason. */
  nonProducers: NonProducer[];
  before: ModelCost;
  after: ModelCost;
  seconds: number;
}

/** Parameters and per-sample multiply-adds of `model` from measured `shapes` (batch 1). */
export function modelCost(model: OnnxModel, shapes: ReadonlyMap<string, readonly number[]>): ModelCost {
  let parameters = 0;
  for (const t of model.graph.initializer) if ([1, 10, 11, 16].includes(t.dataType ?? 0)) parameters += tensorSize(t);
  let macs = 0;
  const size = (d: readonly number[] | undefined) => (d ? d.reduce((a, b) => a * b, 1) : 0);
  for (const node of model.graph.node) {
    const out = shapes.get(node.output[0] ?? '');
    if (!out) continue;
    if (node.opType === 'Gemm' || node.opType === 'MatMul') {
      const a = shapes.get(node.input[0]!) ?? (model.initializer(node.input[0]!) ? tensorDims(model.initializer(node.input[0]!)!) : undefined);
      if (!a) continue;
      const transA = node.opType === 'Gemm' && node.attribute.some((x) => x.name === 'transA' && Number(x.i) === 1);
      const k = transA ? a[a.length - 2]! : a[a.length - 1]!;
      macs += size(out) * k;
    } else if (node.opType === 'Conv') {
      const w = model.initializer(node.input[1]!);
      const wd = w ? tensorDims(w) : shapes.get(node.input[1]!);
      if (wd) macs += size(out) * size(wd.slice(1));
    }
  }
  return { parameters, macs };
}

/** Refuses a sparsity outside [0, 1) or one that would empty a group. */
function removeCount(group: UnitGroup, sparsity: number, roundTo = 1): number {
  let k = Math.round(sparsity * group.units);
  if (roundTo > 1) {
    const kept = Math.min(group.units, Math.max(roundTo, Math.round((group.units - k) / roundTo) * roundTo));
    k = group.units - kept;
  }
  if (k >= group.units) {
    throw new SurgeonInputError(`--sparsity ${sparsity} removes all ${group.units} units of group ${group.name}; pass a smaller sparsity or --skip ${group.name}`);
  }
  return k;
}

/** The consumer's weight view in `network`. */
function consumerLayer(network: Network, c: UnitConsumer): NetworkLayer {
  const layer = network.layers().find((l) => l.node === c.node && l.weight === c.tensor && l.uses.length === 1);
  if (!layer) throw new Error(`internal: consumer ${c.node} (${c.tensor}) has no single-use weight view`);
  return layer;
}

/** Statistics of one consumer's inputs, the bias column appended when it has a bias. */
interface ConsumerStats {
  H: Float64Array;
  C?: Float64Array;
  Hdense?: Float64Array;
}

/**
 * H (and C, Hd when `dense` is given) of every consumer of `group`, from calibration samples
 * [0, count) through `current` (X̂) and `dense` (X), with the bias column of consumers that
 * have a bias (src/prune/statistics.ts).
 */
async function consumerStatistics(group: UnitGroup, current: Network, dense: Network | undefined, calib: Dataset, count: number, batchSize: number, threads: number, engine: GemmEngine): Promise<ConsumerStats[]> {
  const layers = group.consumers.map((c) => consumerLayer(current, c));
  const targets: StatisticsTarget[] = layers.map((layer, i) =>
    group.consumers[i]!.bias !== undefined ? { key: String(i), layer, cols: layer.cols + 1, transform: (X, n) => withOnesColumn(X, n, layer.cols) } : { key: String(i), layer },
  );
  const batches = await runnerBatches(current, dense, calib, layers, [[0, count]], batchSize, threads);
  try {
    const stats = await accumulateStatistics(targets, batches, dense !== undefined, engine);
    return targets.map(({ key }) => stats.get(key)!.calib);
  } finally {
    await batches.release();
  }
}

/** The working models of {@link pruneGroups} and how to read, write and zero their tensors (one implementation per format). */
export interface GroupPruneContext {
  /** The model pruned so far (X̂): consumer weights are written into it, removed units zeroed. */
  current: Network;
  /** The dense model (X), for the cross term once something upstream changed. */
  dense: Network;
  readBias(name: string): Float32Array;
  writeBias(name: string, values: Float32Array): void;
  /** Zeroes the removed units of `removal` (producer rows, biases, slices) in `current`. */
  zero(removal: GroupRemoval): void;
}

/**
 * Column order that puts a channels-last consumer's columns unit-major: view column
 * perm[k] moves to k, for k = u·viewSpan + p ← p·units + u (the bias column, if any, stays last).
 * Undefined when the consumer's columns are already unit-major.
 */
function unitMajorPermutation(c: UnitConsumer, units: number, cols: number): Int32Array | undefined {
  if (!c.unitsLast || c.viewSpan === 1) return undefined;
  const perm = new Int32Array(cols);
  for (let k = 0; k < cols; k++) perm[k] = k;
  for (let u = 0; u < units; u++) for (let p = 0; p < c.viewSpan; p++) perm[u * c.viewSpan + p] = p * units + u;
  return perm;
}

/** rows × cols with columns permuted: out[:, k] = W[:, perm[k]] (inverse: out[:, perm[k]] = W[:, k]). */
function permuteColumns<T extends Float32Array | Float64Array>(W: T, rows: number, cols: number, perm: Int32Array, inverse = false): T {
  const out = new (W.constructor as new (n: number) => T)(W.length);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    for (let k = 0; k < cols; k++) {
      if (inverse) out[o + perm[k]!] = W[o + k]!;
      else out[o + k] = W[o + perm[k]!]!;
    }
  }
  return out;
}

/** A symmetric (or cross) d × d statistic with rows and columns permuted. */
function permuteSquare(M: Float64Array, d: number, perm: Int32Array): Float64Array {
  const out = new Float64Array(d * d);
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) out[i * d + j] = M[perm[i]! * d + perm[j]!]!;
  return out;
}

/**
 * Prunes `groups` in order in `ctx.current` (see the module comment): statistics of each group's
 * consumers, unit selection, consumer weights and biases written back, removed units zeroed.
 * Shared by every model format; returns the removals (for the format's writer) and the reports.
 */
export async function pruneGroups(groups: readonly UnitGroup[], counts: readonly number[], ctx: GroupPruneContext, calib: Dataset | undefined, options: StructuredPruneOptions & { calibSamples: number; damp: number; threads: number }, engine: GemmEngine): Promise<{ removals: GroupRemoval[]; reports: StructuredGroupReport[] }> {
  const { current, dense } = ctx;
  const { calibSamples, damp, threads } = options;
  const needsData = options.method !== 'magnitude';
  const removals: GroupRemoval[] = [];
  const reports: StructuredGroupReport[] = [];
  let changed = false;
  for (let gi = 0; gi < groups.length; gi++) {
    const group = groups[gi]!;
    options.onProgress?.(gi, groups.length, group.name);
    const t0 = performance.now();
    if (counts[gi] === 0) {
      // nothing to remove (round(S·n) = 0): the group and its consumers stay as they are
      reports.push({ name: group.name, kind: group.kind, producers: group.producers.map((p) => p.node), consumers: group.consumers.map((c) => c.node), units: group.units, removed: 0, error: calib && needsData ? 0 : null, dampingUsed: [], seconds: (performance.now() - t0) / 1000 });
      continue;
    }
    const layers = group.consumers.map((c) => consumerLayer(current, c));
    const rawStats = calib && needsData ? await consumerStatistics(group, current, changed ? dense : undefined, calib, calibSamples, options.batchSize ?? 64, threads, engine) : undefined;
    const perms = layers.map((layer, i) => unitMajorPermutation(group.consumers[i]!, group.units, layer.cols + (group.consumers[i]!.bias ? 1 : 0)));
    const stats = rawStats?.map((s, i) => {
      const perm = perms[i];
      if (!perm) return s;
      const d = perm.length;
      return { H: permuteSquare(s.H, d, perm), ...(s.C ? { C: permuteSquare(s.C, d, perm) } : {}), ...(s.Hdense ? { Hdense: permuteSquare(s.Hdense, d, perm) } : {}) };
    });
    const problems: ConsumerProblem[] = layers.map((layer, i) => {
      const c = group.consumers[i]!;
      const view = layer.read();
      const bias = c.bias ? ctx.readBias(c.bias) : undefined;
      const cols = layer.cols + (bias ? 1 : 0);
      let W = bias ? new Float32Array(layer.rows * cols) : view;
      if (bias) {
        for (let r = 0; r < layer.rows; r++) {
          W.set(view.subarray(r * layer.cols, (r + 1) * layer.cols), r * cols);
          W[r * cols + layer.cols] = bias[r]!;
        }
      }
      if (perms[i]) W = permuteColumns(W, layer.rows, cols, perms[i]!);
      const s = stats?.[i];
      return { W, rows: layer.rows, cols, start: c.offset * c.viewSpan, span: c.viewSpan, ...(s ? { H: s.H, ...(s.C ? { C: s.C } : {}) } : {}) };
    });
    let producerNorms: Float64Array | undefined;
    if (options.method === 'magnitude') {
      producerNorms = new Float64Array(group.units);
      for (const p of group.producers) {
        const layer = current.layers().find((l) => l.node === p.node && l.weight === p.weight);
        if (!layer) throw new Error(`internal: producer ${p.node} has no weight view`);
        const W = layer.read();
        const b = p.bias ? ctx.readBias(p.bias) : undefined;
        const span = p.span ?? 1;
        for (let u = 0; u < group.units; u++) {
          for (let r = ((p.offset ?? 0) + u) * span; r < ((p.offset ?? 0) + u + 1) * span; r++) {
            for (let j = 0; j < layer.cols; j++) producerNorms[u] += W[r * layer.cols + j]! ** 2;
            if (b) producerNorms[u] += b[r]! ** 2;
          }
        }
      }
    }
    const selection = await selectUnits(group.units, problems, {
      method: options.method,
      remove: counts[gi]!,
      damp,
      ...(options.iterations !== undefined ? { iterations: options.iterations } : {}),
      ...(options.step !== undefined ? { step: options.step } : {}),
      ...(producerNorms ? { producerNorms } : {}),
    }, engine);
    // Write the consumers' new weights (and biases) into the working model.
    let error: number | null = stats ? 0 : null;
    for (let i = 0; i < layers.length; i++) {
      const layer = layers[i]!;
      const c = group.consumers[i]!;
      const p = problems[i]!;
      if (stats) error! += await relativeReconstructionError(engine, p.W, selection.W[i]!, p.rows, p.cols, stats[i]!);
      const Wn = perms[i] ? permuteColumns(selection.W[i]!, p.rows, p.cols, perms[i]!, true) : selection.W[i]!;
      if (c.bias) {
        const view = new Float32Array(layer.rows * layer.cols);
        const bias = new Float32Array(layer.rows);
        for (let r = 0; r < layer.rows; r++) {
          view.set(Wn.subarray(r * p.cols, r * p.cols + layer.cols), r * layer.cols);
          bias[r] = Wn[r * p.cols + layer.cols]!;
        }
        layer.write(view);
        ctx.writeBias(c.bias, bias);
      } else {
        layer.write(Wn);
      }
    }
    const removal = { group, units: selection.removed };
    ctx.zero(removal);
    removals.push(removal);
    changed = true;
    reports.push({
      name: group.name,
      kind: group.kind,
      producers: group.producers.map((p) => p.node),
      consumers: group.consumers.map((c) => c.node),
      units: group.units,
      removed: selection.removed.length,
      error,
      dampingUsed: selection.dampingUsed,
      ...(selection.history ? { history: selection.history, bestIteration: selection.bestIteration! } : {}),
      seconds: (performance.now() - t0) / 1000,
    });
  }
  options.onProgress?.(groups.length, groups.length, '');
  return { removals, reports };
}

/** Refuses bad options in one line. */
export function validateStructuredOptions(options: StructuredPruneOptions): void {
  if (!(STRUCTURES as readonly string[]).includes(options.structure)) throw new SurgeonInputError(`--structure ${options.structure}: expected one of ${STRUCTURES.join(', ')}`);
  if (!(STRUCTURED_METHODS as readonly string[]).includes(options.method)) {
    throw new SurgeonInputError(`--method ${options.method} has no structured form; with --structure use one of ${STRUCTURED_METHODS.join(', ')}`);
  }
  if (!(options.sparsity >= 0 && options.sparsity < 1)) throw new SurgeonInputError(`--sparsity ${options.sparsity} is outside [0, 1); pass a fraction such as 0.3`);
  if (options.roundTo !== undefined && !(Number.isInteger(options.roundTo) && options.roundTo >= 1)) throw new SurgeonInputError(`--round-to ${options.roundTo}: expected a positive integer such as 8 or 16`);
}

/** The analysis of `model`, with shapes measured on one sample of `calib` (or zeros). */
export async function structurePlan(model: OnnxModel, calib?: Dataset, threads = 2): Promise<{ plan: StructurePlan; shapes: Map<string, number[]> }> {
  const shapes = await measureShapes(model, probeFeeds(model, calib), threads);
  return { plan: analyzeStructure(model, shapes), shapes };
}

/**
 * The groups of `plan` that `options` prune (the structure, less `--skip`) and the units to
 * remove from each.
 * @throws SurgeonInputError for an unknown `--skip`, no group of the structure, or a sparsity that empties a group.
 */
export function selectGroups(plan: StructurePlan, options: Pick<StructuredPruneOptions, 'structure' | 'sparsity' | 'roundTo' | 'skip'>): { groups: UnitGroup[]; counts: number[] } {
  const skip = new Set(options.skip ?? []);
  const matched = new Set<string>();
  const isSkipped = (g: UnitGroup) => {
    const hit = [g.name, ...g.producers.flatMap((p) => [p.weight, p.node])].filter((n) => skip.has(n));
    for (const h of hit) matched.add(h);
    return hit.length > 0;
  };
  const groups = plan.groups.filter((g) => g.kind === options.structure && !isSkipped(g));
  for (const s of skip) {
    if (!matched.has(s)) throw new SurgeonInputError(`--skip ${s}: no prunable group has that producer; groups: ${plan.groups.map((g) => g.name).join(', ') || 'none'}`);
  }
  if (groups.length === 0) {
    const why = plan.blocked.filter((b) => b.kind === options.structure).map((b) => `${b.name}: ${b.reason}`);
    throw new SurgeonInputError(`no group of ${options.structure} can shrink in this model${why.length ? ` (${why.slice(0, 3).join('; ')}${why.length > 3 ? '; …' : ''})` : ''}; see surgeon inspect, or try --structure ${STRUCTURES.filter((x) => x !== options.structure).join(' or ')}`);
  }
  return { groups, counts: groups.map((g) => removeCount(g, options.sparsity, options.roundTo)) };
}

/**
 * Checks, before any pruning, that structured pruning of `model` with `options` can run at every
 * sparsity of `sparsities` (the checks of {@link pruneStructured}: options, format, data, groups).
 * @throws SurgeonInputError with the one-line reason.
 */
export async function checkStructured(model: Network | OnnxModel, calib: Dataset | undefined, options: Omit<StructuredPruneOptions, 'sparsity'>, sparsities: readonly number[]): Promise<void> {
  for (const sparsity of sparsities) validateStructuredOptions({ ...options, sparsity });
  const network = asNetwork(model);
  if (!(network instanceof OnnxNetwork)) throw new SurgeonInputError(`--structure applies to ONNX models only for now; ${network.format} models cannot be pruned structurally yet (drop --structure)`);
  if (options.method !== 'magnitude' && !calib) throw new SurgeonInputError(`--structure with --method ${options.method} needs calibration data; pass --inputs FILE, --dataset NAME or --tokens FILE`);
  const { plan } = await structurePlan(network.model, calib, options.threads ?? 2);
  for (const sparsity of sparsities) selectGroups(plan, { ...options, sparsity });
}

/**
 * Structured pruning of a copy of `model` (see the module comment). Returns the smaller model
 * and a report; the input is not modified.
 */
export async function pruneStructured(model: Network | OnnxModel, calib: Dataset | undefined, options: StructuredPruneOptions): Promise<{ model: OnnxNetwork; report: StructuredPruneReport }> {
  const started = performance.now();
  validateStructuredOptions(options);
  const network = asNetwork(model);
  if (!(network instanceof OnnxNetwork)) throw new SurgeonInputError(`--structure applies to ONNX models only for now; ${network.format} models cannot be pruned structurally yet (drop --structure)`);
  const needsData = options.method !== 'magnitude';
  if (needsData && !calib) throw new SurgeonInputError(`--structure with --method ${options.method} needs calibration data; pass --inputs FILE, --dataset NAME or --tokens FILE`);
  const threads = options.threads ?? 2;
  const { plan, shapes } = await structurePlan(network.model, calib, threads);
  return runStructured(network, plan, calib, options, started, {
    context: (current) => ({
      readBias: (name) => current.model.readInitializer(name),
      writeBias: (name, values) => current.model.setInitializer(name, values),
      zero: (removal) => shrinkModel(current.model, [removal], 'zero'),
    }),
    finish: async (current, removals) => {
      const output = (await current.clone()) as OnnxNetwork;
      shrinkModel(output.model, removals, 'remove');
      output.invalidate();
      const afterShapes = await measureShapes(output.model, probeFeeds(output.model, calib), threads);
      return { model: output, before: modelCost(network.model, shapes), after: modelCost(output.model, afterShapes) };
    },
  });
}

/** What a format supplies to {@link runStructured}: weight access on its clone, and the smaller model. */
export interface StructuredFormat<N extends Network, O> {
  /** Bias access and unit zeroing on `current` (the clone being pruned). */
  context(current: N): Pick<GroupPruneContext, 'readBias' | 'writeBias' | 'zero'>;
  /** The smaller model from the pruned clone and the removals, with the costs before and after. */
  finish(current: N, removals: GroupRemoval[]): Promise<{ model: O; before: ModelCost; after: ModelCost }>;
}

/**
 * The body of structured pruning shared by every format: selects the groups of `plan`, prunes
 * them on a clone of `network` ({@link pruneGroups}; a second clone stays dense for the cross
 * term), lets the format build the smaller model, and reports.
 */
export async function runStructured<N extends Network, O>(network: N, plan: StructurePlan, calib: Dataset | undefined, options: StructuredPruneOptions, started: number, format: StructuredFormat<N, O>): Promise<{ model: O; report: StructuredPruneReport }> {
  const { groups, counts } = selectGroups(plan, options);
  const threads = options.threads ?? 2;
  const calibSamples = calib ? Math.min(options.calibSamples ?? 512, calib.count) : 0;
  const damp = options.damp ?? 0.01;
  const ownEngine = !options.engine;
  const engine = options.engine ?? createEngine({ threads });
  const current = (await network.clone()) as N;
  const dense = (await network.clone()) as N;
  try {
    const { removals, reports } = await pruneGroups(groups, counts, { current, dense, ...format.context(current) }, calib, { ...options, calibSamples, damp, threads }, engine);
    const { model, before, after } = await format.finish(current, removals);
    const report: StructuredPruneReport = {
      structure: options.structure,
      method: options.method,
      sparsity: options.sparsity,
      roundTo: options.roundTo ?? 1,
      damp,
      calibSamples,
      groups: reports,
      blocked: plan.blocked,
      otherKind: plan.groups.filter((g) => g.kind !== options.structure).map((g) => g.name),
      nonProducers: plan.nonProducers,
      before,
      after,
      seconds: (performance.now() - started) / 1000,
    };
    return { model, report };
  } finally {
    current.dispose();
    dense.dispose();
    if (ownEngine) await engine.dispose();
  }
}
