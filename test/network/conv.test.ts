import { describe, expect, it } from 'vitest';
import { convOutputSize, im2col, im2colShape, resolvePads, type ConvGeometry, type ConvPadding } from '../../src/network/conv.js';
import { sampleShape, toSamples } from '../../src/prune/samples.js';
import { sampleLayout } from '../../src/prune/layers.js';
import type { WeightView } from '../../src/io/onnx/operators.js';
import { im2colNhwc } from '../../src/tfjs/graph.js';

function random(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    a[i] = s / 2147483648 - 0.5;
  }
  return a;
}

/** NCHW → NHWC. */
function toNhwc(x: Float32Array, [B, C, H, W]: number[]): Float32Array {
  const y = new Float32Array(x.length);
  for (let b = 0; b < B; b++) for (let c = 0; c < C; c++) for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) y[((b * H + h) * W + w) * C + c] = x[((b * C + c) * H + h) * W + w]!;
  return y;
}

/** Direct grouped convolution of NCHW `x` with OIHW weights `w` [O, Cg, kh, kw]: y [B, O, Ho, Wo]. */
function directConv(x: Float32Array, [B, C, H, W]: number[], w: Float32Array, O: number, g: ConvGeometry, groups: number) {
  const [kh, kw] = g.kernel, [sh, sw] = g.strides, [dh, dw] = g.dilations;
  const { Ho, Wo, pads } = convOutputSize(g, H, W);
  const [pt, pl] = pads;
  const Cg = C / groups, Og = O / groups;
  const y = new Float64Array(B * O * Ho * Wo);
  for (let b = 0; b < B; b++) for (let o = 0; o < O; o++) for (let oh = 0; oh < Ho; oh++) for (let ow = 0; ow < Wo; ow++) {
    const grp = Math.floor(o / Og);
    let s = 0;
    for (let c = 0; c < Cg; c++) for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) {
      const h = oh * sh - pt + i * dh, ww = ow * sw - pl + j * dw;
      if (h < 0 || h >= H || ww < 0 || ww >= W) continue;
      s += w[((o * Cg + c) * kh + i) * kw + j]! * x[((b * C + grp * Cg + c) * H + h) * W + ww]!;
    }
    y[((b * O + o) * Ho + oh) * Wo + ow] = s;
  }
  return { y, Ho, Wo };
}

/** OIHW weights of output o as a (kh, kw, c) row (the HWIO view's column order). */
function hwcRow(w: Float32Array, o: number, Cg: number, kh: number, kw: number): Float32Array {
  const r = new Float32Array(Cg * kh * kw);
  for (let c = 0; c < Cg; c++) for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) r[(i * kw + j) * Cg + c] = w[((o * Cg + c) * kh + i) * kw + j]!;
  return r;
}

const cases: Array<[string, [number, number], [number, number], [number, number], ConvPadding, number]> = [
  ['1×1', [1, 1], [1, 1], [1, 1], 'VALID', 1],
  ['3×3 SAME', [3, 3], [1, 1], [1, 1], 'SAME', 1],
  ['3×2 strided SAME (odd pad at the end)', [3, 2], [2, 2], [1, 1], 'SAME', 1],
  ['3×3 strided SAME_LOWER', [3, 3], [2, 2], [1, 1], 'SAME_LOWER', 1],
  ['3×3 strided VALID', [3, 3], [2, 1], [1, 1], 'VALID', 1],
  ['dilated 2', [3, 3], [1, 1], [2, 2], [2, 2, 2, 2], 1],
  ['asymmetric explicit pads', [3, 3], [2, 2], [1, 1], [0, 1, 1, 0], 1],
  ['grouped (2 groups)', [3, 3], [1, 2], [1, 1], [1, 0, 1, 0], 2],
  ['depthwise (4 groups of 1)', [3, 3], [1, 1], [1, 1], 'SAME', 4],
];

