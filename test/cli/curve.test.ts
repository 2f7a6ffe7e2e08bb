/**
 * `surgeon curve` end to end on the fixture ViT (skipped when ../shared/fixtures is absent) and
 * on test/fixtures' tiny MLP: the five files, JSON/CSV agreement, resume after a full run and
 * (ViT) after a kill, bad input; and `surgeon demo` on the repository's data/.
 */
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CURVE_FILES, parseCsv } from '../../src/curve/store.js';
import type { CurvePoint, CurveResults } from '../../src/curve/types.js';
import { writeNpy } from '../../src/io/npy.js';
import { readArrays } from '../../src/io/arrays.js';
import { DATA, describeShared, fixture, tiny } from '../fixtures.js';
import { expectBadInput, surgeon, tempDir } from './helpers.js';

const here = dirname(fileURLToPath(import.meta.url));
const VIT = fixture('fmnist-vit.onnx');

/** The acceptance curve: the ViT, magnitude and sparsegpt at 50/70/90 %, 64 calibration images, 256 test images. */
function vitArgs(out: string, sparsities = '0.5,0.7,0.9'): string[] {
  return [
    'curve', VIT, '--methods', 'magnitude,sparsegpt', '--sparsities', sparsities,
    '--calib-inputs', fixture('fmnist-calib-images.npy'), '--calib-scale', '1/255', '--calib-samples', '64',
    '--inputs', fixture('fmnist-test-images.npy'), '--labels', fixture('fmnist-test-labels.npy'), '--scale', '1/255', '--limit', '256',
    '--out', out,
  ];
}

const readResults = (dir: string) => JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as CurveResults;
const key = (p: CurvePoint) => `${p.method}@${p.sparsity}`;

/**
 * Runs `args` (a curve of magnitude and sparsegpt writing into `out`) and checks the five files,
 * results.json against results.csv and the report; then that a rerun reuses every point.
 */
