import { describe, expect, it, beforeAll } from 'vitest';
import { tf } from '../../src/tfjs/backend.js';
import { agopCorrelations, computeAgop, layerChain, pearson, sqrtPsd } from '../../src/tfjs/agop.js';
import { measureTfjsCollapse } from '../../src/tfjs/collapse.js';
import type { TfjsData } from '../../src/tfjs/data.js';
import { tinyCnn, tinyData, useTestBackend } from './helpers.js';

beforeAll(useTestBackend);

function randomData(n: number, d: number, K: number, seed = 3): TfjsData {
  let s = seed >>> 0;
  const r = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0), s / 4294967296 - 0.5);
  const x = new Float32Array(n * d).map(() => r());
  const labels = new Int32Array(n).map((_, i) => i % K);
  return { x, labels, sampleShape: [d], count: n, numClasses: K };
}

/** Dense weights as out × in (Float64), from the kernel [in, out]. */
function weightsOf(model: tf.LayersModel, name: string): { W: Float64Array; rows: number; cols: number } {
  const k = model.getLayer(name).getWeights()[0]!;
  const [cols, rows] = k.shape as [number, number];
  const kv = k.dataSync();
  const W = new Float64Array(rows * cols);
  for (let i = 0; i < cols; i++) for (let o = 0; o < rows; o++) W[o * cols + i] = kv[i * rows + o]!;
  return { W, rows, cols };
}

/** AᵀB for A (m × p), B (m × q) row-major. */
function tmul(A: Float64Array, B: Float64Array, m: number, p: number, q: number): Float64Array {
  const out = new Float64Array(p * q);
  for (let i = 0; i < p; i++) for (let j = 0; j < q; j++) {
    let s = 0;
    for (let r = 0; r < m; r++) s += A[r * p + i]! * B[r * q + j]!;
    out[i * q + j] = s;
  }
  return out;
}

function mul(A: Float64Array, B: Float64Array, m: number, p: number, q: number): Float64Array {
  const out = new Float64Array(m * q);
  for (let i = 0; i < m; i++) for (let j = 0; j < q; j++) {
    let s = 0;
    for (let r = 0; r < p; r++) s += A[i * p + r]! * B[r * q + j]!;
    out[i * q + j] = s;
  }
  return out;
}

function expectClose(a: ArrayLike<number>, b: ArrayLike<number>, rtol: number): void {
  expect(a.length).toBe(b.length);
  let scale = 0;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]!));
  for (let i = 0; i < b.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThanOrEqual(rtol * scale);
}

