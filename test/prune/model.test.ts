import { beforeAll, describe, expect, it } from 'vitest';
import { readOnnxModel, type OnnxModel } from '../../src/io/onnx/model.js';
import { findPrunableLayers } from '../../src/io/onnx/operators.js';
import { loadDataset, type ClassificationDataset, type DatasetSpec } from '../../src/io/dataset.js';
import { pruneModel } from '../../src/prune/model.js';
import { defaultHeldOutSamples, getPruner } from '../../src/pruners/registry.js';
import { pruningStages } from '../../src/prune/layers.js';
import { evaluateModel } from '../../src/runtime/evaluate.js';
import { batchFeeds } from '../../src/runtime/capture.js';
import { asNetwork } from '../../src/network/onnx.js';
import { demoData, describeShared, fixture, itShared, tiny } from '../fixtures.js';

const classification = (spec: DatasetSpec, model: OnnxModel) => loadDataset(spec, { inputs: model.inputs }) as ClassificationDataset;

/** 2,048 Fashion-MNIST training images of ../shared/fixtures. */
function calibration(model: OnnxModel, limit: number): ClassificationDataset {
  return classification({ inputs: fixture('fmnist-calib-images.npy'), labels: fixture('fmnist-calib-labels.npy'), scale: 1 / 255, limit }, model);
}

/** The tiny-shapes training images of test/fixtures. */
function tinyCalibration(model: OnnxModel, limit: number): ClassificationDataset {
  return classification({ inputs: tiny('tiny-train-images.npy'), labels: tiny('tiny-train-labels.npy'), scale: 1 / 255, limit }, model);
}

/** A trained Fashion-MNIST MLP (Flatten → Gemm → Relu → Gemm → Relu → Gemm) with calibration and test images. */
interface MlpCase {
  path: () => string;
  calib: (model: OnnxModel, limit: number) => ClassificationDataset;
  test: (model: OnnxModel, limit: number) => ClassificationDataset;
}
const FMNIST_MLP: MlpCase = {
  path: () => fixture('fmnist-mlp.onnx'),
  calib: calibration,
  test: (model, limit) => classification({ inputs: fixture('fmnist-test-images.npy'), labels: fixture('fmnist-test-labels.npy'), scale: 1 / 255, limit }, model),
};
const DEMO_MLP: MlpCase = {
  path: () => demoData('fmnist-mlp.onnx'),
  calib: (model, limit) => classification({ inputs: demoData('fmnist-train.npz.gz'), scale: 1 / 255, limit }, model),
  test: (model, limit) => classification({ inputs: demoData('fmnist-test.npz.gz'), scale: 1 / 255, limit }, model),
};

function zeros(w: Float32Array): number {
  let z = 0;
  for (const v of w) if (v === 0) z++;
  return z;
}

