import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tf } from '../../src/tfjs/backend.js';
import { saveNewModel } from '../../src/tfjs/model.js';
import { writeNpy } from '../../src/io/npy.js';
import { loadDataset } from '../../src/io/dataset.js';
import { batchFeeds } from '../../src/runtime/capture.js';
import { openNetwork } from '../../src/network/open.js';
import { openTfjsLayersNetwork, TfjsLayersNetwork } from '../../src/network/tfjs-layers.js';
import type { Feeds, Network, NetworkLayer } from '../../src/network/types.js';
import { SurgeonInputError } from '../../src/errors.js';
import { tempDir, TEST_BACKEND, useTestBackend } from '../tfjs/helpers.js';

beforeAll(useTestBackend);

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0), s / 4294967296 - 0.5);
}

const init = (seed: number) => tf.initializers.randomUniform({ minval: -0.5, maxval: 0.5, seed });

/**
 * x [8,8,2] → conv (4 filters 3×3, stride 2, same, bias) → relu → depthwise (3×3, ×2, valid, bias)
 * → relu → flatten → fc1 (6, bias) → relu → fc2 (3). Activations are separate layers, so each
 * prunable layer's output is its pre-activation.
 */
function cnn(): tf.LayersModel {
  const x = tf.input({ shape: [8, 8, 2], name: 'x' });
  let h = tf.layers.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', name: 'conv', kernelInitializer: init(1), biasInitializer: init(2) }).apply(x) as tf.SymbolicTensor;
  h = tf.layers.activation({ activation: 'relu', name: 'conv_relu' }).apply(h) as tf.SymbolicTensor;
  h = tf.layers.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, padding: 'valid', name: 'dw', depthwiseInitializer: init(3), biasInitializer: init(4) }).apply(h) as tf.SymbolicTensor;
  h = tf.layers.activation({ activation: 'relu', name: 'dw_relu' }).apply(h) as tf.SymbolicTensor;
  h = tf.layers.flatten({ name: 'flat' }).apply(h) as tf.SymbolicTensor;
  h = tf.layers.dense({ units: 6, name: 'fc1', kernelInitializer: init(5), biasInitializer: init(6) }).apply(h) as tf.SymbolicTensor;
  h = tf.layers.activation({ activation: 'relu', name: 'fc1_relu' }).apply(h) as tf.SymbolicTensor;
  const y = tf.layers.dense({ units: 3, name: 'fc2', kernelInitializer: init(7) }).apply(h) as tf.SymbolicTensor;
  return tf.model({ inputs: x, outputs: y });
}

/** x [10, 3] → conv1d (5 filters, k 3, dilation 2, same) → relu → flatten → dense (2). */
function conv1dModel(): tf.LayersModel {
  const x = tf.input({ shape: [10, 3], name: 'seq' });
  let h = tf.layers.conv1d({ filters: 5, kernelSize: 3, dilationRate: 2, padding: 'same', name: 'c1', kernelInitializer: init(11), biasInitializer: init(12) }).apply(x) as tf.SymbolicTensor;
  h = tf.layers.conv1d({ filters: 4, kernelSize: 2, strides: 2, padding: 'valid', name: 'c2', kernelInitializer: init(13) }).apply(h) as tf.SymbolicTensor;
  h = tf.layers.flatten({ name: 'flat' }).apply(h) as tf.SymbolicTensor;
  const y = tf.layers.dense({ units: 2, name: 'out', kernelInitializer: init(14) }).apply(h) as tf.SymbolicTensor;
  return tf.model({ inputs: x, outputs: y });
}

