/**
 * Input statistics of layers from calibration batches, shared by layer-wise pruning
 * (./model.ts) and structured pruning (../structure/prune.ts): calibration (and held-out)
 * samples run through the model pruned so far (X̂) and, when something upstream changed, the
 * dense model (X); each target's input activations stream into Float64 accumulators of
 * H = X̂ᵀX̂/N, C = XᵀX̂/N and Hd = XᵀX/N ({@link HessianAccumulator}), summed over every use
 * of the target's layer. A target may transform its samples first (structured pruning appends a
 * constant-1 column for a consumer's bias).
 */
import type { Dataset } from '../io/dataset.js';
import type { GemmEngine } from '../linalg/engine.js';
import type { Network, NetworkLayer, NetworkRunner } from '../network/types.js';
import { defaultMergeRows, HessianAccumulator } from '../pruners/hessian.js';
import { batchFeeds } from '../runtime/capture.js';
import type { InputStatistics } from './error.js';
import type { PruneProfile } from './model.js';
import type { CachedBatch } from './stage-cache.js';

/** The statistics of one target: calibration, held-out (when a second range was given), column norms of X̂. */
export interface KeyStatistics {
  calib: InputStatistics;
  heldOut?: InputStatistics;
  columnNorms: Float64Array;
  /** Calibration sample rows. */
  rows: number;
}

/** What statistics are accumulated for: a layer's inputs, optionally transformed. */
export interface StatisticsTarget {
  /** The key of the result. */
  key: string;
  layer: NetworkLayer;
  /** Columns of the transformed samples (default: the layer's columns). */
  cols?: number;
  /** Maps the samples of one use (n × layer.cols) to n × cols (default: unchanged). */
  transform?: (X: Float32Array, n: number) => Float32Array;
}

/** One target per sample key of `layers` (layers sharing their inputs and sample layout share statistics). */
export function sampleKeyTargets(layers: readonly NetworkLayer[]): StatisticsTarget[] {
  const byKey = new Map<string, NetworkLayer>();
  for (const layer of layers) if (!byKey.has(layer.sampleKey)) byKey.set(layer.sampleKey, layer);
  return [...byKey].map(([key, layer]) => ({ key, layer }));
}

/** n × cols samples with a constant-1 column appended (n × (cols + 1)): the input of a bias. */
export function withOnesColumn(X: Float32Array, n: number, cols: number): Float32Array {
  const out = new Float32Array(n * (cols + 1));
  for (let r = 0; r < n; r++) {
    out.set(X.subarray(r * cols, (r + 1) * cols), r * (cols + 1));
    out[r * (cols + 1) + cols] = 1;
  }
  return out;
}

/** Batches of every range from runners over the whole networks, and their release. */
export type RunnerBatches = Array<AsyncIterable<CachedBatch>> & { release(): Promise<void> };

/**
 * Each range's batches run through the current network (X̂) and, unless `dense` is undefined
 * (X̂ = X), the dense one (X), from the graph inputs, fetching the inputs of `layers`.
 */
export async function runnerBatches(current: Network, dense: Network | undefined, calib: Dataset, layers: readonly NetworkLayer[], ranges: Array<[number, number]>, batchSize: number, threads: number): Promise<RunnerBatches> {
  const names = [...new Set(layers.flatMap((l) => l.uses.map((u) => u.input)))];
  const hatRunner = await current.runner(names, { threads });
  let denseRunner: NetworkRunner | undefined;
  try {
    denseRunner = dense ? await dense.runner(names, { threads }) : undefined;
  } catch (error) {
    await hatRunner.release();
    throw error;
  }
  async function* range(from: number, to: number): AsyncGenerator<CachedBatch> {
    for (const { feeds } of batchFeeds(calib, batchSize, from, to)) {
      const hat = await hatRunner.run(feeds, names);
      yield denseRunner ? { hat, dense: await denseRunner.run(feeds, names) } : { hat };
    }
  }
  return Object.assign(
    ranges.map(([from, to]) => range(from, to)),
    {
      release: async () => {
        await hatRunner.release();
        await denseRunner?.release();
      },
    },
  );
}

