/**
 * Tensor shapes of an ONNX model, measured: one sample runs through onnxruntime with every
 * node output fetched. The structure analysis needs exact sizes (Flatten spans, Concat offsets,
 * multiply-adds), which exported value_info often lacks.
 */
import { SurgeonInputError } from '../errors.js';
import type { Dataset } from '../io/dataset.js';
import type { Feed } from '../io/feeds.js';
import type { OnnxModel } from '../io/onnx/model.js';
import { batchFeeds, captureSession } from '../runtime/capture.js';

/**
 * The feeds of one sample: the first of `data` when given, else zeros of every float input
 * whose dims are all fixed apart from a leading batch axis.
 * @throws SurgeonInputError when neither works (the fix: pass calibration data).
 */
export function probeFeeds(model: OnnxModel, data?: Dataset): Record<string, Feed> {
  if (data && data.count > 0) {
    for (const { feeds } of batchFeeds(data, 1, 0, 1)) return feeds;
  }
  const feeds: Record<string, Feed> = {};
  for (const input of model.inputs) {
    const dims = input.dims.map((d, i) => (typeof d === 'number' && d > 0 ? d : i === 0 ? 1 : -1));
    if (input.elemType !== 'float32' || dims.some((d) => d < 0) || dims.length === 0) {
      throw new SurgeonInputError(`input '${input.name}' (${input.elemType} [${input.dims.join(', ')}]) has no fixed sample shape to measure the graph with; pass calibration data (--inputs, --dataset or --tokens)`);
    }
    dims[0] = 1;
    feeds[input.name] = { data: new Float32Array(dims.reduce((a, b) => a * b, 1)), dims, type: 'float32' };
  }
  return feeds;
}

/** Dims of every node output of the main graph (and of the inputs) for `feeds` (batch axis included). */
export async function measureShapes(model: OnnxModel, feeds: Record<string, Feed>, threads = 2): Promise<Map<string, number[]>> {
  const names = [...new Set(model.graph.node.flatMap((n) => n.output).filter((o): o is string => !!o))];
  const shapes = new Map<string, number[]>();
  for (const [name, feed] of Object.entries(feeds)) shapes.set(name, [...feed.dims]);
  const session = await captureSession(model, names, { threads });
  try {
    const result = await session.run(feeds, names);
    for (const [name, t] of Object.entries(result)) shapes.set(name, [...t.dims]);
  } finally {
    await session.release();
  }
  return shapes;
}
