import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { SurgeonInputError } from '../../src/errors.js';
import { OnnxGraphBuilder } from '../../src/io/onnx/graph-builder.js';
import { readOnnxModel } from '../../src/io/onnx/model.js';
import { createMessage, DataType, decodeModelProto, encodeModelProto, type SparseTensorProto, type TensorProto } from '../../src/io/onnx/proto.js';
import { saveOnnxModel } from '../../src/io/onnx/save.js';
import { BITMASK_METADATA_KEY, indexTypeFor, tensorBytes } from '../../src/io/onnx/sparse.js';
import { openNetwork } from '../../src/network/open.js';
import { pruneModel } from '../../src/prune/model.js';
import { demoData, fixture, itShared } from '../fixtures.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'surgeon-sparse-'));

/** A pseudo-random generator (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** x[1, k] · W[k, n] with W 50 % zeros, one −0.0 kept among them. */
function sparseModel(k: number, n: number, seed = 1): { bytes: Uint8Array; W: Float32Array } {
  const r = rng(seed);
  const W = new Float32Array(k * n);
  for (let i = 0; i < W.length; i++) W[i] = r() < 0.5 ? 0 : r() * 2 - 1;
  W[3] = -0;
  const g = new OnnxGraphBuilder({ opset: 17 });
  g.input('x', 'float32', ['batch', k]);
  g.initializer('w', [k, n], W);
  g.initializer('b', [n], new Float32Array(n).fill(0.25));
  const [y] = g.node('MatMul', ['x', 'w']);
  g.node('Add', [y!, 'b'], {}, { outputs: ['y'] });
  g.output('y', 'float32', ['batch', n]);
  return { bytes: g.toBytes(), W };
}

async function runOrt(model: string | Uint8Array, feeds: Record<string, ort.Tensor>): Promise<Float32Array> {
  const session = typeof model === 'string' ? await ort.InferenceSession.create(model) : await ort.InferenceSession.create(model);
  const out = await session.run(feeds);
  await session.release();
  return Object.values(out)[0]!.data as Float32Array;
}

const sameBits = (a: Uint8Array, b: Uint8Array) => Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;

