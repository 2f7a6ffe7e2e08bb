/**
 * The I-OBS ablation (issue 12): what each ingredient of I-OBS contributes, on every trained
 * model we have — the PyTorch fixtures (../shared/fixtures: fmnist-mlp, fmnist-cnn, fmnist-vit,
 * lic-gpt) and the never-seen models of bench/models (char-gpt, mlp-twice, conv; built by
 * `npm run bench:models`, cached in bench/.cache/models).
 *
 * Variants: sparsegpt, obc, and iobs with 1 / 3 (default) / 10 iterations, with the cross term C
 * off, without the model-level check against the first step (`select: 'layer'`), and with each
 * projection (obc / sparsegpt / topk). Per point: test
 * accuracy or perplexity, the test loss (cross-entropy / NLL), the held-out calibration loss
 * (what the model-level check scores), the summed and mean held-out layer error, prune seconds.
 * Per model: the Spearman correlation between summed layer error and test loss over its points.
 *
 * Resumable like bench/prune-fixtures.ts: bench/results/iobs-ablation.json is rewritten after
 * every point; `--fresh` starts over, `--recompute` replaces the selected points.
 *
 *   npm run bench:build && node dist/bench/iobs-ablation.js [--models mlp,cnn,vit,gpt,char-gpt,mlp-twice,conv]
 *     [--variants sparsegpt,obc,iobs,...] [--sparsities 0.5,0.7,0.9,2:4] [--out FILE] [--fresh] [--recompute]
 *     [--label NAME]   (tags the points, e.g. a run of an older commit's iobs)
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readOnnxModel, type OnnxModel } from '../src/io/onnx/model.js';
import { findPrunableLayers } from '../src/io/onnx/operators.js';
import { writeFileAtomic } from '../src/io/fs.js';
import { loadDataset, type Dataset } from '../src/io/dataset.js';
import { asNetwork } from '../src/network/onnx.js';
import { pruneModel, type PruneModelOptions } from '../src/prune/model.js';
import { HeldOutModelLoss } from '../src/prune/select.js';
import { evaluateModel } from '../src/runtime/evaluate.js';
import type { SparsityPattern } from '../src/pruners/types.js';
import { arg, resumableResults } from './args.js';
import { FIXTURES, fmnistSpecs } from './fixture-data.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const OWN = resolve(root, 'bench/.cache/models');

interface ModelSpec {
  path: string;
  kind: 'vision' | 'tokens';
  /** Token streams (tokens models). */
  train?: string;
  val?: string;
  /** Calibration + held-out samples. */
  calib: number;
  heldOut: number;
  /** Built by bench/models (not a fixture). */
  own?: boolean;
}

const MODELS: Record<string, ModelSpec> = {
  mlp: { path: join(FIXTURES, 'fmnist-mlp.onnx'), kind: 'vision', calib: 1792, heldOut: 256 },
  cnn: { path: join(FIXTURES, 'fmnist-cnn.onnx'), kind: 'vision', calib: 1792, heldOut: 256 },
  vit: { path: join(FIXTURES, 'fmnist-vit.onnx'), kind: 'vision', calib: 1792, heldOut: 256 },
  gpt: { path: join(FIXTURES, 'lic-gpt.onnx'), kind: 'tokens', train: join(FIXTURES, 'lic-gpt.train-tokens.npy'), val: join(FIXTURES, 'lic-gpt.val-tokens.npy'), calib: 128, heldOut: 32 },
  'char-gpt': { path: join(OWN, 'char-gpt.onnx'), kind: 'tokens', train: join(OWN, 'char-gpt.train-tokens.npy'), val: join(OWN, 'char-gpt.val-tokens.npy'), calib: 128, heldOut: 32, own: true },
  'mlp-twice': { path: join(OWN, 'mlp-twice.onnx'), kind: 'vision', calib: 1792, heldOut: 256, own: true },
  conv: { path: join(OWN, 'conv.onnx'), kind: 'vision', calib: 1792, heldOut: 256, own: true },
};