function mlpSuite(c: MlpCase): void {
  let model: OnnxModel;
  let calib: ClassificationDataset;
  beforeAll(() => {
    model = readOnnxModel(c.path());
    calib = c.calib(model, 96);
  });

  it.each(['magnitude', 'wanda', 'sparsegpt', 'obc', 'iht', 'iobs'])('%s: exact sparsity in every layer, input untouched', async (method) => {
    const before = model.toBytes();
    // exact OBS costs O(rows·k·d²) in TypeScript: keep the 256×784 layer out of obc's test
    const skip = method === 'obc' ? [findPrunableLayers(model)[0]!.name] : [];
    const { model: pruned, report } = await pruneModel(model, calib, { method, sparsity: 0.6, calibSamples: 64, heldOutSamples: 32, skip, iterations: method === 'iht' ? 20 : undefined });
    expect(Buffer.from(model.toBytes()).equals(Buffer.from(before))).toBe(true);
    for (const view of findPrunableLayers(pruned).slice(skip.length)) {
      const w = view.read();
      expect(zeros(w)).toBe(Math.round(0.6 * w.length));
    }
    expect(report.layers).toHaveLength(3);
    for (const layer of report.layers.slice(skip.length)) {
      expect(layer.error).not.toBeNull();
      expect(layer.error!).toBeGreaterThanOrEqual(0);
      expect(Number.isFinite(layer.error!)).toBe(true);
    }
    expect(report.totals.sparsity).toBeCloseTo(0.6, 4);
  });

  it.each(['sparsegpt', 'iobs', 'wanda'])('%s 2:4 keeps at most 2 of every 4 consecutive inputs', async (method) => {
    const { model: pruned } = await pruneModel(model, calib, { method, sparsity: 0, pattern: { kind: 'nm', n: 2, m: 4 }, calibSamples: 64 });
    for (const view of findPrunableLayers(pruned)) {
      const w = view.read();
      let full = 0;
      for (let r = 0; r < view.rows; r++) {
        for (let g = 0; g < view.cols; g += 4) {
          let nz = 0;
          for (let j = g; j < g + 4; j++) if (w[r * view.cols + j] !== 0) nz++;
          expect(nz).toBeLessThanOrEqual(2);
          if (nz === 2) full++;
        }
      }
      // groups with fewer than 2 nonzeros only where inputs are dead (always-zero border pixels)
      expect(full / (view.rows * view.cols / 4)).toBeGreaterThan(0.8);
    }
  });

  it('OBS methods reconstruct better than magnitude and keep accuracy closer to dense', async () => {
    const test = c.test(model, 2000);
    const mag = await pruneModel(model, calib, { method: 'magnitude', sparsity: 0.7, calibSamples: 64 });
    const sgpt = await pruneModel(model, calib, { method: 'sparsegpt', sparsity: 0.7, calibSamples: 64 });
    for (let l = 0; l < 3; l++) expect(sgpt.report.layers[l]!.error!).toBeLessThan(mag.report.layers[l]!.error!);
    const accMag = (await evaluateModel(mag.model, test)).accuracy!;
    const accSgpt = (await evaluateModel(sgpt.model, test)).accuracy!;
    expect(accSgpt).toBeGreaterThan(accMag);
  });

  it('--parallel uses dense inputs (X̂ = X); --rounds 2 recaptures X̂ and keeps sparsity exact', async () => {
    const parallel = await pruneModel(model, calib, { method: 'sparsegpt', sparsity: 0.7, calibSamples: 64, parallel: true });
    const sequential = await pruneModel(model, calib, { method: 'sparsegpt', sparsity: 0.7, calibSamples: 64 });
    expect(parallel.report.mode).toBe('parallel');
    // the first layer sees the same inputs in both modes: identical result
    expect(parallel.report.layers[0]!.error).toBeCloseTo(sequential.report.layers[0]!.error!, 12);
    // later layers differ: sequential statistics come from the pruned model
    expect(parallel.report.layers[2]!.error).not.toBeCloseTo(sequential.report.layers[2]!.error!, 6);
    const twice = await pruneModel(model, calib, { method: 'iobs', sparsity: 0.7, calibSamples: 64, rounds: 2, iterations: 1 });
    expect(twice.report.rounds).toBe(2);
    for (const view of findPrunableLayers(twice.model)) expect(zeros(view.read())).toBe(Math.round(0.7 * view.rows * view.cols));
  });

  it('global magnitude prunes exactly k weights over all layers', async () => {
    const { model: pruned, report } = await pruneModel(model, undefined, { method: 'magnitude', sparsity: 0.8, global: true });
    const total = findPrunableLayers(pruned).reduce((a, v) => a + zeros(v.read()), 0);
    expect(total).toBe(Math.round(0.8 * report.totals.parameters));
    // layers end up with different sparsities
    const s = report.layers.map((l) => l.sparsity);
    expect(Math.max(...s) - Math.min(...s)).toBeGreaterThan(0.01);
  });

  it('--skip leaves a layer dense and overrides set per-layer sparsity', async () => {
    const views = findPrunableLayers(model);
    const { report } = await pruneModel(model, calib, {
      method: 'wanda',
      sparsity: 0.5,
      calibSamples: 32,
      skip: [views[2]!.name],
      layerSparsity: { [views[0]!.name]: 0.9 },
    });
    expect(report.layers[2]!.skipped).toBe(true);
    expect(report.layers[2]!.sparsity).toBe(0);
    expect(report.layers[0]!.sparsity).toBeCloseTo(0.9, 4);
    expect(report.layers[1]!.sparsity).toBeCloseTo(0.5, 4);
  });
}

describeShared('pruneModel on the fixture MLP (PyTorch export)', () => mlpSuite(FMNIST_MLP));
describe('pruneModel on the demo MLP (data/fmnist-mlp.onnx)', () => mlpSuite(DEMO_MLP));

/** One layer per stage, in graph order. */
function expectOneLayerPerStage(path: string): void {
  const model = readOnnxModel(path);
  const views = findPrunableLayers(model);
  expect(views.length).toBeGreaterThan(2);
  expect(pruningStages(model, views).map((s) => s.map((v) => v.name))).toEqual(views.map((v) => [v.name]));
}

