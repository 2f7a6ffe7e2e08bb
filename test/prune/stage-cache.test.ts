import { describe, expect, it } from 'vitest';
import { OnnxGraphBuilder } from '../../src/io/onnx/graph-builder.js';
import { readOnnxModel, type OnnxModel } from '../../src/io/onnx/model.js';
import { loadDataset, type ClassificationDataset, type Dataset } from '../../src/io/dataset.js';
import { OnnxNetwork } from '../../src/network/onnx.js';
import { pruneModel, type PruneModelOptions } from '../../src/prune/model.js';
import { ActivationStore, StageCache } from '../../src/prune/stage-cache.js';
import { batchFeeds } from '../../src/runtime/capture.js';
import type { NamedTensor } from '../../src/runtime/session.js';
import { demoData, tiny } from '../fixtures.js';

/** Deterministic values in [-1, 1). */
function values(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

/**
 * x → MatMul W0 → h0 → MatMul W1 → Relu → Add h0 → c → MatMul W2 → Add c → e → Add h0, Add x →
 * MatMul W3 → y: h0 is carried past two stages and the graph input x past all of them.
 */
function residualModel(): OnnxModel {
  const g = new OnnxGraphBuilder();
  const x = g.input('x', 'float32', ['batch', 8]);
  const w = (name: string, cols: number, seed: number) => g.initializer(name, [8, cols], values(8 * cols, seed));
  const [h0] = g.node('MatMul', [x, w('W0', 8, 1)], {}, { outputs: ['h0'] });
  const [m1] = g.node('MatMul', [h0!, w('W1', 8, 2)]);
  const [r1] = g.node('Relu', [m1!]);
  const [c] = g.node('Add', [h0!, r1!], {}, { outputs: ['c'] });
  const [m2] = g.node('MatMul', [c!, w('W2', 8, 3)]);
  const [e] = g.node('Add', [c!, m2!], {}, { outputs: ['e'] });
  const [f] = g.node('Add', [e!, h0!]);
  const [f2] = g.node('Add', [f!, x], {}, { outputs: ['f2'] });
  g.node('MatMul', [f2!, w('W3', 4, 4)], {}, { outputs: ['y'] });
  g.output('y', 'float32', ['batch', 4]);
  return readOnnxModel(g.toBytes());
}

/** A weight used at two depths (MatMul Ws, then MatMul W1, then MatMul Ws again). */
function sharedAcrossDepths(): OnnxModel {
  const g = new OnnxGraphBuilder();
  const x = g.input('x', 'float32', ['batch', 8]);
  g.initializer('Ws', [8, 8], values(64, 5));
  g.initializer('W1', [8, 8], values(64, 6));
  const [h] = g.node('MatMul', [x, 'Ws']);
  const [k] = g.node('MatMul', [h!, 'W1']);
  g.node('MatMul', [k!, 'Ws'], {}, { outputs: ['y'] });
  g.output('y', 'float32', ['batch', 8]);
  return readOnnxModel(g.toBytes());
}

function randomData(count: number): ClassificationDataset {
  return { kind: 'classification', inputName: 'x', x: values(count * 8, 99), sampleShape: [8], count };
}

interface Case {
  name: string;
  model: () => OnnxModel;
  data: (model: OnnxModel) => Dataset;
  options?: Partial<PruneModelOptions>;
}

const CASES: Case[] = [
  { name: 'tiny GPT', model: () => readOnnxModel(tiny('tiny-gpt.onnx')), data: (m) => loadDataset({ tokens: tiny('tiny-tokens.npy'), limit: 40 }, { inputs: m.inputs }) },
  { name: 'demo MLP', model: () => readOnnxModel(demoData('fmnist-mlp.onnx')), data: (m) => loadDataset({ inputs: demoData('fmnist-train.npz.gz'), scale: 1 / 255, limit: 160 }, { inputs: m.inputs }) },
  { name: 'residual', model: residualModel, data: () => randomData(150) },
  { name: 'tiny CNN', model: () => readOnnxModel(tiny('tiny-cnn.onnx')), data: (m) => loadDataset({ inputs: tiny('tiny-train-images.npy'), labels: tiny('tiny-train-labels.npy'), scale: 1 / 255, limit: 160 }, { inputs: m.inputs }) },
];

function expectSameWeights(a: OnnxModel, b: OnnxModel): void {
  const la = new OnnxNetwork(a).layers();
  const lb = new OnnxNetwork(b).layers();
  expect(lb.map((l) => l.name)).toEqual(la.map((l) => l.name));
  la.forEach((layer, i) => {
    const wa = layer.read();
    const wb = lb[i]!.read();
    let num = 0;
    let den = 0;
    for (let j = 0; j < wa.length; j++) {
      expect(wa[j] === 0, `${layer.name}[${j}] mask`).toBe(wb[j] === 0);
      num += (wa[j]! - wb[j]!) ** 2;
      den += wa[j]! ** 2;
    }
    expect(Math.sqrt(num / den), layer.name).toBeLessThan(1e-5);
  });
}

describe('activations cached at stage boundaries', () => {
  for (const c of CASES) {
    it.each(['sparsegpt', 'iobs'])(`${c.name}, %s: same masks and weights (1e-5 relative) as whole-model runs per stage`, async (method) => {
      const model = c.model();
      const data = c.data(model);
      // fp64 statistics: the previous pipeline's precision, so the comparison is to 1e-5.
      const options: PruneModelOptions = { method, sparsity: 0.5, calibSamples: 96, heldOutSamples: 32, batchSize: 32, statistics: 'fp64', ...c.options };
      const net = new OnnxNetwork(model);
      expect(net.stageBoundaries(net.stages(net.layers())), 'the cached path applies').toBeDefined();
      // MatMul layers (tiny GPT) name their product: their error is read off the advancing segments.
      if (c.name === 'tiny GPT') expect(net.layers().every((l) => l.uses.every((u) => u.product))).toBe(true);
      // An ungrouped Conv names its output, bias included; a grouped one does not (its output holds every group).
      if (c.name === 'tiny CNN') {
        const convs = net.layers().filter((l) => l.op === 'Conv');
        expect(convs.map((l) => [Boolean(l.uses[0]!.product), Boolean(l.uses[0]!.productBias)])).toEqual([[true, true], [false, false], [false, false]]);
        expect(Array.from(convs[0]!.uses[0]!.productBias!())).toEqual(Array.from(model.readInitializer(model.graph.node.find((n) => n.opType === 'Conv')!.input[2]!)));
      }
      const old = await pruneModel(model, data, { ...options, stageCache: false });
      const cached = await pruneModel(model, data, options);
      expectSameWeights(old.model, cached.model);
      cached.report.layers.forEach((l, i) => expect(l.error!).toBeCloseTo(old.report.layers[i]!.error!, 6));
      // spilled to a temporary file (no memory budget): still the same
      const spilled = await pruneModel(model, data, { ...options, activationMemory: 0 });
      expectSameWeights(cached.model, spilled.model);
    });
  }

  it('residual, iobs, 2 rounds: later rounds restart the cache from the pruned model and the dense one', async () => {
    const options: PruneModelOptions = { method: 'iobs', sparsity: 0.5, calibSamples: 96, heldOutSamples: 32, batchSize: 32, rounds: 2, iterations: 2, statistics: 'fp64' };
    const old = await pruneModel(residualModel(), randomData(150), { ...options, stageCache: false });
    const cached = await pruneModel(residualModel(), randomData(150), options);
    expectSameWeights(old.model, cached.model);
  });

  it('boundaries include tensors carried past a stage (residuals), never graph inputs', () => {
    const net = new OnnxNetwork(residualModel());
    const stages = net.stages(net.layers());
    expect(stages.map((s) => s.map((l) => l.name))).toEqual([['W0'], ['W1'], ['W2'], ['W3']]);
    const boundaries = net.stageBoundaries(stages)!;
    expect(boundaries[0]).toEqual([]); // W0 reads the graph input x, which is fed
    expect(boundaries[1]).toEqual(['h0']);
    expect(new Set(boundaries[2])).toEqual(new Set(['h0', 'c']));
    expect(boundaries[3]).toEqual(['f2']);
    // nodes without names (layers name them op#index): the same cut
    const unnamed = residualModel();
    for (const node of unnamed.graph.node) node.name = '';
    const plain = new OnnxNetwork(unnamed);
    expect(plain.stageBoundaries(plain.stages(plain.layers()))).toEqual(boundaries);
  });

  it('a weight used before its stage is pruned: no clean cut, the whole-model path runs (same result)', async () => {
    const model = sharedAcrossDepths();
    const net = new OnnxNetwork(model);
    const stages = net.stages(net.layers());
    expect(stages.length).toBeGreaterThan(1);
    expect(net.stageBoundaries(stages)).toBeUndefined();
    const data = randomData(60);
    const a = await pruneModel(model, data, { method: 'sparsegpt', sparsity: 0.5, calibSamples: 40, stageCache: false });
    const b = await pruneModel(model, data, { method: 'sparsegpt', sparsity: 0.5, calibSamples: 40 });
    expectSameWeights(a.model, b.model);
  });

  it.each([
    ['tiny GPT', () => readOnnxModel(tiny('tiny-gpt.onnx')), (m: OnnxModel) => loadDataset({ tokens: tiny('tiny-tokens.npy'), limit: 8 }, { inputs: m.inputs })],
    ['residual', residualModel, () => randomData(8)],
  ] as const)('%s: segment runners give the full model’s intermediate tensors', async (_, make, load) => {
    const model = make();
    const net = new OnnxNetwork(model);
    const boundaries = net.stageBoundaries(net.stages(net.layers()))!;
    const all = [...new Set(boundaries.flat())];
    const full = await net.runner(all);
    const { feeds } = batchFeeds(load(model), 8).next().value!;
    const expected = await full.run(feeds);
    await full.release();
    const close = (got: NamedTensor, want: NamedTensor, name: string) => {
      expect(got.dims, name).toEqual(want.dims);
      const g = got.data as Float32Array;
      const w = want.data as Float32Array;
      let num = 0;
      let den = 0;
      for (let i = 0; i < w.length; i++) {
        num += (g[i]! - w[i]!) ** 2;
        den += w[i]! ** 2;
      }
      expect(Math.sqrt(num / Math.max(den, 1e-30)), name).toBeLessThan(1e-5);
    };
    for (let s = -1; s + 1 < boundaries.length; s++) {
      const from = s < 0 ? [] : boundaries[s]!;
      const to = boundaries[s + 1]!;
      const runner = await net.segmentRunner(from, to);
      const inputs = { ...feeds };
      for (const name of from) inputs[name] = { data: expected[name]!.data, dims: expected[name]!.dims, type: 'float32' };
      const got = await runner.run(inputs, to);
      await runner.release();
      for (const name of to) close(got[name]!, expected[name]!, name);
    }
  });

  it('ActivationStore: batches over the memory budget go to a temporary file and come back intact', () => {
    const budget = { limit: 100, used: 0 };
    const store = new ActivationStore(budget);
    const a: NamedTensor = { data: values(16, 1), dims: [2, 8], type: 'float32' };
    const b: NamedTensor = { data: BigInt64Array.from([1n, -2n, 3n]), dims: [3], type: 'int64' };
    store.put(0, { a }); // 64 bytes: in memory
    store.put(1, { a, b }); // 88 more: over the budget, spilled
    expect(budget.used).toBe(64);
    expect(store.spilled).toBe(88);
    const back = store.get(1);
    expect(Array.from(back.a!.data as Float32Array)).toEqual(Array.from(a.data as Float32Array));
    expect(back.b!.data).toEqual(b.data);
    expect(back.b!.dims).toEqual([3]);
    expect(store.get(0).a!.data).toBe(a.data);
    store.release();
    expect(budget.used).toBe(0);
    expect(() => store.get(0)).toThrow(/not cached/);
  });

  it('networks without segment runners get no stage cache', () => {
    const model = residualModel();
    const net = new OnnxNetwork(model);
    const plain = Object.assign(Object.create(Object.getPrototypeOf(net) as object) as OnnxNetwork, net, { segmentRunner: undefined });
    expect(StageCache.create(plain, plain, randomData(4), net.stages(net.layers()), { ranges: [[0, 4]], batchSize: 4, threads: 1 })).toBeUndefined();
  });
});
