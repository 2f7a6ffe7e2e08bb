import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tf } from '../../src/tfjs/backend.js';
import { openNetwork } from '../../src/network/open.js';
import { openTfjsGraphNetwork, TfjsGraphNetwork } from '../../src/network/tfjs-graph.js';
import type { Feeds, NetworkLayer } from '../../src/network/types.js';
import { SurgeonInputError } from '../../src/errors.js';
import { tempDir, TEST_BACKEND, useTestBackend } from '../tfjs/helpers.js';

beforeAll(useTestBackend);

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0), s / 4294967296 - 0.5);
}

const f32 = { type: 'DT_FLOAT' };
const b64 = (s: string) => Buffer.from(s).toString('base64');
const dim = (...sizes: number[]) => ({ dim: sizes.map((s) => ({ size: String(s) })) });
const constNode = (name: string, shape: number[], dtype = 'DT_FLOAT') => ({ name, op: 'Const', attr: { dtype: { type: dtype }, value: { tensor: { dtype, tensorShape: dim(...shape) } } } });
const ints = (...v: number[]) => ({ list: { i: v.map(String) } });

/**
 * x [?, 6, 5, 2] → Conv2D (3×3×2×4, SAME) → BiasAdd → Relu → DepthwiseConv2dNative (3×3×4×2,
 * stride 2, VALID) → Relu → Reshape [-1, 32] → _FusedMatMul (32×5, BiasAdd + Relu) →
 * MatMul (w2 3×5, transpose_b) → BiasAdd = out, as tfjs-converter writes it.
 */
function writeConvGraph(dir: string): Record<string, Float32Array> {
  const r = lcg(3);
  const shapes: Record<string, number[]> = { wc: [3, 3, 2, 4], bc: [4], wd: [3, 3, 4, 2], w1: [32, 5], b1: [5], w2: [3, 5], b2: [3] };
  const weights: Record<string, Float32Array> = {};
  for (const [name, shape] of Object.entries(shapes)) weights[name] = new Float32Array(shape.reduce((a, b) => a * b, 1)).map(() => r());
  const node = [
    { name: 'x', op: 'Placeholder', attr: { dtype: f32, shape: { shape: dim(-1, 6, 5, 2) } } },
    ...Object.entries(shapes).map(([n, s]) => constNode(n, s)),
    constNode('shape', [2], 'DT_INT32'),
    { name: 'conv', op: 'Conv2D', input: ['x', 'wc'], attr: { T: f32, strides: ints(1, 1, 1, 1), padding: { s: b64('SAME') }, data_format: { s: b64('NHWC') }, dilations: ints(1, 1, 1, 1) } },
    { name: 'conv/BiasAdd', op: 'BiasAdd', input: ['conv', 'bc'], attr: { T: f32, data_format: { s: b64('NHWC') } } },
    { name: 'conv/Relu', op: 'Relu', input: ['conv/BiasAdd'], attr: { T: f32 } },
    { name: 'dw', op: 'DepthwiseConv2dNative', input: ['conv/Relu', 'wd'], attr: { T: f32, strides: ints(1, 2, 2, 1), padding: { s: b64('VALID') }, data_format: { s: b64('NHWC') }, dilations: ints(1, 1, 1, 1) } },
    { name: 'dw/Relu', op: 'Relu', input: ['dw'], attr: { T: f32 } },
    { name: 'flat', op: 'Reshape', input: ['dw/Relu', 'shape'], attr: { T: f32, Tshape: { type: 'DT_INT32' } } },
    { name: 'fc1', op: '_FusedMatMul', input: ['flat', 'w1', 'b1'], attr: { T: f32, transpose_a: { b: false }, transpose_b: { b: false }, num_args: { i: '1' }, fused_ops: { list: { s: [b64('BiasAdd'), b64('Relu')] } }, epsilon: { f: 0 } } },
    { name: 'out/MatMul', op: 'MatMul', input: ['fc1', 'w2'], attr: { T: f32, transpose_a: { b: false }, transpose_b: { b: true } } },
    { name: 'out', op: 'BiasAdd', input: ['out/MatMul', 'b2'], attr: { T: f32, data_format: { s: b64('NHWC') } } },
  ];
  const names = [...Object.keys(shapes), 'shape'];
  const json = {
    format: 'graph-model',
    generatedBy: '2.15.0',
    convertedBy: 'surgeon test',
    modelTopology: { node, library: {}, versions: { producer: 1808 } },
    weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights: names.map((name) => ({ name, shape: name === 'shape' ? [2] : shapes[name], dtype: name === 'shape' ? 'int32' : 'float32' })) }],
  };
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'model.json'), JSON.stringify(json));
  const bytes = Buffer.concat([...Object.keys(shapes).map((n) => Buffer.from(weights[n]!.buffer)), Buffer.from(new Int32Array([-1, 32]).buffer)]);
  writeFileSync(join(dir, 'group1-shard1of1.bin'), bytes);
  return weights;
}

