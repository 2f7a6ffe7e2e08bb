/**
 * One convolution geometry and one im2col for every format: ONNX's NCHW Conv (weight columns
 * in PyTorch's order c, kh, kw) and TF.js / TensorFlow's NHWC Conv2D, DepthwiseConv2D and
 * Conv1D (HWIO weights, columns in the order kh, kw, c). A sample row is one output position;
 * its columns are the input patch the weight view multiplies, in the view's column order, so
 * that `row · W[o]ᵀ` is output channel o at that position before bias.
 *
 * 1-D convolutions are 2-D ones with a unit height: kernel [1, k], activation [B, C, L]
 * (NCHW) or [B, L, C] (NHWC).
 */

/** Explicit pads [top, left, bottom, right], or a rule resolved against the input size. */
export type ConvPadding =
  | readonly [number, number, number, number]
  /** TensorFlow's SAME (= ONNX SAME_UPPER): out = ceil(in / stride), the odd pad at the end. */
  | 'SAME'
  /** ONNX SAME_LOWER: as SAME with the odd pad at the beginning. */
  | 'SAME_LOWER'
  /** No padding. */
  | 'VALID';

/** The geometry of a 2-D convolution, and which input channels one weight view covers. */
export interface ConvGeometry {
  /** Kernel [kh, kw]. */
  kernel: readonly [number, number];
  /** Strides [sh, sw]. */
  strides: readonly [number, number];
  /** Dilations [dh, dw]. */
  dilations: readonly [number, number];
  padding: ConvPadding;
  /** Input channels one output channel sees (C / groups; 1 for depthwise). */
  channelsPerGroup: number;
  /** The group (or depthwise channel) of the view: its input channels are group·Cg … group·Cg + Cg − 1. */
  group: number;
}

/** Memory layout of an activation. */
export type ConvLayout = 'NCHW' | 'NHWC';

/** Column order of the weight view: (c, kh, kw) for ONNX / PyTorch, (kh, kw, c) for HWIO kernels. */
export type ConvColumnOrder = 'c-kh-kw' | 'kh-kw-c';

/** Options of {@link im2col}. */
export interface Im2colOptions {
  layout: ConvLayout;
  /** Default: `c-kh-kw` for NCHW, `kh-kw-c` for NHWC (each format's own kernel order). */
  columnOrder?: ConvColumnOrder;
  /** Where to write the n × d rows (length ≥ n·d); a new array when omitted. */
  out?: Float32Array;
}

/** The sizes of an activation: batch, channels, height, width (whatever its layout). */
export interface ConvInput {
  B: number;
  C: number;
  H: number;
  W: number;
}

/** Batch, channels and spatial sizes of `dims` in `layout` (rank 3 is 1-D: unit height). */
export function convInput(dims: readonly number[], layout: ConvLayout): ConvInput {
  if (dims.length === 3) {
    const [B, a, b] = dims as [number, number, number];
    return layout === 'NCHW' ? { B, C: a, H: 1, W: b } : { B, C: b, H: 1, W: a };
  }
  if (dims.length !== 4) throw new Error(`internal: a convolution input needs rank 3 or 4, got [${dims.join(', ')}]`);
  const [B, a, b, c] = dims as [number, number, number, number];
  return layout === 'NCHW' ? { B, C: a, H: b, W: c } : { B, C: c, H: a, W: b };
}

/** Leading pad and total pad of one spatial axis under SAME rules (TensorFlow's arithmetic). */
function samePad(size: number, k: number, s: number, d: number, lower: boolean): [number, number] {
  const span = (k - 1) * d + 1;
  const out = Math.ceil(size / s);
  const total = Math.max((out - 1) * s + span - size, 0);
  const begin = lower ? Math.ceil(total / 2) : Math.floor(total / 2);
  return [begin, total - begin];
}

/** The explicit pads [top, left, bottom, right] of `geometry` on an H × W input. */
export function resolvePads(geometry: ConvGeometry, H: number, W: number): [number, number, number, number] {
  const p = geometry.padding;
  if (p === 'VALID') return [0, 0, 0, 0];
  if (p === 'SAME' || p === 'SAME_LOWER') {
    const lower = p === 'SAME_LOWER';
    const [t, b] = samePad(H, geometry.kernel[0], geometry.strides[0], geometry.dilations[0], lower);
    const [l, r] = samePad(W, geometry.kernel[1], geometry.strides[1], geometry.dilations[1], lower);
    return [t, l, b, r];
  }
  return [p[0], p[1], p[2], p[3]];
}

