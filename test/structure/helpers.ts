/** Helpers of the structured-pruning tests: the analysis of a model, running it, copying it. */
import type { Dataset } from '../../src/io/dataset.js';
import { readOnnxModel, type OnnxModel } from '../../src/io/onnx/model.js';
import { batchFeeds } from '../../src/runtime/capture.js';
import { ModelSession } from '../../src/runtime/session.js';
import { analyzeStructure, type StructurePlan } from '../../src/structure/graph.js';
import { measureShapes, probeFeeds } from '../../src/structure/shapes.js';

/** The structure plan of `model`, its shapes measured on the first sample of `data` (zeros without). */
export async function planOf(model: OnnxModel, data?: Dataset): Promise<StructurePlan> {
  return analyzeStructure(model, await measureShapes(model, probeFeeds(model, data)));
}

/** The model's first output on all of `data` (batches of 64, concatenated). */
export async function run(model: OnnxModel, data: Dataset): Promise<Float32Array> {
  const session = await ModelSession.create(readOnnxModel(model.toBytes()));
  const parts: Float32Array[] = [];
  try {
    for (const { feeds } of batchFeeds(data, 64)) parts.push(Object.values(await session.run(feeds))[0]!.data as Float32Array);
  } finally {
    await session.release();
  }
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** An independent copy of `model`. */
export const copy = (m: OnnxModel): OnnxModel => readOnnxModel(m.toBytes());
