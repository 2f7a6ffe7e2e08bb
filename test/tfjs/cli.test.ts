import { describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { saveNewModel } from '../../src/tfjs/model.js';
import { expectBadInput, surgeon } from '../cli/helpers.js';
import { tempDir, tinyCnn, useTestBackend, TEST_BACKEND } from './helpers.js';

describe('tfjs CLI', () => {
  it('inspect/prune/eval a tfjs model; bad input exits 2 with one line', async () => {
    await useTestBackend();
    const dir = tempDir();
    const src = join(dir, 'm');
    await saveNewModel(tinyCnn(), src);
    const env = { SURGEON_TFJS_BACKEND: TEST_BACKEND };
    const inspect = surgeon(['inspect', src, '--json'], { env });
    expect(inspect.status).toBe(0);
    const report = JSON.parse(inspect.stdout) as { layers: { name: string; shape: number[] }[]; facts: { backend: string } };
    expect(report.layers.map((l) => l.shape)).toEqual([[3, 9], [8, 27], [3, 8]]);
    expect(report.facts.backend).toBe(TEST_BACKEND);
    const pruned = surgeon(['prune', join(src, 'model.json'), '--method', 'magnitude', '--sparsity', '0.5', '--out', join(dir, 'p'), '--json', '--backend', TEST_BACKEND]);
    expect(pruned.status, pruned.stderr).toBe(0);
    expect((JSON.parse(pruned.stdout) as { totals: { zeros: number; parameters: number } }).totals).toEqual(expect.objectContaining({ zeros: Math.round(0.5 * 267), parameters: 267 }));
    expectBadInput(surgeon(['prune', src, '--method', 'magnitude', '--sparsity', '0.5', '--out', src]), /is the input model/);
    expectBadInput(surgeon(['prune', src, '--method', 'magnitude', '--sparsity', '0.5', '--out', join(dir, 'q'), '--backend', 'node']), /tfjs-node/);
    expectBadInput(surgeon(['eval', join(dir, 'missing', 'model.json'), '--dataset', 'fashion-mnist']), /no such file/);
    rmSync(dir, { recursive: true, force: true });
  });
});
