/**
 * Measured onnxruntime latency of a model: one session, a few warm-up runs, then the median of
 * timed runs of one batch (the probe sample repeated to the batch size).
 */
import type { Feed, FeedData } from '../io/feeds.js';
import type { OnnxModel } from '../io/onnx/model.js';
import { ModelSession } from '../runtime/session.js';

/** Options of {@link measureLatency}. */
export interface LatencyOptions {
  /** onnxruntime intra-op threads (default 2). */
  threads?: number;
  /** Timed runs (default 20); warm-up runs: 3. */
  runs?: number;
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

/** The median latency of `model` at each of `batches` (see the module comment). */
export async function measureLatency(model: OnnxModel, probe: Record<string, Feed>, batches: readonly number[], options: LatencyOptions = {}): Promise<Latency[]> {
  const session = await ModelSession.create(model, { threads: options.threads ?? 2 });
  const runs = options.runs ?? 20;
  try {
    const result: Latency[] = [];
    for (const batch of batches) {
      const feeds = repeatFeeds(probe, batch);
      for (let i = 0; i < 3; i++) await session.run(feeds);
      const times: number[] = [];
      for (let i = 0; i < runs; i++) {
        const t0 = performance.now();
        await session.run(feeds);
        times.push(performance.now() - t0);
      }
      times.sort((a, b) => a - b);
      result.push({ batch, medianMs: times[Math.floor(times.length / 2)]!, runs });
    }
    return result;
  } finally {
    await session.release();
  }
}
