/**
 * Structured pruning benchmark (src/structure): the fixture MLP at 50 % of its hidden neurons,
 * the fixture CNN and a residual CNN built in code (test/structure/models.ts: two residual stages
 * with BatchNorm) at 30 % of their channels, every method (magnitude, wanda, obs, iobs).
 * Calibration: 1,024 of ../shared/fixtures' 2,048 calibration images (128 for the untrained residual CNN); accuracy on the 10,000
 * Fashion-MNIST test images; parameters, multiply-adds per sample, file size, and onnxruntime
 * latency (2 threads, median of 50 runs of one batch, batch 1 and 64) of the dense and the
 * pruned model. The CNNs are also pruned with kept channel counts rounded to multiples of 16
 * (`--round-to 16`): onnxruntime's blocked convolutions on AVX-512 need them.
 *
 * The residual CNN is NOT trained (He-initialised weights): its accuracy means nothing and is
 * not recorded; only parameters, multiply-adds and latency are.
 *
 *   npm run bench:structured
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../src/io/fs.js';
import { loadDataset } from '../src/io/dataset.js';
import { readOnnxModel, type OnnxModel } from '../src/io/onnx/model.js';
import { evaluateModel } from '../src/runtime/evaluate.js';
import { measureLatency } from '../src/structure/latency.js';
import { pruneStructured } from '../src/structure/prune.js';
import { STRUCTURED_METHODS } from '../src/structure/select.js';
import { probeFeeds } from '../src/structure/shapes.js';
import type { StructureKind } from '../src/structure/graph.js';
import { residualCnn } from '../test/structure/models.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const FIXTURES = resolve(root, '../shared/fixtures');
const RUNS = 50;

interface Case {
  name: string;
  model: () => OnnxModel;
  structure: StructureKind;
  sparsity: number;
  roundTo: number;
  trained: boolean;
  calibSamples: number;
}

const cases: Case[] = [
  { name: 'fmnist-mlp', model: () => readOnnxModel(join(FIXTURES, 'fmnist-mlp.onnx')), structure: 'neurons', sparsity: 0.5, roundTo: 1, trained: true, calibSamples: 1024 },
  { name: 'fmnist-cnn', model: () => readOnnxModel(join(FIXTURES, 'fmnist-cnn.onnx')), structure: 'channels', sparsity: 0.3, roundTo: 1, trained: true, calibSamples: 1024 },
  { name: 'fmnist-cnn', model: () => readOnnxModel(join(FIXTURES, 'fmnist-cnn.onnx')), structure: 'channels', sparsity: 0.3, roundTo: 16, trained: true, calibSamples: 1024 },
  { name: 'residual-cnn (untrained)', model: () => readOnnxModel(residualCnn()), structure: 'channels', sparsity: 0.3, roundTo: 1, trained: false, calibSamples: 128 },
  { name: 'residual-cnn (untrained)', model: () => readOnnxModel(residualCnn()), structure: 'channels', sparsity: 0.3, roundTo: 16, trained: false, calibSamples: 128 },
];

const results: Array<Record<string, unknown>> = [];
for (const c of cases) {
  const model = c.model();
  const calib = loadDataset({ inputs: join(FIXTURES, 'fmnist-calib-images.npy'), scale: 1 / 255, limit: c.calibSamples }, { inputs: model.inputs });
  const test = loadDataset({ inputs: join(FIXTURES, 'fmnist-test-images.npy'), labels: join(FIXTURES, 'fmnist-test-labels.npy'), scale: 1 / 255 }, { inputs: model.inputs });
  const probe = probeFeeds(model, calib);
  const denseLatency = await measureLatency(model, probe, [1, 64], { runs: RUNS });
  const dense = c.trained ? (await evaluateModel(model, test)).accuracy : null;
  const bytes = model.toBytes().length;
  for (const method of STRUCTURED_METHODS) {
    const t0 = performance.now();
    const { model: pruned, report } = await pruneStructured(model, calib, { structure: c.structure, method, sparsity: c.sparsity, roundTo: c.roundTo, calibSamples: c.calibSamples });
    const seconds = (performance.now() - t0) / 1000;
    const accuracy = c.trained ? (await evaluateModel(pruned.model, test)).accuracy : null;
    const latency = await measureLatency(pruned.model, probe, [1, 64], { runs: RUNS });
    const point = {
      model: c.name, calibSamples: c.calibSamples, structure: c.structure, sparsity: c.sparsity, roundTo: c.roundTo, method,
      groups: report.groups.map((g) => `${g.name} ${g.units - g.removed}/${g.units}`),
      denseAccuracy: dense, accuracy,
      parameters: [report.before.parameters, report.after.parameters], macs: [report.before.macs, report.after.macs], bytes: [bytes, pruned.model.toBytes().length],
      latencyMs: { batch1: [denseLatency[0]!.medianMs, latency[0]!.medianMs], batch64: [denseLatency[1]!.medianMs, latency[1]!.medianMs] },
      seconds,
    };
    results.push(point);
    console.log(JSON.stringify(point));
    pruned.dispose();
  }
}

const out = join(root, 'bench/results');
mkdirSync(out, { recursive: true });
writeFileAtomic(join(out, 'structured.json'), new TextEncoder().encode(JSON.stringify({ machine: `${cpus().length} × ${cpus()[0]?.model ?? '?'}`, runs: RUNS, threads: 2, results }, null, 2) + '\n'));
const pct = (a: number, b: number) => `${((100 * b) / a).toFixed(1)} %`;
const lines = [
  '| model | structure | kept counts | method | accuracy (dense) | parameters | multiply-adds | file | latency b=1 (ms) | latency b=64 (ms) |',
  '|---|---|---|---|---:|---:|---:|---:|---:|---:|',
  ...results.map((r) => {
    const p = r.parameters as number[];
    const m = r.macs as number[];
    const b = r.bytes as number[];
    const l = r.latencyMs as { batch1: number[]; batch64: number[] };
    const acc = r.accuracy === null ? 'untrained' : `${(100 * (r.accuracy as number)).toFixed(1)} (${(100 * (r.denseAccuracy as number)).toFixed(1)})`;
    return `| ${r.model} | ${r.sparsity as number * 100} % ${r.structure} | ${r.roundTo === 1 ? 'exact' : `multiples of ${r.roundTo}`}: ${(r.groups as string[]).join(', ')} | ${r.method} | ${acc} | ${p[0]} → ${p[1]} (${pct(p[0]!, p[1]!)}) | ${pct(m[0]!, m[1]!)} | ${pct(b[0]!, b[1]!)} | ${l.batch1[0]!.toFixed(3)} → ${l.batch1[1]!.toFixed(3)} | ${l.batch64[0]!.toFixed(3)} → ${l.batch64[1]!.toFixed(3)} |`;
  }),
];
writeFileSync(join(out, 'structured.md'), lines.join('\n') + '\n');
console.log(lines.join('\n'));
