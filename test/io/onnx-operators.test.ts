import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { OnnxModel, readOnnxModel } from '../../src/io/onnx/model.js';
import { findPrunableLayers, scanLayers } from '../../src/io/onnx/operators.js';
import { createMessage, decodeModelProto, type ModelProto, type NodeProto, type TensorProto, type ValueInfoProto } from '../../src/io/onnx/proto.js';
import { demoData, describeShared, FIXTURE_NAMES, fixture, tiny, TINY_NAMES } from '../fixtures.js';

const OPTS: ort.InferenceSession.SessionOptions = { intraOpNumThreads: 1, interOpNumThreads: 1, logSeverityLevel: 3 };

const float = (name: string, dims: number[], seed: number): TensorProto => {
  const n = dims.reduce((a, b) => a * b, 1);
  const data = Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 100 + i * 1.7));
  return createMessage<TensorProto>('TensorProto', { name, dims, dataType: 1, rawData: new Uint8Array(data.buffer) });
};
const vi = (name: string, dims: number[]): ValueInfoProto =>
  createMessage<ValueInfoProto>('ValueInfoProto', {
    name,
    type: { tensorType: { elemType: 1, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } as never,
  });
const node = (opType: string, input: string[], output: string[], attribute: Record<string, number | number[]> = {}): NodeProto =>
  createMessage<NodeProto>('NodeProto', {
    opType,
    name: `${opType}_${output[0]}`,
    input,
    output,
    attribute: Object.entries(attribute).map(([name, v]) =>
      Array.isArray(v) ? { name, type: 7, ints: v } : { name, type: 2, i: v },
    ) as never,
  });

/** x[1,4,5,5] → Conv(group 2, W[6,2,3,3]) → Flatten → Gemm(B[54,7], transB=0) → Gemm(B'[3,7], transB=1) → MatMul(W[5,3] @ ...) */
function tinyModel(): OnnxModel {
  const proto = createMessage<ModelProto>('ModelProto', {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }] as never,
    graph: {
      name: 'tiny',
      node: [
        node('Conv', ['x', 'cw', 'cb'], ['c'], { group: 2, kernel_shape: [3, 3] }),
        node('Flatten', ['c'], ['f']),
        node('Gemm', ['f', 'g1', 'g1b'], ['h1']),
        node('Gemm', ['h1', 'g2'], ['h2'], { transB: 1 }),
        node('Transpose', ['h2'], ['h2t']),
        node('MatMul', ['mw', 'h2t'], ['y']),
      ],
      initializer: [float('cw', [6, 2, 3, 3], 1), float('cb', [6], 2), float('g1', [54, 7], 3), float('g1b', [7], 4), float('g2', [3, 7], 5), float('mw', [5, 3], 6)],
      input: [vi('x', [1, 4, 5, 5])],
      output: [vi('y', [5, 1])],
    } as never,
  });
  return new OnnxModel(decodeModelProto(createMessageBytes(proto)));
}
function createMessageBytes(p: ModelProto): Uint8Array {
  return new OnnxModel(p).toBytes();
}

/** read() then write() of every view leaves the file's bytes identical. */
function checkViewRoundTrip(path: string): void {
  const model = readOnnxModel(path);
  const views = findPrunableLayers(model);
  expect(views.length).toBeGreaterThan(0);
  for (const v of views) v.write(v.read());
  expect(Buffer.compare(Buffer.from(model.toBytes()), readFileSync(path))).toBe(0);
}

