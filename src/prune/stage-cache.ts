/**
 * Activations cached at stage boundaries (issue #11): sequential pruning keeps, per
 * calibration and held-out batch, the tensors entering the current stage — for the model
 * pruned so far (X̂) and for the dense model (X) — and advances them one stage at a time
 * through segment runners ({@link Network.segmentRunner}), instead of running both models
 * from their inputs for every stage, as SparseGPT's opt_sequential runs one block at a time.
 *
 * Memory: the cached tensors of all batches are held in memory while they fit under a byte
 * budget (shared by the X̂ and X caches, and by a stage's cache and the next one's while it is
 * being computed); batches beyond it are written to a temporary file (plain blocks at known
 * offsets, read back per batch with `readSync`; not memory-mapped) that is deleted when the
 * cache is released.
 */
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Dataset } from '../io/dataset.js';
import type { FeedType } from '../io/feeds.js';
import { batchFeeds } from '../runtime/capture.js';
import type { NamedTensor, TensorData } from '../runtime/session.js';
import { feedsAsTensors } from '../network/feeds.js';
import type { Feeds, Network, NetworkLayer, NetworkRunner } from '../network/types.js';

/** Default byte budget of cached activations held in memory (2 GiB). */
export const DEFAULT_ACTIVATION_MEMORY = 2 * 1024 ** 3;

/** Bytes held in memory by all stores sharing it, and the limit. */
interface MemoryBudget {
  limit: number;
  used: number;
}

type TypedCtor = new (buffer: ArrayBuffer) => TensorData;

/** Where one tensor of one batch lives. */
interface StoredTensor {
  dims: number[];
  type: string;
  storedType?: string;
  /** In memory ... */
  data?: TensorData;
  /** ... or in the spill file, at this offset (bytes). */
  offset?: number;
  bytes: number;
  ctor: TypedCtor;
}

/** Per-batch tensors, in memory under a shared budget, spilled to a temporary file beyond it. */
export class ActivationStore {
  private readonly batches = new Map<number, Map<string, StoredTensor>>();
  private file: { dir: string; fd: number; end: number } | undefined;
  private held = 0;

  constructor(private readonly budget: MemoryBudget) {}

  /** Bytes written to the spill file so far. */
  get spilled(): number {
    return this.file?.end ?? 0;
  }

  /** Keeps the tensors of batch `index` (the arrays are kept, not copied, when they stay in memory). */
  put(index: number, tensors: Record<string, NamedTensor>): void {
    const entry = new Map<string, StoredTensor>();
    const total = Object.values(tensors).reduce((a, t) => a + t.data.byteLength, 0);
    const inMemory = this.budget.used + total <= this.budget.limit;
    for (const [name, t] of Object.entries(tensors)) {
      const stored: StoredTensor = { dims: t.dims.slice(), type: t.type, bytes: t.data.byteLength, ctor: t.data.constructor as TypedCtor, ...(t.storedType ? { storedType: t.storedType } : {}) };
      if (inMemory) {
        stored.data = t.data;
      } else {
        if (!this.file) {
          const dir = mkdtempSync(join(tmpdir(), 'surgeon-activations-'));
          this.file = { dir, fd: openSync(join(dir, 'cache.bin'), 'w+'), end: 0 };
        }
        const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
        let written = 0;
        while (written < bytes.length) written += writeSync(this.file.fd, bytes, written, bytes.length - written, this.file.end + written);
        stored.offset = this.file.end;
        this.file.end += bytes.length;
      }
      entry.set(name, stored);
    }
    if (inMemory) {
      this.budget.used += total;
      this.held += total;
    }
    this.batches.set(index, entry);
  }

  /** The tensors of batch `index` (read back from the spill file when they were spilled; treat as read-only). */
  get(index: number): Record<string, NamedTensor> {
    const entry = this.batches.get(index);
    if (!entry) throw new Error(`internal: batch ${index} is not cached`);
    const out: Record<string, NamedTensor> = {};
    for (const [name, s] of entry) {
      let data = s.data;
      if (!data) {
        const buffer = new ArrayBuffer(s.bytes);
        const bytes = new Uint8Array(buffer);
        let read = 0;
        while (read < s.bytes) {
          const n = readSync(this.file!.fd, bytes, read, s.bytes - read, s.offset! + read);
          if (n === 0) throw new Error(`internal: activation cache file ended early (batch ${index}, '${name}')`);
          read += n;
        }
        data = new s.ctor(buffer);
      }
      out[name] = { data, dims: s.dims.slice(), type: s.type, ...(s.storedType ? { storedType: s.storedType } : {}) };
    }
    return out;
  }

