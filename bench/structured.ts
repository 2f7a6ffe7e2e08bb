/**
 * Structured pruning benchmark (src/structure):
 *
 * - the fixture MLP at 50 % of its hidden neurons, every method (magnitude, wanda, obs, iobs);
 * - the fixture CNN and a trained residual CNN (bench/models/residual-cnn.ts: two residual
 *   stages with BatchNorm, trained with TF.js on Fashion-MNIST, written as ONNX) at 30 % of their
 *   channels, every method, with exact kept counts and with kept counts rounded to multiples of
 *   16 (`--round-to 16`: onnxruntime's blocked convolutions on AVX-512 need them);
 * - curves of the fixture ViT (accuracy) and GPT (perplexity) at 10–50 % of their attention
 *   heads and of their MLP neurons, obs / iobs / magnitude.
 *
 * Calibration: 1,024 of ../shared/fixtures' 2,048 calibration images (the GPT: 64 windows of 128
 * training tokens); accuracy on the 10,000 Fashion-MNIST test images, perplexity on the GPT's
 * validation tokens (windows of 128). Parameters, multiply-adds per sample, file size, and
 * onnxruntime latency (2 threads, median of 50 runs of one batch at batch 1 and 64, the dense and
 * the pruned model alternating run by run so that other load on the machine falls on both), and
 * once per pruned architecture (it does not depend on the method) with 1,000 runs, at 1 and 2
 * threads (on a shared 2-core machine a 2-thread run waits for a descheduled worker thread, so
 * the 1-thread numbers are the steadier ones).
 *
 *   npm run bench:structured [-- --only NAME[,NAME]]
 *
 * `--only` runs the cases whose model name contains one of the NAMEs and keeps the other
 * results already recorded in bench/results/structured.json.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../src/io/fs.js';
import { loadDataset, type Dataset } from '../src/io/dataset.js';
import { readOnnxModel, type OnnxModel } from '../src/io/onnx/model.js';
import { evaluateModel } from '../src/runtime/evaluate.js';
import { compareLatency } from '../src/structure/latency.js';
import { pruneStructured } from '../src/structure/prune.js';
import { STRUCTURED_METHODS, type StructuredMethod } from '../src/structure/select.js';
import { probeFeeds } from '../src/structure/shapes.js';
import type { StructureKind } from '../src/structure/graph.js';
import { arg } from './args.js';
import { trainedResidualCnn } from './models/residual-cnn.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const FIXTURES = resolve(root, '../shared/fixtures');
const RUNS = 50;
const THREADS = 2;

interface Case {
  name: string;
  model: () => Promise<OnnxModel>;
  structure: StructureKind;
  sparsities: number[];
  methods: readonly StructuredMethod[];
  roundTo: number;
  calibSamples: number;
  calib: (model: OnnxModel) => Dataset;
  test: (model: OnnxModel) => Dataset;
  /** Measure latency (the classifier tables) or only the metric (the transformer curves). */
  latency: boolean;
}

const images = (model: OnnxModel, limit: number) => loadDataset({ inputs: join(FIXTURES, 'fmnist-calib-images.npy'), scale: 1 / 255, limit }, { inputs: model.inputs });
const testImages = (model: OnnxModel) => loadDataset({ inputs: join(FIXTURES, 'fmnist-test-images.npy'), labels: join(FIXTURES, 'fmnist-test-labels.npy'), scale: 1 / 255 }, { inputs: model.inputs });
const fixtureModel = (file: string) => async () => readOnnxModel(join(FIXTURES, file));
let residualMeta: Awaited<ReturnType<typeof trainedResidualCnn>>['meta'] | undefined;
const residualModel = async () => {
  const { path, meta, cached } = await trainedResidualCnn(undefined, (l) => console.log(l));
  residualMeta = meta;
  console.log(`residual-cnn: ${cached ? 'cached' : 'trained now'} (${path})`);
  return readOnnxModel(path);
};
const classifier = (name: string, model: () => Promise<OnnxModel>, structure: StructureKind, sparsity: number, roundTo: number): Case => ({
  name, model, structure, sparsities: [sparsity], methods: STRUCTURED_METHODS, roundTo, calibSamples: 1024, calib: (m) => images(m, 1024), test: testImages, latency: true,
});