/** The variants: pruneModel options beyond method/sparsity/pattern. */
const VARIANTS: Record<string, Pick<PruneModelOptions, 'method' | 'iterations' | 'crossTerm' | 'select' | 'projection'>> = {
  sparsegpt: { method: 'sparsegpt' },
  obc: { method: 'obc' },
  iobs: { method: 'iobs' },
  'iobs-T1': { method: 'iobs', iterations: 1 },
  'iobs-T10': { method: 'iobs', iterations: 10 },
  'iobs-select-layer': { method: 'iobs', select: 'layer' },
  'iobs-no-C': { method: 'iobs', crossTerm: false },
  'iobs-proj-obc': { method: 'iobs', projection: 'obc' },
  'iobs-proj-sparsegpt': { method: 'iobs', projection: 'sparsegpt' },
  'iobs-proj-sparsegpt-T1': { method: 'iobs', projection: 'sparsegpt', iterations: 1 },
  'iobs-proj-sparsegpt-T10': { method: 'iobs', projection: 'sparsegpt', iterations: 10 },
  'iobs-proj-sparsegpt-select-layer': { method: 'iobs', projection: 'sparsegpt', select: 'layer' },
  /** SparseGPT's own objective (no C), iterated: the iterations alone against sparsegpt. */
  'iobs-proj-sparsegpt-no-C-T10': { method: 'iobs', projection: 'sparsegpt', iterations: 10, crossTerm: false },
  'iobs-proj-topk': { method: 'iobs', projection: 'topk' },
};

/** One measured point. */
export interface AblationPoint {
  model: string;
  variant: string;
  label?: string;
  sparsity: string;
  accuracy?: number;
  perplexity?: number;
  /** Test cross-entropy (vision) or NLL per token (language models). */
  testLoss: number;
  /** The same loss on the held-out calibration samples (what model-level selection scores). */
  heldOutLoss: number;
  sumError: number;
  meanError: number | null;
  /** The model-level check against the first step (iobs with select 'model'): the model kept. */
  chosen?: 'iterated' | 'first';
  pruneSeconds: number;
}

interface Results {
  machine: { cpu: string; cores: number; memoryGiB: number };
  node: string;
  setup: Record<string, string>;
  dense: Record<string, { accuracy?: number; perplexity?: number; testLoss: number; heldOutLoss: number }>;
  points: AblationPoint[];
}

function visionData(model: OnnxModel, spec: ModelSpec): { calib: Dataset; test: Dataset } {
  const { calib, test } = fmnistSpecs(spec.calib + spec.heldOut);
  return { calib: loadDataset(calib, { inputs: model.inputs }), test: loadDataset(test, { inputs: model.inputs }) };
}

function patternOf(text: string): { pattern: SparsityPattern; sparsity: number } {
  if (text.includes(':')) {
    const [n, m] = text.split(':').map(Number) as [number, number];
    return { pattern: { kind: 'nm', n, m }, sparsity: 1 - n / m };
  }
  return { pattern: { kind: 'unstructured' }, sparsity: Number(text) };
}

/** Spearman's rank correlation of two equally long series (average ranks for ties). */
export function spearman(a: readonly number[], b: readonly number[]): number {
  const rank = (v: readonly number[]) => {
    const order = v.map((x, i) => [x, i] as const).sort((p, q) => p[0] - q[0]);
    const r = new Array<number>(v.length);
    for (let i = 0; i < order.length; ) {
      let j = i;
      while (j + 1 < order.length && order[j + 1]![0] === order[i]![0]) j++;
      for (let k = i; k <= j; k++) r[order[k]![1]] = (i + j) / 2 + 1;
      i = j + 1;
    }
    return r;
  };
  const ra = rank(a);
  const rb = rank(b);
  const mean = (v: number[]) => v.reduce((s, x) => s + x, 0) / v.length;
  const ma = mean(ra);
  const mb = mean(rb);
  let num = 0;
  let da = 0;
  let db = 0;
  for (let i = 0; i < ra.length; i++) {
    num += (ra[i]! - ma) * (rb[i]! - mb);
    da += (ra[i]! - ma) ** 2;
    db += (rb[i]! - mb) ** 2;
  }
  return num / Math.sqrt(da * db);
}

