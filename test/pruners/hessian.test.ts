import { afterAll, describe, expect, it } from 'vitest';
import { HessianAccumulator } from '../../src/pruners/hessian.js';
import { OnnxRuntimeEngine } from '../../src/linalg/gemm-ort.js';
import { TypeScriptEngine } from '../../src/linalg/gemm-ts.js';
import { createEngine } from '../../src/linalg/create-engine.js';
import type { GemmEngine } from '../../src/linalg/engine.js';
import { SurgeonInputError } from '../../src/errors.js';
import { naiveGemm, randomMatrix, relErr } from '../linalg/helpers.js';

const ort = new OnnxRuntimeEngine();
const auto = createEngine();
const ort32 = new OnnxRuntimeEngine({ precision: 'float32' });
afterAll(async () => {
  await ort.dispose();
  await auto.dispose();
  await ort32.dispose();
});

function samples(n: number, d: number, seed: number): Float32Array {
  return Float32Array.from(randomMatrix(n, d, seed));
}

/** Reference XᵀY/N in Float64 from the Float32 samples. */
function reference(X: Float32Array, Y: Float32Array, n: number, d: number): Float64Array {
  return naiveGemm(X, Y, d, n, d, true, false).map((v) => v / n);
}

async function accumulate(engine: GemmEngine, Xhat: Float32Array, X: Float32Array | undefined, n: number, d: number, splits: number[]) {
  const acc = new HessianAccumulator(d, { engine, cross: X !== undefined });
  let r0 = 0;
  for (const r1 of [...splits, n]) {
    await acc.addBatch(Xhat.subarray(r0 * d, r1 * d), r1 - r0, X?.subarray(r0 * d, r1 * d));
    r0 = r1;
  }
  return acc;
}

