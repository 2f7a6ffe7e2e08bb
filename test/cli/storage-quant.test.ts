/** `surgeon prune --storage sparse` and `--quantize`: the JSON contract, the files, and bad input in one line. */
import { describe, expect, it } from 'vitest';
import { copyFileSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { expectBadInput, surgeon, tempDir } from './helpers.js';
import { demoData, tiny } from '../fixtures.js';
import { writeDemoMlpLayersModel } from '../exported-models.js';

const DEMO = demoData('fmnist-mlp.onnx');
const tinyCalib = ['--inputs', tiny('tiny-train-images.npy'), '--scale', '1/255', '--calib-samples', '64', '--held-out', '16'];

describe('surgeon prune --storage / --quantize', () => {
  it('--storage sparse: a smaller file with the same accuracy, and its encodings in the JSON', () => {
    const dir = tempDir();
    const dense = surgeon(['prune', DEMO, '--method', 'magnitude', '--sparsity', '0.5', '--out', join(dir, 'dense.onnx'), '--json']);
    const sparse = surgeon(['prune', DEMO, '--method', 'magnitude', '--sparsity', '0.5', '--storage', 'sparse', '--out', join(dir, 'sparse.onnx'), '--json']);
    expect(sparse.status, sparse.stderr).toBe(0);
    const report = JSON.parse(sparse.stdout);
    expect(report.storage).toBe('sparse');
    expect(report.sparseTensors.map((t: { name: string }) => t.name).sort()).toEqual(['fc1.weight', 'fc2.weight', 'fc3.weight']);
    expect(report.bytes).toBe(statSync(join(dir, 'sparse.onnx')).size);
    expect(report.bytes / JSON.parse(dense.stdout).bytes).toBeLessThan(0.6);
    const evalArgs = ['--inputs', demoData('fmnist-test.npz.gz'), '--scale', '1/255', '--limit', '300', '--json'];
    const a = JSON.parse(surgeon(['eval', join(dir, 'dense.onnx'), ...evalArgs]).stdout);
    const b = JSON.parse(surgeon(['eval', join(dir, 'sparse.onnx'), ...evalArgs]).stdout);
    expect(b.accuracy).toBe(a.accuracy);
  });

  it('--sparse-encoding coo: only sparse_initializers, with the smallest index type per tensor', () => {
    const dir = tempDir();
    const result = surgeon(['prune', DEMO, '--method', 'magnitude', '--sparsity', '0.8', '--storage', 'sparse', '--sparse-encoding', 'coo', '--out', join(dir, 'coo.onnx'), '--json']);
    expect(result.status, result.stderr).toBe(0);
    const tensors = JSON.parse(result.stdout).sparseTensors as Array<{ name: string; encoding: string; indexType: string; elements: number }>;
    expect(tensors.map((t) => t.encoding)).toEqual(['coo', 'coo', 'coo']);
    for (const t of tensors) expect(t.indexType).toBe(t.elements <= 128 ? 'int8' : t.elements <= 32768 ? 'int16' : 'int32');
    expectBadInput(surgeon(['prune', DEMO, '--method', 'magnitude', '--sparsity', '0.5', '--sparse-encoding', 'coo']), /--sparse-encoding applies to --storage sparse/);
  });

  it('--quantize int4 alone (GPTQ): MatMulNBits for every Gemm, the default output named after it', () => {
    const dir = tempDir();
    const model = join(dir, 'tiny.onnx');
    copyFileSync(tiny('tiny-mlp.onnx'), model);
    const result = surgeon(['prune', model, '--quantize', 'int4', '--group-size', '16', ...tinyCalib, '--json']);
    expect(result.status, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.quantize).toEqual({ bits: 4, groupSize: 16, method: 'gptq' });
    expect(report.quantizedTensors.map((t: { encoding: string }) => t.encoding)).toEqual(['MatMulNBits', 'MatMulNBits', 'MatMulNBits']);
    expect(report.output).toBe(join(dir, 'tiny.int4.onnx'));
    expect(existsSync(report.output)).toBe(true);
    const evaluated = surgeon(['eval', report.output, '--inputs', tiny('tiny-test-images.npy'), '--labels', tiny('tiny-test-labels.npy'), '--scale', '1/255', '--json']);
    expect(evaluated.status, evaluated.stderr).toBe(0);
    expect(JSON.parse(evaluated.stdout).accuracy).toBeGreaterThan(0.9);
  });

  it('bad quantization flags end with one line and exit 2', async () => {
    const dir = tempDir();
    expectBadInput(surgeon(['prune', DEMO, '--quantize', 'int4', '--group-size', '24', '--quantize-method', 'rtn', '--out', join(dir, 'a.onnx')]), /--group-size 24: expected a power of two ≥ 16/);
    expectBadInput(surgeon(['prune', DEMO, '--method', 'magnitude', '--sparsity', '0.5', '--group-size', '32']), /--group-size applies to --quantize/);
    expectBadInput(surgeon(['prune', DEMO, '--sparsity', '0.5']), /--method is required/);
    expectBadInput(surgeon(['prune', DEMO, '--quantize', 'int4', '--out', join(dir, 'b.onnx')]), /needs calibration data.*--quantize-method rtn/);
    const tfjs = await writeDemoMlpLayersModel(join(dir, 'tfjs'));
    expectBadInput(surgeon(['prune', tfjs, '--quantize', 'int8', '--quantize-method', 'rtn', '--out', join(dir, 'q')]), /--quantize writes ONNX MatMulNBits\/DequantizeLinear; TensorFlow\.js/);
  });
});
