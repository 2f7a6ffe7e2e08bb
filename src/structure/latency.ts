/**
 * Measured onnxruntime latency of models: one session per model, a few warm-up runs, then the
 * median of timed runs of one batch (the probe sample repeated to the batch size). Several
 * models are measured interleaved — by default they alternate run by run (or the timed runs are
 * split into rounds and every round runs each model in turn) — so that load from other
 * processes on a shared machine falls on all of them alike and their ratio stays meaningful.
 */
import type { Feed, FeedData } from '../io/feeds.js';
import type { OnnxModel } from '../io/onnx/model.js';
import { ModelSession } from '../runtime/session.js';

/** Options of {@link measureLatency} and {@link compareLatency}. */
export interface LatencyOptions {
  /** onnxruntime intra-op threads (default 2). */
  threads?: number;
  /** Timed runs per model and batch (default 20); warm-up runs: 3. */
  runs?: number;
  /** Rounds the timed runs are split into, the models taking turns in each (default `runs`: the models alternate run by run). */
  rounds?: number;
}

/** Median milliseconds per batch. */
export interface Latency {
  batch: number;
  medianMs: number;
  runs: number;
}

/** `feeds` of one sample repeated to `batch` samples along axis 0. */
export function repeatFeeds(feeds: Record<string, Feed>, batch: number): Record<string, Feed> {
  const out: Record<string, Feed> = {};
  for (const [name, feed] of Object.entries(feeds)) {
    const per = feed.data.length / feed.dims[0]!;
    const one = feed.data.subarray(0, per) as FeedData;
    const Ctor = one.constructor as { new (n: number): FeedData };
    const data = new Ctor(per * batch);
    for (let b = 0; b < batch; b++) (data as unknown as { set(a: FeedData, o: number): void }).set(one, b * per);
    out[name] = { ...feed, data, dims: [batch, ...feed.dims.slice(1)] };
  }
  return out;
}

/**
 * The median latency of every model of `models` at each of `batches`, measured interleaved
 * (see the module comment): result[m][b] is model m at batches[b].
 */
export async function compareLatency(models: readonly OnnxModel[], probe: Record<string, Feed>, batches: readonly number[], options: LatencyOptions = {}): Promise<Latency[][]> {
  const runs = options.runs ?? 20;
  const rounds = Math.max(1, Math.min(runs, options.rounds ?? runs));
  const sessions: ModelSession[] = [];
  try {
    for (const model of models) sessions.push(await ModelSession.create(model, { threads: options.threads ?? 2 }));
    const result: Latency[][] = models.map(() => []);
    for (const batch of batches) {
      const feeds = repeatFeeds(probe, batch);
      for (const session of sessions) for (let i = 0; i < 3; i++) await session.run(feeds);
      const times: number[][] = sessions.map(() => []);
      for (let r = 0; r < rounds; r++) {
        const perRound = Math.floor(runs / rounds) + (r < runs % rounds ? 1 : 0);
        for (let m = 0; m < sessions.length; m++) {
          for (let i = 0; i < perRound; i++) {
            const t0 = performance.now();
            await sessions[m]!.run(feeds);
            times[m]!.push(performance.now() - t0);
          }
        }
      }
      for (let m = 0; m < sessions.length; m++) {
        const t = times[m]!.sort((a, b) => a - b);
        result[m]!.push({ batch, medianMs: t[Math.floor(t.length / 2)]!, runs });
      }
    }
    return result;
  } finally {
    for (const session of sessions) await session.release();
  }
}

/** The median latency of `model` at each of `batches`. */
export async function measureLatency(model: OnnxModel, probe: Record<string, Feed>, batches: readonly number[], options: LatencyOptions = {}): Promise<Latency[]> {
  return (await compareLatency([model], probe, batches, options))[0]!;
}