describeShared('operator table on the PyTorch fixtures', () => {
  it('fmnist-mlp: exactly its 3 Gemm weights', () => {
    const views = findPrunableLayers(readOnnxModel(fixture('fmnist-mlp.onnx')));
    expect(views.map((v) => [v.name, v.op, v.rows, v.cols, v.transposeWeight])).toEqual([
      ['net.1.weight', 'Gemm', 256, 784, false],
      ['net.3.weight', 'Gemm', 128, 256, false],
      ['net.5.weight', 'Gemm', 10, 128, false],
    ]);
    expect(views[1]!.inputName).toBe('/net/net.2/Relu_output_0');
  });

  it('fmnist-cnn: 2 Conv + 2 Gemm', () => {
    const views = findPrunableLayers(readOnnxModel(fixture('fmnist-cnn.onnx')));
    expect(views.map((v) => v.op)).toEqual(['Conv', 'Conv', 'Gemm', 'Gemm']);
    const c = views[0]!;
    expect(c.conv!.inChannelsPerGroup * c.conv!.kernelShape[0]! * c.conv!.kernelShape[1]!).toBe(c.cols);
    expect(c.rows).toBe(c.conv!.outChannels);
  });

  it('fmnist-vit and lic-gpt: their constant MatMul/Gemm weights, not the attention products', () => {
    const vit = scanLayers(readOnnxModel(fixture('fmnist-vit.onnx')));
    expect(vit.views.length).toBe(1 + 4 * 4 + 1);
    expect(vit.views.every((v) => v.op !== 'MatMul' || v.transposeWeight)).toBe(true);
    expect(vit.views.at(-1)!.op).toBe('Gemm');
    const gpt = findPrunableLayers(readOnnxModel(fixture('lic-gpt.onnx')));
    expect(gpt.length).toBe(4 * 4 + 1);
    const qkv = gpt[0]!;
    expect([qkv.rows, qkv.cols]).toEqual([288, 96]);
    expect(new Set(gpt.map((v) => v.name)).size).toBe(gpt.length);
  });

  it('read() then write() of the same data leaves the bytes identical', () => {
    for (const name of FIXTURE_NAMES) checkViewRoundTrip(fixture(`${name}.onnx`));
  });
});

describe('operator table on the repository models (test/fixtures, data/)', () => {
  it('tiny-mlp and the demo MLP: their Gemm weights (transB=1), in graph order', () => {
    const views = findPrunableLayers(readOnnxModel(tiny('tiny-mlp.onnx')));
    expect(views.map((v) => [v.name, v.op, v.rows, v.cols, v.transposeWeight, v.orientation])).toEqual([
      ['fc1.weight', 'Gemm', 32, 64, false, 'right'],
      ['fc2.weight', 'Gemm', 16, 32, false, 'right'],
      ['fc3.weight', 'Gemm', 4, 16, false, 'right'],
    ]);
    expect(views.map((v) => [v.inputName, v.outputName])).toEqual([
      ['/flatten/Flatten_output_0', '/fc1/Gemm_output_0'],
      ['/relu1/Relu_output_0', '/fc2/Gemm_output_0'],
      ['/relu2/Relu_output_0', 'logits'],
    ]);
    const demo = findPrunableLayers(readOnnxModel(demoData('fmnist-mlp.onnx')));
    expect(demo.map((v) => [v.rows, v.cols])).toEqual([[128, 784], [64, 128], [10, 64]]);
  });

  it('tiny-cnn: one view per conv group, im2col geometry, Gemm transB=0 read transposed', () => {
    const model = readOnnxModel(tiny('tiny-cnn.onnx'));
    const views = findPrunableLayers(model);
    expect(views.map((v) => [v.name, v.op, v.rows, v.cols, v.transposeWeight, v.groupIndex ?? null])).toEqual([
      ['conv1.weight', 'Conv', 4, 9, false, null],
      ['conv2.weight#g0', 'Conv', 2, 18, false, 0],
      ['conv2.weight#g1', 'Conv', 2, 18, false, 1],
      ['fc1.weight', 'Gemm', 16, 36, false, null],
      ['fc2.weight', 'Gemm', 4, 16, true, null],
    ]);
    expect(views[1]!.conv).toMatchObject({ kernelShape: [3, 3], pads: [1, 1, 1, 1], group: 2, inChannelsPerGroup: 2, outChannels: 4 });
    expect(views[1]!.inputName).toBe('/relu1/Relu_output_0');
    // group 1 of conv2 is the second half of the stored [4, 2, 3, 3] kernel
    expect(Array.from(views[2]!.read())).toEqual(Array.from(model.readInitializer('conv2.weight').slice(36)));
    // fc2 is stored [16, 4] (in × out): the view is its transpose
    const stored = model.readInitializer('fc2.weight');
    const view = views[4]!.read();
    for (let o = 0; o < 4; o++) for (let k = 0; k < 16; k++) expect(view[o * 16 + k]).toBe(stored[k * 4 + o]);
  });

  it('tiny-gpt: the constant MatMul weights ([in, out], transposed views), not the attention products', () => {
    const { views, skipped } = scanLayers(readOnnxModel(tiny('tiny-gpt.onnx')));
    const perBlock = (i: number) => [`blocks.${i}.attn.qkv.weight`, `blocks.${i}.attn.proj.weight`, `blocks.${i}.mlp.fc1.weight`, `blocks.${i}.mlp.fc2.weight`];
    expect(views.map((v) => v.name)).toEqual([...perBlock(0), ...perBlock(1), 'head.weight']);
    expect(views.every((v) => v.op === 'MatMul' && v.transposeWeight && v.orientation === 'right')).toBe(true);
    expect(views.map((v) => [v.rows, v.cols]).slice(0, 4)).toEqual([[48, 16], [16, 16], [32, 16], [16, 32]]);
    expect(views[0]!.inputName).toBe('/blocks.0.ln1/LayerNormalization_output_0');
    expect(views.some((v) => /scores|mix/.test(v.nodeName))).toBe(false);
    expect(skipped).toEqual([]);
  });

  it('read() then write() of the same data leaves the bytes identical', () => {
    for (const name of TINY_NAMES) checkViewRoundTrip(tiny(`${name}.onnx`));
    checkViewRoundTrip(demoData('fmnist-mlp.onnx'));
  });
});

