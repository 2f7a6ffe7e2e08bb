/**
 * The same 16-12-4 MLP as a TF.js layers model and as an ONNX model: identical layers, identical
 * sample rows for the same feeds, identical SparseGPT weights through the shared pipeline.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tf } from '../../src/tfjs/backend.js';
import { saveNewModel } from '../../src/tfjs/model.js';
import { buildMlpModel } from '../../src/io/onnx/build.js';
import type { ClassificationDataset } from '../../src/io/dataset.js';
import { openNetwork } from '../../src/network/open.js';
import type { Feeds, Network } from '../../src/network/types.js';
import { pruneModel } from '../../src/prune/model.js';
import { tempDir, TEST_BACKEND, useTestBackend } from '../tfjs/helpers.js';

beforeAll(useTestBackend);

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0), s / 4294967296 - 0.5);
}

const SIZES = [16, 12, 4];
const r = lcg(17);
/** W [out, in] row-major (PyTorch's layout) and biases, layer by layer. */
const dense = SIZES.slice(1).map((out, i) => {
  const inp = SIZES[i]!;
  return { W: new Float32Array(out * inp).map(() => r()), b: new Float32Array(out).map(() => 0.1 * r()), in: inp, out };
});

/** The transposed kernel [in, out] of a W [out, in]. */
function kernelOf(W: Float32Array, out: number, inp: number): Float32Array {
  const K = new Float32Array(W.length);
  for (let o = 0; o < out; o++) for (let i = 0; i < inp; i++) K[i * out + o] = W[o * inp + i]!;
  return K;
}

const dirs: string[] = [];
let tfjsNet: Network;
let onnxNet: Network;

beforeAll(async () => {
  const dir = tempDir('surgeon-cross-');
  dirs.push(dir);
  const x = tf.input({ shape: [16], name: 'input' });
  const h = tf.layers.dense({ units: 12, activation: 'relu', name: 'fc1' }).apply(x) as tf.SymbolicTensor;
  const y = tf.layers.dense({ units: 4, name: 'fc2' }).apply(h) as tf.SymbolicTensor;
  const model = tf.model({ inputs: x, outputs: y });
  dense.forEach((l, i) => model.getLayer(`fc${i + 1}`).setWeights([tf.tensor(kernelOf(l.W, l.out, l.in), [l.in, l.out]), tf.tensor(l.b)]));
  await saveNewModel(model, join(dir, 'tfjs'));
  model.dispose();
  writeFileSync(join(dir, 'mlp.onnx'), buildMlpModel(dense, { inputShape: [16] }));
  tfjsNet = await openNetwork(join(dir, 'tfjs'), { backend: TEST_BACKEND });
  onnxNet = await openNetwork(join(dir, 'mlp.onnx'));
});

afterAll(() => {
  tfjsNet?.dispose();
  onnxNet?.dispose();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function expectClose(a: ArrayLike<number>, b: ArrayLike<number>, tol: number): void {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  expect(worst).toBeLessThanOrEqual(tol);
}

function data(n: number, seed: number): ClassificationDataset {
  const g = lcg(seed);
  return { kind: 'classification', inputName: 'input', x: new Float32Array(n * 16).map(() => g()), sampleShape: [16], count: n };
}

describe('the same MLP as TF.js layers and ONNX', () => {
  it('has the same inputs and the same layers (rows, cols, weights)', () => {
    expect(tfjsNet.format).toBe('tfjs-layers');
    expect(onnxNet.format).toBe('onnx');
    expect(tfjsNet.inputs.map((i) => [i.name, i.dims.length, i.dims[1]])).toEqual(onnxNet.inputs.map((i) => [i.name, i.dims.length, i.dims[1]]));
    const a = tfjsNet.layers();
    const b = onnxNet.layers();
    expect(a.map((l) => [l.rows, l.cols])).toEqual([[12, 16], [4, 12]]);
    expect(b.map((l) => [l.rows, l.cols])).toEqual([[12, 16], [4, 12]]);
    a.forEach((l, i) => expectClose(l.read(), b[i]!.read(), 1e-6));
    expect(tfjsNet.stages(a).map((s) => s.length)).toEqual(onnxNet.stages(b).map((s) => s.length));
  });

  it('gives the same sample rows for the same feeds', async () => {
    const d = data(5, 3);
    const feeds: Feeds = { input: { data: d.x, dims: [5, 16] } };
    const a = tfjsNet.layers();
    const b = onnxNet.layers();
    const ra = await tfjsNet.runner(a.map((l) => l.uses[0]!.input));
    const rb = await onnxNet.runner(b.map((l) => l.uses[0]!.input));
    const ta = await ra.run(feeds);
    const tb = await rb.run(feeds);
    for (let i = 0; i < a.length; i++) {
      const sa = a[i]!.uses[0]!.samples(ta[a[i]!.uses[0]!.input]!);
      const sb = b[i]!.uses[0]!.samples(tb[b[i]!.uses[0]!.input]!);
      expect(sa.n).toBe(sb.n);
      expectClose(sa.X, sb.X, 1e-6);
    }
    await ra.release();
    await rb.release();
  });

  it('gives the same SparseGPT weights (50 %) through the shared pipeline', async () => {
    const calib = data(64, 5);
    const options = { method: 'sparsegpt', sparsity: 0.5, calibSamples: 48, heldOutSamples: 16, batchSize: 16 };
    const pa = await pruneModel(tfjsNet, calib, options);
    const pb = await pruneModel(onnxNet, calib, options);
    const la = pa.model.layers();
    const lb = pb.model.layers();
    la.forEach((l, i) => {
      const wa = l.read();
      const wb = lb[i]!.read();
      expect(wa.filter((v) => v === 0).length).toBe(wa.length / 2);
      expectClose(wa, wb, 1e-5);
      // the same mask
      for (let j = 0; j < wa.length; j++) expect(wa[j] === 0).toBe(wb[j] === 0);
    });
    expect(pa.report.layers.map((l) => l.sparsity)).toEqual(pb.report.layers.map((l) => l.sparsity));
    // the input networks are untouched
    tfjsNet.layers().forEach((l, i) => expectClose(l.read(), onnxNet.layers()[i]!.read(), 1e-6));
    expect(tfjsNet.layers()[0]!.read().some((v) => v === 0)).toBe(false);
    pa.model.dispose();
    pb.model.dispose();
  });
});
