/**
 * Turns a captured activation tensor into the layer's sample matrix X (n × d, row-major):
 * one row per sample, token, or convolution patch, in the column order of the weight view.
 *
 * - Gemm / MatMul with the weight on the right (y = x·W): activation [..., d] → rows = the
 *   product of the leading dims, d = the last dim. Token dimensions are flattened.
 * - MatMul with the weight on the left (y = W·x): activation [..., d, n] → every column is a sample.
 * - Conv: im2col patches of the input [B, C, H, W] for one group, columns in PyTorch's
 *   weight order (c, kh, kw), honouring strides, pads, dilations and groups.
 */

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
  const [B, , H, W] = dims as [number, number, number, number];
  const { Ho, Wo } = convOutput(H, W, layout);
  return { n: B * Ho * Wo, d: layout.channelsPerGroup * layout.kernel[0] * layout.kernel[1] };
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
  im2col(x, dims as [number, number, number, number], layout, X);
  return X;
}

function convOutput(H: number, W: number, layout: Extract<SampleLayout, { kind: 'conv2d' }>): { Ho: number; Wo: number } {
  const [kh, kw] = layout.kernel;
  const [sh, sw] = layout.strides;
  const [dh, dw] = layout.dilations;
  const [pt, pl, pb, pr] = layout.pads;
  return {
    Ho: Math.floor((H + pt + pb - dh * (kh - 1) - 1) / sh) + 1,
    Wo: Math.floor((W + pl + pr - dw * (kw - 1) - 1) / sw) + 1,
  };
}

/** im2col for one group: X[(b, oh, ow), (c, i, j)] = x[b, g·Cg + c, oh·sh − pt + i·dh, ow·sw − pl + j·dw] (0 outside). */
function im2col(x: Float32Array, dims: [number, number, number, number], layout: Extract<SampleLayout, { kind: 'conv2d' }>, X: Float32Array): void {
  const [B, C, H, W] = dims;
  const { Ho, Wo } = convOutput(H, W, layout);
  const [kh, kw] = layout.kernel;
  const [sh, sw] = layout.strides;
  const [dh, dw] = layout.dilations;
  const [pt, pl] = layout.pads;
  const Cg = layout.channelsPerGroup;
  const c0 = layout.group * Cg;
  const d = Cg * kh * kw;
  for (let b = 0; b < B; b++) {
    for (let oh = 0; oh < Ho; oh++) {
      for (let ow = 0; ow < Wo; ow++) {
        let r = ((b * Ho + oh) * Wo + ow) * d;
        for (let c = 0; c < Cg; c++) {
          const plane = (b * C + c0 + c) * H * W;
          for (let i = 0; i < kh; i++) {
            const h = oh * sh - pt + i * dh;
            const inside = h >= 0 && h < H;
            for (let j = 0; j < kw; j++) {
              const w = ow * sw - pl + j * dw;
              X[r++] = inside && w >= 0 && w < W ? x[plane + h * W + w]! : 0;
            }
          }
        }
      }
    }
  }
}

function product(dims: readonly number[]): number {
  let p = 1;
  for (const v of dims) p *= v;
  return p;
}