  /** Forgets every batch, gives its memory back to the budget and deletes the spill file. */
  release(): void {
    this.batches.clear();
    this.budget.used -= this.held;
    this.held = 0;
    if (this.file) {
      closeSync(this.file.fd);
      rmSync(this.file.dir, { recursive: true, force: true });
      this.file = undefined;
    }
  }
}

/** One batch of a range: the graph-input feeds and the tensors of a stage. */
export interface CachedBatch {
  hat: Record<string, NamedTensor>;
  dense?: Record<string, NamedTensor>;
}

/** Options of {@link StageCache.create}. */
export interface StageCacheOptions {
  /** Sample ranges [from, to) of the dataset (calibration, then held-out). */
  ranges: Array<[number, number]>;
  batchSize: number;
  threads: number;
  /** Bytes of cached activations held in memory (default {@link DEFAULT_ACTIVATION_MEMORY}). */
  activationMemory?: number;
  /**
   * Per range: whether the dense model's activations X are kept too (default all). A method
   * that needs no cross term C only needs X where the reconstruction error is measured (the
   * held-out range), which spares the dense model's forward passes over the calibration range.
   */
  denseRanges?: boolean[];
}

/**
 * Extra tensors to fetch while a stage advances, over one range: `names` of both the current
 * and the dense model's segment (e.g. the products of the stage's layers), handed to `batch`
 * per batch once both are computed (then dropped; nothing is cached).
 */
export interface StageObserver {
  range: number;
  names: readonly string[];
  batch(hat: Record<string, NamedTensor>, dense: Record<string, NamedTensor>): void;
}

/** Statistics of a {@link StageCache} run, for reports and tests. */
export interface StageCacheStats {
  /** Segment sessions created. */
  segments: number;
  /** Largest bytes held in memory at once, and bytes written to spill files in all. */
  peakBytes: number;
  spilledBytes: number;
}

function asFeed(t: NamedTensor): Feeds[string] {
  return { data: t.data, dims: t.dims, type: t.type as FeedType };
}

/**
 * The boundary activations of one round of sequential pruning over `current` (pruned in
 * place, stage by stage) and `dense`. Use: {@link start} at the beginning of a round,
 * {@link batches} for each stage's statistics, {@link advance} after the stage's layers are
 * written back, {@link release} at the end.
 */
export class StageCache {
  private readonly budget: MemoryBudget;
  private hat: ActivationStore | undefined;
  private dense: ActivationStore | undefined;
  private stage = -1;
  /** Counters (see {@link StageCacheStats}). */
  readonly stats: StageCacheStats = { segments: 0, peakBytes: 0, spilledBytes: 0 };

  private constructor(
    private readonly current: Network,
    private readonly denseNet: Network,
    private readonly data: Dataset,
    /** Tensors entering each stage. */
    readonly boundaries: string[][],
    private readonly options: StageCacheOptions,
  ) {
    this.budget = { limit: options.activationMemory ?? DEFAULT_ACTIVATION_MEMORY, used: 0 };
  }

  /**
   * A cache for `stages` of `current`, or undefined when the network cannot run stage by stage
   * (no segment runners, e.g. TF.js, or stages that cannot be cut cleanly).
   */
  static create(current: Network, dense: Network, data: Dataset, stages: readonly NetworkLayer[][], options: StageCacheOptions): StageCache | undefined {
    if (!current.segmentRunner || !current.stageBoundaries || !dense.segmentRunner) return undefined;
    const boundaries = current.stageBoundaries(stages);
    return boundaries ? new StageCache(current, dense, data, boundaries, options) : undefined;
  }

  /** The graph-input feeds of every batch of range `r`, in order. */
  private *feeds(r: number): Generator<[number, Feeds]> {
    const [from, to] = this.options.ranges[r]!;
    let i = 0;
    for (const { feeds } of batchFeeds(this.data, this.options.batchSize, from, to)) yield [r * 1_000_000 + i++, feeds];
  }

  /** Whether the dense activations of range `r` are kept. */
  private keepsDense(r: number): boolean {
    return this.options.denseRanges?.[r] ?? true;
  }

