/**
 * Models as exporters write them (test/exported-models.ts) through the network API: open,
 * inspect, evaluate, prune (sparsegpt and iobs at 50 %), save, reload, evaluate again, and
 * measure collapse — plus the same trained MLP as ONNX, TF.js layers and TF.js graph model
 * giving the same pruned weights through the shared pipeline.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDataset, type ClassificationDataset, type Dataset } from '../../src/io/dataset.js';
import { writeNpy } from '../../src/io/npy.js';
import { inspectModel } from '../../src/inspect.js';
import { openNetwork } from '../../src/network/open.js';
import type { Network } from '../../src/network/types.js';
import { pruneModel } from '../../src/prune/model.js';
import { evaluateModel } from '../../src/runtime/evaluate.js';
import { measureModelCollapse } from '../../src/collapse/model.js';
import * as exported from '../exported-models.js';
import { expectBadInput, surgeon } from '../cli/helpers.js';
import { useTestBackend, TEST_BACKEND } from '../tfjs/helpers.js';

const DATA = exported.DATA_DIR;
let dir: string;

beforeAll(async () => {
  await useTestBackend();
  dir = mkdtempSync(join(tmpdir(), 'surgeon-exported-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function vision(network: Network, split: 'train' | 'test', limit: number): ClassificationDataset {
  return loadDataset({ inputs: join(DATA, `fmnist-${split}.npz.gz`), scale: 1 / 255, limit }, { inputs: network.inputs }) as ClassificationDataset;
}

/** Prunes, saves, reopens and evaluates; returns the reopened accuracy and the report. */
async function pruneSaveEval(network: Network, method: string, calib: Dataset, test: Dataset, out: string) {
  const { model: pruned, report } = await pruneModel(network, calib, { method, sparsity: 0.5, calibSamples: 128, heldOutSamples: 32 });
  const saved = await pruned.save(out, network.path ? { inputPath: network.path } : {});
  pruned.dispose();
  const reopened = await openNetwork(saved.path, network.format === 'onnx' ? {} : { backend: TEST_BACKEND });
  try {
    const evaluation = await evaluateModel(reopened, test);
    const zeros = reopened.layers().filter((l) => !report.layers.find((r) => r.name === l.name)?.skipped).map((l) => l.read().filter((v) => v === 0).length / (l.rows * l.cols));
    return { evaluation, report, zeros };
  } finally {
    reopened.dispose();
  }
}