const CURVE = [0.1, 0.2, 0.3, 0.4, 0.5];
const CURVE_METHODS: readonly StructuredMethod[] = ['magnitude', 'obs', 'iobs'];
const vitCurve = (structure: StructureKind): Case => ({
  name: 'fmnist-vit', model: fixtureModel('fmnist-vit.onnx'), structure, sparsities: CURVE, methods: CURVE_METHODS, roundTo: 1, calibSamples: 1024, calib: (m) => images(m, 1024), test: testImages, latency: false,
});
const gptTokens = (file: string, limit?: number) => (m: OnnxModel) => loadDataset({ tokens: join(FIXTURES, file), seqLen: 128, ...(limit ? { limit } : {}) }, { inputs: m.inputs });
const gptCurve = (structure: StructureKind): Case => ({
  name: 'lic-gpt', model: fixtureModel('lic-gpt.onnx'), structure, sparsities: CURVE, methods: CURVE_METHODS, roundTo: 1, calibSamples: 64, calib: gptTokens('lic-gpt.train-tokens.npy', 64), test: gptTokens('lic-gpt.val-tokens.npy'), latency: false,
});

const cases: Case[] = [
  classifier('fmnist-mlp', fixtureModel('fmnist-mlp.onnx'), 'neurons', 0.5, 1),
  classifier('fmnist-cnn', fixtureModel('fmnist-cnn.onnx'), 'channels', 0.3, 1),
  classifier('fmnist-cnn', fixtureModel('fmnist-cnn.onnx'), 'channels', 0.3, 16),
  classifier('residual-cnn', residualModel, 'channels', 0.3, 1),
  classifier('residual-cnn', residualModel, 'channels', 0.3, 16),
  vitCurve('heads'),
  vitCurve('neurons'),
  gptCurve('heads'),
  gptCurve('neurons'),
];

const only = arg('only', '').split(',').map((s) => s.trim()).filter(Boolean);
const selected = cases.filter((c) => only.length === 0 || only.some((o) => c.name.includes(o)));
const key = (r: Record<string, unknown>) => `${r.model}|${r.structure}|${r.roundTo}|${r.sparsity}|${r.method}`;
const out = join(root, 'bench/results');
const jsonPath = join(out, 'structured.json');
const previous = only.length && existsSync(jsonPath) ? (JSON.parse(readFileSync(jsonPath, 'utf8')) as { results: Array<Record<string, unknown>> }).results : [];
const results: Array<Record<string, unknown>> = [];
/** Latency of each pruned architecture (it does not depend on the method), measured with more runs than the per-method rows. */
const architectures: Array<Record<string, unknown>> = [];
const ARCH_RUNS = 1000;

