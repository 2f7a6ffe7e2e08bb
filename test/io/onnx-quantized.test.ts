/**
 * Quantized ONNX outputs run in onnxruntime and compute what surgeon evaluated: MatMulNBits for
 * MatMul/Gemm weights, DequantizeLinear (uint8 codes below opset 21, uint4 from 21) elsewhere,
 * float32 with a reason where neither applies.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { SurgeonInputError } from '../../src/errors.js';
import { loadDataset } from '../../src/io/dataset.js';
import { OnnxGraphBuilder } from '../../src/io/onnx/graph-builder.js';
import { decodeModelProto, DataType } from '../../src/io/onnx/proto.js';
import { openNetwork } from '../../src/network/open.js';
import { pruneModel } from '../../src/prune/model.js';
import { dequantize } from '../../src/pruners/quantize.js';
import { tiny } from '../fixtures.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'surgeon-quant-'));

async function run(path: string, feeds: Record<string, ort.Tensor>): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(path);
  const out = await session.run(feeds);
  await session.release();
  return Object.values(out)[0]!.data as Float32Array;
}

function maxRelDiff(a: Float32Array, b: Float32Array): number {
  let scale = 0;
  let worst = 0;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]!));
  for (let i = 0; i < b.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst / scale;
}

const images = (n: number) => {
  const data = new Float32Array(n * 64);
  for (let i = 0; i < data.length; i++) data[i] = ((i * 2654435761) % 1000) / 1000;
  return new ort.Tensor('float32', data, [n, 1, 8, 8]);
};

describe('quantized ONNX outputs', () => {
  it('tiny MLP, SparseGPT 50 % + int4 in one sweep: MatMulNBits in the file, onnxruntime computes the dequantized model', async () => {
    const network = await openNetwork(tiny('tiny-mlp.onnx'));
    const calib = loadDataset({ inputs: tiny('tiny-train-images.npy'), scale: 1 / 255 }, { inputs: network.inputs });
    const { model, report, quantized } = await pruneModel(network, calib, { method: 'sparsegpt', sparsity: 0.5, calibSamples: 128, quantize: { bits: 4, groupSize: 16 } });
    expect(report.quantize).toEqual({ bits: 4, groupSize: 16, method: 'gptq' });
    expect([...quantized!.keys()]).toEqual(model.layers().map((l) => l.name));
    for (const layer of model.layers()) {
      const W = layer.read();
      expect(Array.from(dequantize(quantized!.get(layer.name)!))).toEqual(Array.from(W));
      expect(W.filter((v) => v === 0).length / W.length).toBeGreaterThanOrEqual(0.5);
    }
    const dir = tmp();
    const dense = await model.save(join(dir, 'dequantized.onnx'));
    const q = await model.save(join(dir, 'q.onnx'), { quantized: quantized! });
    expect(q.quantized!.map((t) => t.encoding)).toEqual(['MatMulNBits', 'MatMulNBits', 'MatMulNBits']);
    expect(q.bytes).toBeLessThan(0.35 * dense.bytes);
    const proto = decodeModelProto(readFileSync(q.path));
    expect(proto.graph!.node.filter((n) => n.opType === 'MatMulNBits' && n.domain === 'com.microsoft')).toHaveLength(3);
    expect(proto.opsetImport.some((o) => o.domain === 'com.microsoft')).toBe(true);
    const x = images(16);
    expect(maxRelDiff(await run(q.path, { input: x }), await run(dense.path, { input: x }))).toBeLessThan(1e-5);
    // surgeon opens what it wrote: the quantized operators are listed, never pruned
    const back = await openNetwork(q.path);
    expect(back.layers()).toHaveLength(0);
    expect(back.skipped().map((s) => s.op)).toEqual(['MatMulNBits', 'MatMulNBits', 'MatMulNBits']);
    for (const n of [network, model, back]) n.dispose();
  });

  it('tiny CNN, int8 round-to-nearest: Conv by DequantizeLinear (uint8 codes, opset 17), Gemm by MatMulNBits, the grouped conv stays float32 with its reason', async () => {
    const network = await openNetwork(tiny('tiny-cnn.onnx'));
    const { model, quantized } = await pruneModel(network, undefined, { method: 'magnitude', sparsity: 0, quantize: { bits: 8, groupSize: 16, method: 'rtn' } });
    const dir = tmp();
    const dense = await model.save(join(dir, 'dequantized.onnx'));
    const q = await model.save(join(dir, 'q.onnx'), { quantized: quantized! });
    const encodings = Object.fromEntries(q.quantized!.map((t) => [t.layer, t.encoding]));
    expect(Object.values(encodings).sort()).toEqual(['DequantizeLinear', 'MatMulNBits', 'MatMulNBits', 'float32', 'float32']);
    expect(q.quantized!.filter((t) => t.encoding === 'float32').every((t) => /grouped convolution/.test(t.reason!))).toBe(true);
    const proto = decodeModelProto(readFileSync(q.path));
    const codes = proto.graph!.initializer.find((t) => t.name?.endsWith('::q.codes'))!;
    expect(codes.dataType).toBe(DataType.UINT8);
    const x = images(8);
    expect(maxRelDiff(await run(q.path, { input: x }), await run(dense.path, { input: x }))).toBeLessThan(1e-5);
    network.dispose();
    model.dispose();
  });

  it('Gemm attributes MatMulNBits cannot express (alpha, beta ≠ 1) keep the Gemm, its weight under DequantizeLinear; plain ones become MatMulNBits', async () => {
    const g = new OnnxGraphBuilder();
    const x = g.input('x', 'float32', ['batch', 16]);
    const W = (name: string, seed: number) => g.initializer(name, [16, 16], Float32Array.from({ length: 256 }, (_, i) => Math.sin(seed * 31 + i * 0.37)));
    const b = g.initializer('b', [16], Float32Array.from({ length: 16 }, (_, i) => 0.1 * i));
    const [h0] = g.node('Gemm', [x, W('plain', 1), b], { transB: { int: 1 } }, { outputs: ['h0'] });
    const [h1] = g.node('Gemm', [h0!, W('scaled', 2), b], { transB: { int: 1 }, alpha: { float: 0.5 } }, { outputs: ['h1'] });
    g.node('Gemm', [h1!, W('shifted', 3), b], { transB: { int: 1 }, beta: { float: 2 } }, { outputs: ['y'] });
    g.output('y', 'float32', ['batch', 16]);
    const dir = tmp();
    const path = join(dir, 'gemms.onnx');
    writeFileSync(path, g.toBytes());
    const network = await openNetwork(path);
    const { model, quantized } = await pruneModel(network, undefined, { method: 'magnitude', sparsity: 0, quantize: { bits: 8, groupSize: 16, method: 'rtn' } });
    const dense = await model.save(join(dir, 'dequantized.onnx'));
    const q = await model.save(join(dir, 'q.onnx'), { quantized: quantized! });
    expect(Object.fromEntries(q.quantized!.map((t) => [t.layer, t.encoding]))).toEqual({ plain: 'MatMulNBits', scaled: 'DequantizeLinear', shifted: 'DequantizeLinear' });
    const input = new ort.Tensor('float32', Float32Array.from({ length: 48 }, (_, i) => Math.cos(i)), [3, 16]);
    expect(maxRelDiff(await run(q.path, { x: input }), await run(dense.path, { x: input }))).toBeLessThan(1e-5);
    network.dispose();
    model.dispose();
  });

  it('opset 21: a left MatMul operand is stored as uint4 codes under DequantizeLinear, transposed back into place', async () => {
    const g = new OnnxGraphBuilder({ opset: 21, irVersion: 10 });
    g.input('x', 'float32', [40, 'n']);
    g.initializer('w', [24, 40], Float32Array.from({ length: 960 }, (_, i) => Math.sin(i * 0.37)));
    const [y] = g.node('MatMul', ['w', 'x']);
    g.output(y!, 'float32', [24, 'n']);
    const dir = tmp();
    const path = join(dir, 'in.onnx');
    (await import('node:fs')).writeFileSync(path, g.toBytes());
    const network = await openNetwork(path);
    const { model, quantized } = await pruneModel(network, undefined, { method: 'magnitude', sparsity: 0.5, quantize: { bits: 4, groupSize: 16, method: 'rtn' } });
    const dense = await model.save(join(dir, 'dequantized.onnx'));
    const q = await model.save(join(dir, 'q.onnx'), { quantized: quantized!, storage: 'sparse' });
    expect(q.quantized!.map((t) => t.encoding)).toEqual(['DequantizeLinear']);
    const proto = decodeModelProto(readFileSync(q.path));
    expect(proto.graph!.initializer.find((t) => t.name === 'w::q.codes')!.dataType).toBe(DataType.UINT4);
    const x = new ort.Tensor('float32', Float32Array.from({ length: 40 * 3 }, (_, i) => Math.cos(i)), [40, 3]);
    expect(maxRelDiff(await run(q.path, { x }), await run(dense.path, { x }))).toBeLessThan(1e-6);
    network.dispose();
    model.dispose();
  });

  it('refuses a group size MatMulNBits cannot take, in one line', async () => {
    const network = await openNetwork(tiny('tiny-mlp.onnx'));
    await expect(pruneModel(network, undefined, { method: 'magnitude', sparsity: 0, quantize: { bits: 4, groupSize: 24, method: 'rtn' } })).rejects.toThrow(SurgeonInputError);
    await expect(pruneModel(network, undefined, { method: 'magnitude', sparsity: 0, quantize: { bits: 4, groupSize: 32 } })).rejects.toThrow(/needs calibration data/);
    network.dispose();
  });
});