/** Output height and width of `geometry` on an H × W input, and the pads it uses. */
export function convOutputSize(geometry: ConvGeometry, H: number, W: number): { Ho: number; Wo: number; pads: [number, number, number, number] } {
  const pads = resolvePads(geometry, H, W);
  const [kh, kw] = geometry.kernel;
  const [sh, sw] = geometry.strides;
  const [dh, dw] = geometry.dilations;
  return {
    Ho: Math.max(0, Math.floor((H + pads[0] + pads[2] - dh * (kh - 1) - 1) / sh) + 1),
    Wo: Math.max(0, Math.floor((W + pads[1] + pads[3] - dw * (kw - 1) - 1) / sw) + 1),
    pads,
  };
}

/** Number of sample rows (B·Ho·Wo) and their width (Cg·kh·kw) for an activation of `dims`. */
export function im2colShape(dims: readonly number[], geometry: ConvGeometry, layout: ConvLayout): { n: number; d: number } {
  const { B, H, W } = convInput(dims, layout);
  const { Ho, Wo } = convOutputSize(geometry, H, W);
  return { n: B * Ho * Wo, d: geometry.channelsPerGroup * geometry.kernel[0] * geometry.kernel[1] };
}

/**
 * The im2col rows of activation `x` (dims in `options.layout`) for the view `geometry`
 * describes: X[(b, oh, ow), col] = x[b, group·Cg + c, oh·sh − top + i·dh, ow·sw − left + j·dw]
 * (0 in the padding), col = (c·kh + i)·kw + j for `c-kh-kw` or (i·kw + j)·Cg + c for `kh-kw-c`.
 *
 * @throws Error when the view's channels exceed the activation's (an internal mismatch).
 */
export function im2col(x: ArrayLike<number>, dims: readonly number[], geometry: ConvGeometry, options: Im2colOptions): { X: Float32Array; n: number; d: number } {
  const { layout } = options;
  const order = options.columnOrder ?? (layout === 'NCHW' ? 'c-kh-kw' : 'kh-kw-c');
  const { B, C, H, W } = convInput(dims, layout);
  const { Ho, Wo, pads } = convOutputSize(geometry, H, W);
  const [kh, kw] = geometry.kernel;
  const [sh, sw] = geometry.strides;
  const [dh, dw] = geometry.dilations;
  const [pt, pl] = pads;
  const Cg = geometry.channelsPerGroup;
  const c0 = geometry.group * Cg;
  if (c0 + Cg > C) throw new Error(`internal: im2col of channels ${c0}..${c0 + Cg - 1} of an activation with ${C} channels`);
  const K = kh * kw;
  const d = Cg * K;
  const n = B * Ho * Wo;
  const X = options.out ?? new Float32Array(n * d);
  if (X.length < n * d) throw new Error(`internal: im2col needs ${n * d} values, the output holds ${X.length}`);
  // One input channel step and one column step, whatever the layout and order.
  const inStride = layout === 'NCHW' ? H * W : 1;
  const colStride = order === 'c-kh-kw' ? K : 1;
  const posStride = order === 'c-kh-kw' ? 1 : Cg;
  for (let b = 0; b < B; b++) {
    for (let oh = 0; oh < Ho; oh++) {
      for (let ow = 0; ow < Wo; ow++) {
        const row = ((b * Ho + oh) * Wo + ow) * d;
        for (let i = 0; i < kh; i++) {
          const h = oh * sh - pt + i * dh;
          for (let j = 0; j < kw; j++) {
            const w = ow * sw - pl + j * dw;
            let at = row + (i * kw + j) * posStride;
            if (h < 0 || h >= H || w < 0 || w >= W) {
              for (let c = 0; c < Cg; c++, at += colStride) X[at] = 0;
              continue;
            }
            let src = layout === 'NCHW' ? ((b * C + c0) * H + h) * W + w : ((b * H + h) * W + w) * C + c0;
            for (let c = 0; c < Cg; c++, at += colStride, src += inStride) X[at] = x[src]!;
          }
        }
      }
    }
  }
  return { X, n, d };
}
