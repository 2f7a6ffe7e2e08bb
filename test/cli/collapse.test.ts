import { beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readArrays } from '../../src/io/arrays.js';
import { writeNpy } from '../../src/io/npy.js';
import { readOnnxModel } from '../../src/io/onnx/model.js';
import type { NdArray } from '../../src/io/tensor.js';
import { demoData, describeShared, fixture, tiny } from '../fixtures.js';
import { expectBadInput, surgeon, tempDir } from './helpers.js';

const TEST = ['--inputs', fixture('fmnist-test-images.npy'), '--labels', fixture('fmnist-test-labels.npy'), '--scale', '1/255'];
const METRIC_KEYS = ['d', 'nc1', 'traceRatio', 'cdnv', 'etf', 'equinorm', 'nc4', 'effectiveRank', 'numericalRank', 'stableRank', 'withinTotalRatio'];

describeShared('surgeon collapse on the PyTorch fixtures', () => {
  it('--json: accuracy, samples and per-layer metrics (NC3 on the penultimate layer only)', () => {
    const result = surgeon(['collapse', fixture('fmnist-mlp.onnx'), ...TEST, '--limit', '500', '--json']);
    expect(result.status, result.stderr).toBe(0);
    const out = JSON.parse(result.stdout);
    expect(out.samples).toBe(500);
    expect(out.accuracy).toBeGreaterThan(0.8);
    expect(out.nc4MeansFrom).toBe('eval');
    expect(out.layers.map((l: { name: string }) => l.name)).toEqual(['/net/net.0/Flatten_output_0', '/net/net.2/Relu_output_0', '/net/net.4/Relu_output_0']);
    for (const layer of out.layers) {
      for (const key of METRIC_KEYS) expect(typeof layer[key], `${layer.name} ${key}`).toBe('number');
    }
    expect(out.layers.map((l: { nc3?: number }) => typeof l.nc3)).toEqual(['undefined', 'undefined', 'number']);
    expect(out.classifier).toMatchObject({ name: 'net.5.weight', K: 10, d: 128 });
  });

  it('prints a table with accuracy; --train-inputs supplies the NC4 means (inheriting --scale)', () => {
    const result = surgeon([
      'collapse', fixture('fmnist-cnn.onnx'), ...TEST, '--limit', '300', '--layers', 'penultimate',
      '--train-inputs', fixture('fmnist-calib-images.npy'), '--train-labels', fixture('fmnist-calib-labels.npy'), '--train-limit', '600',
    ]);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^layer\s+d\s+NC1\s+tr ratio\s+CDNV\s+ETF\s+equinorm\s+NC3\s+NC4\s+eff\. rank/);
    expect(result.stdout).toMatch(/\/head\/head\.1\/Relu_output_0 \*\s+128/);
    expect(result.stdout).toMatch(/accuracy \d+\.\d% \(0\.\d{4}\) on 300 samples/);
    expect(result.stdout).toMatch(/means of 600 train samples/);
    expect(result.stderr).toBe('');
  });

  it('--layers takes layer and tensor names', () => {
    const result = surgeon(['collapse', fixture('fmnist-mlp.onnx'), ...TEST, '--limit', '200', '--layers', 'net.3.weight,/net/net.1/Gemm_output_0', '--json']);
    expect(result.status, result.stderr).toBe(0);
    const out = JSON.parse(result.stdout);
    expect(out.layers.map((l: { name: string; d: number }) => [l.name, l.d])).toEqual([
      ['/net/net.1/Gemm_output_0', 256],
      ['/net/net.2/Relu_output_0', 256],
    ]);
  });
});

const DEMO = demoData('fmnist-mlp.onnx');
const DEMO_TEST = ['--inputs', demoData('fmnist-test.npz.gz'), '--scale', '1/255'];