for (const c of selected) {
  const model = await c.model();
  const calib = c.calib(model);
  const test = c.test(model);
  const probe = probeFeeds(model, calib);
  const denseEval = await evaluateModel(model, test, { threads: THREADS });
  const bytes = model.toBytes().length;
  for (const method of c.methods) {
    for (const sparsity of c.sparsities) {
      const t0 = performance.now();
      const { model: pruned, report } = await pruneStructured(model, calib, { structure: c.structure, method, sparsity, roundTo: c.roundTo, calibSamples: c.calibSamples, threads: THREADS });
      const seconds = (performance.now() - t0) / 1000;
      const evaluation = await evaluateModel(pruned.model, test, { threads: THREADS });
      const latency = c.latency ? await compareLatency([model, pruned.model], probe, [1, 64], { runs: RUNS, threads: THREADS }) : undefined;
      const point = {
        model: c.name, calibSamples: c.calibSamples, structure: c.structure, sparsity, roundTo: c.roundTo, method,
        groups: report.groups.map((g) => `${g.name} ${g.units - g.removed}/${g.units}`),
        ...(denseEval.accuracy !== undefined ? { denseAccuracy: denseEval.accuracy, accuracy: evaluation.accuracy } : { densePerplexity: denseEval.perplexity, perplexity: evaluation.perplexity }),
        parameters: [report.before.parameters, report.after.parameters], macs: [report.before.macs, report.after.macs], bytes: [bytes, pruned.model.toBytes().length],
        ...(latency ? { latencyMs: { batch1: [latency[0]![0]!.medianMs, latency[1]![0]!.medianMs], batch64: [latency[0]![1]!.medianMs, latency[1]![1]!.medianMs] } } : {}),
        seconds,
      };
      results.push(point);
      console.log(JSON.stringify(point));
      pruned.dispose();
    }
  }
  if (c.latency) {
    // the architecture of this case (every method gives the same shapes): magnitude needs no data
    const { model: pruned, report } = await pruneStructured(model, calib, { structure: c.structure, method: 'magnitude', sparsity: c.sparsities[0]!, roundTo: c.roundTo, threads: THREADS });
    for (const threads of [1, THREADS]) {
      const [dense, small] = await compareLatency([model, pruned.model], probe, [1, 64], { runs: ARCH_RUNS, threads });
      const arch = {
        model: c.name, structure: c.structure, sparsity: c.sparsities[0], roundTo: c.roundTo, groups: report.groups.map((g) => `${g.name} ${g.units - g.removed}/${g.units}`), runs: ARCH_RUNS, threads,
        batch1: [dense![0]!.medianMs, small![0]!.medianMs], batch64: [dense![1]!.medianMs, small![1]!.medianMs],
      };
      architectures.push(arch);
      console.log(JSON.stringify(arch));
    }
    pruned.dispose();
  }
}

// earlier results of cases that still exist and were not rerun
const merged = [...previous.filter((p) => cases.some((c) => c.name === p.model) && !results.some((r) => key(r) === key(p))), ...results];
const order = (r: Record<string, unknown>) => cases.findIndex((c) => c.name === r.model && c.structure === r.structure && c.roundTo === r.roundTo);
// by case (a stable sort: within a case, as measured)
merged.sort((a, b) => order(a) - order(b));
mkdirSync(out, { recursive: true });
const residual = residualMeta ? { residualCnn: { trainingData: residualMeta.trainingData, backend: residualMeta.backend, trainSeconds: residualMeta.trainSeconds, testAccuracy: residualMeta.testAccuracy, training: residualMeta.training } } : {};
const previousFile = only.length && existsSync(jsonPath) ? (JSON.parse(readFileSync(jsonPath, 'utf8')) as { residualCnn?: unknown; architectures?: Array<Record<string, unknown>> }) : undefined;
const archKey = (r: Record<string, unknown>) => `${r.model}|${r.structure}|${r.roundTo}|${r.threads}`;
const archs = [...(previousFile?.architectures ?? []).filter((a) => a.threads !== undefined && cases.some((c) => c.name === a.model) && !architectures.some((b) => archKey(b) === archKey(a))), ...architectures];
archs.sort((a, b) => order(a) - order(b) || ((a.threads as number) ?? 2) - ((b.threads as number) ?? 2));
writeFileAtomic(jsonPath, new TextEncoder().encode(JSON.stringify({ machine: `${cpus().length} × ${cpus()[0]?.model ?? '?'}`, runs: RUNS, threads: THREADS, ...(previousFile?.residualCnn ? { residualCnn: previousFile.residualCnn } : {}), ...residual, architectures: archs, results: merged }, null, 2) + '\n'));

const pct = (a: number, b: number) => `${((100 * b) / a).toFixed(1)} %`;
const metric = (r: Record<string, unknown>) =>
  r.accuracy !== undefined ? `${(100 * (r.accuracy as number)).toFixed(1)} (${(100 * (r.denseAccuracy as number)).toFixed(1)})` : `${(r.perplexity as number).toFixed(3)} (${(r.densePerplexity as number).toFixed(3)})`;