async function main(): Promise<void> {
  const models = arg('models', Object.keys(MODELS).join(',')).split(',');
  const variants = arg('variants', Object.keys(VARIANTS).join(',')).split(',');
  const sparsities = arg('sparsities', '0.5,0.7,0.9,2:4').split(',');
  const label = arg('label', '');
  const { out: OUT, results, recompute } = resumableResults<Results>(join(root, 'bench/results/iobs-ablation.json'), {
    vision: '1,792 calibration + 256 held-out Fashion-MNIST training images; 10,000 test images',
    tokens: '128 calibration + 32 held-out training windows; every validation window',
    mode: 'sequential, 1 round, damp 0.01; iobs defaults: 3 iterations, η = 0.5, projection auto, select model',
  }, { dense: {}, points: [] });
  const save = () => {
    writeFileAtomic(OUT, new TextEncoder().encode(JSON.stringify(results, null, 1) + '\n'));
    writeFileAtomic(OUT.replace(/\.json$/, '.md'), new TextEncoder().encode(ablationMarkdown(results)));
  };
  for (const name of models) {
    const spec = MODELS[name];
    if (!spec) throw new Error(`unknown model ${name}; one of ${Object.keys(MODELS).join(', ')}`);
    if (!existsSync(spec.path)) {
      console.error(`skipping ${name}: ${spec.path} absent${spec.own ? ' (npm run bench:models builds it)' : ''}`);
      continue;
    }
    const model = readOnnxModel(spec.path);
    const { calib, test } =
      spec.kind === 'vision'
        ? visionData(model, spec)
        : {
            calib: loadDataset({ tokens: spec.train!, limit: spec.calib + spec.heldOut }, { inputs: model.inputs }),
            test: loadDataset({ tokens: spec.val! }, { inputs: model.inputs }),
          };
    const dense = asNetwork(model);
    const testLoss = (await HeldOutModelLoss.create(dense, test, [0, test.count], { batchSize: 64, threads: 2 }))!;
    const heldLoss = (await HeldOutModelLoss.create(dense, calib, [spec.calib, spec.calib + spec.heldOut], { batchSize: 64, threads: 2 }))!;
    /** Accuracy or perplexity, and the test loss, from one pass over the test set. */
    const scored = async (m: OnnxModel) => {
      const testLossValue = await testLoss.measure(asNetwork(m));
      if (spec.kind === 'tokens') return { perplexity: Math.exp(testLossValue), testLoss: testLossValue };
      return { accuracy: (await evaluateModel(m, test)).accuracy!, testLoss: testLossValue };
    };
    if (!results.dense[name]) {
      results.dense[name] = { ...(await scored(model)), heldOutLoss: await heldLoss.measure(dense) };
      save();
    }
    for (const s of sparsities) {
      const { pattern, sparsity } = patternOf(s);
      const skip = pattern.kind === 'nm' ? findPrunableLayers(model).filter((v) => v.cols % pattern.m !== 0).map((v) => v.name) : [];
      for (const variant of variants) {
        const options = VARIANTS[variant];
        if (!options) throw new Error(`unknown variant ${variant}; one of ${Object.keys(VARIANTS).join(', ')}`);
        const same = (p: AblationPoint) => p.model === name && p.variant === variant && p.sparsity === s && (p.label ?? '') === label;
        if (recompute) results.points = results.points.filter((p) => !same(p));
        else if (results.points.some(same)) continue;
        let pruned: OnnxModel;
        let report;
        try {
          ({ model: pruned, report } = await pruneModel(model, calib, { ...options, sparsity, pattern, skip, calibSamples: spec.calib, heldOutSamples: spec.heldOut }));
        } catch (error) {
          console.error(`${name} ${variant} ${s}: ${(error as Error).message}`);
          continue;
        }
        const errors = report.layers.map((l) => l.error).filter((e): e is number => e !== null);
        const network = asNetwork(pruned);
        const point: AblationPoint = {
          model: name,
          variant,
          ...(label ? { label } : {}),
          sparsity: s,
          ...(await scored(pruned)),
          heldOutLoss: await heldLoss.measure(network),
          sumError: errors.reduce((a, b) => a + b, 0),
          meanError: report.totals.meanError,
          pruneSeconds: report.seconds,
          ...(report.selection ? { chosen: report.selection.chosen } : {}),
        };
        results.points.push(point);
        save();
        const shown = point.accuracy !== undefined ? `acc ${(point.accuracy * 100).toFixed(2)}` : `ppl ${point.perplexity!.toFixed(3)}`;
        console.error(`${name} ${variant}${label ? ` [${label}]` : ''} ${s}: ${shown} test loss ${point.testLoss.toFixed(4)} held-out ${point.heldOutLoss.toFixed(4)} Σerr ${point.sumError.toFixed(4)}${point.chosen ? ` kept ${point.chosen}` : ''} ${report.seconds.toFixed(1)}s`);
      }
    }
  }
}


/** What each variant is, for the tables. */
const VARIANT_NOTES: Record<string, string> = {
  sparsegpt: 'SparseGPT (no cross term)',
  obc: 'exact greedy OBS (no cross term)',
  iobs: 'I-OBS default: C, 3 iterations, projection auto, model-level check',
  'iobs-T1': 'I-OBS first step only (the one-shot OBS solution of the target)',
  'iobs-T10': '10 iterations',
  'iobs-select-layer': 'no model-level check (iterate per layer by held-out layer objective)',
  'iobs-no-C': 'no cross term (target W, as SparseGPT)',
  'iobs-proj-obc': 'exact OBS projection everywhere',
  'iobs-proj-sparsegpt': 'SparseGPT-sweep projection everywhere',
  'iobs-proj-sparsegpt-T1': 'SparseGPT-sweep projection, first step only',
  'iobs-proj-sparsegpt-T10': 'SparseGPT-sweep projection, 10 iterations',
  'iobs-proj-sparsegpt-select-layer': 'SparseGPT-sweep projection, no model-level check',
  'iobs-proj-sparsegpt-no-C-T10': "SparseGPT's objective (no C) iterated 10 times with the sweep",
  'iobs-proj-topk': 'top-k (hard threshold) projection',
};

