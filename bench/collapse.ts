/**
 * Deep-collapse profile: neural-collapse metrics of every default layer (the inputs of the
 * prunable layers, ending with the penultimate features) of fmnist-mlp, fmnist-cnn and
 * fmnist-vit, on (a) the calibration/training split (fmnist-calib-*.npy, 2,048 images; NC4
 * with its own class means) and (b) the 10,000 test images (NC4 with the calibration means).
 * Falls back to Debian's Fashion-MNIST (/usr/share/datasets/fashion-mnist: the first 2,048
 * training images, and the test set) when the fixtures' arrays are absent; the models are
 * needed in any case. Writes bench/results/collapse.json and prints a markdown table.
 *
 *   npx tsc -p bench/tsconfig.json; node dist/bench/collapse.js [--models mlp,cnn,vit] [--threads 2] [--batch 128]
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readOnnxModel, type OnnxModel } from '../src/io/onnx/model.js';
import { loadDataset, type ClassificationDataset, type DatasetSpec } from '../src/io/dataset.js';
import { measureModelCollapse, type ModelCollapse } from '../src/collapse/model.js';
import { arg } from './args.js';

const here = dirname(fileURLToPath(import.meta.url));
/** Repository root (this file runs from dist/bench/). */
const root = resolve(here, '../..');
const FIXTURES = resolve(root, '../shared/fixtures');
const DEBIAN = '/usr/share/datasets/fashion-mnist';


function dataSpecs(): { calib: DatasetSpec; test: DatasetSpec; source: string } | undefined {
  const f = (name: string) => join(FIXTURES, name);
  if (['fmnist-calib-images.npy', 'fmnist-calib-labels.npy', 'fmnist-test-images.npy', 'fmnist-test-labels.npy'].every((n) => existsSync(f(n)))) {
    return {
      calib: { inputs: f('fmnist-calib-images.npy'), labels: f('fmnist-calib-labels.npy'), scale: 1 / 255 },
      test: { inputs: f('fmnist-test-images.npy'), labels: f('fmnist-test-labels.npy'), scale: 1 / 255 },
      source: 'fixtures: fmnist-calib-*.npy (2,048) and fmnist-test-*.npy (10,000)',
    };
  }
  if (existsSync(DEBIAN) || process.env['SURGEON_DATA']) {
    return {
      calib: { dataset: 'fashion-mnist:train', limit: 2048 },
      test: { dataset: 'fashion-mnist:test' },
      source: "Debian's Fashion-MNIST: first 2,048 training images, 10,000 test images",
    };
  }
  return undefined;
}

function fmt(value: number | undefined): string {
  if (value === undefined) return '–';
  if (!Number.isFinite(value)) return String(value);
  const a = Math.abs(value);
  if (a !== 0 && (a < 1e-3 || a >= 1e4)) return value.toExponential(2);
  return value.toPrecision(3);
}

function markdown(name: string, calib: ModelCollapse, test: ModelCollapse, seconds: { calib: number; test: number }): string {
  const lines = [
    `**fmnist-${name}**: accuracy ${(calib.accuracy * 100).toFixed(1)} % (calib), ${(test.accuracy * 100).toFixed(1)} % (test); ` +
      `${seconds.calib.toFixed(1)} s (calib, 2 passes × ${calib.samples}) + ${seconds.test.toFixed(1)} s (test, 1 × ${calib.samples} + 2 × ${test.samples})`,
    '',
    '| # | tensor | d | NC1 calib | NC1 test | CDNV calib | CDNV test | ETF test | equinorm test | NC3 test | NC4 test | eff. rank test |',
    '|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  calib.layers.forEach((c, i) => {
    const t = test.layers[i]!;
    lines.push(
      `| ${i} | \`${c.name}\`${c.penultimate ? ' (penultimate)' : ''} | ${c.d} | ${fmt(c.nc1)} | ${fmt(t.nc1)} | ${fmt(c.cdnv)} | ${fmt(t.cdnv)} | ${fmt(t.etf)} | ${fmt(t.equinorm)} | ${fmt(t.nc3)} | ${fmt(t.nc4)} | ${fmt(t.effectiveRank)} |`,
    );
  });
  return lines.join('\n');
}

function cpuSeconds(since: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(since);
  return (u.user + u.system) / 1e6;
}

async function main(): Promise<void> {
  const models = arg('models', 'mlp,cnn,vit').split(',');
  const threads = Number(arg('threads', '2'));
  const batchSize = Number(arg('batch', '128'));
  const specs = dataSpecs();
  if (!specs) {
    console.log(`SKIPPED: neither ${FIXTURES}/fmnist-*.npy nor ${DEBIAN} is present; install dataset-fashion-mnist or provide the fixtures`);
    return;
  }
  const results: Record<string, unknown> = {};
  const tables: string[] = [];
  for (const name of models) {
    const path = join(FIXTURES, `fmnist-${name}.onnx`);
    if (!existsSync(path)) {
      console.log(`SKIPPED fmnist-${name}: ${path} absent (the models come only with the fixtures)`);
      continue;
    }
    const model: OnnxModel = readOnnxModel(path);
    const calibSet = loadDataset(specs.calib, model) as ClassificationDataset;
    const testSet = loadDataset(specs.test, model) as ClassificationDataset;
    let t0 = performance.now();
    let c0 = process.cpuUsage();
    const calib = await measureModelCollapse(model, calibSet, { threads, batchSize });
    const calibSeconds = (performance.now() - t0) / 1000;
    const calibCpu = cpuSeconds(c0);
    t0 = performance.now();
    c0 = process.cpuUsage();
    const test = await measureModelCollapse(model, testSet, { threads, batchSize, train: calibSet });
    const testSeconds = (performance.now() - t0) / 1000;
    const seconds = { calib: calibSeconds, test: testSeconds };
    // CPU seconds (all threads, JS + onnxruntime): wall time is inflated when the cores are shared.
    results[`fmnist-${name}`] = { seconds, cpuSeconds: { calib: calibCpu, test: cpuSeconds(c0) }, loadAverage: loadavg()[0], calib, test };
    const table = markdown(name, calib, test, seconds);
    tables.push(table);
    console.error(`fmnist-${name}: ${calibSeconds.toFixed(1)} s + ${testSeconds.toFixed(1)} s`);
  }
  const md = tables.join('\n\n');
  const report = {
    bench: 'collapse',
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: availableParallelism(),
    loadAverageAtStart: loadavg(),
    threads,
    batchSize,
    data: specs.source,
    layers: 'default (inputs of every prunable layer; the last is the penultimate features)',
    nc4: 'calib: class means of the calib split itself; test: class means of the calib split',
    models: results,
    markdown: md,
  };
  const out = join(root, 'bench/results');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'collapse.json'), JSON.stringify(report, null, 2) + '\n');
  console.log(md);
}

await main();