function checkCurveAndRerun(args: string[], out: string, sparsities: number[], denseAccuracy: number): void {
  const first = surgeon(args);
  expect(first.status, first.stderr).toBe(0);
  for (const f of CURVE_FILES) expect(existsSync(join(out, f)), f).toBe(true);
  const results = readResults(out);
  const keys = ['dense@0', ...['magnitude', 'sparsegpt'].flatMap((m) => sparsities.map((s) => `${m}@${s}`))];
  expect(results.points.map(key)).toEqual(keys);
  expect(results.metric).toBe('accuracy');
  expect(results.versions.onnxruntime).toMatch(/^\d+\.\d+/);
  expect(results.machine.cores).toBeGreaterThan(0);
  expect(results.command).toContain('--methods magnitude,sparsegpt');
  const dense = results.points[0]!;
  expect(dense.accuracy).toBeGreaterThan(denseAccuracy);
  expect(dense.collapse!.layers!.length).toBeGreaterThan(2);
  for (const p of results.points) {
    expect(p.collapse!.nc1).toBeGreaterThan(0);
    expect(p.seconds.total).toBeGreaterThan(0);
  }
  const rows = parseCsv(readFileSync(join(out, 'results.csv'), 'utf8'));
  expect(rows).toHaveLength(results.points.length);
  results.points.forEach((p, i) => {
    const row = rows[i]!;
    expect([row.method, Number(row.sparsity), Number(row.accuracy), Number(row.nc1), Number(row.cdnv), Number(row.etf), Number(row.nc4), Number(row.effective_rank), Number(row.seconds_total)]).toEqual([
      p.method, p.sparsity, p.accuracy, p.collapse!.nc1, p.collapse!.cdnv, p.collapse!.etf, p.collapse!.nc4, p.collapse!.effectiveRank, p.seconds.total,
    ]);
  });
  const html = readFileSync(join(out, 'report.html'), 'utf8');
  // accuracy, bytes on disk, collapse
  expect(html.match(/<svg[\s>]/g)).toHaveLength(3);
  // every point records the bytes of its model as written (dense storage here), the dense one the input's size
  for (const p of results.points) expect(p.bytes).toBeGreaterThan(0);
  rows.forEach((row, i) => expect(Number(row.bytes)).toBe(results.points[i]!.bytes));
  expect(html).not.toMatch(/\s(?:src|href)\s*=\s*["']?https?:/i);
  // The table went to stdout.
  expect(first.stdout).toMatch(new RegExp(`sparsegpt\\s+${Math.round(sparsities.at(-1)! * 100)}%`));

  const again = surgeon([...args, '--json']);
  expect(again.status, again.stderr).toBe(0);
  const summary = JSON.parse(again.stdout) as { computed: number; reused: number; points: CurvePoint[] };
  expect([summary.computed, summary.reused]).toEqual([0, keys.length]);
  expect(summary.points.map((p) => p.finishedAt)).toEqual(results.points.map((p) => p.finishedAt));
  expect(again.stderr.match(/reused/g)).toHaveLength(keys.length);
}

describe('surgeon curve on test/fixtures/tiny-mlp', () => {
  it('writes the five files; results.json and results.csv agree; a rerun skips every point', () => {
    const out = tempDir();
    const args = [
      'curve', tiny('tiny-mlp.onnx'), '--methods', 'magnitude,sparsegpt', '--sparsities', '0.5,0.9',
      '--calib-inputs', tiny('tiny-train-images.npy'), '--calib-scale', '1/255', '--calib-samples', '64',
      '--inputs', tiny('tiny-test-images.npy'), '--labels', tiny('tiny-test-labels.npy'), '--scale', '1/255',
      '--out', out,
    ];
    checkCurveAndRerun(args, out, [0.5, 0.9], 0.9);
  });
});

describeShared('surgeon curve on the fixture ViT', () => {
  it('writes the five files; results.json and results.csv agree; a rerun skips every point', () => {
    const out = tempDir();
    checkCurveAndRerun(vitArgs(out), out, [0.5, 0.7, 0.9], 0.8);
  });

  it('killed midway, a rerun keeps the finished points and computes only the rest', async () => {
    const out = tempDir();
    const main = resolve(here, '../../dist/cli/main.js');
    // 2 methods × 2 sparsities (5 points) keeps the test short on 2 shared cores.
    const args = vitArgs(out, '0.5,0.9');
    const child = spawn(process.execPath, [main, ...args], { env: { ...process.env, SURGEON_NO_PROGRESS: '1' }, stdio: 'ignore' });
    const exited = new Promise<NodeJS.Signals | number | null>((res) => child.on('exit', (code, signal) => res(signal ?? code)));
    // Wait for the dense point and one pruned point to be saved, then interrupt.
    const deadline = Date.now() + 60_000;
    let saved: CurvePoint[] = [];
    while (Date.now() < deadline) {
      if (existsSync(join(out, 'results.json'))) {
        saved = readResults(out).points;
        if (saved.length >= 2) break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGINT');
    const how = await exited;
    expect(how).not.toBe(0);
    saved = readResults(out).points; // still valid JSON: writes are atomic
    expect(saved.length).toBeGreaterThanOrEqual(2);
    expect(saved.length).toBeLessThan(5);

    const rerun = surgeon([...args, '--json']);
    expect(rerun.status, rerun.stderr).toBe(0);
    const summary = JSON.parse(rerun.stdout) as { computed: number; reused: number; points: CurvePoint[] };
    expect(summary.reused).toBe(saved.length);
    expect(summary.computed).toBe(5 - saved.length);
    expect(summary.points.slice(0, saved.length)).toEqual(saved);
    for (const f of CURVE_FILES) expect(existsSync(join(out, f)), f).toBe(true);
  });
});

describe('surgeon curve: bad input (exit 2, one line)', () => {
  const model = join(DATA, 'fmnist-mlp.onnx');
  const data = ['--inputs', join(DATA, 'fmnist-test.npz.gz'), '--scale', '1/255', '--limit', '200'];
  const base = ['curve', model, ...data];

  it('a sparsity outside [0, 1)', () => {
    expectBadInput(surgeon([...base, '--methods', 'magnitude', '--sparsities', '0.5,1', '--out', join(tempDir(), 'c')]), /--sparsities 1 is outside \[0, 1\)/);
    expectBadInput(surgeon([...base, '--methods', 'magnitude', '--sparsities', '-0.1', '--out', join(tempDir(), 'c')]), /outside \[0, 1\)/);
  });

  it('an unknown method', () => {
    expectBadInput(surgeon([...base, '--methods', 'magnitude,obs2', '--sparsities', '0.5', '--out', join(tempDir(), 'c')]), /unknown method 'obs2'/);
  });

  it('an evaluation set without labels for a classifier', () => {
    const dir = tempDir();
    const images = join(dir, 'images.npy');
    writeNpy(images, readArrays(join(DATA, 'fmnist-test.npz.gz')).get('x')!);
    expectBadInput(surgeon(['curve', model, '--inputs', images, '--methods', 'magnitude', '--sparsities', '0.5', '--out', join(dir, 'c')]), /no labels/);
  });

  it('an output folder that is a file', () => {
    const file = join(tempDir(), 'taken');
    writeFileSync(file, 'mine');
    expectBadInput(surgeon([...base, '--methods', 'magnitude', '--sparsities', '0.5', '--out', file]), /is a file, not a folder/);
    expect(readFileSync(file, 'utf8')).toBe('mine');
  });

  it('methods that need calibration data without it', () => {
    expectBadInput(surgeon([...base, '--methods', 'sparsegpt', '--sparsities', '0.5', '--out', join(tempDir(), 'c')]), /need calibration data/);
  });
});

describe('surgeon demo', () => {
  it('runs the bundled curve offline and prints the table', () => {
    const out = join(tempDir(), 'demo');
    const started = Date.now();
    const result = surgeon(['demo', '--out', out]);
    const seconds = (Date.now() - started) / 1000;
    expect(result.status, result.stderr).toBe(0);
    for (const f of CURVE_FILES) expect(existsSync(join(out, f)), f).toBe(true);
    for (const m of ['dense', 'magnitude', 'sparsegpt', 'iobs']) expect(result.stdout).toContain(m);
    const results = readResults(out);
    expect(results.points).toHaveLength(10);
    expect(results.points[0]!.accuracy).toBeGreaterThan(0.8);
    expect(seconds).toBeLessThan(120);
  });
});