function feeds(n: number, seed = 9): Feeds {
  const r = lcg(seed);
  return { x: { data: new Float32Array(n * 60).map(() => r()), dims: [n, 6, 5, 2] } };
}

function project(X: Float32Array, n: number, W: Float32Array, rows: number, cols: number): Float64Array {
  const Y = new Float64Array(n * rows);
  for (let i = 0; i < n; i++) for (let o = 0; o < rows; o++) {
    let s = 0;
    for (let c = 0; c < cols; c++) s += X[i * cols + c]! * W[o * cols + c]!;
    Y[i * rows + o] = s;
  }
  return Y;
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function fixture(): { path: string; weights: Record<string, Float32Array> } {
  const dir = tempDir('surgeon-graphnet-');
  dirs.push(dir);
  const path = join(dir, 'graph');
  return { path, weights: writeConvGraph(path) };
}

/** out[i, channelOffset + o] = f(X·Wᵀ)[i, o] for every sample row. */
async function expectConsistent(net: TfjsGraphNetwork, layer: NetworkLayer, output: string, outChannels: number, channelOffset = 0, f: (v: number, o: number) => number = (v) => v): Promise<void> {
  const use = layer.uses[0]!;
  const runner = await net.runner([use.input, output]);
  const got = await runner.run(feeds(3));
  const { X, n } = use.samples(got[use.input]!);
  const Y = project(X, n, layer.read(), layer.rows, layer.cols);
  const out = got[output]!.data;
  expect(out.length).toBe(n * outChannels);
  for (let i = 0; i < n; i++) for (let o = 0; o < layer.rows; o++) expect(f(Y[i * layer.rows + o]!, o)).toBeCloseTo(out[i * outChannels + channelOffset + o]!, 4);
}

describe('tfjs graph network', () => {
  it('opens through the registry: inputs, outputs, layers, stages, summary', async () => {
    const { path } = fixture();
    const net = (await openNetwork(path, { backend: TEST_BACKEND })) as TfjsGraphNetwork;
    expect(net.format).toBe('tfjs-graph');
    expect(net.gradients).toBeUndefined();
    expect(net.inputs).toEqual([{ name: 'x', elemType: 'float32', dims: [-1, 6, 5, 2], hasShape: true }]);
    expect(net.outputs.map((o) => o.name)).toEqual(['out']);
    const layers = net.layers();
    expect(layers.map((l) => [l.name, l.op, l.node, l.rows, l.cols, l.uses.map((u) => u.input).join()])).toEqual([
      ['wc', 'Conv2D', 'conv', 4, 18, 'x'],
      ...[0, 1, 2, 3].map((c) => [`wd#c${c}`, 'DepthwiseConv2dNative', 'dw', 2, 9, 'conv/Relu']),
      ['w1', '_FusedMatMul', 'fc1', 5, 32, 'flat'],
      ['w2', 'MatMul', 'out/MatMul', 3, 5, 'fc1'],
    ]);
    expect(net.stages(layers).map((s) => s.map((l) => l.weight))).toEqual([['wc'], ['wd', 'wd', 'wd', 'wd'], ['w1'], ['w2']]);
    expect(net.skipped()).toEqual([]);
    const summary = net.summary();
    expect(summary.parameters).toBe(72 + 4 + 72 + 160 + 5 + 15 + 3 + 2);
    expect(summary.others.map((o) => o.name)).toEqual(['bc', 'b1', 'b2', 'shape']);
    expect(summary.facts).toMatchObject({ backend: TEST_BACKEND, modelFormat: 'graph-model', convertedBy: 'surgeon test' });
    net.dispose();
  });

  it('the pruning objective is consistent: each layer\'s node output = samples(input) · read()ᵀ (+ fused bias and relu)', async () => {
    const { path, weights } = fixture();
    const net = (await openTfjsGraphNetwork(path, { backend: TEST_BACKEND })) as TfjsGraphNetwork;
    const layers = net.layers();
    // read() is the view of the stored weight: w2 is stored [out, in] (transpose_b), w1 [in, out]
    expect(Array.from(layers[6]!.read())).toEqual(Array.from(weights.w2!));
    expect(layers[5]!.read()[2 * 32 + 7]).toBe(weights.w1![7 * 5 + 2]);
    await expectConsistent(net, layers[0]!, 'conv', 4);
    for (let c = 0; c < 4; c++) await expectConsistent(net, layers[1 + c]!, 'dw', 8, 2 * c);
    await expectConsistent(net, layers[5]!, 'fc1', 5, 0, (v, o) => Math.max(0, v + weights.b1![o]!));
    await expectConsistent(net, layers[6]!, 'out/MatMul', 3);
    net.dispose();
  });

  it('write() changes the outputs exactly as writing the equivalent weight; clone is independent; save rewrites only pruned weights', async () => {
    const { path, weights } = fixture();
    const net = (await openTfjsGraphNetwork(path, { backend: TEST_BACKEND })) as TfjsGraphNetwork;
    const runner = await net.runner(['x', 'dw/Relu', 'out']);
    const f = feeds(4, 2);
    const before = await runner.run(f);
    expect(before['x']!.data).toBe(f['x']!.data);
    expect(before['dw/Relu']!.dims).toEqual([4, 2, 2, 8]);
    const layers = net.layers();
    const copy = (await net.clone()) as TfjsGraphNetwork;
    // zero wd channel 1 and the first half of w1 through the views
    layers[2]!.write(new Float32Array(18));
    const W1 = layers[5]!.read();
    W1.fill(0, 0, 80);
    layers[5]!.write(W1);
    // the equivalent weights, written by hand into the clone's executor
    const wd = Float32Array.from(weights.wd!);
    for (let p = 0; p < 9; p++) for (let m = 0; m < 2; m++) wd[(p * 4 + 1) * 2 + m] = 0;
    const w1 = Float32Array.from(weights.w1!);
    for (let o = 0; o < 5; o++) for (let i = 0; i < 32; i++) if (o * 32 + i < 80) w1[i * 5 + o] = 0;
    const { setGraphWeight } = await import('../../src/tfjs/graph.js');
    setGraphWeight(copy.model, 'wd', tf.tensor(wd, [3, 3, 4, 2]));
    setGraphWeight(copy.model, 'w1', tf.tensor(w1, [32, 5]));
    const after = await runner.run(f, ['out']);
    const copyRunner = await copy.runner(['out']);
    expect(Array.from(after['out']!.data)).toEqual(Array.from((await copyRunner.run(f))['out']!.data));
    expect(Array.from(after['out']!.data)).not.toEqual(Array.from(before['out']!.data));
    // the file is untouched; a clone made now has the written values and is independent
    const fresh = await openTfjsGraphNetwork(path, { backend: TEST_BACKEND });
    expect(fresh.layers()[5]!.read()[2 * 32 + 7]).toBe(weights.w1![7 * 5 + 2]);
    const clone2 = await net.clone();
    expect(Array.from(clone2.layers()[5]!.read())).toEqual(Array.from(W1));
    clone2.layers()[6]!.write(new Float32Array(15));
    expect(Array.from(layers[6]!.read())).toEqual(Array.from(weights.w2!));
    clone2.dispose();
    fresh.dispose();

    await expect(net.save(path)).rejects.toThrow(SurgeonInputError);
    const out = join(path, '..', 'pruned');
    const saved = await net.save(out, { inputPath: path });
    expect(readFileSync(saved.path, 'utf8')).toBe(readFileSync(join(path, 'model.json'), 'utf8'));
    const a = readFileSync(join(path, 'group1-shard1of1.bin'));
    const b = readFileSync(join(out, 'group1-shard1of1.bin'));
    expect(b.length).toBe(a.length);
    let differ = 0;
    for (let i = 0; i < a.length; i += 4) if (a.readUInt32LE(i) !== b.readUInt32LE(i)) differ++;
    expect(differ).toBe(18 + 80);
    const again = await openNetwork(out, { backend: TEST_BACKEND });
    again.layers().forEach((l, i) => expect(Array.from(l.read())).toEqual(Array.from(layers[i]!.read())));
    const r2 = await again.runner(['out']);
    expect(Array.from((await r2.run(f))['out']!.data)).toEqual(Array.from(after['out']!.data));
    await expect(net.runner(['nope'])).rejects.toThrow(SurgeonInputError);
    await expect(net.runner(['w1'])).rejects.toThrow(/not an activation/);
    again.dispose();
    copy.dispose();
    net.dispose();
  });

  it('collapse plan: the layers\' inputs, classifier = the last MatMul feeding the output, names fetchable', async () => {
    const { path, weights } = fixture();
    const net = (await openTfjsGraphNetwork(path, { backend: TEST_BACKEND })) as TfjsGraphNetwork;
    const plan = net.collapsePlan('default');
    expect(plan.tensors.map((t) => [t.name, t.feeds.length, t.penultimate])).toEqual([['x', 1, false], ['conv/Relu', 4, false], ['flat', 1, false], ['fc1', 1, true]]);
    expect(plan.classifier).toMatchObject({ layer: 'w2', input: 'fc1', output: 'out', K: 3, d: 5 });
    const { W, b } = plan.classifier!.read();
    expect(Array.from(W)).toEqual(Array.from(weights.w2!));
    expect(Array.from(b!)).toEqual(Array.from(weights.b2!));
    expect(plan.balancedness().map((x) => [x.lower, x.upper])).toEqual([['w1', 'w2']]);
    for (const selection of ['all', 'penultimate', ['dw/Relu', 'w1']] as const) {
      const names = net.collapsePlan(selection).tensors.map((t) => t.name);
      const runner = await net.runner(names);
      const got = await runner.run(feeds(2));
      expect(Object.keys(got).sort()).toEqual([...names].sort());
    }
    expect(net.collapsePlan(['dw/Relu', 'w1']).tensors.map((t) => [t.name, t.role])).toEqual([['dw/Relu', 'named'], ['flat', 'layer-input']]);
    expect(() => net.collapsePlan(['nope'])).toThrow(SurgeonInputError);
    net.dispose();
  });
});
