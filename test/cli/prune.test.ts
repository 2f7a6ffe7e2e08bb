import { describe, expect, it } from 'vitest';
import { copyFileSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { expectBadInput, surgeon, tempDir } from './helpers.js';
import { writeNpy } from '../../src/io/npy.js';
import { readOnnxModel } from '../../src/io/onnx/model.js';
import { findPrunableLayers } from '../../src/io/onnx/operators.js';
import { demoData, describeShared, fixture, tiny } from '../fixtures.js';

const calib = () => ['--inputs', fixture('fmnist-calib-images.npy'), '--scale', '1/255', '--calib-samples', '48', '--held-out', '16'];
const DEMO = demoData('fmnist-mlp.onnx');
const demoCalib = ['--inputs', demoData('fmnist-train.npz.gz'), '--scale', '1/255', '--calib-samples', '48', '--held-out', '16'];
const tinyCalib = ['--inputs', tiny('tiny-train-images.npy'), '--scale', '1/255', '--calib-samples', '48', '--held-out', '16'];

describeShared('surgeon prune on the PyTorch fixtures', () => {
  const dir = tempDir();

  it('writes a sparse model that onnxruntime runs, with the JSON contract', async () => {
    const out = join(dir, 'mlp-iobs.onnx');
    const result = surgeon(['prune', fixture('fmnist-mlp.onnx'), '--method', 'iobs', '--sparsity', '0.7', ...calib(), '--out', out, '--json']);
    expect(result.status, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.method).toBe('iobs');
    expect(report.sparsity).toBe(0.7);
    expect(typeof report.seconds).toBe('number');
    expect(report.layers).toHaveLength(3);
    for (const layer of report.layers) {
      expect(layer.sparsity).toBeCloseTo(0.7, 3);
      expect(layer.error).toBeGreaterThan(0);
      expect(layer.error).toBeLessThan(0.2);
      expect(typeof layer.name).toBe('string');
    }
    const session = await ort.InferenceSession.create(out);
    const x = new Float32Array(2 * 784).fill(0.5);
    const y = await session.run({ input: new ort.Tensor('float32', x, [2, 1, 28, 28]) });
    expect(Object.values(y)[0]!.dims).toEqual([2, 10]);
    const inspected = JSON.parse(surgeon(['inspect', out, '--json']).stdout);
    expect(inspected.sparsity).toBeCloseTo(0.7, 3);
  });

  it('prints a per-layer table and defaults --out to a new file beside the input', () => {
    const model = join(dir, 'model.onnx');
    copyFileSync(fixture('fmnist-mlp.onnx'), model);
    const before = readFileSync(model);
    const first = surgeon(['prune', model, '--method', 'magnitude', '--sparsity', '0.5']);
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/rel\. error/);
    expect(existsSync(join(dir, 'model.magnitude-0.5.onnx'))).toBe(true);
    const second = surgeon(['prune', model, '--method', 'magnitude', '--sparsity', '0.5']);
    expect(second.status).toBe(0);
    expect(existsSync(join(dir, 'model.magnitude-0.5-2.onnx'))).toBe(true);
    expect(readFileSync(model).equals(before)).toBe(true);
  });

  it('2:4 with --skip for a layer whose width is not a multiple of 4', () => {
    const out = join(dir, 'cnn-24.onnx');
    const result = surgeon(['prune', fixture('fmnist-cnn.onnx'), '--method', 'sparsegpt', '--pattern', '2:4', '--skip', 'onnx::Conv_32', ...calib(), '--out', out, '--json']);
    expect(result.status, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.pattern).toBe('2:4');
    expect(report.layers[0].skipped).toBe(true);
    expect(report.layers.slice(1).every((l: { sparsity: number }) => l.sparsity >= 0.5)).toBe(true);
  });
});

