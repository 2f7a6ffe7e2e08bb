import { describe, expect, it } from 'vitest';
import { extractBlock, mirrorLower, mirrorLowerDivided, placeBlock, transposeBlock } from '../../src/linalg/blocks.js';

describe('transposeBlock', () => {
  it('1×1 and 2×3', () => {
    const out1 = new Float64Array(1);
    transposeBlock(new Float64Array([5]), 1, 0, 0, 1, 1, out1);
    expect([...out1]).toEqual([5]);
    const out = new Float64Array(6);
    transposeBlock(new Float64Array([1, 2, 3, 4, 5, 6]), 3, 0, 0, 2, 3, out);
    expect([...out]).toEqual([1, 4, 2, 5, 3, 6]);
  });
  it('an offset block of a larger matrix, sizes not multiples of the tile, into other element types', () => {
    const ld = 40;
    const A = Float64Array.from({ length: 30 * ld }, (_, i) => i % 251);
    const [r0, c0, r, c] = [3, 5, 17, 23];
    for (const out of [new Float64Array(r * c), new Float32Array(r * c), new Uint8Array(r * c)]) {
      transposeBlock(A, ld, r0, c0, r, c, out);
      for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) if (out[j * r + i] !== A[(r0 + i) * ld + c0 + j]) throw new Error(`(${i}, ${j})`);
    }
  });
});

describe('mirrorLower', () => {
  it('1×1, 2×2 and 19×19: the upper triangle becomes the transpose of the lower one', () => {
    const one = new Float64Array([4]);
    mirrorLower(one, 1);
    expect([...one]).toEqual([4]);
    const two = new Float64Array([1, NaN, 2, 3]);
    mirrorLower(two, 2);
    expect([...two]).toEqual([1, 2, 2, 3]);
    const n = 19;
    const G = Float64Array.from({ length: n * n }, (_, t) => (Math.floor(t / n) >= t % n ? t : NaN));
    mirrorLower(G, n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) expect(G[i * n + j]).toBe(G[j * n + i]);
    expect(G[5 * n + 2]).toBe(5 * n + 2);
  });
});

describe('mirrorLowerDivided', () => {
  it('1×1, 2×2 and 19×19 (in place and into another array): lower triangle / divisor, mirrored; the upper one is never read', () => {
    expect([...mirrorLowerDivided(new Float64Array([6]), 1, 3, new Float64Array(1))]).toEqual([2]);
    const two = new Float64Array([2, NaN, 4, 6]);
    expect(mirrorLowerDivided(two, 2, 2, two)).toBe(two);
    expect([...two]).toEqual([1, 2, 2, 3]);
    const n = 19;
    const G = Float64Array.from({ length: n * n }, (_, t) => (Math.floor(t / n) >= t % n ? t : NaN));
    const out = mirrorLowerDivided(G, n, 7, new Float64Array(n * n).fill(NaN));
    mirrorLowerDivided(G, n, 7, G);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j <= i; j++) {
        // Division, not multiplication by 1/7: the same rounding as dividing the sum.
        expect(out[i * n + j]).toBe((i * n + j) / 7);
        expect(out[j * n + i]).toBe((i * n + j) / 7);
        expect(G[i * n + j]).toBe(out[i * n + j]);
        expect(G[j * n + i]).toBe(out[i * n + j]);
      }
    }
  });
});

describe('extractBlock / placeBlock', () => {
  it('2×3 block of a 4×5 matrix, and back into a zero matrix', () => {
    const A = Float64Array.from({ length: 20 }, (_, t) => t);
    const B = extractBlock(A, 5, 1, 2, 2, 3);
    expect([...B]).toEqual([7, 8, 9, 12, 13, 14]);
    const Z = new Float64Array(20);
    placeBlock(Z, 5, 1, 2, 2, 3, B);
    expect([...Z]).toEqual([...A.map((v, t) => (t >= 5 && t < 15 && t % 5 >= 2 ? v : 0))]);
    const out = new Float64Array(1).fill(-1);
    expect(extractBlock(A, 5, 3, 4, 1, 1, out)).toBe(out);
    expect([...out]).toEqual([19]);
  });
});