/** x [4] → shared (Dense 4→4) → relu → shared again → head (Dense 4→2): one weight, two uses. */
function sharedModel(): tf.LayersModel {
  const x = tf.input({ shape: [4], name: 'v' });
  const shared = tf.layers.dense({ units: 4, name: 'shared', kernelInitializer: init(21) });
  let h = shared.apply(x) as tf.SymbolicTensor;
  h = tf.layers.activation({ activation: 'relu', name: 'act' }).apply(h) as tf.SymbolicTensor;
  h = shared.apply(h) as tf.SymbolicTensor;
  const y = tf.layers.dense({ units: 2, name: 'head', kernelInitializer: init(22) }).apply(h) as tf.SymbolicTensor;
  return tf.model({ inputs: x, outputs: y });
}

function feedsOf(name: string, sample: number[], n: number, seed = 9): Feeds {
  const r = lcg(seed);
  const size = sample.reduce((a, b) => a * b, 1);
  return { [name]: { data: new Float32Array(n * size).map(() => r()), dims: [n, ...sample] } };
}

/** Y = X · Wᵀ (n × rows). */
function project(X: Float32Array, n: number, W: Float32Array, rows: number, cols: number): Float64Array {
  const Y = new Float64Array(n * rows);
  for (let i = 0; i < n; i++) for (let o = 0; o < rows; o++) {
    let s = 0;
    for (let c = 0; c < cols; c++) s += X[i * cols + c]! * W[o * cols + c]!;
    Y[i * rows + o] = s;
  }
  return Y;
}

function biasOf(model: tf.LayersModel, layer: string): Float32Array | undefined {
  const w = model.getLayer(layer).getWeights();
  return w.length > 1 ? Float32Array.from(w[1]!.dataSync()) : undefined;
}

