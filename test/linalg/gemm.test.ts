import { afterAll, describe, expect, it } from 'vitest';
import { gemmSync, syrkSync, TypeScriptEngine } from '../../src/linalg/gemm-ts.js';
import { OnnxRuntimeEngine, buildGemmModel, syrkBlock, SYRK_BLOCKED_MIN_D } from '../../src/linalg/gemm-ort.js';
import { mirrorLower } from '../../src/linalg/blocks.js';
import { AutoEngine, createEngine } from '../../src/linalg/create-engine.js';
import { syrk, type GemmEngine } from '../../src/linalg/engine.js';
import { naiveGemm, randomMatrix, relErr, maxAbsDiff } from './helpers.js';

const ort64 = new OnnxRuntimeEngine();
const ort32 = new OnnxRuntimeEngine({ precision: 'float32' });
const ts = new TypeScriptEngine();
afterAll(async () => {
  await ort64.dispose();
  await ort32.dispose();
});

const shapes: Array<[number, number, number]> = [
  [1, 1, 1],
  [3, 5, 7],
  [7, 3, 5],
  [1, 9, 1],
  [13, 1, 11],
  [65, 257, 70],
  [130, 300, 513],
];
const transposes: Array<[boolean, boolean]> = [
  [false, false],
  [true, false],
  [false, true],
  [true, true],
];

describe('gemmSync (TypeScript)', () => {
  it('2×2 explicit', () => {
    const C = gemmSync(new Float64Array([1, 2, 3, 4]), new Float64Array([5, 6, 7, 8]), 2, 2, 2);
    expect(Array.from(C)).toEqual([19, 22, 43, 50]);
  });
  it('1×1 with alpha/beta/out', () => {
    const out = new Float64Array([10]);
    const C = gemmSync(new Float64Array([2]), new Float64Array([3]), 1, 1, 1, { alpha: 2, beta: 0.5, out });
    expect(C).toBe(out);
    expect(C[0]).toBe(17);
  });
  for (const [m, k, n] of shapes)
    for (const [tA, tB] of transposes)
      it(`matches naive for ${m}×${k}×${n} transA=${tA} transB=${tB}`, () => {
        const A = randomMatrix(m, k, 1 + m);
        const B = randomMatrix(k, n, 2 + n);
        expect(relErr(gemmSync(A, B, m, k, n, { transA: tA, transB: tB }), naiveGemm(A, B, m, k, n, tA, tB))).toBeLessThan(1e-14);
      });
  it('accepts Float32 inputs (Float64 accumulation)', () => {
    const A = Float32Array.from(randomMatrix(6, 300, 3));
    const B = Float32Array.from(randomMatrix(300, 4, 4));
    expect(relErr(gemmSync(A, B, 6, 300, 4), naiveGemm(A, B, 6, 300, 4))).toBeLessThan(1e-14);
  });
  it('k = 0 gives beta·out', () => {
    const out = new Float64Array([1, 2]);
    gemmSync(new Float64Array(0), new Float64Array(0), 1, 0, 2, { out, beta: 3 });
    expect(Array.from(out)).toEqual([3, 6]);
  });
  it('rejects short inputs', () => {
    expect(() => gemmSync(new Float64Array(3), new Float64Array(4), 2, 2, 2)).toThrow(RangeError);
  });
  it('syrkSync = XᵀX, exactly symmetric, with beta', () => {
    for (const [n, d] of [[1, 1], [5, 3], [200, 300], [7, 129]] as const) {
      const X = randomMatrix(n, d, n + d);
      const G = syrkSync(X, n, d);
      expect(relErr(G, naiveGemm(X, X, d, n, d, true, false))).toBeLessThan(1e-14);
      for (let i = 0; i < d; i++) for (let j = 0; j < i; j++) expect(G[i * d + j]).toBe(G[j * d + i]);
      const out = Float64Array.from(G);
      syrkSync(X, n, d, { out, beta: 1, alpha: 2 });
      expect(relErr(out, G.map((v) => 3 * v))).toBeLessThan(1e-14);
    }
  });
});