  /**
   * Runs `network`'s segment `from` → `to` over every batch of the ranges `only` selects (all by
   * default), from `source` (undefined: graph inputs only) into a new store.
   */
  private async runSegment(
    network: Network,
    source: ActivationStore | undefined,
    from: readonly string[],
    to: readonly string[],
    only: (r: number) => boolean = () => true,
    extra?: { range: number; names: readonly string[]; sink(index: number, tensors: Record<string, NamedTensor>): void },
  ): Promise<ActivationStore> {
    const extraNames = extra ? extra.names.filter((n) => !to.includes(n)) : [];
    const runner: NetworkRunner = await network.segmentRunner!(from, [...to, ...extraNames], { threads: this.options.threads });
    this.stats.segments++;
    const target = new ActivationStore(this.budget);
    try {
      for (let r = 0; r < this.options.ranges.length; r++) {
        if (!only(r)) continue;
        for (const [index, feeds] of this.feeds(r)) {
          const inputs: Feeds = { ...feeds };
          if (source) for (const [name, t] of Object.entries(source.get(index))) inputs[name] = asFeed(t);
          if (extra && r === extra.range) {
            const all = await runner.run(inputs, [...to, ...extraNames]);
            const kept: Record<string, NamedTensor> = {};
            for (const name of to) kept[name] = all[name]!;
            const observed: Record<string, NamedTensor> = {};
            for (const name of extra.names) observed[name] = all[name]!;
            target.put(index, kept);
            extra.sink(index, observed);
          } else {
            target.put(index, to.length ? await runner.run(inputs, to) : {});
          }
          this.stats.peakBytes = Math.max(this.stats.peakBytes, this.budget.used);
        }
      }
    } catch (error) {
      target.release();
      throw error;
    } finally {
      await runner.release();
    }
    this.stats.spilledBytes += target.spilled;
    return target;
  }

  /**
   * Starts a round: computes the tensors entering the first stage from the graph inputs, for
   * the current model and, unless `exact` (nothing pruned yet: X̂ = X), the dense one.
   */
  async start(exact: boolean): Promise<void> {
    this.releaseStores();
    const to = this.boundaries[0]!;
    this.hat = await this.runSegment(this.current, undefined, [], to);
    this.dense = exact ? this.hat : await this.runSegment(this.denseNet, undefined, [], to, (r) => this.keepsDense(r));
    this.stage = 0;
  }

  /**
   * After stage `s`'s layers are written back: computes the tensors entering stage s + 1 from
   * those entering stage s (the current model's segment session is created now, with the
   * stage's final weights), and drops stage s's. `observe` fetches further tensors of both
   * models on its range (its range must keep dense activations).
   */
  async advance(s: number, observe?: StageObserver): Promise<void> {
    if (s !== this.stage || !this.hat || !this.dense) throw new Error(`internal: stage cache is at stage ${this.stage}, asked to advance from ${s}`);
    if (observe && !this.keepsDense(observe.range)) throw new Error(`internal: the stage cache keeps no dense activations for range ${observe.range}`);
    const from = this.boundaries[s]!;
    const to = this.boundaries[s + 1]!;
    const held = new Map<number, Record<string, NamedTensor>>();
    const hat = await this.runSegment(this.current, this.hat, from, to, undefined, observe && { range: observe.range, names: observe.names, sink: (i, t) => held.set(i, t) });
    let dense: ActivationStore;
    try {
      dense = await this.runSegment(this.denseNet, this.dense, from, to, (r) => this.keepsDense(r), observe && {
        range: observe.range,
        names: observe.names,
        sink: (i, t) => {
          observe.batch(held.get(i)!, t);
          held.delete(i);
        },
      });
    } catch (error) {
      hat.release();
      throw error;
    }
    this.releaseStores();
    this.hat = hat;
    this.dense = dense;
    this.stage = s + 1;
  }

  /**
   * The batches of range `r` at the current stage: the cached tensors plus the graph inputs
   * (stage inputs may be graph inputs), for the current model and, when `withDense`, the dense one.
   */
  async *batches(r: number, withDense: boolean): AsyncGenerator<CachedBatch> {
    if (!this.hat || !this.dense) throw new Error('internal: stage cache used before start()');
    if (withDense && this.dense !== this.hat && !this.keepsDense(r)) throw new Error(`internal: the stage cache keeps no dense activations for range ${r}`);
    for (const [index, feeds] of this.feeds(r)) {
      const fed = feedsAsTensors(feeds);
      const batch: CachedBatch = { hat: { ...fed, ...this.hat.get(index) } };
      if (withDense) batch.dense = { ...fed, ...this.dense.get(index) };
      yield batch;
    }
  }

  private releaseStores(): void {
    if (this.dense && this.dense !== this.hat) this.dense.release();
    this.hat?.release();
    this.hat = undefined;
    this.dense = undefined;
  }

  /** Frees every cached batch and spill file. */
  release(): void {
    this.releaseStores();
  }
}
