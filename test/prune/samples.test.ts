import { describe, expect, it } from 'vitest';
import { sampleShape, toSamples, type SampleLayout } from '../../src/prune/samples.js';

/** Direct grouped 2-D convolution (no bias), for reference. */
function conv2d(x: Float32Array, [B, C, H, W]: number[], w: Float32Array, O: number, layout: Extract<SampleLayout, { kind: 'conv2d' }>, groups: number) {
  const [kh, kw] = layout.kernel, [sh, sw] = layout.strides, [dh, dw] = layout.dilations, [pt, pl, pb, pr] = layout.pads;
  const Ho = Math.floor((H + pt + pb - dh * (kh - 1) - 1) / sh) + 1;
  const Wo = Math.floor((W + pl + pr - dw * (kw - 1) - 1) / sw) + 1;
  const Cg = C / groups, Og = O / groups;
  const y = new Float64Array(B * O * Ho * Wo);
  for (let b = 0; b < B; b++) for (let o = 0; o < O; o++) for (let oh = 0; oh < Ho; oh++) for (let ow = 0; ow < Wo; ow++) {
    const g = Math.floor(o / Og);
    let s = 0;
    for (let c = 0; c < Cg; c++) for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) {
      const h = oh * sh - pt + i * dh, ww = ow * sw - pl + j * dw;
      if (h < 0 || h >= H || ww < 0 || ww >= W) continue;
      s += w[((o * Cg + c) * kh + i) * kw + j]! * x[((b * C + g * Cg + c) * H + h) * W + ww]!;
    }
    y[((b * O + o) * Ho + oh) * Wo + ow] = s;
  }
  return { y, Ho, Wo };
}

function random(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    a[i] = s / 2147483648 - 0.5;
  }
  return a;
}

describe('toSamples', () => {
  it('rows layout flattens leading (token) dims without copying', () => {
    const x = new Float32Array([1, 2, 3, 4, 5, 6]);
    expect(sampleShape([1, 3, 2], { kind: 'rows' })).toEqual({ n: 3, d: 2 });
    expect(toSamples(x, [1, 3, 2], { kind: 'rows' }).buffer).toBe(x.buffer);
  });
  it('columns layout makes every column a sample', () => {
    // batch 2 of 2x3 matrices
    const x = new Float32Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(sampleShape([2, 2, 3], { kind: 'columns' })).toEqual({ n: 6, d: 2 });
    expect(Array.from(toSamples(x, [2, 2, 3], { kind: 'columns' }))).toEqual([1, 4, 2, 5, 3, 6, 7, 10, 8, 11, 9, 12]);
  });
  it('1x1 convolution patches are the pixels', () => {
    const layout: SampleLayout = { kind: 'conv2d', kernel: [1, 1], strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], channelsPerGroup: 2, group: 0 };
    const x = new Float32Array([1, 2, 3, 4, 10, 20, 30, 40]); // [1,2,2,2]
    expect(Array.from(toSamples(x, [1, 2, 2, 2], layout))).toEqual([1, 10, 2, 20, 3, 30, 4, 40]);
  });
  for (const [name, strides, pads, dilations, groups] of [
    ['3x3 same padding', [1, 1], [1, 1, 1, 1], [1, 1], 1],
    ['stride 2, asymmetric pads', [2, 2], [0, 1, 1, 0], [1, 1], 1],
    ['dilation 2', [1, 1], [2, 2, 2, 2], [2, 2], 1],
    ['groups 2', [1, 2], [1, 0, 1, 0], [1, 1], 2],
    ['depthwise', [1, 1], [1, 1, 1, 1], [1, 1], 4],
  ] as const) {
    it(`W · im2col(x) equals the direct convolution: ${name}`, () => {
      const dims = [2, 4, 6, 5], O = 4, kernel: [number, number] = [3, 3];
      const x = random(dims.reduce((a, b) => a * b), 7);
      const w = random(O * (4 / groups) * 9, 11);
      const Og = O / groups;
      for (let g = 0; g < groups; g++) {
        const layout = { kind: 'conv2d' as const, kernel, strides: [...strides] as [number, number], pads: [...pads] as [number, number, number, number], dilations: [...dilations] as [number, number], channelsPerGroup: 4 / groups, group: g };
        const { y, Ho, Wo } = conv2d(x, dims, w, O, layout, groups);
        const { n, d } = sampleShape(dims, layout);
        expect(n).toBe(2 * Ho * Wo);
        const X = toSamples(x, dims, layout);
        for (let r = 0; r < n; r++) {
          const b = Math.floor(r / (Ho * Wo)), p = r % (Ho * Wo);
          for (let o = g * Og; o < (g + 1) * Og; o++) {
            let s = 0;
            for (let j = 0; j < d; j++) s += w[o * d + j]! * X[r * d + j]!;
            expect(s).toBeCloseTo(y[(b * O + o) * Ho * Wo + p]!, 5);
          }
        }
      }
    });
  }
});
