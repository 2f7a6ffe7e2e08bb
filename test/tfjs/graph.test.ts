import { describe, expect, it, beforeAll } from 'vitest';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tf } from '../../src/tfjs/backend.js';
import type { TfjsData } from '../../src/tfjs/data.js';
import { im2colNhwc, loadTfjsGraphModel, type GraphConv } from '../../src/tfjs/graph.js';
import { tfjsGraphNetwork, type TfjsGraphNetwork } from '../../src/network/tfjs-graph.js';
import { pruneModel } from '../../src/prune/model.js';
import { datasetOfTfjsData } from '../../src/tfjs/collapse.js';
import { kernelToView } from '../../src/tfjs/model.js';
import { writeNpy } from '../../src/io/npy.js';
import { expectBadInput, surgeon } from '../cli/helpers.js';
import { tempDir, useTestBackend, TEST_BACKEND } from './helpers.js';

beforeAll(useTestBackend);

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0), s / 4294967296 - 0.5);
}

const f32 = { type: 'DT_FLOAT' };
const dim = (...sizes: number[]) => ({ dim: sizes.map((s) => ({ size: String(s) })) });
const constNode = (name: string, ...shape: number[]) => ({ name, op: 'Const', attr: { dtype: f32, value: { tensor: { dtype: 'DT_FLOAT', tensorShape: dim(...shape) } } } });
const nhwc = Buffer.from('NHWC').toString('base64');

/** x [?, 6] → MatMul(w1 6×8) → BiasAdd(b1) → Relu → MatMul(w2 8×3) → BiasAdd(b2) = out, as tfjs-converter writes it. */
function writeGraphModel(dir: string): Record<string, Float32Array> {
  const r = lcg(5);
  const weights: Record<string, Float32Array> = {
    w1: new Float32Array(48).map(() => r()),
    b1: new Float32Array(8).map(() => 0.1 * r()),
    w2: new Float32Array(24).map(() => r()),
    b2: new Float32Array(3).map(() => 0.1 * r()),
  };
  const shapes: Record<string, number[]> = { w1: [6, 8], b1: [8], w2: [8, 3], b2: [3] };
  const node = [
    { name: 'x', op: 'Placeholder', attr: { dtype: f32, shape: { shape: dim(-1, 6) } } },
    constNode('w1', 6, 8),
    constNode('b1', 8),
    constNode('w2', 8, 3),
    constNode('b2', 3),
    { name: 'dense/MatMul', op: 'MatMul', input: ['x', 'w1'], attr: { T: f32, transpose_a: { b: false }, transpose_b: { b: false } } },
    { name: 'dense/BiasAdd', op: 'BiasAdd', input: ['dense/MatMul', 'b1'], attr: { T: f32, data_format: { s: nhwc } } },
    { name: 'dense/Relu', op: 'Relu', input: ['dense/BiasAdd'], attr: { T: f32 } },
    { name: 'out/MatMul', op: 'MatMul', input: ['dense/Relu', 'w2'], attr: { T: f32, transpose_a: { b: false }, transpose_b: { b: false } } },
    { name: 'out', op: 'BiasAdd', input: ['out/MatMul', 'b2'], attr: { T: f32, data_format: { s: nhwc } } },
  ];
  const names = ['w1', 'b1', 'w2', 'b2'];
  const json = {
    format: 'graph-model',
    generatedBy: '2.15.0',
    convertedBy: 'surgeon test',
    modelTopology: { node, library: {}, versions: { producer: 1808 } },
    weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights: names.map((name) => ({ name, shape: shapes[name], dtype: 'float32' })) }],
  };
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'model.json'), JSON.stringify(json));
  const bytes = Buffer.concat(names.map((n) => Buffer.from(weights[n]!.buffer)));
  writeFileSync(join(dir, 'group1-shard1of1.bin'), bytes);
  return weights;
}

function data(n: number): TfjsData {
  const r = lcg(9);
  return { x: new Float32Array(n * 6).map(() => r()), labels: new Int32Array(n), sampleShape: [6], count: n, numClasses: 3 };
}

function run(model: tf.GraphModel, x: Float32Array, n: number): Float32Array {
  const t = tf.tensor2d(x.subarray(0, n * 6), [n, 6]);
  const y = model.execute(t) as tf.Tensor;
  const v = y.dataSync() as Float32Array;
  tf.dispose([t, y]);
  return Float32Array.from(v);
}

