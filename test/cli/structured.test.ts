import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { expectBadInput, surgeon, tempDir } from './helpers.js';
import { demoData, describeShared, fixture } from '../fixtures.js';
import { parseCsv } from '../../src/curve/store.js';
import type { CurveResults } from '../../src/curve/types.js';

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
    expectBadInput(surgeon(['prune', DEMO, '--structure', 'heads', '--method', 'obs', '--sparsity', '0.5', ...calib]), /^surgeon: no group of heads can shrink in this model; see surgeon inspect, or try --structure neurons or channels$/);
    expectBadInput(surgeon(['prune', DEMO, '--structure', 'neurons', '--method', 'obs', ...calib]), /--structure needs --sparsity/);
    expectBadInput(surgeon(['prune', DEMO, '--method', 'obs', '--sparsity', '0.5', '--round-to', '8', ...calib]), /--round-to applies to --structure only/);
    expectBadInput(surgeon(['prune', DEMO, '--structure', 'neurons', '--method', 'obs', '--sparsity', '0.5']), /needs calibration data/);
  });
});

describe('surgeon curve --structure', () => {
  const dir = tempDir();
  const curveArgs = (out: string, extra: string[] = []) => [
    'curve', DEMO, '--structure', 'neurons', '--methods', 'magnitude,obs', '--sparsities', '0.25,0.5',
    '--calib-inputs', demoData('fmnist-train.npz.gz'), '--calib-scale', '1/255', '--calib-samples', '64',
    '--inputs', demoData('fmnist-train.npz.gz'), '--scale', '1/255', '--limit', '256', '--collapse', 'none', '--out', out, ...extra,
  ];

  it('prunes whole neurons at every sparsity and records accuracy, parameters, multiply-adds, latency and bytes (JSON and CSV)', () => {
    const out = join(dir, 'mlp-curve');
    const result = surgeon(curveArgs(out));
    expect(result.status, result.stderr).toBe(0);
    const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as CurveResults;
    expect(results.points.map((p) => `${p.method}@${p.sparsity}@${p.pattern}`)).toEqual(['dense@0@dense', 'magnitude@0.25@neurons', 'magnitude@0.5@neurons', 'obs@0.25@neurons', 'obs@0.5@neurons']);
    expect((results.options as { structure?: unknown }).structure).toEqual({ structure: 'neurons' });
    const dense = results.points[0]!;
    for (const p of results.points) {
      expect(p.structured!.structure).toBe('neurons');
      expect(p.structured!.latency.map((l) => l.batch)).toEqual([1, 64]);
      for (const l of p.structured!.latency) expect(l.ms > 0 && l.denseMs > 0).toBe(true);
      expect(p.bytes).toBeGreaterThan(0);
      if (p === dense) continue;
      // the hidden layers 128 and 64 lose round(s·n) neurons each
      expect(p.structured!.groups!.map((g) => g.kept)).toEqual([128, 64].map((n) => n - Math.round(p.sparsity * n)));
      expect(p.structured!.parameters).toBeLessThan(dense.structured!.parameters);
      expect(p.structured!.macs).toBeLessThan(dense.structured!.macs);
      expect(p.bytes).toBeLessThan(dense.bytes!);
      expect(p.measuredSparsity).toBeCloseTo(1 - p.structured!.parameters / dense.structured!.parameters, 12);
      // the consumers' calibration error: measured with data (obs), not for magnitude
      if (p.method === 'obs') expect(p.meanError).toBeGreaterThan(0);
      else expect(p.meanError).toBeNull();
    }
    const at = (m: string, s: number) => results.points.find((p) => p.method === m && p.sparsity === s)!;
    expect(at('obs', 0.5).structured!.parameters).toBeLessThan(at('obs', 0.25).structured!.parameters);
    // curvature beats magnitude on the calibration-like data at 50 %
    expect(at('obs', 0.5).accuracy!).toBeGreaterThan(at('magnitude', 0.5).accuracy!);
    const rows = parseCsv(readFileSync(join(out, 'results.csv'), 'utf8'));
    results.points.forEach((p, i) => {
      expect(Number(rows[i]!.parameters)).toBe(p.structured!.parameters);
      expect(Number(rows[i]!.latency_b64_ms)).toBe(p.structured!.latency[1]!.ms);
      expect(Number(rows[i]!.dense_latency_b1_ms)).toBe(p.structured!.latency[0]!.denseMs);
    });
    expect(result.stdout).toMatch(/parameters/);
    // a rerun reuses every point; another --round-to is another curve
    const again = surgeon(curveArgs(out));
    expect(again.status, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/0 points measured, 5 reused/);
  });

  it('refuses what cannot apply to a structured curve, in one line', () => {
    const out = join(dir, 'refused');
    expectBadInput(surgeon(curveArgs(out, ['--methods', 'sparsegpt'])), /^surgeon: --methods sparsegpt has no structured form; with --structure use magnitude, wanda, obs, iobs$/);
    expectBadInput(surgeon(curveArgs(out, ['--pattern', '2:4'])), /^surgeon: --pattern 2:4 applies to unstructured pruning/);
    expectBadInput(surgeon(curveArgs(out, ['--quantize', 'int8'])), /^surgeon: --quantize applies to unstructured pruning, not to --structure; drop it$/);
    expectBadInput(surgeon(curveArgs(out, ['--storage', 'sparse'])), /^surgeon: --storage sparse applies to unstructured pruning/);
    expectBadInput(surgeon(curveArgs(out, ['--rounds', '2'])), /^surgeon: --rounds applies to unstructured pruning, not to --structure; drop it$/);
    expectBadInput(surgeon(curveArgs(out, ['--structure', 'channels'])), /no group of channels can shrink/);
    const plain = curveArgs(out).filter((a) => a !== '--structure' && a !== 'neurons').map((a) => (a === 'magnitude,obs' ? 'magnitude' : a));
    expectBadInput(surgeon([...plain, '--round-to', '8']), /^surgeon: --round-to applies to --structure only; drop it$/);
  });
});