/** Checks the pruning objective: the layer's pre-activation output (fetched) = X·Wᵀ + b. */
async function expectConsistent(net: TfjsLayersNetwork, layer: NetworkLayer, feeds: Feeds, output: string, outChannels: number, channelOffset = 0): Promise<void> {
  const use = layer.uses[0]!;
  const runner = await net.runner([use.input, output]);
  const got = await runner.run(feeds);
  await runner.release();
  const { X, n } = use.samples(got[use.input]!);
  const Y = project(X, n, layer.read(), layer.rows, layer.cols);
  const out = got[output]!.data as Float32Array;
  expect(out.length).toBe(n * outChannels);
  const bias = biasOf(net.model, String(layer.detail!['layer']));
  for (let i = 0; i < n; i++) for (let o = 0; o < layer.rows; o++) {
    const ch = channelOffset + o;
    expect(Y[i * layer.rows + o]! + (bias ? bias[ch]! : 0)).toBeCloseTo(out[i * outChannels + ch]!, 4);
  }
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function saved(model: tf.LayersModel, name: string): Promise<string> {
  const dir = tempDir('surgeon-net-');
  dirs.push(dir);
  const path = join(dir, name);
  await saveNewModel(model, path);
  model.dispose();
  return path;
}

describe('tfjs layers network', () => {
  it('opens through the registry: inputs with a -1 batch, outputs, layers in the views\' shapes, stages by prunable depth', async () => {
    const path = await saved(cnn(), 'cnn');
    const net = (await openNetwork(path, { backend: TEST_BACKEND })) as TfjsLayersNetwork;
    expect(net.format).toBe('tfjs-layers');
    expect(net.path).toBe(join(path, 'model.json'));
    expect(net.inputs).toEqual([{ name: 'x', elemType: 'float32', dims: [-1, 8, 8, 2], hasShape: true }]);
    expect(net.outputs).toEqual([{ name: 'fc2', elemType: 'float32', dims: [-1, 3] }]);
    const layers = net.layers();
    expect(layers.map((l) => [l.name, l.op, l.rows, l.cols, l.uses.map((u) => u.input).join()])).toEqual([
      ['conv/kernel', 'Conv2D', 4, 18, 'x'],
      ...[0, 1, 2, 3].map((c) => [`dw/depthwise_kernel#c${c}`, 'DepthwiseConv2D', 2, 9, 'conv_relu']),
      ['fc1/kernel', 'Dense', 6, 32, 'flat'],
      ['fc2/kernel', 'Dense', 3, 6, 'fc1_relu'],
    ]);
    expect(layers.every((l) => l.uncapturable === undefined && l.weight === l.name.split('#')[0])).toBe(true);
    expect(new Set(layers.slice(1, 5).map((l) => l.sampleKey)).size).toBe(4); // each channel reads its own patches
    expect(net.stages(layers).map((s) => s.map((l) => l.name.split('#')[0]))).toEqual([['conv/kernel'], ['dw/depthwise_kernel', 'dw/depthwise_kernel', 'dw/depthwise_kernel', 'dw/depthwise_kernel'], ['fc1/kernel'], ['fc2/kernel']]);
    expect(net.stages([layers[5]!, layers[0]!]).map((s) => s.map((l) => l.name))).toEqual([['conv/kernel'], ['fc1/kernel']]);
    expect(net.gradients?.kind).toBe('tfjs-layers');
    expect(net.skipped()).toEqual([]);
    const summary = net.summary();
    expect(summary.format).toBe('tfjs-layers');
    expect(summary.facts['backend']).toBe(TEST_BACKEND);
    expect(summary.parameters).toBe(net.model.countParams());
    expect(summary.others.map((o) => o.name)).toEqual(['conv/bias', 'dw/bias', 'fc1/bias', 'fc2/bias']);
    net.dispose();
  });

  it('the pruning objective is consistent: every layer\'s pre-activation output = samples(input) · read()ᵀ + bias', async () => {
    const net = (await openTfjsLayersNetwork(await saved(cnn(), 'cnn'), { backend: TEST_BACKEND })) as TfjsLayersNetwork;
    const feeds = feedsOf('x', [8, 8, 2], 3);
    const layers = net.layers();
    await expectConsistent(net, layers[0]!, feeds, 'conv', 4);
    for (let c = 0; c < 4; c++) await expectConsistent(net, layers[1 + c]!, feeds, 'dw', 8, c * 2);
    await expectConsistent(net, layers[5]!, feeds, 'fc1', 6);
    await expectConsistent(net, layers[6]!, feeds, 'fc2', 3);
    net.dispose();

    const seq = (await openTfjsLayersNetwork(await saved(conv1dModel(), 'c1d'), { backend: TEST_BACKEND })) as TfjsLayersNetwork;
    const [c1, c2, out] = seq.layers();
    expect([c1, c2, out].map((l) => [l!.name, l!.rows, l!.cols, l!.uses[0]!.input])).toEqual([['c1/kernel', 5, 9, 'seq'], ['c2/kernel', 4, 10, 'c1'], ['out/kernel', 2, 20, 'flat']]);
    const f = feedsOf('seq', [10, 3], 2, 4);
    await expectConsistent(seq, c1!, f, 'c1', 5);
    await expectConsistent(seq, c2!, f, 'c2', 4);
    await expectConsistent(seq, out!, f, 'out', 2);
    seq.dispose();
  });

  it('Conv2D samples equal a reference NHWC im2col, and H = XᵀX with them', async () => {
    const net = (await openTfjsLayersNetwork(await saved(cnn(), 'cnn'), { backend: TEST_BACKEND })) as TfjsLayersNetwork;
    const feeds = feedsOf('x', [8, 8, 2], 2, 3);
    const x = feeds['x']!.data as Float32Array;
    const conv = net.layers()[0]!;
    const runner = await net.runner(['x']);
    const got = await runner.run(feeds);
    expect(got['x']!.data).toBe(x); // graph inputs come from the feeds
    const { X, n } = conv.uses[0]!.samples(got['x']!);
    // reference: stride 2, SAME on 8 → out 4, total pad max(3·2 + 3 − 8, 0) = 1 → top/left 0
    expect(n).toBe(2 * 4 * 4);
    const ref = new Float64Array(n * 18);
    for (let b = 0; b < 2; b++) for (let oh = 0; oh < 4; oh++) for (let ow = 0; ow < 4; ow++) for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) for (let c = 0; c < 2; c++) {
      const h = oh * 2 + i, w = ow * 2 + j;
      ref[((b * 4 + oh) * 4 + ow) * 18 + (i * 3 + j) * 2 + c] = h < 8 && w < 8 ? x[((b * 8 + h) * 8 + w) * 2 + c]! : 0;
    }
    expect(Array.from(X)).toEqual(Array.from(ref, (v) => Math.fround(v)));
    for (let p = 0; p < 18; p++) for (let q = 0; q < 18; q++) {
      let a = 0, r = 0;
      for (let i = 0; i < n; i++) {
        a += X[i * 18 + p]! * X[i * 18 + q]!;
        r += ref[i * 18 + p]! * ref[i * 18 + q]!;
      }
      expect(a).toBeCloseTo(r, 5);
    }
    net.dispose();
  });

  it('write() changes the outputs exactly as writing the equivalent kernel; the runner fetches intermediates and inputs', async () => {
    const path = await saved(cnn(), 'cnn');
    const net = (await openTfjsLayersNetwork(path, { backend: TEST_BACKEND })) as TfjsLayersNetwork;
    const twin = (await net.clone()) as TfjsLayersNetwork;
    const feeds = feedsOf('x', [8, 8, 2], 4, 5);
    const fetch = ['x', 'conv_relu', 'fc1', 'fc2'];
    const runner = await net.runner(fetch);
    const before = await runner.run(feeds);
    expect(Object.keys(before).sort()).toEqual([...fetch].sort());
    const direct = tf.tidy(() => net.model.predict(tf.tensor(feeds['x']!.data as Float32Array, [4, 8, 8, 2])) as tf.Tensor).dataSync();
    expect(Array.from(before['fc2']!.data)).toEqual(Array.from(direct));
    expect(before['conv_relu']!.dims).toEqual([4, 4, 4, 4]);
    expect(before['fc2']!.type).toBe('float32');
    // zero every other weight of fc1 and channel 2 of the depthwise kernel through the view
    const [, , , dw2, , fc1] = net.layers();
    const W = fc1!.read();
    for (let i = 0; i < W.length; i += 2) W[i] = 0;
    fc1!.write(W);
    dw2!.write(new Float32Array(18));
    // the same kernels written by hand into the twin: fc1 kernel [in, out], W[o, i] = K[i, o]
    const k = Float32Array.from(twin.model.getLayer('fc1').getWeights()[0]!.dataSync());
    for (let o = 0; o < 6; o++) for (let i = 0; i < 32; i++) if ((o * 32 + i) % 2 === 0) k[i * 6 + o] = 0;
    const dk = Float32Array.from(twin.model.getLayer('dw').getWeights()[0]!.dataSync());
    for (let p = 0; p < 9; p++) for (let m = 0; m < 2; m++) dk[(p * 4 + 2) * 2 + m] = 0;
    const [, fb] = twin.model.getLayer('fc1').getWeights();
    const [, db] = twin.model.getLayer('dw').getWeights();
    twin.model.getLayer('fc1').setWeights([tf.tensor(k, [32, 6]), fb!]);
    twin.model.getLayer('dw').setWeights([tf.tensor(dk, [3, 3, 4, 2]), db!]);
    const after = await runner.run(feeds, ['fc2']);
    expect(Object.keys(after)).toEqual(['fc2']);
    const twinRunner = await twin.runner(['fc2']);
    const expected = await twinRunner.run(feeds);
    expect(Array.from(after['fc2']!.data)).toEqual(Array.from(expected['fc2']!.data));
    expect(Array.from(after['fc2']!.data)).not.toEqual(Array.from(before['fc2']!.data));
    expect(Array.from(fc1!.read())).toEqual(Array.from(W));
    expect(Array.from(dw2!.read())).toEqual(new Array(18).fill(0));
    await expect(net.runner(['nope'])).rejects.toThrow(SurgeonInputError);
    await expect(runner.run({ y: feeds['x']! })).rejects.toThrow(/model input 'x' is not fed/);
    await runner.release();
    await twinRunner.release();
    net.dispose();
    twin.dispose();
  });

  it('clone is independent; save writes only changed weights (atomic, never the input folder) and opens again with the same weights', async () => {
    const path = await saved(cnn(), 'cnn');
    const net = (await openTfjsLayersNetwork(path, { backend: TEST_BACKEND })) as TfjsLayersNetwork;
    const fc2 = net.layers()[6]!;
    const W = fc2.read();
    W.fill(0, 0, 6);
    fc2.write(W); // the clone copies current values, not the file's
    const copy = await net.clone();
    const cfc2 = copy.layers()[6]!;
    expect(Array.from(cfc2.read())).toEqual(Array.from(W));
    cfc2.write(new Float32Array(18));
    expect(Array.from(fc2.read())).toEqual(Array.from(W));
    copy.dispose();
    expect(Array.from(fc2.read())).toEqual(Array.from(W)); // disposing the clone leaves the original intact

    await expect(net.save(path)).rejects.toThrow(SurgeonInputError);
    const out = join(path, '..', 'pruned');
    const res = await net.save(out, { inputPath: path });
    await expect(net.save(out, { inputPath: join(out, 'model.json') })).rejects.toThrow(/input model's folder/);
    expect(res.path).toBe(join(out, 'model.json'));
    expect(res.bytes).toBeGreaterThan(readFileSync(join(out, 'group1-shard1of1.bin')).length);
    expect(readFileSync(res.path, 'utf8')).toBe(readFileSync(join(path, 'model.json'), 'utf8'));
    const a = readFileSync(join(path, 'group1-shard1of1.bin'));
    const b = readFileSync(join(out, 'group1-shard1of1.bin'));
    let differ = 0;
    for (let i = 0; i < a.length; i += 4) if (a.readUInt32LE(i) !== b.readUInt32LE(i)) differ++;
    expect(differ).toBeGreaterThan(0);
    expect(differ).toBeLessThanOrEqual(6);
    const again = await openNetwork(out, { backend: TEST_BACKEND });
    const l1 = net.layers(), l2 = again.layers();
    l1.forEach((l, i) => expect(Array.from(l2[i]!.read())).toEqual(Array.from(l.read())));
    again.dispose();
    net.dispose();
  });

  it('collapse plan names are fetchable; the classifier is fc2', async () => {
    const net = (await openTfjsLayersNetwork(await saved(cnn(), 'cnn'), { backend: TEST_BACKEND })) as TfjsLayersNetwork;
    for (const selection of ['default', 'all', 'penultimate', ['fc1', 'fc2/kernel']] as const) {
      const plan = net.collapsePlan(selection);
      const names = plan.tensors.map((t) => t.name);
      expect(names.length).toBeGreaterThan(0);
      const runner = await net.runner(names);
      const got = await runner.run(feedsOf('x', [8, 8, 2], 2));
      expect(Object.keys(got).sort()).toEqual([...names].sort());
    }
    const plan = net.collapsePlan('default');
    expect(plan.tensors.map((t) => [t.name, t.feeds.length, t.penultimate])).toEqual([['x', 1, false], ['conv_relu', 4, false], ['flat', 1, false], ['fc1_relu', 1, true]]);
    expect(plan.classifier).toMatchObject({ layer: 'fc2/kernel', input: 'fc1_relu', output: 'fc2', K: 3, d: 6 });
    expect(Array.from(plan.classifier!.read().W)).toEqual(Array.from(net.layers()[6]!.read()));
    expect(plan.balancedness().map((b) => [b.lower, b.upper])).toEqual([['fc1/kernel', 'fc2/kernel']]);
    expect(() => net.collapsePlan(['nope'])).toThrow(SurgeonInputError);
    net.dispose();
  });

  it('a shared layer is one layer with one use per application; a nested model\'s layers are uncapturable', async () => {
    const net = (await openTfjsLayersNetwork(await saved(sharedModel(), 'shared'), { backend: TEST_BACKEND })) as TfjsLayersNetwork;
    const [shared, head] = net.layers();
    expect(shared!.uses.map((u) => [u.node, u.input])).toEqual([['shared@0', 'v'], ['shared@1', 'act']]);
    expect(head!.uses.map((u) => u.input)).toEqual(['shared@1']);
    expect(net.stages(net.layers()).map((s) => s.map((l) => l.name))).toEqual([[], ['shared/kernel'], ['head/kernel']].filter((s) => s.length));
    const feeds = feedsOf('v', [4], 3);
    const runner = await net.runner(['v', 'act', 'shared@1']);
    const got = await runner.run(feeds);
    for (const [u, out] of [[0, 'act'], [1, 'shared@1']] as const) {
      const { X, n } = shared!.uses[u]!.samples(got[u === 0 ? 'v' : 'act']!);
      const Y = project(X, n, shared!.read(), 4, 4);
      const bias = biasOf(net.model, 'shared')!;
      const o = got[out]!.data;
      for (let i = 0; i < n * 4; i++) {
        const pre = Y[i]! + bias[i % 4]!;
        expect(u === 0 ? Math.max(0, pre) : pre).toBeCloseTo(o[i]!, 5);
      }
    }
    net.dispose();

    const inner = tf.sequential({ name: 'inner', layers: [tf.layers.dense({ units: 3, inputShape: [4], name: 'in_fc' })] });
    const x = tf.input({ shape: [4], name: 'z' });
    const y = tf.layers.dense({ units: 2, name: 'top' }).apply(inner.apply(x) as tf.SymbolicTensor) as tf.SymbolicTensor;
    const nested = (await openTfjsLayersNetwork(await saved(tf.model({ inputs: x, outputs: y }), 'nested'), { backend: TEST_BACKEND })) as TfjsLayersNetwork;
    const [a, b] = nested.layers();
    expect(a!.name).toBe('in_fc/kernel');
    expect(a!.uncapturable).toMatch(/nested model/);
    expect(() => a!.uses[0]!.samples({ data: new Float32Array(4), dims: [1, 4], type: 'float32' })).toThrow(SurgeonInputError);
    expect(b!.uncapturable).toBeUndefined();
    expect(b!.uses[0]!.input).toBe('inner');
    expect(nested.stages([a!, b!]).map((s) => s.map((l) => l.name))).toEqual([['in_fc/kernel'], ['top/kernel']]);
    nested.dispose();
  });

  it('inputs let loadDataset reshape uint8 [N, H, W] images into the NHWC input', async () => {
    const model = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [4, 4, 1], name: 'f' }), tf.layers.dense({ units: 2, name: 'd' })] });
    const path = await saved(model, 'img');
    const net = await openTfjsLayersNetwork(path, { backend: TEST_BACKEND });
    const npy = join(path, '..', 'x.npy');
    writeNpy(npy, { dtype: 'uint8', shape: [5, 4, 4], data: new Uint8Array(80).map((_, i) => i) });
    const data = loadDataset({ inputs: npy }, { inputs: net.inputs });
    expect(data.kind === 'classification' && data.sampleShape).toEqual([4, 4, 1]);
    const [{ feeds }] = [...batchFeeds(data, 8)];
    const runner = await net.runner([net.outputs[0]!.name, net.layers()[0]!.uses[0]!.input]);
    const got = await runner.run(feeds as Feeds);
    expect(got[net.outputs[0]!.name]!.dims).toEqual([5, 2]);
    expect(got['f']!.dims).toEqual([5, 16]);
    net.dispose();
  });
});