describe('surgeon prune on the demo MLP (data/) and test/fixtures', () => {
  const dir = tempDir();

  it('writes a sparse model that onnxruntime runs and that keeps its accuracy, with the JSON contract', async () => {
    const out = join(dir, 'demo-iobs.onnx');
    const result = surgeon(['prune', DEMO, '--method', 'iobs', '--sparsity', '0.7', ...demoCalib, '--out', out, '--json']);
    expect(result.status, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout);
    expect([report.method, report.sparsity]).toEqual(['iobs', 0.7]);
    expect(typeof report.seconds).toBe('number');
    expect(report.layers.map((l: { name: string }) => l.name)).toEqual(['fc1.weight', 'fc2.weight', 'fc3.weight']);
    for (const layer of report.layers) {
      expect(layer.sparsity).toBeCloseTo(0.7, 3);
      expect(layer.error).toBeGreaterThan(0);
      expect(layer.error).toBeLessThan(0.2);
    }
    const session = await ort.InferenceSession.create(out);
    const y = await session.run({ input: new ort.Tensor('float32', new Float32Array(2 * 784).fill(0.5), [2, 1, 28, 28]) });
    expect(Object.values(y)[0]!.dims).toEqual([2, 10]);
    expect(JSON.parse(surgeon(['inspect', out, '--json']).stdout).sparsity).toBeCloseTo(0.7, 3);
    const test = ['--inputs', demoData('fmnist-test.npz.gz'), '--scale', '1/255', '--limit', '1000', '--json'];
    const dense = JSON.parse(surgeon(['eval', DEMO, ...test]).stdout).accuracy as number;
    const sparse = JSON.parse(surgeon(['eval', out, ...test]).stdout).accuracy as number;
    expect(dense).toBeGreaterThan(0.8);
    expect(sparse).toBeGreaterThan(dense - 0.05);
  });

  it('prints a per-layer table and defaults --out to a new file beside the input', () => {
    const model = join(dir, 'model.onnx');
    copyFileSync(tiny('tiny-mlp.onnx'), model);
    const before = readFileSync(model);
    const first = surgeon(['prune', model, '--method', 'magnitude', '--sparsity', '0.5']);
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/rel\. error/);
    expect(first.stdout).toMatch(/fc1\.weight/);
    expect(existsSync(join(dir, 'model.magnitude-0.5.onnx'))).toBe(true);
    const second = surgeon(['prune', model, '--method', 'magnitude', '--sparsity', '0.5']);
    expect(second.status).toBe(0);
    expect(existsSync(join(dir, 'model.magnitude-0.5-2.onnx'))).toBe(true);
    expect(readFileSync(model).equals(before)).toBe(true);
  });

  it('tiny-cnn: 2:4 with --skip for the conv layers, whose widths (9, 18 per group) are not multiples of 4', () => {
    const out = join(dir, 'cnn-24.onnx');
    const skip = 'conv1.weight,conv2.weight#g0,conv2.weight#g1';
    const result = surgeon(['prune', tiny('tiny-cnn.onnx'), '--method', 'sparsegpt', '--pattern', '2:4', '--skip', skip, ...tinyCalib, '--out', out, '--json']);
    expect(result.status, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.pattern).toBe('2:4');
    expect(report.layers.map((l: { name: string }) => l.name)).toEqual(['conv1.weight', 'conv2.weight#g0', 'conv2.weight#g1', 'fc1.weight', 'fc2.weight']);
    expect(report.layers.map((l: { skipped?: boolean }) => l.skipped === true)).toEqual([true, true, true, false, false]);
    expect(report.layers.slice(3).every((l: { sparsity: number }) => l.sparsity >= 0.5)).toBe(true);
    // the written Gemm weights (fc2 stored transposed) hold at most 2 nonzeros in every 4 consecutive inputs
    const views = findPrunableLayers(readOnnxModel(out));
    for (const view of views.slice(3)) {
      const w = view.read();
      for (let r = 0; r < view.rows; r++) {
        for (let g = 0; g < view.cols; g += 4) expect(w.subarray(r * view.cols + g, r * view.cols + g + 4).filter((v) => v !== 0).length).toBeLessThanOrEqual(2);
      }
    }
    expect(Array.from(views[0]!.read())).toEqual(Array.from(findPrunableLayers(readOnnxModel(tiny('tiny-cnn.onnx')))[0]!.read()));
  });

  it('--json always carries the per-phase profile; --profile prints it after the layer table; --statistics fp32', () => {
    const phases = ['read', 'capture', 'statistics', 'prune', 'error', 'save', 'other'] as const;
    const json = surgeon(['prune', DEMO, '--method', 'sparsegpt', '--sparsity', '0.5', ...demoCalib, '--statistics', 'fp32', '--out', join(dir, 'demo-profile.onnx'), '--json']);
    expect(json.status, json.stderr).toBe(0);
    const report = JSON.parse(json.stdout);
    expect(report.statistics).toBe('fp32');
    let sum = 0;
    for (const phase of phases) {
      expect(report.profile[phase], phase).toBeGreaterThanOrEqual(0);
      sum += report.profile[phase];
    }
    expect(report.profile.read).toBeGreaterThan(0);
    expect(report.profile.save).toBeGreaterThan(0);
    expect(sum).toBeLessThanOrEqual(report.totalSeconds + 0.01);
    expect(report.peakRssBytes).toBeGreaterThan(10 * 2 ** 20);
    const text = surgeon(['prune', DEMO, '--method', 'sparsegpt', '--sparsity', '0.5', ...demoCalib, '--out', join(dir, 'demo-profile-2.onnx'), '--profile']);
    expect(text.status, text.stderr).toBe(0);
    expect(text.stdout.indexOf('rel. error')).toBeLessThan(text.stdout.indexOf('phase'));
    for (const phase of [...phases, 'total']) expect(text.stdout).toMatch(new RegExp(`^\\s*${phase}\\s+\\d+\\.\\d{3}`, 'm'));
    expect(text.stdout).toMatch(/peak RSS \d+ MiB/);
    expectBadInput(surgeon(['prune', DEMO, '--method', 'sparsegpt', '--sparsity', '0.5', ...demoCalib, '--statistics', 'fp16']), /fp16/);
  });

  it('tiny-gpt: --tokens calibration prunes every MatMul weight', () => {
    const out = join(dir, 'gpt.onnx');
    const result = surgeon(['prune', tiny('tiny-gpt.onnx'), '--method', 'sparsegpt', '--sparsity', '0.5', '--tokens', tiny('tiny-tokens.npy'), '--calib-samples', '32', '--out', out, '--json']);
    expect(result.status, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.layers).toHaveLength(9);
    for (const layer of report.layers) {
      expect(layer.sparsity).toBeCloseTo(0.5, 3);
      expect(layer.samples).toBe(32 * 8); // token positions flatten into samples
    }
    expect(report.heldOutSamples).toBe(2); // calib-samples/16: sparsegpt only reports on them
    const dense = JSON.parse(surgeon(['eval', tiny('tiny-gpt.onnx'), '--tokens', tiny('tiny-tokens.npy'), '--json']).stdout).perplexity as number;
    const sparse = JSON.parse(surgeon(['eval', out, '--tokens', tiny('tiny-tokens.npy'), '--json']).stdout).perplexity as number;
    expect(sparse).toBeGreaterThan(dense);
    expect(Number.isFinite(sparse)).toBe(true);
  });

  it('tiny-gpt: --no-stage-cache and a spilled stage cache (--activation-memory 0) give the same layers', () => {
    const run = (extra: string[]) => {
      const result = surgeon(['prune', tiny('tiny-gpt.onnx'), '--method', 'sparsegpt', '--sparsity', '0.5', '--tokens', tiny('tiny-tokens.npy'), '--calib-samples', '32', '--out', join(dir, 'gpt-cache.onnx'), '--json', ...extra]);
      expect(result.status, result.stderr).toBe(0);
      return (JSON.parse(result.stdout) as { layers: Array<{ sparsity: number; error: number }> }).layers;
    };
    const whole = run(['--no-stage-cache']);
    const spilled = run(['--activation-memory', '0']);
    spilled.forEach((l, i) => {
      expect(l.sparsity).toBe(whole[i]!.sparsity);
      expect(l.error).toBeCloseTo(whole[i]!.error, 6);
    });
  });
});