describe('sparse storage of ONNX initializers', () => {
  it('picks the smallest signed index type that holds every linear index', () => {
    expect(indexTypeFor(128).code).toBe(DataType.INT8);
    expect(indexTypeFor(129).code).toBe(DataType.INT16);
    expect(indexTypeFor(32768).code).toBe(DataType.INT16);
    expect(indexTypeFor(32769).code).toBe(DataType.INT32);
    expect(indexTypeFor(2 ** 31).code).toBe(DataType.INT32);
    expect(indexTypeFor(2 ** 31 + 1).code).toBe(DataType.INT64);
  });

  for (const encoding of ['coo', 'bitmask', 'auto'] as const) {
    it(`${encoding}: round-trips bit-identically and onnxruntime gives identical outputs`, async () => {
      const { bytes, W } = sparseModel(40, 24);
      const dir = tmp();
      const dense = join(dir, 'dense.onnx');
      const sparse = join(dir, 'sparse.onnx');
      const model = readOnnxModel(bytes);
      saveOnnxModel(model, dense);
      const saved = saveOnnxModel(model, sparse, { storage: 'sparse', sparseEncoding: encoding });
      expect(saved.sparse!.map((s) => s.name)).toEqual(['w']);
      const expected = encoding === 'auto' ? 'bitmask' : encoding;
      expect(saved.sparse![0]!.encoding).toBe(expected);
      const written = decodeModelProto(readFileSync(sparse));
      if (expected === 'coo') {
        expect(written.graph!.sparseInitializer).toHaveLength(1);
        expect(written.graph!.sparseInitializer[0]!.indices!.dataType).toBe(DataType.INT16); // 960 elements
      } else {
        expect(written.metadataProps.find((e) => e.key === BITMASK_METADATA_KEY)?.value).toBe('["w"]');
      }
      expect(written.graph!.initializer.some((t) => t.name === 'w')).toBe(false);
      expect(statSync(sparse).size).toBeLessThan(statSync(dense).size);
      // surgeon reads it back: the same bytes as the dense weight (−0.0 included), the decoder gone
      const back = readOnnxModel(sparse);
      expect(back.sparseStorage).toEqual(expected === 'coo' ? { coo: ['w'], bitmask: [] } : { coo: [], bitmask: ['w'] });
      expect(sameBits(tensorBytes(back.initializer('w')!), new Uint8Array(W.buffer))).toBe(true);
      expect(Object.is(back.readInitializer('w')[3], -0)).toBe(true);
      expect(back.graph.node.map((n) => n.opType)).toEqual(['MatMul', 'Add']);
      const original = readOnnxModel(dense);
      expect(back.graph.initializer.map((t) => t.name).sort()).toEqual(['b', 'w']);
      for (const t of back.graph.initializer) expect(sameBits(tensorBytes(t), tensorBytes(original.initializer(t.name!)!))).toBe(true);
      // onnxruntime runs the file as written, with the same outputs bit for bit
      const r = rng(7);
      const x = new ort.Tensor('float32', Float32Array.from({ length: 5 * 40 }, () => r() - 0.5), [5, 40]);
      for (const level of ['all', 'disabled'] as const) {
        const a = await runOrt(dense, { x });
        const session = await ort.InferenceSession.create(sparse, { graphOptimizationLevel: level });
        const b = (await session.run({ x })).y!.data as Float32Array;
        await session.release();
        expect(sameBits(new Uint8Array(b.buffer), new Uint8Array(a.buffer))).toBe(true);
      }
    });
  }

  it('leaves tensors dense where no encoding is smaller (a dense bias, a barely sparse weight)', () => {
    const r = rng(3);
    const g = new OnnxGraphBuilder({ opset: 17 });
    g.input('x', 'float32', ['batch', 64]);
    g.initializer('w', [64, 64], Float32Array.from({ length: 4096 }, (_, i) => (i % 50 === 0 ? 0 : r())));
    const [y] = g.node('MatMul', ['x', 'w']);
    g.output(y!, 'float32', ['batch', 64]);
    const dir = tmp();
    const saved = saveOnnxModel(readOnnxModel(g.toBytes()), join(dir, 'm.onnx'), { storage: 'sparse' });
    expect(saved.sparse).toEqual([]);
  });

  describe('malformed sparse tensors are refused in one line', () => {
    function withSparse(mutate: (s: SparseTensorProto) => void): Uint8Array {
      const g = new OnnxGraphBuilder({ opset: 17 });
      g.input('x', 'float32', ['batch', 4]);
      const [y] = g.node('MatMul', ['x', 'w']);
      g.output(y!, 'float32', ['batch', 3]);
      const m = g.toModel();
      const s = createMessage<SparseTensorProto>('SparseTensorProto', {
        values: createMessage<TensorProto>('TensorProto', { name: 'w', dims: [3], dataType: DataType.FLOAT, rawData: new Uint8Array(new Float32Array([1, 2, 3]).buffer) }),
        indices: createMessage<TensorProto>('TensorProto', { name: 'i', dims: [3], dataType: DataType.INT8, rawData: new Uint8Array([1, 5, 10]) }),
        dims: [4, 3],
      });
      mutate(s);
      m.graph!.sparseInitializer.push(s);
      return encodeModelProto(m);
    }
    const refuse = (bytes: Uint8Array, pattern: RegExp) => {
      let error: unknown;
      try {
        readOnnxModel(bytes);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(SurgeonInputError);
      expect((error as Error).message).toMatch(pattern);
      expect((error as Error).message).not.toContain('\n');
    };

    it('a well-formed one reads (and is the control for the cases below)', () => {
      const m = readOnnxModel(withSparse(() => undefined));
      expect(Array.from(m.readInitializer('w'))).toEqual([0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 3, 0]);
    });
    it('an index outside the tensor', () => refuse(withSparse((s) => (s.indices!.rawData = new Uint8Array([1, 5, 12]))), /sparse tensor 'w' has index 12 outside its 12 elements/));
    it('indices out of order or repeated', () => refuse(withSparse((s) => (s.indices!.rawData = new Uint8Array([5, 5, 10]))), /not strictly increasing/));
    it('a negative index', () => refuse(withSparse((s) => (s.indices!.rawData = new Uint8Array([0xff, 5, 10]))), /index -1 outside/));
    it('an index type onnxruntime cannot read', () => refuse(withSparse((s) => (s.indices!.dataType = DataType.UINT8)), /indices of type uint8, expected int8, int16, int32 or int64/));
    it('an index count that does not match the values', () => refuse(withSparse((s) => (s.indices!.dims = [2])), /indices of shape \[2\], expected \[3\] or \[3, 2\]/));
    it('coordinates outside a dimension', () =>
      refuse(withSparse((s) => Object.assign(s.indices!, { dims: [3, 2], rawData: new Uint8Array([0, 1, 1, 2, 3, 3]) })), /coordinate 3 outside dimension 1 of size 3/));
    it('a bitmask tensor whose values do not match its mask', () => {
      const { bytes } = sparseModel(64, 32);
      const dir = tmp();
      saveOnnxModel(readOnnxModel(bytes), join(dir, 'b.onnx'), { storage: 'sparse', sparseEncoding: 'bitmask' });
      const m = decodeModelProto(readFileSync(join(dir, 'b.onnx')));
      const values = m.graph!.initializer.find((t) => t.name === 'w::surgeon.values')!;
      values.dims = [Number(values.dims[0]) - 1];
      values.rawData = values.rawData!.subarray(4);
      refuse(encodeModelProto(m), /sparse tensor 'w' has \d+ stored values for \d+ set mask bits/);
    });
  });

  it('a pruned model opens, prunes again and saves again from its sparse file', async () => {
    const network = await openNetwork(demoData('fmnist-mlp.onnx'));
    const { model: pruned } = await pruneModel(network, undefined, { method: 'magnitude', sparsity: 0.5 });
    const dir = tmp();
    const first = join(dir, 'a.onnx');
    await pruned.save(first, { storage: 'sparse' });
    const again = await openNetwork(first);
    const { model: more } = await pruneModel(again, undefined, { method: 'magnitude', sparsity: 0.7 });
    const saved = await more.save(join(dir, 'b.onnx'), { storage: 'sparse' });
    expect(saved.sparse!.length).toBe(3);
    const back = await openNetwork(saved.path);
    for (const layer of back.layers()) {
      const W = layer.read();
      const zeros = W.reduce((n, v) => n + (v === 0 ? 1 : 0), 0);
      expect(zeros / W.length).toBeCloseTo(0.7, 2);
    }
    for (const n of [network, pruned, again, more, back]) n.dispose();
  });
});

/** Acceptance (issue 14): the fixture MLP at 50 %, stored sparse, is ≤ 60 % of the dense file with identical outputs. */
async function checkMlp(path: string, inputs: Float32Array, n: number): Promise<void> {
  const network = await openNetwork(path);
  const { model: pruned } = await pruneModel(network, undefined, { method: 'magnitude', sparsity: 0.5 });
  const dir = tmp();
  const dense = await pruned.save(join(dir, 'dense.onnx'));
  const sparse = await pruned.save(join(dir, 'sparse.onnx'), { storage: 'sparse' });
  expect(sparse.bytes / dense.bytes).toBeLessThanOrEqual(0.6);
  const name = network.inputs[0]!.name;
  const dims = [n, ...network.inputs[0]!.dims.slice(1).map(Number)];
  const x = new ort.Tensor('float32', inputs, dims);
  const a = await runOrt(dense.path, { [name]: x });
  const b = await runOrt(sparse.path, { [name]: x });
  expect(sameBits(new Uint8Array(b.buffer), new Uint8Array(a.buffer))).toBe(true);
  network.dispose();
  pruned.dispose();
}

describe('fixture MLP at 50 %: sparse file ≤ 60 % of the dense one, identical outputs', () => {
  const r = rng(11);
  it('demo MLP (data/fmnist-mlp.onnx)', () => checkMlp(demoData('fmnist-mlp.onnx'), Float32Array.from({ length: 8 * 784 }, () => r()), 8));
  itShared('fmnist-mlp.onnx', () => checkMlp(fixture('fmnist-mlp.onnx'), Float32Array.from({ length: 8 * 784 }, () => r()), 8));
});
