/** Small helpers on {@link Feeds} shared by the network formats. */
import type { NamedTensor, TensorData } from '../runtime/session.js';
import type { Feeds } from './types.js';

/** onnxruntime-style type name of a typed array. */
export function typeOfData(data: TensorData): string {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof Int8Array) return 'int8';
  return 'uint8';
}

/** The feeds as named tensors (no copies). */
export function feedsAsTensors(feeds: Feeds): Record<string, NamedTensor> {
  const out: Record<string, NamedTensor> = {};
  for (const [name, { data, dims, type }] of Object.entries(feeds)) out[name] = { data, dims: dims.slice(), type: type ?? typeOfData(data) };
  return out;
}
