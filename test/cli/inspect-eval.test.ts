import { describe, expect, it } from 'vitest';
import { copyFileSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { writeExternalModel } from '../io/onnx-helpers.js';
import { join } from 'node:path';
import { demoData, describeShared, fixture, tiny } from '../fixtures.js';
import { expectBadInput, surgeon, tempDir } from './helpers.js';

interface Meta { test_accuracy_pytorch?: number; val_perplexity_pytorch?: number; test_accuracy?: number; perplexity?: number; parameters?: number }
const meta = (name: string) => JSON.parse(readFileSync(fixture(`${name}.meta.json`), 'utf8')) as Meta;
const tinyMeta = (name: string) => JSON.parse(readFileSync(tiny(`${name}.meta.json`), 'utf8')) as Meta;

describeShared('surgeon inspect on the PyTorch fixtures', () => {
  it.each([
    ['fmnist-mlp', ['Gemm', 'Gemm', 'Gemm']],
    ['fmnist-cnn', ['Conv', 'Conv', 'Gemm', 'Gemm']],
  ])('%s lists exactly its Gemm/MatMul/Conv weights', (name, ops) => {
    const result = surgeon(['inspect', fixture(`${name}.onnx`), '--json']);
    expect(result.status).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.format).toBe('onnx');
    expect(report.layers.map((l: { op: string }) => l.op)).toEqual(ops);
    expect(report.sparsity).toBe(0);
    const total = report.layers.reduce((s: number, l: { parameters: number; shape: number[] }) => {
      expect(l.parameters).toBe(l.shape[0]! * l.shape[1]!);
      return s + l.parameters;
    }, 0);
    expect(report.prunableParameters).toBe(total);
  });
  it('counts every parameter of the MLP (meta parameters)', () => {
    const report = JSON.parse(surgeon(['inspect', fixture('fmnist-mlp.onnx'), '--json']).stdout);
    expect(report.parameters).toBe(235146);
  });
  it('prints a table by default', () => {
    const result = surgeon(['inspect', fixture('fmnist-vit.onnx')]);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/prunable parameters/);
    expect(result.stdout).toMatch(/MatMul/);
  });
});

describeShared('surgeon eval reproduces PyTorch', () => {
  it.each(['fmnist-mlp', 'fmnist-cnn', 'fmnist-vit'])('%s test accuracy to 0.1 %% relative', (name) => {
    const result = surgeon(['eval', fixture(`${name}.onnx`), '--inputs', fixture('fmnist-test-images.npy'), '--labels', fixture('fmnist-test-labels.npy'), '--scale', '1/255', '--json']);
    expect(result.status, result.stderr).toBe(0);
    const out = JSON.parse(result.stdout);
    expect(out.samples).toBe(10000);
    expect(Math.abs(out.accuracy - meta(name).test_accuracy_pytorch!) / meta(name).test_accuracy_pytorch!).toBeLessThan(1e-3);
  });
  it('lic-gpt validation perplexity to 0.1 % relative', () => {
    const result = surgeon(['eval', fixture('lic-gpt.onnx'), '--tokens', fixture('lic-gpt.val-tokens.npy'), '--json']);
    expect(result.status, result.stderr).toBe(0);
    const out = JSON.parse(result.stdout);
    expect(Math.abs(out.perplexity - meta('lic-gpt').val_perplexity_pytorch!) / meta('lic-gpt').val_perplexity_pytorch!).toBeLessThan(1e-3);
  });
  it('--limit evaluates the first N samples', () => {
    const out = JSON.parse(surgeon(['eval', fixture('fmnist-mlp.onnx'), '--inputs', fixture('fmnist-test-images.npy'), '--labels', fixture('fmnist-test-labels.npy'), '--scale', '1/255', '--limit', '100', '--json']).stdout);
    expect(out.samples).toBe(100);
  });
});

describe('surgeon inspect on test/fixtures and data/', () => {
  it.each([
    ['tiny-mlp', ['Gemm', 'Gemm', 'Gemm']],
    ['tiny-cnn', ['Conv', 'Conv', 'Conv', 'Gemm', 'Gemm']],
    ['tiny-gpt', Array<string>(9).fill('MatMul')],
  ])('%s lists exactly its Gemm/MatMul/Conv weights (a grouped conv once per group) and counts every parameter', (name, ops) => {
    const result = surgeon(['inspect', tiny(`${name}.onnx`), '--json']);
    expect(result.status, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.format).toBe('onnx');
    expect(report.layers.map((l: { op: string }) => l.op)).toEqual(ops);
    expect(report.sparsity).toBe(0);
    const total = report.layers.reduce((s: number, l: { parameters: number; shape: number[] }) => {
      expect(l.parameters).toBe(l.shape[0]! * l.shape[1]!);
      return s + l.parameters;
    }, 0);
    expect(report.prunableParameters).toBe(total);
    // every initializer counts; the GPT's also include its constants: causal mask 8×8, scale, split sizes 3, shapes 4 + 3
    expect(report.parameters).toBe(tinyMeta(name).parameters! + (name === 'tiny-gpt' ? 64 + 1 + 3 + 4 + 3 : 0));
  });
  it('prints a table by default (the demo MLP)', () => {
    const result = surgeon(['inspect', demoData('fmnist-mlp.onnx')]);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/prunable parameters/);
    expect(result.stdout).toMatch(/fc1\.weight/);
    expect(result.stdout).toMatch(/Gemm/);
  });
});