describe('conv geometry', () => {
  it('resolves SAME / SAME_LOWER / VALID like TensorFlow and ONNX', () => {
    const g = (padding: ConvPadding, k = 3, s = 2): ConvGeometry => ({ kernel: [k, k], strides: [s, s], dilations: [1, 1], padding, channelsPerGroup: 1, group: 0 });
    expect(resolvePads(g('SAME'), 7, 6)).toEqual([1, 0, 1, 1]); // H: out 4, total 2; W: out 3, total 1 → the odd pad at the end
    expect(resolvePads(g('SAME_LOWER'), 7, 6)).toEqual([1, 1, 1, 0]);
    expect(resolvePads(g('VALID'), 7, 6)).toEqual([0, 0, 0, 0]);
    expect(convOutputSize(g('SAME'), 7, 6)).toMatchObject({ Ho: 4, Wo: 3 });
    expect(convOutputSize(g('VALID'), 7, 6)).toMatchObject({ Ho: 3, Wo: 2 });
    expect(resolvePads(g([1, 2, 3, 4]), 7, 6)).toEqual([1, 2, 3, 4]);
    // ONNX auto_pad goes through the same rule
    const view = (autoPad: string, kernelShape: number[]) => ({ op: 'Conv', groupIndex: 0, conv: { kernelShape, strides: kernelShape.map(() => 2), dilations: kernelShape.map(() => 1), pads: [], autoPad, inChannelsPerGroup: 2 } }) as unknown as WeightView;
    expect(sampleLayout(view('SAME_UPPER', [3, 3]), [1, 2, 7, 6])).toMatchObject({ pads: [1, 0, 1, 1] });
    expect(sampleLayout(view('SAME_LOWER', [3, 3]), [1, 2, 7, 6])).toMatchObject({ pads: [1, 1, 1, 0] });
    expect(sampleLayout(view('SAME_UPPER', [3]), [1, 2, 6])).toMatchObject({ kernel: [1, 3], pads: [0, 0, 0, 1] });
  });

  for (const [name, kernel, strides, dilations, padding, groups] of cases) {
    it(`NCHW and NHWC rows equal the direct convolution and each other: ${name}`, () => {
      const dims = [2, 4, 7, 6];
      const [B, C, H, W] = dims as [number, number, number, number];
      const O = 4, Cg = C / groups, Og = O / groups, [kh, kw] = kernel;
      const x = random(B * C * H * W, 7);
      const xh = toNhwc(x, dims);
      const w = random(O * Cg * kh * kw, 11);
      for (let grp = 0; grp < groups; grp++) {
        const g: ConvGeometry = { kernel, strides, dilations, padding, channelsPerGroup: Cg, group: grp };
        const { y, Ho, Wo } = directConv(x, dims, w, O, g, groups);
        const nchw = im2col(x, dims, g, { layout: 'NCHW' });
        const nhwc = im2col(xh, [B, H, W, C], g, { layout: 'NHWC' });
        expect([nchw.n, nchw.d]).toEqual([B * Ho * Wo, Cg * kh * kw]);
        expect([nhwc.n, nhwc.d]).toEqual([nchw.n, nchw.d]);
        expect(im2colShape(dims, g, 'NCHW')).toEqual({ n: nchw.n, d: nchw.d });
        // the same rows, whichever layout they come from, in either column order
        expect(Array.from(im2col(x, dims, g, { layout: 'NCHW', columnOrder: 'kh-kw-c' }).X)).toEqual(Array.from(nhwc.X));
        expect(Array.from(im2col(xh, [B, H, W, C], g, { layout: 'NHWC', columnOrder: 'c-kh-kw' }).X)).toEqual(Array.from(nchw.X));
        const { n, d } = nchw;
        for (let o = grp * Og; o < (grp + 1) * Og; o++) {
          const wc = w.subarray(o * d, (o + 1) * d);
          const wh = hwcRow(w, o, Cg, kh, kw);
          for (let r = 0; r < n; r++) {
            const b = Math.floor(r / (Ho * Wo)), p = r % (Ho * Wo);
            let s1 = 0, s2 = 0;
            for (let j = 0; j < d; j++) {
              s1 += wc[j]! * nchw.X[r * d + j]!;
              s2 += wh[j]! * nhwc.X[r * d + j]!;
            }
            const ref = y[(b * O + o) * Ho * Wo + p]!;
            expect(s1).toBeCloseTo(ref, 5);
            expect(s2).toBeCloseTo(ref, 5);
          }
        }
      }
    });
  }

  it('1-D convolutions are 2-D ones with a unit height (NCL and NLC)', () => {
    const [B, C, L] = [2, 3, 9];
    const x = random(B * C * L, 3);
    const g: ConvGeometry = { kernel: [1, 3], strides: [1, 2], dilations: [1, 2], padding: 'SAME', channelsPerGroup: C, group: 0 };
    const a = im2col(x, [B, C, L], g, { layout: 'NCHW', columnOrder: 'kh-kw-c' });
    const b = im2col(x, [B, C, 1, L], g, { layout: 'NCHW', columnOrder: 'kh-kw-c' });
    const nlc = toNhwc(x, [B, C, 1, L]); // [B, 1, L, C] = [B, L, C]
    const c = im2col(nlc, [B, L, C], g, { layout: 'NHWC' });
    expect(Array.from(a.X)).toEqual(Array.from(b.X));
    expect(Array.from(c.X)).toEqual(Array.from(a.X));
    expect(a.n).toBe(B * 5);
  });

  it('the ONNX sample layout and the graph-model wrapper go through the shared im2col', () => {
    const dims = [1, 2, 5, 4];
    const x = random(40, 5);
    const layout = { kind: 'conv2d' as const, kernel: [3, 3] as [number, number], strides: [2, 1] as [number, number], pads: [1, 0, 1, 2] as [number, number, number, number], dilations: [1, 1] as [number, number], channelsPerGroup: 1, group: 1 };
    const g: ConvGeometry = { kernel: [3, 3], strides: [2, 1], dilations: [1, 1], padding: [1, 0, 1, 2], channelsPerGroup: 1, group: 1 };
    expect(sampleShape(dims, layout)).toEqual(im2colShape(dims, g, 'NCHW'));
    expect(Array.from(toSamples(x, dims, layout))).toEqual(Array.from(im2col(x, dims, g, { layout: 'NCHW' }).X));
    const xh = toNhwc(x, dims);
    const wrapped = im2colNhwc(xh, [1, 5, 4, 2], { kernel: [3, 3], strides: [2, 1], dilations: [1, 1], padding: [1, 0, 1, 2] }, 1, 1);
    expect(Array.from(wrapped.X)).toEqual(Array.from(im2col(x, dims, g, { layout: 'NCHW' }).X));
    // writing into a reused buffer overwrites stale values, including the padding zeros
    const out = new Float32Array(wrapped.X.length).fill(9);
    im2col(x, dims, g, { layout: 'NCHW', out });
    expect(Array.from(out)).toEqual(Array.from(wrapped.X));
  });
});
