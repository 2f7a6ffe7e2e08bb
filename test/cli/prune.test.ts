import { describe, expect, it } from 'vitest';
import { copyFileSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { HAVE_FIXTURES, expectBadInput, fixture, surgeon, tempDir } from './helpers.js';
import { writeNpy } from '../../src/io/npy.js';

const describeFixtures = HAVE_FIXTURES ? describe : describe.skip;
if (!HAVE_FIXTURES) console.warn('SKIPPED: ../shared/fixtures absent — surgeon prune CLI tests not run');

const calib = () => ['--inputs', fixture('fmnist-calib-images.npy'), '--scale', '1/255', '--calib-samples', '48', '--held-out', '16'];

describeFixtures('surgeon prune', () => {
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

  describe('bad input: one line, exit 2, nothing written', () => {
    it('sparsity outside [0, 1)', () => expectBadInput(surgeon(['prune', fixture('fmnist-mlp.onnx'), '--method', 'sparsegpt', '--sparsity', '1.2', ...calib()]), /outside \[0, 1\)/));
    it('negative sparsity', () => expectBadInput(surgeon(['prune', fixture('fmnist-mlp.onnx'), '--method', 'sparsegpt', '--sparsity=-0.1', ...calib()]), /outside \[0, 1\)/));
    it('an N:M that does not divide the input dimension', () =>
      expectBadInput(surgeon(['prune', fixture('fmnist-cnn.onnx'), '--method', 'sparsegpt', '--pattern', '2:4', ...calib()]), /multiple of 4.*--skip/));
    it('a malformed pattern', () => expectBadInput(surgeon(['prune', fixture('fmnist-mlp.onnx'), '--method', 'sparsegpt', '--pattern', '4:2', ...calib()]), /N:M/));
    it('a calibration set whose shape fits no model input', () =>
      expectBadInput(surgeon(['prune', fixture('fmnist-mlp.onnx'), '--method', 'sparsegpt', '--sparsity', '0.5', '--inputs', fixture('fmnist-calib-labels.npy')]), /shape|values/));
    it('too few calibration samples for the method', () => {
      const few = join(dir, 'few.npy');
      writeNpy(few, { dtype: 'uint8', shape: [4, 28, 28], data: new Uint8Array(4 * 784).fill(7) });
      expectBadInput(surgeon(['prune', fixture('fmnist-mlp.onnx'), '--method', 'sparsegpt', '--sparsity', '0.5', '--inputs', few]), /at least 16 calibration samples/);
    });
    it('an unknown method', () => expectBadInput(surgeon(['prune', fixture('fmnist-mlp.onnx'), '--method', 'brainsurgery', '--sparsity', '0.5']), /brainsurgery/));
    it('a method that needs data, without data', () => expectBadInput(surgeon(['prune', fixture('fmnist-mlp.onnx'), '--method', 'iobs', '--sparsity', '0.5']), /needs calibration data/));
    it('--out equal to the input', () => {
      const model = join(dir, 'keep.onnx');
      copyFileSync(fixture('fmnist-mlp.onnx'), model);
      const mtime = statSync(model).mtimeMs;
      expectBadInput(surgeon(['prune', model, '--method', 'magnitude', '--sparsity', '0.5', '--out', model]), /input/);
      expect(statSync(model).mtimeMs).toBe(mtime);
    });
    it('an unknown --skip layer lists the valid ones', () =>
      expectBadInput(surgeon(['prune', fixture('fmnist-mlp.onnx'), '--method', 'magnitude', '--sparsity', '0.5', '--skip', 'nope']), /nope.*valid layers: net\.1\.weight/));
    it('a broken override file', () => {
      const file = join(dir, 'overrides.json');
      writeFileSync(file, '{ not json');
      expectBadInput(surgeon(['prune', fixture('fmnist-mlp.onnx'), '--method', 'magnitude', '--sparsity', '0.5', '--layer-sparsity', file]), /not valid JSON/);
    });
  });
});
