/**
 * Bytes on disk of a curve point's model: the model saved as `prune --storage … --quantize …`
 * would write it, to a temporary file that is removed again. One function for local curves
 * and queue workers, so both record the same `bytes`.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { SparseEncodingChoice } from '../io/onnx/sparse.js';
import type { Network } from '../network/types.js';
import type { QuantizedWeight } from '../pruners/quantize.js';

/** How a point's model would be stored. */
export interface PointStorage {
  storage: 'dense' | 'sparse';
  sparseEncoding?: SparseEncodingChoice;
}

/** A `measureBytes` for {@link CurveRunOptions} that writes into `folder` (temporarily). */
export function bytesOnDisk(folder: string, { storage, sparseEncoding }: PointStorage): (network: Network, quantized: ReadonlyMap<string, QuantizedWeight> | undefined) => Promise<number> {
  return async (network, quantized) => {
    const tmp = join(folder, `.bytes-${process.pid}-${Date.now()}${network.format === 'onnx' ? '.onnx' : ''}`);
    try {
      return (await network.save(tmp, { storage, ...(sparseEncoding ? { sparseEncoding } : {}), ...(quantized ? { quantized } : {}) })).bytes;
    } finally {
      rmSync(tmp, { recursive: true, force: true });
      rmSync(`${tmp}.data`, { force: true });
    }
  };
}
