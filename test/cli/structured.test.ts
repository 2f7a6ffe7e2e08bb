import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { expectBadInput, surgeon, tempDir } from './helpers.js';
import { demoData } from '../fixtures.js';

const DEMO = demoData('fmnist-mlp.onnx');
const calib = ['--inputs', demoData('fmnist-train.npz.gz'), '--scale', '1/255', '--calib-samples', '64'];

describe('surgeon prune --structure', () => {
  const dir = tempDir();

  it('writes a smaller model that onnxruntime runs, with parameters, multiply-adds, bytes and latency in the JSON', async () => {
    const out = join(dir, 'mlp-neurons.onnx');
    const result = surgeon(['prune', DEMO, '--structure', 'neurons', '--method', 'obs', '--sparsity', '0.5', ...calib, '--out', out, '--json']);
    expect(result.status, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.format).toBe('onnx');
    expect(report.structure).toBe('neurons');
    expect(report.after.parameters).toBeLessThan(report.before.parameters);
    expect(report.after.macs).toBeLessThan(report.before.macs);
    expect(report.bytes.after).toBeLessThan(report.bytes.before);
    expect(report.latency.dense.map((l: { batch: number }) => l.batch)).toEqual([1, 64]);
    for (const g of report.groups) expect(g.removed).toBe(Math.round(0.5 * g.units));
    const session = await ort.InferenceSession.create(out);
    const y = await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', new Float32Array(2 * 784).fill(0.5), [2, 1, 28, 28]) });
    expect(Object.values(y)[0]!.dims).toEqual([2, 10]);
  });

  it('refuses what cannot apply, in one line', () => {
    expectBadInput(surgeon(['prune', DEMO, '--structure', 'neurons', '--method', 'obs', '--sparsity', '0.5', '--pattern', '2:4', ...calib]), /^surgeon: --pattern 2:4 applies to unstructured pruning/);
    expectBadInput(surgeon(['prune', DEMO, '--structure', 'neurons', '--method', 'sparsegpt', '--sparsity', '0.5', ...calib]), /has no structured form/);
    expectBadInput(surgeon(['prune', DEMO, '--structure', 'neurons', '--method', 'obs', '--sparsity', '0.5', '--global', ...calib]), /^surgeon: --global applies to unstructured pruning, not to --structure; drop it$/);
    expectBadInput(surgeon(['prune', DEMO, '--structure', 'channels', '--method', 'obs', '--sparsity', '0.5', ...calib]), /no group of channels can shrink/);
    expectBadInput(surgeon(['prune', DEMO, '--structure', 'heads', '--method', 'obs', '--sparsity', '0.5', ...calib]), /--structure heads is not implemented yet/);
    expectBadInput(surgeon(['prune', DEMO, '--structure', 'neurons', '--method', 'obs', ...calib]), /--structure needs --sparsity/);
    expectBadInput(surgeon(['prune', DEMO, '--method', 'obs', '--sparsity', '0.5', '--round-to', '8', ...calib]), /--round-to applies to --structure only/);
    expectBadInput(surgeon(['prune', DEMO, '--structure', 'neurons', '--method', 'obs', '--sparsity', '0.5']), /needs calibration data/);
  });
});