describe('OnnxRuntimeEngine = TypeScriptEngine', () => {
  it('builds a decodable model', () => {
    expect(buildGemmModel('matmul', 11).length).toBeGreaterThan(20);
  });
  for (const [m, k, n] of shapes)
    for (const [tA, tB] of transposes) {
      it(`fp64 ${m}×${k}×${n} transA=${tA} transB=${tB} alpha/beta`, async () => {
        const A = randomMatrix(m, k, 11 + m);
        const B = randomMatrix(k, n, 12 + n);
        const ref = await ts.gemm(A, B, m, k, n, { transA: tA, transB: tB });
        const got = await ort64.gemm(A, B, m, k, n, { transA: tA, transB: tB });
        expect(relErr(got, ref)).toBeLessThan(1e-13);
        const out0 = randomMatrix(m, n, 5);
        const refOut = await ts.gemm(A, B, m, k, n, { transA: tA, transB: tB, alpha: -0.5, beta: 2, out: Float64Array.from(out0) });
        const out = Float64Array.from(out0);
        const gotOut = await ort64.gemm(A, B, m, k, n, { transA: tA, transB: tB, alpha: -0.5, beta: 2, out });
        expect(gotOut).toBe(out);
        expect(relErr(gotOut, refOut)).toBeLessThan(1e-13);
      });
      it(`fp32 ${m}×${k}×${n} transA=${tA} transB=${tB}`, async () => {
        const A = Float32Array.from(randomMatrix(m, k, 21 + m));
        const B = Float32Array.from(randomMatrix(k, n, 22 + n));
        const ref = await ts.gemm(A, B, m, k, n, { transA: tA, transB: tB, alpha: 3 });
        const got = await ort32.gemm(A, B, m, k, n, { transA: tA, transB: tB, alpha: 3 });
        expect(got).toBeInstanceOf(Float64Array);
        expect(relErr(got, ref)).toBeLessThan(1e-5);
      });
    }
  it('accepts subarray views with offsets', async () => {
    const big = randomMatrix(1, 200, 9);
    const A = big.subarray(17, 17 + 12);
    const B = big.subarray(101, 101 + 20);
    expect(maxAbsDiff(await ort64.gemm(A, B, 3, 4, 5), naiveGemm(A, B, 3, 4, 5))).toBeLessThan(1e-14);
  });
  it('writes into an offset view of `out` in place (C and the result share the buffer), leaving the rest alone', async () => {
    const [m, k, n] = [300, 200, 250];
    const A = randomMatrix(m, k, 31);
    const B = randomMatrix(k, n, 32);
    for (const [alpha, beta] of [[-1, 1], [1, 0], [2.5, -0.5], [-1, 0]] as const) {
      const big = randomMatrix(1, m * n + 100, 33);
      const before = big.slice();
      const out = big.subarray(40, 40 + m * n);
      const ref = await ts.gemm(A, B, m, k, n, { alpha, beta, out: before.slice(40, 40 + m * n) });
      const got = await ort64.gemm(A, B, m, k, n, { alpha, beta, out });
      expect(got).toBe(out);
      expect(relErr(out, ref)).toBeLessThan(1e-13);
      expect([...big.subarray(0, 40)]).toEqual([...before.subarray(0, 40)]);
      expect([...big.subarray(40 + m * n)]).toEqual([...before.subarray(40 + m * n)]);
    }
  });
  it('syrk lowerOnly: accumulating lower triangles, then one mirror, = the full result (blocked and TypeScript)', async () => {
    const [n, d] = [30, 1100];
    const X = Float32Array.from(randomMatrix(n, d, 41));
    const ref = syrkSync(X, n, d, { alpha: 2 });
    for (const engine of [ort64, ts]) {
      const G = new Float64Array(d * d).fill(NaN);
      for (let i = 0; i < d; i++) G.fill(0, i * d, i * d + i + 1);
      await engine.syrk!(X, n, d, { out: G, beta: 1, lowerOnly: true });
      await engine.syrk!(X, n, d, { out: G, beta: 1, lowerOnly: true });
      mirrorLower(G, d);
      expect(relErr(G, ref)).toBeLessThan(1e-12);
    }
  });
  it('syrk fused and blocked match syrkSync, exactly symmetric', async () => {
    for (const [n, d] of [[1, 1], [9, 4], [40, 1100]] as const) {
      const X = randomMatrix(n, d, 3 * n + d);
      const ref = syrkSync(X, n, d);
      const G = await ort64.syrk(X, n, d);
      expect(relErr(G, ref)).toBeLessThan(1e-13);
      for (let i = 0; i < d; i++) for (let j = 0; j < i; j++) if (G[i * d + j] !== G[j * d + i]) throw new Error(`asymmetric at ${i},${j}`);
      const out = Float64Array.from(ref);
      await ort64.syrk(X, n, d, { out, beta: -1, alpha: 2 });
      expect(relErr(out, ref)).toBeLessThan(1e-13);
    }
  });
  it('blocked syrk in both precisions: every block size, a partial last block, accumulation with alpha and beta', async () => {
    expect(syrkBlock(SYRK_BLOCKED_MIN_D)).toBe(256);
    expect(syrkBlock(1536)).toBe(384);
    // 600 = 2·256 + 88 and 1600 = 4·384 + 64: the last block row is partial in both.
    for (const [n, d] of [[37, SYRK_BLOCKED_MIN_D], [21, 600], [9, 1600]] as const) {
      const X = Float32Array.from(randomMatrix(n, d, n + d));
      const ref = syrkSync(X, n, d);
      for (const [engine, tol] of [[ort64, 1e-13], [ort32, 1e-5]] as const) {
        const G = await engine.syrk(X, n, d);
        expect(relErr(G, ref)).toBeLessThan(tol);
        for (let i = 0; i < d; i++) for (let j = 0; j < i; j++) if (G[i * d + j] !== G[j * d + i]) throw new Error(`asymmetric at ${i},${j}`);
        // out = 3·out − 2·XᵀX on the lower triangle = ref when out starts at ref.
        const out = Float64Array.from(ref);
        await engine.syrk(X, n, d, { out, alpha: -2, beta: 3, lowerOnly: true });
        mirrorLower(out, d);
        expect(relErr(out, ref)).toBeLessThan(tol);
      }
    }
  });
  it('gramSum: batches summed natively in Float64 (both precisions), drained into (added to, or overwriting) a lower triangle, then restarted', async () => {
    expect(await ort64.gramSum(SYRK_BLOCKED_MIN_D - 1)).toBeUndefined();
    for (const d of [SYRK_BLOCKED_MIN_D, 1600]) {
      const batches = [7, 0, 12].map((n, i) => ({ n, X: Float32Array.from(randomMatrix(n, d, 100 + i)) }));
      const ref = new Float64Array(d * d);
      for (const { n, X } of batches) {
        const G = syrkSync(X, n, d);
        for (let t = 0; t < G.length; t++) ref[t] += G[t]!;
      }
      for (const [engine, tol] of [[ort64, 1e-13], [ort32, 1e-5]] as const) {
        const sum = (await engine.gramSum(d))!;
        for (const { n, X } of batches) await sum.add(X, n);
        // Into a lower triangle that already holds the reference once: twice the reference.
        const out = Float64Array.from(ref);
        sum.drainLowerInto(out);
        mirrorLower(out, d);
        expect(relErr(out, ref.map((v) => 2 * v))).toBeLessThan(tol);
        // Drained: a second drain adds nothing; the next batch starts from 0.
        const again = Float64Array.from(ref);
        sum.drainLowerInto(again);
        expect(Array.from(again)).toEqual(Array.from(ref));
        await sum.add(batches[0]!.X, batches[0]!.n);
        // overwrite: the lower triangle is replaced (what it held before is gone).
        const one = Float64Array.from(ref);
        sum.drainLowerInto(one, true);
        mirrorLower(one, d);
        expect(relErr(one, syrkSync(batches[0]!.X, batches[0]!.n, d))).toBeLessThan(tol);
      }
    }
  });
  it('syrk helper falls back to gemm for engines without syrk', async () => {
    const plain: GemmEngine = { name: 'plain', gemm: (...a) => ts.gemm(...a), dispose: async () => {} };
    const X = randomMatrix(6, 5, 2);
    expect(relErr(await syrk(plain, X, 6, 5), syrkSync(X, 6, 5))).toBeLessThan(1e-14);
    const out = new Float64Array(25).fill(1);
    await syrk(plain, X, 6, 5, { out, beta: 1 });
    expect(relErr(out, syrkSync(X, 6, 5).map((v) => v + 1))).toBeLessThan(1e-14);
  });
});

describe('createEngine', () => {
  it('kinds', async () => {
    expect(createEngine({ kind: 'typescript' }).name).toBe('typescript');
    const o = createEngine({ kind: 'onnxruntime', threads: 1, precision: 'float32' });
    expect(o.name).toBe('onnxruntime(fp32, 1 threads)');
    await o.dispose();
    expect(() => createEngine({ kind: 'gpu' as never })).toThrow(RangeError);
  });
  it('auto dispatches small to TypeScript and large to onnxruntime, same results', async () => {
    const e = createEngine() as AutoEngine;
    expect(e).toBeInstanceOf(AutoEngine);
    expect(await e.nativeAvailable()).toBe(true);
    for (const s of [2, 40]) {
      const A = randomMatrix(s, s, s);
      expect(relErr(await e.gemm(A, A, s, s, s, { transB: true }), naiveGemm(A, A, s, s, s, false, true))).toBeLessThan(1e-13);
      expect(relErr(await e.syrk(A, s, s), syrkSync(A, s, s))).toBeLessThan(1e-13);
    }
    await e.dispose();
  });
});
