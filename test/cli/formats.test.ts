/**
 * One CLI for every format: the same commands and flags on ONNX, TF.js layers and TF.js graph
 * models; flags that cannot apply to a format are refused in one line; method names mean the
 * same everywhere; the Fisher methods keep their own damping default.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import * as exported from '../exported-models.js';
import { expectBadInput, surgeon, tempDir } from './helpers.js';
import { TEST_BACKEND } from '../tfjs/helpers.js';

const DATA = exported.DATA_DIR;
const ONNX = join(DATA, 'fmnist-mlp.onnx');
const train = ['--inputs', join(DATA, 'fmnist-train.npz.gz'), '--scale', '1/255'];
const test = ['--inputs', join(DATA, 'fmnist-test.npz.gz'), '--scale', '1/255'];
let dir: string;
let layers: string;
let graph: string;

beforeAll(async () => {
  dir = tempDir();
  layers = await exported.writeDemoMlpLayersModel(join(dir, 'layers'));
  graph = exported.writeDemoMlpGraphModel(join(dir, 'graph'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the same commands on every format', () => {
  it('inspect, eval and prune --json start with the format; the three formats agree', () => {
    const accuracies: number[] = [];
    for (const [model, format] of [[ONNX, 'onnx'], [layers, 'tfjs-layers'], [graph, 'tfjs-graph']] as const) {
      const backend = format === 'onnx' ? [] : ['--backend', TEST_BACKEND];
      const inspect = surgeon(['inspect', model, '--json', ...backend]);
      expect(inspect.status, inspect.stderr).toBe(0);
      const report = JSON.parse(inspect.stdout) as { format: string; layers: Array<{ shape: number[] }> };
      expect(report.format).toBe(format);
      expect(report.layers.map((l) => l.shape)).toEqual([[128, 784], [64, 128], [10, 64]]);
      const evaluation = surgeon(['eval', model, ...test, '--limit', '500', '--json', ...backend]);
      expect(evaluation.status, evaluation.stderr).toBe(0);
      const e = JSON.parse(evaluation.stdout) as { format: string; backend?: string; accuracy: number };
      expect(e.format).toBe(format);
      if (format !== 'onnx') expect(e.backend).toBe(TEST_BACKEND);
      accuracies.push(e.accuracy);
      const out = join(dir, `${format}-2of4${format === 'onnx' ? '.onnx' : ''}`);
      const pruned = surgeon(['prune', model, '--method', 'sparsegpt', '--pattern', '2:4', ...train, '--calib-samples', '64', '--out', out, '--json', ...backend]);
      expect(pruned.status, pruned.stderr).toBe(0);
      const p = JSON.parse(pruned.stdout) as { format: string; totals: { sparsity: number }; output: string };
      expect(p.format).toBe(format);
      expect(p.totals.sparsity).toBeGreaterThanOrEqual(0.5); // 2 of every 4 kept at most (always-zero input pixels give a few more zeros)
      expect(p.totals.sparsity).toBeLessThan(0.52);
      const again = surgeon(['eval', p.output, ...test, '--limit', '500', '--json', ...backend]);
      expect(again.status, again.stderr).toBe(0);
      expect((JSON.parse(again.stdout) as { accuracy: number }).accuracy).toBeGreaterThan(0.75);
    }
    expect(new Set(accuracies).size).toBe(1);
  });

  it('curve and demo take TF.js models', () => {
    const curve = surgeon(['curve', graph, '--methods', 'magnitude,iobs', '--sparsities', '0.5', '--calib-inputs', train[1]!, '--calib-scale', '1/255', '--calib-samples', '64', ...test, '--limit', '300', '--out', join(dir, 'graph.curve'), '--json', '--backend', TEST_BACKEND]);
    expect(curve.status, curve.stderr).toBe(0);
    const results = JSON.parse(curve.stdout) as { model: { format: string }; points: Array<{ method: string; accuracy: number; collapse: unknown }> };
    expect(results.model.format).toBe('tfjs-graph');
    expect(results.points.map((p) => p.method)).toEqual(['dense', 'magnitude', 'iobs']);
    for (const p of results.points) expect(p.collapse).not.toBeNull();
    const demo = surgeon(['demo', '--model', layers, '--methods', 'sparsegpt', '--sparsities', '0.5', '--calib-samples', '64', '--out', join(dir, 'demo'), '--json', '--backend', TEST_BACKEND]);
    expect(demo.status, demo.stderr).toBe(0);
    expect((JSON.parse(demo.stdout) as { points: unknown[] }).points).toHaveLength(2);
  });

  it('the Fisher methods run on TF.js layers models with their own damping default (1e-3), or as asked', () => {
    for (const [damp, expected] of [[[], 1e-3], [['--damp', '0.02'], 0.02]] as const) {
      const r = surgeon(['prune', layers, '--method', 'woodfisher', '--sparsity', '0.5', ...train, '--calib-samples', '64', '--fisher-samples', '16', '--block', '64', ...damp, '--out', join(dir, `wf-${expected}`), '--json', '--backend', TEST_BACKEND]);
      expect(r.status, r.stderr).toBe(0);
      const report = JSON.parse(r.stdout) as { method: string; damp: number; zeros: number; parameters: number };
      expect(report.damp).toBe(expected);
      expect(report.zeros).toBe(Math.round(0.5 * report.parameters));
    }
  });
});

describe('flags that cannot apply are refused in one line', () => {
  const backend = ['--backend', TEST_BACKEND];
  it('by format', () => {
    expectBadInput(surgeon(['inspect', ONNX, '--backend', 'wasm']), /--backend wasm applies to TensorFlow\.js models/);
    expectBadInput(surgeon(['eval', layers, ...test, '--threads', '4', ...backend]), /--threads does not apply to tfjs-layers models/);
    expectBadInput(surgeon(['collapse', ONNX, ...test, '--agop']), /--agop does not apply to onnx models/);
    expectBadInput(surgeon(['collapse', graph, ...test, '--agop', ...backend]), /--agop does not apply to tfjs-graph models/);
    for (const model of [ONNX, graph]) {
      const extra = model === ONNX ? [] : backend;
      expectBadInput(surgeon(['prune', model, '--method', 'woodfisher', '--sparsity', '0.5', ...train, ...extra]), /needs per-sample gradients, which only TensorFlow\.js layers models give/);
      expectBadInput(surgeon(['prune', model, '--method', 'magnitude', '--sparsity', '0.5', '--finetune-epochs', '1', ...train, ...extra]), /needs per-sample gradients/);
    }
  });

  it('by method', () => {
    expectBadInput(surgeon(['prune', ONNX, '--method', 'sparsegpt', '--sparsity', '0.5', ...train, '--fisher-samples', '8']), /--fisher-samples applies to the Fisher methods/);
    expectBadInput(surgeon(['prune', layers, '--method', 'sparsegpt', '--sparsity', '0.5', ...train, '--allocation', 'uniform', ...backend]), /--allocation applies to the Fisher methods/);
    expectBadInput(surgeon(['prune', layers, '--method', 'fisher-iobs', '--sparsity', '0.5', ...train, '--rounds', '2', ...backend]), /--rounds applies to the layer-wise methods/);
    expectBadInput(surgeon(['prune', layers, '--method', 'woodfisher', '--pattern', '2:4', ...train, ...backend]), /--pattern N:M applies to the layer-wise methods/);
  });
});