describe('HessianAccumulator', () => {
  it('take() hands over what result() copies, then the accumulator is freed', async () => {
    const [n, d] = [50, 7];
    const Xhat = samples(n, d, 5);
    const X = samples(n, d, 6);
    const a = await accumulate(ort, Xhat, X, n, d, [20]);
    const b = await accumulate(ort, Xhat, X, n, d, [20]);
    const copied = a.result();
    const norms = b.columnNorms();
    const taken = b.take();
    expect(taken.samples).toBe(n);
    expect(Array.from(taken.H)).toEqual(Array.from(copied.H));
    expect(Array.from(taken.C!)).toEqual(Array.from(copied.C!));
    expect(relErr(taken.H, reference(Xhat, Xhat, n, d))).toBeLessThan(1e-13);
    expect(norms[3]).toBeCloseTo(Math.sqrt(n * taken.H[3 * d + 3]!), 12);
    expect(() => b.result()).toThrow(/after free/);
    // Without X, cross: true reports C = H as its own array.
    const c = await accumulate(ort, Xhat, undefined, n, d, []);
    const own = new HessianAccumulator(d, { engine: ort, cross: true });
    await own.addBatch(Xhat, n);
    const t = own.take();
    expect(t.C).not.toBe(t.H);
    expect(Array.from(t.C!)).toEqual(Array.from(t.H));
    expect(Array.from(t.H)).toEqual(Array.from(c.result().H));
  });
  it('1 input, explicit', async () => {
    const acc = new HessianAccumulator(1, { engine: new TypeScriptEngine() });
    await acc.addBatch(new Float32Array([1, 2]), 2);
    await acc.addBatch(new Float32Array([3]), 1);
    const r = acc.result();
    expect(r.samples).toBe(3);
    expect(acc.samples).toBe(3);
    expect(r.d).toBe(1);
    expect(r.H[0]).toBeCloseTo(14 / 3, 15);
    expect(r.C).toBeUndefined();
    expect(acc.columnNorms()[0]).toBeCloseTo(Math.sqrt(14), 14);
  });
  it('2 inputs with cross term, explicit', async () => {
    const acc = new HessianAccumulator(2, { engine: new TypeScriptEngine(), cross: true });
    // X̂ rows (1, 0), (0, 2); X rows (1, 1), (3, 0)
    await acc.addBatch(new Float32Array([1, 0, 0, 2]), 2, new Float32Array([1, 1, 3, 0]));
    const r = acc.result();
    expect(Array.from(r.H)).toEqual([0.5, 0, 0, 2]);
    // C = XᵀX̂/N = [[1·1 + 3·0, 1·0 + 3·2], [1·1 + 0·0, 1·0 + 0·2]]/2
    expect(Array.from(r.C!)).toEqual([0.5, 3, 0.5, 0]);
  });

  const n = 97;
  for (const d of [5, 64, 130]) {
    for (const [label, engine] of [
      ['typescript', new TypeScriptEngine()],
      ['onnxruntime', ort],
      ['auto', auto],
    ] as const) {
      it(`streaming over any split = one-shot to 1e-12 (d=${d}, ${label}), C too`, async () => {
        const Xhat = samples(n, d, d);
        const X = samples(n, d, d + 1000);
        const oneShot = (await accumulate(engine, Xhat, X, n, d, [])).result();
        expect(relErr(oneShot.H, reference(Xhat, Xhat, n, d))).toBeLessThan(1e-13);
        expect(relErr(oneShot.C!, reference(X, Xhat, n, d))).toBeLessThan(1e-13);
        for (const splits of [[1], [1, 2, 3, 50], [48], [0, 96], Array.from({ length: 96 }, (_, i) => i + 1)]) {
          const r = (await accumulate(engine, Xhat, X, n, d, splits)).result();
          expect(r.samples).toBe(n);
          expect(relErr(r.H, oneShot.H)).toBeLessThan(1e-12);
          expect(relErr(r.C!, oneShot.C!)).toBeLessThan(1e-12);
        }
      });
    }
  }

  it('H is symmetric; columnNorms = sqrt(Σ x²)', async () => {
    const d = 33;
    const Xhat = samples(20, d, 4);
    const acc = await accumulate(ort, Xhat, undefined, 20, d, [7]);
    const { H } = acc.result();
    for (let i = 0; i < d; i++) for (let j = 0; j < i; j++) expect(H[i * d + j]).toBe(H[j * d + i]);
    const norms = acc.columnNorms();
    for (let j = 0; j < d; j++) {
      let s = 0;
      for (let r = 0; r < 20; r++) s += Xhat[r * d + j]! ** 2;
      expect(Math.abs(norms[j]! - Math.sqrt(s)) / Math.sqrt(s)).toBeLessThan(1e-14);
    }
  });

  it('cross term by default whenever X is given; batches without X count as X = X̂', async () => {
    const d = 4;
    const Xhat = samples(6, d, 1);
    const X = samples(6, d, 2);
    const Xh2 = samples(3, d, 3);
    for (const order of ['with-first', 'without-first'] as const) {
      const acc = new HessianAccumulator(d, { engine: new TypeScriptEngine() });
      if (order === 'with-first') {
        await acc.addBatch(Xhat, 6, X);
        await acc.addBatch(Xh2, 3);
      } else {
        await acc.addBatch(Xh2, 3);
        await acc.addBatch(Xhat, 6, X);
      }
      const expected = naiveGemm(X, Xhat, d, 6, d, true, false);
      const g2 = naiveGemm(Xh2, Xh2, d, 3, d, true, false);
      for (let t = 0; t < expected.length; t++) expected[t] = (expected[t]! + g2[t]!) / 9;
      expect(relErr(acc.result().C!, expected)).toBeLessThan(1e-14);
    }
    const none = new HessianAccumulator(d, { engine: new TypeScriptEngine() });
    await none.addBatch(Xhat, 6);
    expect(none.result().C).toBeUndefined();
    const always = new HessianAccumulator(d, { engine: new TypeScriptEngine(), cross: true });
    await always.addBatch(Xhat, 6);
    expect(always.result().C).toEqual(always.result().H);
    const never = new HessianAccumulator(d, { engine: new TypeScriptEngine(), cross: false });
    await never.addBatch(Xhat, 6, X);
    expect(never.result().C).toBeUndefined();
  });

  it('wide inputs (the engine\'s running Gram sum): H, C from X = X̂ batches then X batches, result() twice, columnNorms', async () => {
    const d = 560;
    const n = 30;
    const Xhat = samples(n, d, 21);
    const X = samples(n, d, 22);
    for (const [engine, tol] of [[ort, 1e-12], [ort32, 1e-5]] as const) {
      const acc = new HessianAccumulator(d, { engine });
      // 10 rows with X = X̂ (running sum only), then 20 with X: C starts from the sum so far.
      await acc.addBatch(Xhat.subarray(0, 10 * d), 10);
      const early = acc.result();
      expect(relErr(early.H, reference(Xhat, Xhat, 10, d))).toBeLessThan(tol);
      await acc.addBatch(Xhat.subarray(10 * d), 20, X.subarray(10 * d));
      const expectedC = reference(X, Xhat, n, d);
      const head = reference(Xhat.subarray(0, 10 * d), Xhat.subarray(0, 10 * d), 10, d);
      const tail = reference(X.subarray(10 * d), Xhat.subarray(10 * d), 20, d);
      for (let t = 0; t < expectedC.length; t++) expectedC[t] = (10 * head[t]! + 20 * tail[t]!) / n;
      const r = acc.result();
      expect(relErr(r.H, reference(Xhat, Xhat, n, d))).toBeLessThan(tol);
      expect(relErr(r.C!, expectedC)).toBeLessThan(tol);
      expect(acc.columnNorms()[5]).toBeCloseTo(Math.sqrt(n * r.H[5 * d + 5]!), 10);
      expect(Array.from(acc.take().H)).toEqual(Array.from(r.H));
    }
  });

  it('unawaited concurrent batches are serialized', async () => {
    const d = 40;
    const Xhat = samples(60, d, 9);
    const acc = new HessianAccumulator(d, { engine: ort });
    await Promise.all([0, 1, 2].map((b) => acc.addBatch(Xhat.subarray(b * 20 * d, (b + 1) * 20 * d), 20)));
    expect(relErr(acc.result().H, reference(Xhat, Xhat, 60, d))).toBeLessThan(1e-13);
  });

  it('fp32 engine: ~1e-6 relative', async () => {
    const d = 50;
    const Xhat = samples(300, d, 12);
    const acc = await accumulate(ort32, Xhat, undefined, 300, d, [100]);
    expect(relErr(acc.result().H, reference(Xhat, Xhat, 300, d))).toBeLessThan(1e-5);
  });

  it('input errors', async () => {
    const acc = new HessianAccumulator(3, { engine: new TypeScriptEngine(), cross: true });
    expect(() => acc.result()).toThrow(SurgeonInputError);
    await expect(acc.addBatch(new Float32Array(5), 2, new Float32Array(6))).rejects.toBeInstanceOf(SurgeonInputError);
    await acc.addBatch(new Float32Array(6).fill(1), 2, new Float32Array(6).fill(1));
    expect(acc.samples).toBe(2);
    acc.free();
    expect(() => acc.result()).toThrow(/free/);
    expect(() => new HessianAccumulator(0, { engine: new TypeScriptEngine() })).toThrow(RangeError);
  });
});