describe('exported-style vision models through the network API', () => {
  const cases: Array<[string, () => Promise<string>, { minAccuracy: number; layers: number; dense?: number }]> = [
    ['weights behind Constant/Identity/Transpose', async () => write('producers.onnx', exported.mlpThroughProducers()), { minAccuracy: 0.8, layers: 3 }],
    ['float16', async () => write('fp16.onnx', exported.mlpInDtype('float16')), { minAccuracy: 0.8, layers: 3 }],
    ['external data', async () => exported.writeWithExternalData(exported.mlpInDtype('float32'), join(dir, 'ext'), 'ext.onnx'), { minAccuracy: 0.8, layers: 3 }],
    ['If subgraph (fc3 uncapturable: left dense by calibrated methods)', async () => write('if.onnx', exported.mlpWithIf()), { minAccuracy: 0.8, layers: 3, dense: 1 }],
    ['features-only classifier', async () => write('features.onnx', exported.featuresClassifier()), { minAccuracy: 0.6, layers: 1 }],
    ['sequence-first encoder', async () => write('seq.onnx', exported.sequenceFirstEncoder()), { minAccuracy: 0.4, layers: 3 }],
    ['TF.js layers model', async () => exported.writeDemoMlpLayersModel(join(dir, 'layers')), { minAccuracy: 0.8, layers: 3 }],
    ['TF.js graph model', async () => exported.writeDemoMlpGraphModel(join(dir, 'graph')), { minAccuracy: 0.8, layers: 3 }],
  ];
  function write(name: string, bytes: Uint8Array): string {
    const path = join(dir, name);
    writeFileSync(path, bytes);
    return path;
  }

  for (const [name, make, expected] of cases) {
    it(`${name}: inspect, eval, prune sparsegpt/iobs 50 % → saved model loads and keeps its accuracy, collapse`, async () => {
      const path = await make();
      const network = await openNetwork(path, path.endsWith('.onnx') ? {} : { backend: TEST_BACKEND });
      try {
        const report = inspectModel(network);
        expect(report.layers).toHaveLength(expected.layers);
        const test = vision(network, 'test', 400);
        const calib = vision(network, 'train', 160);
        const dense = await evaluateModel(network, test);
        expect(dense.accuracy!).toBeGreaterThan(expected.minAccuracy);
        for (const method of ['sparsegpt', 'iobs']) {
          const out = join(dir, `${name.replace(/\W+/g, '-')}-${method}${path.endsWith('.onnx') ? '.onnx' : ''}`);
          const { evaluation, report: pr, zeros } = await pruneSaveEval(network, method, calib, test, out);
          expect(pr.layers.filter((l) => l.skipped)).toHaveLength(expected.dense ?? 0);
          for (const z of zeros) expect(z).toBeCloseTo(0.5, 2);
          expect(evaluation.accuracy!).toBeGreaterThan(dense.accuracy! - 0.06);
        }
        const collapse = await measureModelCollapse(network, test, { limit: 300 });
        expect(collapse.layers.length).toBeGreaterThan(0);
        for (const l of collapse.layers) expect(Number.isFinite(l.nc1)).toBe(true);
      } finally {
        network.dispose();
      }
    });
  }

  it('the same trained MLP as ONNX, TF.js layers and TF.js graph model: identical sparsegpt weights (1e-5) through the shared pipeline', async () => {
    const paths = [join(DATA, 'fmnist-mlp.onnx'), await exported.writeDemoMlpLayersModel(join(dir, 'same-layers')), exported.writeDemoMlpGraphModel(join(dir, 'same-graph'))];
    const pruned: Float32Array[][] = [];
    for (const path of paths) {
      const network = await openNetwork(path, path.endsWith('.onnx') ? {} : { backend: TEST_BACKEND });
      const { model, report } = await pruneModel(network, vision(network, 'train', 160), { method: 'sparsegpt', sparsity: 0.5, calibSamples: 128, heldOutSamples: 32 });
      expect(report.layers.map((l) => [l.rows, l.cols])).toEqual([[128, 784], [64, 128], [10, 64]]);
      pruned.push(model.layers().map((l) => l.read()));
      model.dispose();
      network.dispose();
    }
    for (const other of pruned.slice(1)) {
      other.forEach((W, l) => {
        const ref = pruned[0]![l]!;
        let worst = 0;
        for (let i = 0; i < W.length; i++) {
          expect(W[i] === 0).toBe(ref[i] === 0);
          worst = Math.max(worst, Math.abs(W[i]! - ref[i]!));
        }
        expect(worst).toBeLessThan(1e-5);
      });
    }
  });

  it('external data resolves against the model folder from any working directory (CLI)', () => {
    const path = exported.writeWithExternalData(exported.mlpInDtype('float32'), join(dir, 'ext-cli'), 'm.onnx');
    const r = surgeon(['eval', path, '--inputs', join(DATA, 'fmnist-test.npz.gz'), '--scale', '1/255', '--limit', '200', '--json'], { cwd: '/' });
    expect(r.status, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { accuracy: number }).accuracy).toBeGreaterThan(0.8);
  });
});

describe('exported-style token models', () => {
  const tokensFile = () => {
    const path = join(dir, 'tokens.npy');
    writeNpy(path, { dtype: 'int64', shape: [4096], data: exported.markovTokens(4096) });
    return path;
  };

  it('BERT-like (three inputs) and GPT-2-like (tied lm_head) evaluate and prune; the tied embedding stays dense unless asked', async () => {
    const tokens = tokensFile();
    for (const [name, bytes] of [['bert', exported.bertLike()], ['gpt2', exported.gpt2Like()]] as const) {
      const path = join(dir, `${name}.onnx`);
      writeFileSync(path, bytes);
      const network = await openNetwork(path);
      const data = loadDataset({ tokens, seqLen: 16 }, { inputs: network.inputs });
      const dense = await evaluateModel(network, data);
      expect(Number.isFinite(dense.perplexity!)).toBe(true);
      const { model, report } = await pruneModel(network, data, { method: 'sparsegpt', sparsity: 0.5, calibSamples: 128, heldOutSamples: 32 });
      const after = await evaluateModel(model, data);
      expect(Number.isFinite(after.perplexity!)).toBe(true);
      const tied = report.layers.filter((l) => l.skipped);
      if (name === 'gpt2') {
        expect(tied.map((l) => l.name)).toEqual(['transformer.wte.weight']);
        expect(tied[0]!.reason).toMatch(/^tied with .*Gather/);
        const all = await pruneModel(network, data, { method: 'magnitude', sparsity: 0.5, includeTied: true });
        expect(all.report.layers.filter((l) => l.skipped)).toHaveLength(0);
        all.model.dispose();
      } else {
        expect(tied).toHaveLength(0);
      }
      model.dispose();
      network.dispose();
    }
  });

  it('collapse on token windows is one clear line, exit 2 (CLI)', () => {
    const path = join(dir, 'bert-cli.onnx');
    writeFileSync(path, exported.bertLike());
    expectBadInput(surgeon(['collapse', path, '--tokens', tokensFile(), '--seq-len', '16']), /collapse measures classifiers/);
  });
});