describe('surgeon collapse on the demo MLP (data/) and test/fixtures', () => {
  it('--json: accuracy, samples and per-layer metrics (NC3 on the penultimate layer only)', () => {
    const result = surgeon(['collapse', DEMO, ...DEMO_TEST, '--limit', '500', '--json']);
    expect(result.status, result.stderr).toBe(0);
    const out = JSON.parse(result.stdout);
    expect(out.samples).toBe(500);
    expect(out.K).toBe(10);
    expect(out.accuracy).toBeGreaterThan(0.75);
    expect(out.nc4MeansFrom).toBe('eval');
    expect(out.layers.map((l: { name: string; d: number }) => [l.name, l.d])).toEqual([
      ['/flatten/Flatten_output_0', 784],
      ['/relu1/Relu_output_0', 128],
      ['/relu2/Relu_output_0', 64],
    ]);
    for (const layer of out.layers) {
      for (const key of METRIC_KEYS) expect(Number.isFinite(layer[key]), `${layer.name} ${key}`).toBe(true);
      expect(layer.nc1).toBeGreaterThan(0);
    }
    expect(out.layers.map((l: { nc3?: number }) => typeof l.nc3)).toEqual(['undefined', 'undefined', 'number']);
    expect(out.classifier).toMatchObject({ name: 'fc3.weight', K: 10, d: 64 });
  });

  it('tiny-cnn: prints a table with accuracy; --train-inputs supplies the NC4 means (inheriting --scale)', () => {
    const result = surgeon([
      'collapse', tiny('tiny-cnn.onnx'), '--inputs', tiny('tiny-test-images.npy'), '--labels', tiny('tiny-test-labels.npy'), '--scale', '1/255', '--limit', '200',
      '--layers', 'penultimate', '--train-inputs', tiny('tiny-train-images.npy'), '--train-labels', tiny('tiny-train-labels.npy'), '--train-limit', '120',
    ]);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^layer\s+d\s+NC1\s+tr ratio\s+CDNV\s+ETF\s+equinorm\s+NC3\s+NC4\s+eff\. rank/);
    expect(result.stdout).toMatch(/\/relu3\/Relu_output_0 \*\s+16/);
    expect(result.stdout).toMatch(/accuracy \d+\.\d% \(0\.\d{4}\) on 200 samples/);
    expect(result.stdout).toMatch(/means of 120 train samples/);
    expect(result.stderr).toBe('');
  });

  it('--layers takes layer and tensor names (tiny-mlp)', () => {
    const result = surgeon(['collapse', tiny('tiny-mlp.onnx'), '--inputs', tiny('tiny-test-images.npy'), '--labels', tiny('tiny-test-labels.npy'), '--scale', '1/255', '--layers', 'fc2.weight,/fc1/Gemm_output_0', '--json']);
    expect(result.status, result.stderr).toBe(0);
    const out = JSON.parse(result.stdout);
    expect(out.samples).toBe(256);
    expect(out.accuracy).toBeGreaterThan(0.9);
    expect(out.layers.map((l: { name: string; d: number }) => [l.name, l.d])).toEqual([
      ['/fc1/Gemm_output_0', 32],
      ['/relu1/Relu_output_0', 32],
    ]);
  });
});

describe('surgeon collapse: bad input is one line, exit 2', () => {
  const dir = tempDir('surgeon-collapse-');
  const N = 300;
  const smallImages = join(dir, 'images.npy');
  let images: NdArray;
  let labels: NdArray;
  beforeAll(() => {
    const arrays = readArrays(demoData('fmnist-test.npz.gz'));
    images = arrays.get('x')!;
    labels = arrays.get('y')!;
    writeNpy(smallImages, { dtype: images.dtype, shape: [N, 28, 28], data: images.data.slice(0, N * 784) });
  });
  const labelFile = (name: string, map: (y: number, i: number) => number): string => {
    const data = new Int32Array(N);
    for (let i = 0; i < N; i++) data[i] = map(Number(labels.data[i]), i);
    const path = join(dir, name);
    writeNpy(path, { dtype: 'int32', shape: [N], data });
    return path;
  };
  const run = (labelsPath: string | undefined, ...extra: string[]) =>
    surgeon(['collapse', DEMO, '--inputs', smallImages, ...(labelsPath ? ['--labels', labelsPath] : []), '--scale', '1/255', ...extra]);

  it('no labels', () => expectBadInput(run(undefined), /collapse needs labels; pass --labels FILE or --dataset fashion-mnist/));
  it('labels with a class missing', () => expectBadInput(run(labelFile('no3.npy', (y) => (y === 3 ? 4 : y))), /class 3 has no samples/));
  it('a single class', () => expectBadInput(run(labelFile('zeros.npy', () => 0)), /at least 2 classes.*only class 0/));
  it('a layer that does not exist lists the valid ones', () =>
    expectBadInput(run(labelFile('ok.npy', (y) => y), '--layers', 'fc9'), /unknown layer 'fc9'; valid: penultimate, all, .*fc1\.weight.*\/relu2\/Relu_output_0/));
  it('NaN inputs are refused by the loader', () => {
    const data = new Float32Array(N * 784);
    for (let i = 0; i < data.length; i++) data[i] = Number(images.data[i]);
    data[784 * 2 + 10] = NaN;
    const path = join(dir, 'nan.npy');
    writeNpy(path, { dtype: 'float32', shape: [N, 28, 28], data });
    expectBadInput(surgeon(['collapse', DEMO, '--inputs', path, '--labels', labelFile('ok2.npy', (y) => y)]), /NaN/);
  });
  it('NaN features (NaN weight upstream) name the tensor', () => {
    const model = readOnnxModel(DEMO);
    const w = model.readInitializer('fc1.weight');
    w[0] = NaN;
    model.setInitializer('fc1.weight', w);
    const path = join(dir, 'nan-weight.onnx');
    writeFileSync(path, model.toBytes());
    const result = surgeon(['collapse', path, '--inputs', smallImages, '--labels', labelFile('ok3.npy', (y) => y), '--scale', '1/255', '--layers', '/fc1/Gemm_output_0']);
    expectBadInput(result, /layer "\/fc1\/Gemm_output_0" has a non-finite feature/);
  });
  it('--train-labels without --train-inputs', () => expectBadInput(run(labelFile('ok4.npy', (y) => y), '--train-labels', 'x.npy'), /--train-labels needs --train-inputs/));
});