describe('operator table on a hand-built model', () => {
  it('grouped conv gives one view per group; transB=0 vs 1; constant-left MatMul', () => {
    const m = tinyModel();
    const views = findPrunableLayers(m);
    expect(views.map((v) => [v.name, v.rows, v.cols, v.transposeWeight, v.orientation])).toEqual([
      ['cw#g0', 3, 18, false, 'right'],
      ['cw#g1', 3, 18, false, 'right'],
      ['g1', 7, 54, true, 'right'],
      ['g2', 3, 7, false, 'right'],
      ['mw', 5, 3, false, 'left'],
    ]);
    expect(views[1]!.groupIndex).toBe(1);
    const stored = m.readInitializer('g1');
    const view = views[2]!.read();
    expect(view[1 * 54 + 2]).toBe(stored[2 * 7 + 1]);
    const g = m.readInitializer('cw');
    expect(Array.from(views[1]!.read())).toEqual(Array.from(g.slice(54)));
  });

  it('views reproduce ORT outputs: Gemm(transB=0) as x·Vᵀ, grouped Conv as per-group im2col', async () => {
    const m = tinyModel();
    const views = findPrunableLayers(m);
    m.addGraphOutputs(['c', 'f', 'h1']);
    const x = Float32Array.from({ length: 100 }, (_, i) => Math.cos(i));
    const s = await ort.InferenceSession.create(m.toBytes(), OPTS);
    const out = await s.run({ x: new ort.Tensor('float32', x, [1, 4, 5, 5]) });
    const f = out.f!.data as Float32Array;
    const h1 = out.h1!.data as Float32Array;
    const V = views[2]!.read();
    const b = m.readInitializer('g1b');
    for (let o = 0; o < 7; o++) {
      let acc = b[o]!;
      for (let k = 0; k < 54; k++) acc += V[o * 54 + k]! * f[k]!;
      expect(h1[o]).toBeCloseTo(acc, 4);
    }
    const c = out.c!.data as Float32Array; // [1,6,3,3]
    const cb = m.readInitializer('cb');
    for (const gi of [0, 1]) {
      const W = views[gi]!.read();
      for (let r = 0; r < 3; r++) {
        let acc = cb[gi * 3 + r]!;
        for (let ci = 0; ci < 2; ci++)
          for (let kh = 0; kh < 3; kh++)
            for (let kw = 0; kw < 3; kw++) acc += W[r * 18 + ci * 9 + kh * 3 + kw]! * x[(gi * 2 + ci) * 25 + (1 + kh) * 5 + (1 + kw)]!;
        expect(c[(gi * 3 + r) * 9 + 1 * 3 + 1]).toBeCloseTo(acc, 4);
      }
    }
  });

  it('write() of a transposed view and of one conv group changes only that data', () => {
    const m = tinyModel();
    const views = findPrunableLayers(m);
    const v = views[2]!.read();
    v[1 * 54 + 2] = 42;
    views[2]!.write(v);
    expect(m.readInitializer('g1')[2 * 7 + 1]).toBe(42);
    const before = m.readInitializer('cw');
    views[1]!.write(new Float32Array(54));
    const after = m.readInitializer('cw');
    expect(Array.from(after.slice(0, 54))).toEqual(Array.from(before.slice(0, 54)));
    expect(after.slice(54).every((z) => z === 0)).toBe(true);
    expect(() => views[0]!.write(new Float32Array(3))).toThrow(RangeError);
  });
});