describe('surgeon prune: bad input is one line, exit 2, nothing written', () => {
  const dir = tempDir();
  it('negative --activation-memory', () => expectBadInput(surgeon(['prune', DEMO, '--method', 'sparsegpt', '--sparsity', '0.5', '--activation-memory', '-1', ...demoCalib]), /--activation-memory -1: expected MiB ≥ 0/));
  it('sparsity outside [0, 1)', () => expectBadInput(surgeon(['prune', DEMO, '--method', 'sparsegpt', '--sparsity', '1.2', ...demoCalib]), /outside \[0, 1\)/));
  it('negative sparsity', () => expectBadInput(surgeon(['prune', DEMO, '--method', 'sparsegpt', '--sparsity=-0.1', ...demoCalib]), /outside \[0, 1\)/));
  it('an N:M that does not divide the input dimension', () =>
    expectBadInput(surgeon(['prune', tiny('tiny-cnn.onnx'), '--method', 'sparsegpt', '--pattern', '2:4', ...tinyCalib]), /multiple of 4.*--skip/));
  it('a malformed pattern', () => expectBadInput(surgeon(['prune', DEMO, '--method', 'sparsegpt', '--pattern', '4:2', ...demoCalib]), /N:M/));
  it('a calibration set whose shape fits no model input', () =>
    expectBadInput(surgeon(['prune', DEMO, '--method', 'sparsegpt', '--sparsity', '0.5', '--inputs', tiny('tiny-train-images.npy')]), /shape|values/));
  it('too few calibration samples for the method', () => {
    const few = join(dir, 'few.npy');
    writeNpy(few, { dtype: 'uint8', shape: [4, 28, 28], data: new Uint8Array(4 * 784).fill(7) });
    expectBadInput(surgeon(['prune', DEMO, '--method', 'sparsegpt', '--sparsity', '0.5', '--inputs', few]), /at least 16 calibration samples/);
  });
  it('an unknown method', () => expectBadInput(surgeon(['prune', DEMO, '--method', 'brainsurgery', '--sparsity', '0.5']), /brainsurgery/));
  it('a method that needs data, without data', () => expectBadInput(surgeon(['prune', DEMO, '--method', 'iobs', '--sparsity', '0.5']), /needs calibration data/));
  it('--out equal to the input', () => {
    const model = join(dir, 'keep.onnx');
    copyFileSync(tiny('tiny-mlp.onnx'), model);
    const mtime = statSync(model).mtimeMs;
    expectBadInput(surgeon(['prune', model, '--method', 'magnitude', '--sparsity', '0.5', '--out', model]), /input/);
    expect(statSync(model).mtimeMs).toBe(mtime);
  });
  it('an unknown --skip layer lists the valid ones', () =>
    expectBadInput(surgeon(['prune', DEMO, '--method', 'magnitude', '--sparsity', '0.5', '--skip', 'nope']), /nope.*valid layers: fc1\.weight/));
  it('a broken override file', () => {
    const file = join(dir, 'overrides.json');
    writeFileSync(file, '{ not json');
    expectBadInput(surgeon(['prune', DEMO, '--method', 'magnitude', '--sparsity', '0.5', '--layer-sparsity', file]), /not valid JSON/);
  });
});