describe('sequential stages', () => {
  itShared('fmnist-mlp and fmnist-vit (PyTorch exports; fused qkv): one layer per stage, in graph order', () => {
    for (const name of ['fmnist-mlp', 'fmnist-vit']) expectOneLayerPerStage(fixture(`${name}.onnx`));
  });
  it('tiny-mlp and tiny-gpt (fused qkv) of test/fixtures: one layer per stage, in graph order', () => {
    for (const name of ['tiny-mlp', 'tiny-gpt']) expectOneLayerPerStage(tiny(`${name}.onnx`));
  });
  it('tiny-cnn: the groups of a grouped conv read the same activation and share a stage', () => {
    const cnn = readOnnxModel(tiny('tiny-cnn.onnx'));
    expect(pruningStages(cnn, findPrunableLayers(cnn)).map((s) => s.map((v) => v.name))).toEqual([
      ['conv1.weight'],
      ['conv2.weight#g0', 'conv2.weight#g1'],
      ['fc1.weight'],
      ['fc2.weight'],
    ]);
  });
  it('layers reading the same activation share a stage', () => {
    // a graph x -> {Gemm A, Gemm B} -> Add -> Gemm C: A and B form stage 1, C stage 2
    const mlp = readOnnxModel(tiny('tiny-mlp.onnx'));
    const [first, second] = findPrunableLayers(mlp);
    const fake = { ...second!, name: 'twin', inputName: first!.inputName, outputName: 'twin_out' };
    mlp.graph.node.unshift({ ...mlp.graph.node.find((n) => n.output.includes(first!.outputName))!, output: ['twin_out'] });
    const stages = pruningStages(mlp, [first!, fake, second!]);
    expect(stages.map((s) => s.map((v) => v.name))).toEqual([[first!.name, 'twin'], [second!.name]]);
  });
});

describeShared('conv and token models (PyTorch exports)', () => {
  it('CNN: conv layers prune through im2col with exact sparsity; held-out error finite', async () => {
    const cnn = readOnnxModel(fixture('fmnist-cnn.onnx'));
    const { model: pruned, report } = await pruneModel(cnn, calibration(cnn, 48), { method: 'sparsegpt', sparsity: 0.5, calibSamples: 32 });
    for (const view of findPrunableLayers(pruned)) expect(zeros(view.read())).toBe(Math.round(0.5 * view.rows * view.cols));
    const conv = report.layers.filter((l) => l.op === 'Conv');
    expect(conv).toHaveLength(2);
    expect(conv[0]!.samples).toBe(32 * 26 * 26); // 3×3 valid convolution of 28×28
    for (const l of report.layers) expect(l.error!).toBeLessThan(0.5);
  });
  it('GPT: token dimensions flatten into sample rows', async () => {
    const gpt = readOnnxModel(fixture('lic-gpt.onnx'));
    const tokens = loadDataset({ tokens: fixture('lic-gpt.val-tokens.npy'), limit: 24 }, { inputs: gpt.inputs });
    const { report } = await pruneModel(gpt, tokens, { method: 'wanda', sparsity: 0.5, calibSamples: 16 });
    expect(report.layers.every((l) => l.skipped || l.samples === 16 * 128)).toBe(true);
    expect(report.heldOutSamples).toBe(1); // wanda only reports on them: 16/16
  });
});