describe('HessianAccumulator merging small batches (mergeRows)', () => {
  it('gives the unmerged statistics for any batch split, with and without X, empty batches, large batches', async () => {
    const n = 300;
    const d = 7;
    const Xhat = samples(n, d, 41);
    const X = samples(n, d, 42);
    // batches: some with X, some without (X = X̂), an empty one with X, one larger than mergeRows
    const plan: Array<[number, boolean]> = [[5, false], [0, true], [17, true], [64, true], [3, false], [120, true], [91, false]];
    const run = async (mergeRows: number) => {
      const acc = new HessianAccumulator(d, { engine: ort, mergeRows });
      let r0 = 0;
      for (const [count, withX] of plan) {
        const r1 = r0 + count;
        await acc.addBatch(Xhat.subarray(r0 * d, r1 * d), count, withX ? X.subarray(r0 * d, r1 * d) : undefined);
        r0 = r1;
      }
      expect(r0).toBe(n);
      expect(acc.samples).toBe(n);
      await acc.flush();
      return { ...acc.result(), norms: acc.columnNorms() };
    };
    const plain = await run(0);
    for (const mergeRows of [1, 16, 50, 100, 1000]) {
      const merged = await run(mergeRows);
      expect(relErr(merged.H, plain.H)).toBeLessThan(1e-13);
      expect(relErr(merged.C!, plain.C!)).toBeLessThan(1e-13);
      expect(relErr(merged.norms, plain.norms)).toBeLessThan(1e-13);
    }
  });

  it('refuses to report before staged rows are multiplied', async () => {
    const acc = new HessianAccumulator(3, { engine: ort, mergeRows: 100 });
    await acc.addBatch(samples(4, 3, 1), 4);
    expect(() => acc.result()).toThrow(/await flush\(\)/);
    await acc.flush();
    expect(acc.result().samples).toBe(4);
  });
});