describeShared('surgeon prune/curve --structure heads on the fixture ViT', () => {
  const dir = tempDir();
  const VIT = fixture('fmnist-vit.onnx');
  const images = (prefix: string) => [`--${prefix}inputs`, fixture('fmnist-calib-images.npy'), `--${prefix}scale`, '1/255'];

  it('prune: removes 2 of 4 heads in every block; the model runs in onnxruntime with the smaller attention', async () => {
    const out = join(dir, 'vit-heads.onnx');
    const result = surgeon(['prune', VIT, '--structure', 'heads', '--method', 'iobs', '--sparsity', '0.5', ...images(''), '--calib-samples', '128', '--out', out, '--json']);
    expect(result.status, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.groups.map((g: { name: string; removed: number; units: number }) => [g.name, g.removed, g.units])).toEqual([0, 1, 2, 3].map((b) => [`/blocks.${b}/proj/MatMul`, 2, 4]));
    expect(report.after.parameters).toBeLessThan(report.before.parameters);
    const session = await ort.InferenceSession.create(out);
    const y = await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', new Float32Array(3 * 784).fill(0.5), [3, 1, 28, 28]) });
    expect(Object.values(y)[0]!.dims).toEqual([3, 10]);
  });

  it('curve: heads at 25 and 50 % (1 and 2 of 4 per block) with parameters and latency', () => {
    const out = join(dir, 'vit-heads-curve');
    const result = surgeon([
      'curve', VIT, '--structure', 'heads', '--methods', 'obs', '--sparsities', '0.25,0.5', ...images('calib-'), '--calib-samples', '64',
      '--inputs', fixture('fmnist-test-images.npy'), '--labels', fixture('fmnist-test-labels.npy'), '--scale', '1/255', '--limit', '256', '--collapse', 'none', '--out', out,
    ]);
    expect(result.status, result.stderr).toBe(0);
    const points = (JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as CurveResults).points;
    expect(points.map((p) => p.structured!.groups?.map((g) => g.kept))).toEqual([undefined, [3, 3, 3, 3], [2, 2, 2, 2]]);
    expect(points[2]!.structured!.parameters).toBeLessThan(points[1]!.structured!.parameters);
    expect(points[1]!.structured!.parameters).toBeLessThan(points[0]!.structured!.parameters);
  });
});
