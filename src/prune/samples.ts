/**
 * Turns a captured activation tensor into the layer's sample matrix X (n × d, row-major):
 * one row per sample, token, or convolution patch, in the column order of the weight view.
 *
 * - Gemm / MatMul with the weight on the right (y = x·W): activation [..., d] → rows = the
 *   product of the leading dims, d = the last dim. Token dimensions are flattened.
 * - MatMul with the weight on the left (y = W·x): activation [..., d, n] → every column is a sample.
 * - Conv: im2col patches of the input [B, C, H, W] for one group, columns in PyTorch's
 *   weight order (c, kh, kw), honouring strides, pads, dilations and groups (the shared
 *   im2col of ../network/conv.ts).
 */
import { im2col, im2colShape, type ConvGeometry } from '../network/conv.js';

/** How a layer reads its input activation. */
export type SampleLayout =
  | { kind: 'rows' }
  | { kind: 'columns' }
  | {
      kind: 'conv2d';
      kernel: [number, number];
      strides: [number, number];
      /** [top, left, bottom, right] */
      pads: [number, number, number, number];
      dilations: [number, number];
      /** Channels per group and which group this view covers. */
      channelsPerGroup: number;
      group: number;
    };

/** Number of sample rows and their width d for an activation of `dims` under `layout`. */
export function sampleShape(dims: readonly number[], layout: SampleLayout): { n: number; d: number } {
  if (layout.kind === 'rows') {
    const d = dims[dims.length - 1]!;
    return { n: product(dims) / d, d };
  }
  if (layout.kind === 'columns') {
    const d = dims[dims.length - 2]!;
    return { n: product(dims) / d, d };
  }
  return im2colShape(dims, layoutGeometry(layout), 'NCHW');
}

/**
 * Writes the sample matrix of `x` (with `dims`) into `out` (length n·d, see {@link sampleShape})
 * and returns it. Rows layout returns a view of `x` itself (no copy) when `out` is omitted.
 */
export function toSamples(x: Float32Array, dims: readonly number[], layout: SampleLayout, out?: Float32Array): Float32Array {
  const { n, d } = sampleShape(dims, layout);
  if (layout.kind === 'rows') {
    if (!out) return x.subarray(0, n * d);
    out.set(x.subarray(0, n * d));
    return out;
  }
  const X = out ?? new Float32Array(n * d);
  if (layout.kind === 'columns') {
    // [..., d, m]: batch of (d × m) matrices; each column becomes a row.
    const m = dims[dims.length - 1]!;
    const batches = n / m;
    for (let b = 0; b < batches; b++) {
      const src = b * d * m;
      const dst = b * m * d;
      for (let i = 0; i < d; i++) for (let j = 0; j < m; j++) X[dst + j * d + i] = x[src + i * m + j]!;
    }
    return X;
  }
  im2col(x, dims, layoutGeometry(layout), { layout: 'NCHW', columnOrder: 'c-kh-kw', out: X });
  return X;
}

/** The shared geometry (../network/conv.ts) of a conv sample layout. */
export function layoutGeometry(layout: Extract<SampleLayout, { kind: 'conv2d' }>): ConvGeometry {
  return { kernel: layout.kernel, strides: layout.strides, dilations: layout.dilations, padding: layout.pads, channelsPerGroup: layout.channelsPerGroup, group: layout.group };
}

function product(dims: readonly number[]): number {
  let p = 1;
  for (const v of dims) p *= v;
  return p;
}