const tables = merged.filter((r) => r.latencyMs);
const curves = merged.filter((r) => !r.latencyMs);
const lines = [
  '| model | structure | kept counts | method | accuracy (dense) | parameters | multiply-adds | file | latency b=1 (ms) | latency b=64 (ms) |',
  '|---|---|---|---|---:|---:|---:|---:|---:|---:|',
  ...tables.map((r) => {
    const p = r.parameters as number[];
    const m = r.macs as number[];
    const b = r.bytes as number[];
    const l = r.latencyMs as { batch1: number[]; batch64: number[] };
    return `| ${r.model} | ${(r.sparsity as number) * 100} % ${r.structure} | ${r.roundTo === 1 ? 'exact' : `multiples of ${r.roundTo}`}: ${(r.groups as string[]).join(', ')} | ${r.method} | ${metric(r)} | ${p[0]} → ${p[1]} (${pct(p[0]!, p[1]!)}) | ${pct(m[0]!, m[1]!)} | ${pct(b[0]!, b[1]!)} | ${l.batch1[0]!.toFixed(3)} → ${l.batch1[1]!.toFixed(3)} | ${l.batch64[0]!.toFixed(3)} → ${l.batch64[1]!.toFixed(3)} |`;
  }),
];
if (archs.length) {
  lines.push('', `Latency of each pruned architecture (the same for every method), median of ${ARCH_RUNS} runs alternating with the dense model run by run, with 1 and 2 onnxruntime threads:`, '');
  lines.push('| model | structure | kept counts | threads | latency b=1 (ms) | speed-up b=1 | latency b=64 (ms) | speed-up b=64 |', '|---|---|---|---:|---:|---:|---:|---:|');
  for (const a of archs) {
    const b1 = a.batch1 as number[];
    const b64 = a.batch64 as number[];
    lines.push(`| ${a.model} | ${(a.sparsity as number) * 100} % ${a.structure} | ${a.roundTo === 1 ? 'exact' : `multiples of ${a.roundTo}`}: ${(a.groups as string[]).join(', ')} | ${a.threads ?? 2} | ${b1[0]!.toFixed(3)} → ${b1[1]!.toFixed(3)} | ${(b1[0]! / b1[1]!).toFixed(2)}× | ${b64[0]!.toFixed(3)} → ${b64[1]!.toFixed(3)} | ${(b64[0]! / b64[1]!).toFixed(2)}× |`);
  }
}
if (curves.length) {
  const models = [...new Set(curves.map((r) => `${r.model}|${r.structure}`))];
  for (const mk of models) {
    const rows = curves.filter((r) => `${r.model}|${r.structure}` === mk);
    const sparsities = [...new Set(rows.map((r) => r.sparsity as number))].sort((a, b) => a - b);
    const methods = [...new Set(rows.map((r) => r.method as string))];
    const [name, structure] = mk.split('|');
    const isAcc = rows[0]!.accuracy !== undefined;
    const dense = isAcc ? `${(100 * (rows[0]!.denseAccuracy as number)).toFixed(1)} %` : (rows[0]!.densePerplexity as number).toFixed(3);
    lines.push('', `${name}, ${structure}: ${isAcc ? 'accuracy %' : 'perplexity'} (dense ${dense}); parameters after pruning in parentheses`, '');
    lines.push(`| method | ${sparsities.map((s) => `${Math.round(100 * s)} %`).join(' | ')} |`, `|---|${sparsities.map(() => '---:').join('|')}|`);
    for (const method of methods) {
      const cells = sparsities.map((s) => {
        const r = rows.find((x) => x.method === method && x.sparsity === s);
        if (!r) return '–';
        const p = r.parameters as number[];
        return `${isAcc ? (100 * (r.accuracy as number)).toFixed(1) : (r.perplexity as number).toFixed(3)} (${pct(p[0]!, p[1]!)})`;
      });
      lines.push(`| ${method} | ${cells.join(' | ')} |`);
    }
  }
}
writeFileSync(join(out, 'structured.md'), lines.join('\n') + '\n');
console.log(lines.join('\n'));