/** The Markdown tables of `results` (written next to the JSON). */
export function ablationMarkdown(results: Results): string {
  const lines: string[] = [];
  const models = [...new Set(results.points.map((p) => p.model))];
  const value = (p: AblationPoint | undefined) => (!p ? '–' : p.accuracy !== undefined ? (100 * p.accuracy).toFixed(1) : p.perplexity!.toFixed(3));
  lines.push(`Machine: ${results.machine.cpu}, ${results.machine.cores} cores. ${Object.entries(results.setup).map(([k, v]) => `${k}: ${v}`).join('; ')}.`, '');
  for (const model of models) {
    const pts = results.points.filter((p) => p.model === model && !p.label);
    // 50 %, 70 %, 90 %, then the N:M patterns.
    const order = (x: string) => (x.includes(':') ? 2 + Number(x.split(':')[0]) / Number(x.split(':')[1]) : Number(x));
    const sparsities = [...new Set(pts.map((p) => p.sparsity))].sort((a, b) => order(a) - order(b));
    const variants = Object.keys(VARIANTS).filter((v) => pts.some((p) => p.variant === v));
    const dense = results.dense[model]!;
    const lm = dense.perplexity !== undefined;
    lines.push(`#### ${model} — ${lm ? 'validation perplexity' : 'test accuracy %'} (dense ${lm ? dense.perplexity!.toFixed(3) : (100 * dense.accuracy!).toFixed(1)}); in brackets: held-out calibration loss`, '');
    lines.push(`| variant | ${sparsities.join(' | ')} | what |`, `|---|${sparsities.map(() => '---:').join('|')}|---|`);
    for (const v of variants) {
      const cells = sparsities.map((s) => {
        const p = pts.find((q) => q.variant === v && q.sparsity === s);
        return p ? `${value(p)} (${p.heldOutLoss.toFixed(3)}${p.chosen === 'first' ? ', first kept' : ''})` : '–';
      });
      lines.push(`| ${v} | ${cells.join(' | ')} | ${VARIANT_NOTES[v] ?? ''} |`);
    }
    const rho = spearman(pts.map((p) => p.sumError), pts.map((p) => p.testLoss));
    lines.push('', `Spearman correlation between summed held-out layer error and test loss over these ${pts.length} points: ${rho.toFixed(2)}.`, '');
  }
  // The acceptance checks of issue 12.
  lines.push('**Checks (issue 12 acceptance)**', '');
  const get = (model: string, variant: string, s: string) => results.points.find((p) => p.model === model && p.variant === variant && p.sparsity === s && !p.label);
  const gaps: number[] = [];
  for (const model of models) {
    for (const s of ['0.5', '2:4']) {
      const a = get(model, 'iobs', s);
      const b = get(model, 'sparsegpt', s);
      if (!a || !b) continue;
      const lm = a.perplexity !== undefined;
      const gap = lm ? (b.perplexity! - a.perplexity!) / b.perplexity! : 100 * (a.accuracy! - b.accuracy!);
      gaps.push(lm ? gap * 100 : gap);
      const ok = lm ? a.perplexity! <= 1.01 * b.perplexity! : a.accuracy! >= b.accuracy! - 0.003;
      lines.push(`- ${model} ${s}: iobs ${value(a)} vs sparsegpt ${value(b)} — ${ok ? 'within the bound or better' : '**worse than the bound**'}`);
    }
    for (const s of [...new Set(results.points.filter((p) => p.model === model).map((p) => p.sparsity))]) {
      const a = get(model, 'iobs', s);
      const f = get(model, 'iobs-T1', s);
      if (a && f) lines.push(`- ${model} ${s}: held-out model loss iobs ${a.heldOutLoss.toFixed(4)} vs its first step ${f.heldOutLoss.toFixed(4)} — ${a.heldOutLoss <= f.heldOutLoss + 1e-9 ? 'never worse' : '**worse**'}`);
    }
  }
  if (gaps.length) lines.push('', `Mean advantage of iobs over sparsegpt at 50 % and 2:4 (accuracy points, or % lower perplexity): ${(gaps.reduce((x, y) => x + y, 0) / gaps.length).toFixed(2)}.`);
  return lines.join('\n') + '\n';
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