describe('tfjs graph models', () => {
  it('loads a hand-written frozen graph, prunes it one-shot with sparsegpt, saves only the weights', async () => {
    const dir = tempDir();
    const src = join(dir, 'graph');
    const weights = writeGraphModel(src);
    const loaded = await loadTfjsGraphModel(src);
    expect(loaded.layers.map((l) => [l.node, l.weight, l.activation, l.rows, l.cols])).toEqual([
      ['dense/MatMul', 'w1', 'x', 8, 6],
      ['out/MatMul', 'w2', 'dense/Relu', 3, 8],
    ]);
    const calib = data(64);
    // tfjs runs it: the output is relu(x·w1 + b1)·w2 + b2
    const before = run(loaded.model, calib.x, 4);
    for (let i = 0; i < 4; i++) {
      const h = Array.from({ length: 8 }, (_, o) => Math.max(0, weights.b1![o]! + [0, 1, 2, 3, 4, 5].reduce((s, c) => s + calib.x[i * 6 + c]! * weights.w1![c * 8 + o]!, 0)));
      for (let k = 0; k < 3; k++) expect(before[i * 3 + k]).toBeCloseTo(weights.b2![k]! + h.reduce((s, v, o) => s + v * weights.w2![o * 3 + k]!, 0), 4);
    }
    const network = tfjsGraphNetwork(loaded);
    const dataset = datasetOfTfjsData(calib, network.inputs[0]!.name);
    const { model: pruned, report } = await pruneModel(network, dataset, { method: 'sparsegpt', sparsity: 0.5, calibSamples: 48, heldOutSamples: 16, batchSize: 16 });
    expect(report.layers.map((l) => Math.round(l.sparsity * l.rows * l.cols))).toEqual([24, 12]);
    expect(report.totals.zeros).toBe(36);
    const after = run((pruned as TfjsGraphNetwork).model, calib.x, 4);
    expect(Array.from(after)).not.toEqual(Array.from(before));
    const out = join(dir, 'pruned');
    await pruned.save(out);
    expect(readFileSync(join(out, 'model.json'), 'utf8')).toBe(readFileSync(join(src, 'model.json'), 'utf8'));
    const again = await loadTfjsGraphModel(out);
    expect(Array.from(run(again.model, calib.x, 4))).toEqual(Array.from(after));
    const w1 = again.model.weights['w1']![0]!.dataSync();
    expect(w1.filter((v) => v === 0).length).toBe(24);
    // biases are byte-identical; kept weights of the magnitude method are unchanged
    expect(Array.from(again.model.weights['b1']![0]!.dataSync())).toEqual(Array.from(weights.b1!));
    const mag = await pruneModel(network, undefined, { method: 'magnitude', sparsity: 0.25 });
    const w2 = (mag.model as TfjsGraphNetwork).model.weights['w2']![0]!.dataSync();
    w2.forEach((v, i) => expect(v === 0 || v === weights.w2![i]).toBe(true));
    expect(w2.filter((v) => v === 0).length).toBe(6);
    await expect(pruneModel(network, undefined, { method: 'wanda', sparsity: 0.5 })).rejects.toThrow(/needs calibration data/);
    for (const n of [pruned, mag.model, network]) n.dispose();
    again.model.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('im2colNhwc rows times the HWIO view equal tf.conv2d / depthwiseConv2d', () => {
    const r = lcg(3);
    const dims = [2, 7, 6, 3];
    const x = new Float32Array(2 * 7 * 6 * 3).map(() => r());
    for (const [stride, pad] of [[1, 'same'], [2, 'same'], [2, 'valid']] as const) {
      const conv: GraphConv = { kernel: [3, 2], strides: [stride, stride], dilations: [1, 1], padding: pad === 'same' ? 'SAME' : 'VALID' };
      const f = new Float32Array(3 * 2 * 3 * 4).map(() => r());
      const y = tf.tidy(() => tf.conv2d(tf.tensor4d(x, dims as [number, number, number, number]), tf.tensor4d(f, [3, 2, 3, 4]), stride, pad).dataSync());
      const { X, n, d } = im2colNhwc(x, dims, conv);
      expect([n * 4, d]).toEqual([y.length, 18]);
      const W = kernelToView(f, 4, 18);
      for (let row = 0; row < n; row++) for (let o = 0; o < 4; o++) {
        let s = 0;
        for (let c = 0; c < d; c++) s += X[row * d + c]! * W[o * d + c]!;
        expect(s).toBeCloseTo(y[row * 4 + o]!, 4);
      }
      // depthwise, channel 1, multiplier 2: rows × the channel's (kh·kw) filter
      const fd = new Float32Array(3 * 2 * 3 * 2).map(() => r());
      const yd = tf.tidy(() => tf.depthwiseConv2d(tf.tensor4d(x, dims as [number, number, number, number]), tf.tensor4d(fd, [3, 2, 3, 2]), stride, pad).dataSync());
      const p = im2colNhwc(x, dims, conv, 1, 1);
      for (let row = 0; row < p.n; row++) for (let m = 0; m < 2; m++) {
        let s = 0;
        for (let q = 0; q < 6; q++) s += p.X[row * 6 + q]! * fd[(q * 3 + 1) * 2 + m]!;
        expect(s).toBeCloseTo(yd[row * 6 + 1 * 2 + m]!, 4);
      }
    }
  });

  it('surgeon prune on a graph model: JSON report, exact sparsity, bad method in one line', async () => {
    const dir = tempDir();
    const src = join(dir, 'graph');
    writeGraphModel(src);
    const calib = data(48);
    writeNpy(join(dir, 'x.npy'), { dtype: 'float32', shape: [48, 6], data: calib.x });
    const base = ['prune', join(src, 'model.json'), '--sparsity', '0.5', '--backend', TEST_BACKEND];
    const res = surgeon([...base, '--method', 'obc', '--inputs', join(dir, 'x.npy'), '--out', join(dir, 'p'), '--json']);
    expect(res.status, res.stderr).toBe(0);
    const r = JSON.parse(res.stdout) as { format: string; totals: { zeros: number; parameters: number }; calibSamples: number; layers: Array<{ name: string; sparsity: number }> };
    expect(r.format).toBe('tfjs-graph');
    expect([r.totals.zeros, r.totals.parameters, r.calibSamples]).toEqual([36, 72, 48]);
    expect(r.layers.map((l) => [l.name, l.sparsity])).toEqual([['w1', 0.5], ['w2', 0.5]]);
    const pruned = await loadTfjsGraphModel(join(dir, 'p'));
    expect(pruned.model.weights['w1']![0]!.dataSync().filter((v) => v === 0).length).toBe(24);
    pruned.model.dispose();
    expectBadInput(surgeon([...base, '--method', 'woodfisher', '--out', join(dir, 'q')]), /woodfisher needs per-sample gradients, which only TensorFlow.js layers models give/);
    expectBadInput(surgeon([...base, '--method', 'sparsegpt', '--out', join(dir, 'q')]), /needs calibration data/);
    rmSync(dir, { recursive: true, force: true });
  });
});