describe('surgeon eval reproduces the recorded accuracy and perplexity (test/fixtures, data/)', () => {
  it.each(['tiny-mlp', 'tiny-cnn'])('%s test accuracy equals the TypeScript reference (up to one near-tie)', (name) => {
    const result = surgeon(['eval', tiny(`${name}.onnx`), '--inputs', tiny('tiny-test-images.npy'), '--labels', tiny('tiny-test-labels.npy'), '--scale', '1/255', '--json']);
    expect(result.status, result.stderr).toBe(0);
    const out = JSON.parse(result.stdout);
    expect(out.samples).toBe(256);
    expect(Math.abs(out.accuracy - tinyMeta(name).test_accuracy!)).toBeLessThanOrEqual(1 / 256 + 1e-6);
  });
  it('the demo MLP: data/fmnist-mlp.json test accuracy on data/fmnist-test.npz.gz (labels inside the archive)', () => {
    const result = surgeon(['eval', demoData('fmnist-mlp.onnx'), '--inputs', demoData('fmnist-test.npz.gz'), '--scale', '1/255', '--json']);
    expect(result.status, result.stderr).toBe(0);
    const out = JSON.parse(result.stdout);
    expect(out.samples).toBe(2000);
    const recorded = (JSON.parse(readFileSync(demoData('fmnist-mlp.json'), 'utf8')) as { test_accuracy: number }).test_accuracy;
    expect(Math.abs(out.accuracy - recorded)).toBeLessThanOrEqual(1 / 2000);
  });
  it('tiny-gpt perplexity on tiny-tokens.npy equals the TypeScript reference to 1e-5 relative', () => {
    const result = surgeon(['eval', tiny('tiny-gpt.onnx'), '--tokens', tiny('tiny-tokens.npy'), '--json']);
    expect(result.status, result.stderr).toBe(0);
    const expected = tinyMeta('tiny-gpt').perplexity!;
    expect(Math.abs(JSON.parse(result.stdout).perplexity - expected) / expected).toBeLessThan(1e-5);
  });
  it('--limit evaluates the first N samples', () => {
    const out = JSON.parse(surgeon(['eval', tiny('tiny-mlp.onnx'), '--inputs', tiny('tiny-test-images.npy'), '--labels', tiny('tiny-test-labels.npy'), '--scale', '1/255', '--limit', '100', '--json']).stdout);
    expect(out.samples).toBe(100);
  });
});

describe('bad input: one line, exit 2', () => {
  const dir = tempDir();
  it('missing model file', () => expectBadInput(surgeon(['inspect', join(dir, 'nope.onnx')]), /nope\.onnx: no such file/));
  it('a file that is not ONNX', () => {
    writeFileSync(join(dir, 'junk.onnx'), 'this is not a model at all, just text\n'.repeat(20));
    expectBadInput(surgeon(['inspect', join(dir, 'junk.onnx')]), /not a valid ONNX/);
  });
  it('unknown command option', () => expectBadInput(surgeon(['inspect', 'x.onnx', '--frobnicate']), /unknown option/));
  describe('on the repository models', () => {
    const DEMO = demoData('fmnist-mlp.onnx');
    it('a truncated model', () => {
      const bytes = readFileSync(tiny('tiny-mlp.onnx'));
      writeFileSync(join(dir, 'half.onnx'), bytes.subarray(0, bytes.length >> 1));
      expectBadInput(surgeon(['inspect', join(dir, 'half.onnx')]), /half\.onnx/);
    });
    it('data whose shape fits no model input', () => {
      const labels = tiny('tiny-test-labels.npy');
      expectBadInput(surgeon(['eval', tiny('tiny-mlp.onnx'), '--inputs', labels, '--labels', labels]), /shape|values/);
    });
    it('a label count that does not match', () => {
      expectBadInput(surgeon(['eval', DEMO, '--inputs', demoData('fmnist-test.npz.gz'), '--labels', tiny('tiny-test-labels.npy')]), /label/i);
    });
    it('NaN in the inputs', () => {
      const npy = join(dir, 'nan.npy');
      const header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 784), }";
      const pad = 64 - ((10 + header.length + 1) % 64);
      const head = Buffer.concat([Buffer.from([0x93]), Buffer.from('NUMPY'), Buffer.from([1, 0]), Buffer.from(new Uint16Array([header.length + pad + 1]).buffer), Buffer.from(header + ' '.repeat(pad) + '\n')]);
      const data = new Float32Array(2 * 784);
      data[900] = NaN;
      writeFileSync(npy, Buffer.concat([head, Buffer.from(data.buffer)]));
      const labels = join(dir, 'labels.npy');
      copyFileSync(tiny('tiny-test-labels.npy'), labels);
      expectBadInput(surgeon(['eval', DEMO, '--inputs', npy, '--labels', labels, '--limit', '2']), /NaN|not finite/i);
    });
    it('no data source', () => expectBadInput(surgeon(['eval', DEMO]), /no data given/));
    it('missing external data', () => {
      const extDir = tempDir();
      const model = writeExternalModel(tiny('tiny-mlp.onnx'), extDir);
      expect(surgeon(['inspect', model, '--json']).status).toBe(0);
      unlinkSync(join(extDir, 'weights.bin'));
      expectBadInput(surgeon(['inspect', model]), /weights\.bin.*not found/);
    });
  });
});