describe('AGOP view', () => {
  it('a 2-layer linear network: AGOP_2 = W2ᵀW2, AGOP_1 = (W2W1)ᵀ(W2W1), corr(W2ᵀW2, AGOP_2) = 1', async () => {
    const init = (s: number) => tf.initializers.glorotNormal({ seed: s });
    const model = tf.sequential({
      layers: [
        tf.layers.dense({ inputShape: [4], units: 5, name: 'l1', kernelInitializer: init(1), biasInitializer: 'ones' }),
        tf.layers.dense({ units: 3, name: 'l2', kernelInitializer: init(2), biasInitializer: 'ones' }),
      ],
    });
    const data = randomData(20, 4, 3);
    const m = await computeAgop(model, data, { batchSize: 7 });
    expect(m.samples).toBe(20);
    expect(m.layers.map((l) => [l.layer, l.d])).toEqual([['l1', 4], ['l2', 5]]);
    const w1 = weightsOf(model, 'l1');
    const w2 = weightsOf(model, 'l2');
    const agop2 = tmul(w2.W, w2.W, 3, 5, 5);
    const J1 = mul(w2.W, w1.W, 3, 5, 4);
    const agop1 = tmul(J1, J1, 3, 4, 4);
    expectClose(m.layers[1]!.agop, agop2, 1e-5);
    expectClose(m.layers[0]!.agop, agop1, 1e-5);
    expectClose(m.layers[0]!.gram, tmul(w1.W, w1.W, 5, 4, 4), 1e-12);
    const r = await agopCorrelations(model, data, { batchSize: 7 });
    expect(r.layers[1]!.corrAgop).toBeCloseTo(1, 6);
    expect(r.layers[0]!.corrAgop).toBeCloseTo(pearson(tmul(w1.W, w1.W, 5, 4, 4), agop1), 6);
    const root = sqrtPsd(agop2, 5);
    expectClose(mul(root, root, 5, 5, 5), agop2, 1e-10);
    expect(r.layers[1]!.corrSqrtAgop).toBeCloseTo(pearson(agop2, root), 6);
    for (const l of r.layers) for (const c of [l.corrAgop, l.corrSqrtAgop]) expect(Math.abs(c)).toBeLessThanOrEqual(1);
    model.dispose();
  });

  it('batched Jacobians equal per-sample ones through a ReLU network', async () => {
    const model = tf.sequential({
      layers: [
        tf.layers.dense({ inputShape: [6], units: 8, activation: 'relu', name: 'a', kernelInitializer: tf.initializers.glorotNormal({ seed: 4 }) }),
        tf.layers.dense({ units: 4, activation: 'tanh', name: 'b', kernelInitializer: tf.initializers.glorotNormal({ seed: 5 }) }),
        tf.layers.dense({ units: 3, name: 'c', kernelInitializer: tf.initializers.glorotNormal({ seed: 6 }) }),
      ],
    });
    const data = randomData(9, 6, 3, 11);
    const batched = await computeAgop(model, data, { batchSize: 9 });
    // per sample: h = a(x_i), J = ∂c(b(h))/∂h one class at a time
    const expected = new Float64Array(64);
    for (let i = 0; i < 9; i++) {
      for (let k = 0; k < 3; k++) {
        const g = tf.tidy(() => {
          const h = model.getLayer('a').apply(tf.tensor2d(data.x.subarray(i * 6, i * 6 + 6), [1, 6])) as tf.Tensor;
          return tf.grad((hh: tf.Tensor) => tf.sum(tf.slice((model.getLayer('c').apply(model.getLayer('b').apply(hh)) as tf.Tensor2D), [0, k], [1, 1])))(h);
        });
        const v = g.dataSync();
        g.dispose();
        for (let p = 0; p < 8; p++) for (let q = 0; q < 8; q++) expected[p * 8 + q] += (v[p]! * v[q]!) / 9;
      }
    }
    expectClose(batched.layers[1]!.agop, expected, 1e-5);
    const r = await agopCorrelations(model, data, { maxDim: 8 });
    expect(r.layers.map((l) => l.layer)).toEqual(['a', 'b', 'c']);
    expect(r.skipped).toEqual([]);
    const small = await agopCorrelations(model, data, { maxDim: 5 });
    expect(small.skipped.map((s) => [s.layer, s.d])).toEqual([['a', 6], ['b', 8]]);
    expect(small.skipped[0]!.reason).toMatch(/--agop-max-dim/);
    for (const l of r.layers) {
      for (const c of [l.corrAgop, l.corrSqrtAgop]) {
        expect(c).toBeGreaterThanOrEqual(-1);
        expect(c).toBeLessThanOrEqual(1);
      }
    }
    model.dispose();
  });

  it('in the collapse result; non-chain models are skipped with a reason', async () => {
    const cnn = tinyCnn();
    const r = await measureTfjsCollapse(cnn, tinyData(30), { agop: true, batchSize: 16 });
    expect(r.agop!.map((a) => [a.layer, a.d])).toEqual([['fc1', 27], ['fc2', 8]]);
    for (const a of r.agop!) expect(Math.abs(a.corrAgop)).toBeLessThanOrEqual(1);
    cnn.dispose();
    const input = tf.input({ shape: [4] });
    const a = tf.layers.dense({ units: 3, name: 'a' }).apply(input) as tf.SymbolicTensor;
    const b = tf.layers.dense({ units: 3, name: 'b' }).apply(input) as tf.SymbolicTensor;
    const sum = tf.layers.add().apply([a, b]) as tf.SymbolicTensor;
    const out = tf.layers.dense({ units: 2, name: 'out' }).apply(sum) as tf.SymbolicTensor;
    const branchy = tf.model({ inputs: input, outputs: out });
    expect(layerChain(branchy)).toMatch(/not fed by the previous layer alone/);
    const m = await computeAgop(branchy, randomData(6, 4, 2));
    expect(m.layers).toEqual([]);
    expect(m.skipped.map((s) => s.layer)).toEqual(['a', 'b', 'out']);
    branchy.dispose();
  });
});