describe('conv and token models (test/fixtures)', () => {
  it('tiny-cnn: plain and grouped conv layers prune through im2col with exact sparsity; held-out error finite', async () => {
    const cnn = readOnnxModel(tiny('tiny-cnn.onnx'));
    const { model: pruned, report } = await pruneModel(cnn, tinyCalibration(cnn, 48), { method: 'sparsegpt', sparsity: 0.5, calibSamples: 32 });
    for (const view of findPrunableLayers(pruned)) expect(zeros(view.read())).toBe(Math.round(0.5 * view.rows * view.cols));
    const conv = report.layers.filter((l) => l.op === 'Conv');
    expect(conv.map((l) => l.name)).toEqual(['conv1.weight', 'conv2.weight#g0', 'conv2.weight#g1']);
    expect(conv[0]!.samples).toBe(32 * 6 * 6); // 3×3 valid convolution of 8×8
    expect(conv[1]!.samples).toBe(32 * 6 * 6); // 3×3, pad 1, of 6×6
    for (const l of report.layers) {
      expect(l.error!).toBeGreaterThan(0);
      expect(l.error!).toBeLessThan(0.5);
    }
    // the first Gemm (transB=1) and the last (transB=0, stored transposed) are pruned too
    expect(report.layers.filter((l) => l.op === 'Gemm').map((l) => l.sparsity)).toEqual([0.5, 0.5]);
  });
  it('default held-out samples: a sixteenth of the calibration samples where they only serve the error report, a quarter for iobs (which picks on them), never more than the data has', async () => {
    const gpt = readOnnxModel(tiny('tiny-gpt.onnx'));
    const tokens = (limit: number) => loadDataset({ tokens: tiny('tiny-tokens.npy'), limit }, { inputs: gpt.inputs });
    const run = async (method: string, limit: number, calibSamples: number) => (await pruneModel(gpt, tokens(limit), { method, sparsity: 0.5, calibSamples })).report.heldOutSamples;
    expect(await run('sparsegpt', 40, 32)).toBe(2);
    expect(await run('iobs', 40, 32)).toBe(8);
    expect(await run('sparsegpt', 40, 16)).toBe(1);
    expect(await run('iobs', 36, 32)).toBe(4); // only 4 samples beyond the calibration ones
    expect(await run('sparsegpt', 32, 32)).toBe(0); // none beyond them: the error is measured on the calibration samples
    expect(defaultHeldOutSamples(getPruner('sparsegpt')!, 512)).toBe(32);
    expect(defaultHeldOutSamples(getPruner('iht')!, 512)).toBe(128);
    expect(defaultHeldOutSamples({}, 8)).toBe(1); // a pruner of your own reports only
  });
  it('tiny-gpt: token dimensions flatten into sample rows; MatMul weights stored [in, out] are pruned per output row', async () => {
    const gpt = readOnnxModel(tiny('tiny-gpt.onnx'));
    const tokens = loadDataset({ tokens: tiny('tiny-tokens.npy'), limit: 24 }, { inputs: gpt.inputs });
    const { model: pruned, report } = await pruneModel(gpt, tokens, { method: 'wanda', sparsity: 0.5, calibSamples: 16 });
    expect(report.layers).toHaveLength(9);
    expect(report.layers.every((l) => !l.skipped && l.samples === 16 * 8)).toBe(true);
    expect(report.heldOutSamples).toBe(1);
    // wanda compares within each output row: exactly half of every row of every view is zero
    for (const view of findPrunableLayers(pruned)) {
      const w = view.read();
      for (let r = 0; r < view.rows; r++) expect(zeros(w.subarray(r * view.cols, (r + 1) * view.cols))).toBe(view.cols / 2);
    }
  });
});

describe('reconstruction error', () => {
  it.each([
    ['held-out samples', 32, 64, 96],
    ['the calibration samples when none are held out', 0, 0, 64],
  ])('sparsegpt (no cross term): the reported error is ‖ŴX̂ − WX‖²/‖WX‖² over %s, X̂ and X captured from the pruned and dense models', async (_, heldOutSamples, from, to) => {
    const model = readOnnxModel(demoData('fmnist-mlp.onnx'));
    const calib = classification({ inputs: demoData('fmnist-train.npz.gz'), scale: 1 / 255, limit: 96 }, model);
    const { model: prunedModel, report } = await pruneModel(model, calib, { method: 'sparsegpt', sparsity: 0.6, calibSamples: 64, heldOutSamples });
    const dense = asNetwork(model);
    const pruned = asNetwork(prunedModel);
    const denseLayers = dense.layers();
    const prunedLayers = pruned.layers();
    const names = denseLayers.map((l) => l.uses[0]!.input);
    const denseRunner = await dense.runner(names);
    const prunedRunner = await pruned.runner(names);
    try {
      const sums = denseLayers.map(() => ({ error: 0, norm: 0 }));
      for (const { feeds } of batchFeeds(calib, 13, from, to)) {
        const X = await denseRunner.run(feeds, names);
        const Xhat = await prunedRunner.run(feeds, names);
        denseLayers.forEach((layer, i) => {
          const W = layer.read();
          const What = prunedLayers[i]!.read();
          const x = layer.uses[0]!.samples(X[names[i]!]!);
          const xh = layer.uses[0]!.samples(Xhat[names[i]!]!);
          for (let s = 0; s < x.n; s++) {
            for (let r = 0; r < layer.rows; r++) {
              let y = 0;
              let yh = 0;
              for (let c = 0; c < layer.cols; c++) {
                y += W[r * layer.cols + c]! * x.X[s * layer.cols + c]!;
                yh += What[r * layer.cols + c]! * xh.X[s * layer.cols + c]!;
              }
              sums[i]!.error += (yh - y) ** 2;
              sums[i]!.norm += y * y;
            }
          }
        });
      }
      expect(report.heldOutSamples).toBe(heldOutSamples);
      report.layers.forEach((l, i) => {
        const expected = sums[i]!.error / sums[i]!.norm;
        expect(expected).toBeGreaterThan(1e-4);
        expect(Math.abs(l.error! - expected) / expected).toBeLessThan(1e-6);
      });
    } finally {
      await denseRunner.release();
      await prunedRunner.release();
    }
  });
});
