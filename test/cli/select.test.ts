import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { expectBadInput, surgeon, tempDir } from './helpers.js';
import { demoData } from '../fixtures.js';

const DEMO = demoData('fmnist-mlp.onnx');
const calib = ['--inputs', demoData('fmnist-train.npz.gz'), '--scale', '1/255', '--calib-samples', '96', '--held-out', '64'];

describe('surgeon prune --select / --cross-term (iobs)', () => {
  const dir = tempDir();

  it('iobs reports its model-level check in the JSON (both held-out losses) and in one text line', () => {
    const args = ['prune', DEMO, '--method', 'iobs', '--sparsity', '0.7', '--projection', 'sparsegpt', '--blocksize', '16', '--iterations', '4', '--step', '0.3', ...calib];
    const json = surgeon([...args, '--out', join(dir, 'a.onnx'), '--json']);
    expect(json.status, json.stderr).toBe(0);
    const report = JSON.parse(json.stdout);
    expect(report.selection.loss).toBe('nll');
    const { iterated, first } = report.selection.losses;
    expect(report.selection.chosen).toBe(first < iterated ? 'first' : 'iterated');
    expect(report.profile.select).toBeGreaterThan(0);
    const text = surgeon([...args, '--out', join(dir, 'b.onnx')]);
    expect(text.status, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/model-level check on the held-out loss: iterated [0-9.e-]+, first step \(one-shot\) [0-9.e-]+ — kept the (first step|iterated model)/);
    const layer = surgeon([...args, '--select', 'layer', '--out', join(dir, 'c.onnx'), '--json']);
    expect(JSON.parse(layer.stdout).selection).toBeUndefined();
  });

  it('--cross-term off prunes against H alone', () => {
    const result = surgeon(['prune', DEMO, '--method', 'iobs', '--sparsity', '0.5', '--cross-term', 'off', ...calib, '--out', join(dir, 'd.onnx'), '--json']);
    expect(result.status, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout).totals.sparsity).toBeCloseTo(0.5, 2);
  });

  it('refuses what cannot apply, in one line', () => {
    expectBadInput(surgeon(['prune', DEMO, '--method', 'sparsegpt', '--sparsity', '0.5', '--select', 'model', ...calib]), /^surgeon: --select applies to iobs \(its iterations\), not to --method sparsegpt; drop it$/);
    expectBadInput(surgeon(['prune', DEMO, '--method', 'obc', '--sparsity', '0.5', '--cross-term', 'off', ...calib]), /^surgeon: --cross-term applies to iht and iobs/);
  });
});