interface RangeAccumulators {
  hat: HessianAccumulator;
  dense?: HessianAccumulator;
}

/**
 * Accumulates H per target — and, `withDense`, C and Hd from the dense model's X in the
 * batches — summed over every use of each target's layer, from the batches of each range
 * (calibration, then optionally held-out). `profile` (optional) gets the seconds spent waiting
 * for batches (capture) and accumulating (statistics).
 */
export async function accumulateStatistics(targets: readonly StatisticsTarget[], ranges: Array<AsyncIterable<CachedBatch>>, withDense: boolean, engine: GemmEngine, profile?: Pick<PruneProfile, 'capture' | 'statistics'>): Promise<Map<string, KeyStatistics>> {
  const exact = !withDense;
  let mark = performance.now();
  /** Adds the seconds since the last lap to `phase` (waiting for a batch is capture, the rest statistics). */
  const lap = (phase: 'capture' | 'statistics') => {
    const now = performance.now();
    if (profile) profile[phase] += (now - mark) / 1000;
    mark = now;
  };
  const result = new Map<string, KeyStatistics>();
  const accumulated: Array<Map<string, RangeAccumulators>> = [];
  try {
    for (const batches of ranges) {
      const accs = new Map<string, RangeAccumulators>();
      accumulated.push(accs);
      for (const t of targets) {
        const d = t.cols ?? t.layer.cols;
        accs.set(t.key, {
          hat: new HessianAccumulator(d, { engine, cross: !exact, mergeRows: defaultMergeRows(d) }),
          dense: exact ? undefined : new HessianAccumulator(d, { engine, cross: false, mergeRows: defaultMergeRows(d) }),
        });
      }
      lap('statistics');
      for await (const { hat, dense: den } of batches) {
        lap('capture');
        for (const t of targets) {
          const acc = accs.get(t.key)!;
          const transform = (s: { X: Float32Array; n: number }) => (t.transform ? t.transform(s.X, s.n) : s.X);
          for (const use of t.layer.uses) {
            const Xhat = use.samples(hat[use.input]!);
            if (!exact) {
              const X = use.samples(den![use.input]!);
              const x = transform(X);
              await acc.hat.addBatch(transform(Xhat), Xhat.n, x);
              await acc.dense!.addBatch(x, X.n);
            } else {
              await acc.hat.addBatch(transform(Xhat), Xhat.n);
            }
          }
        }
        lap('statistics');
      }
      for (const acc of accs.values()) {
        await acc.hat.flush();
        await acc.dense?.flush();
      }
      lap('statistics');
    }
    for (const { key } of targets) {
      const calibAcc = accumulated[0]!.get(key)!;
      const columnNorms = calibAcc.hat.columnNorms();
      const stats = calibAcc.hat.take();
      const calibStats: InputStatistics = { H: stats.H };
      if (stats.C) calibStats.C = stats.C;
      if (calibAcc.dense) calibStats.Hdense = calibAcc.dense.take().H;
      const entry: KeyStatistics = { calib: calibStats, columnNorms, rows: stats.samples };
      const heldAcc = accumulated[1]?.get(key);
      if (heldAcc && heldAcc.hat.samples > 0) {
        const held = heldAcc.hat.take();
        entry.heldOut = { H: held.H };
        if (held.C) entry.heldOut.C = held.C;
        if (heldAcc.dense) entry.heldOut.Hdense = heldAcc.dense.take().H;
      }
      for (const acc of accumulated.map((a) => a.get(key)!)) {
        acc.hat.free();
        acc.dense?.free();
      }
      result.set(key, entry);
    }
    lap('statistics');
  } finally {
    for (const accs of accumulated) {
      for (const acc of accs.values()) {
        acc.hat.free();
        acc.dense?.free();
      }
    }
  }
  return result;
}
