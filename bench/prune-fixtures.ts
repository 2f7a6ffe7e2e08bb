/**
 * The pruning benchmark on the PyTorch fixtures (../shared/fixtures): fmnist-mlp, fmnist-cnn,
 * fmnist-vit by Fashion-MNIST test accuracy (10,000 images; 2,048 calibration images: 1,792 for
 * the statistics, 256 held out) and lic-gpt by validation perplexity (128 training windows of
 * 128 tokens for calibration, 32 held out), for every method × sparsity (50–90 % unstructured
 * and 2:4; layers whose input width is not a multiple of 4 stay dense under 2:4 and are listed).
 * Vision points also record the neural-collapse metrics of the penultimate layer (NC1, CDNV,
 * ETF distance, NC4, effective rank) on the test set.
 *
 * Without the fixtures, the bundled demo MLP (data/fmnist-mlp.onnx) is benchmarked on Debian's
 * Fashion-MNIST instead.
 *
 * Resumable: bench/results/prune-fixtures.json is rewritten (atomically) after every point,
 * and a rerun skips the points it holds (`--fresh` starts over; `--recompute` measures the
 * selected models × methods × sparsities again and replaces their points). Falls back to Debian's
 * Fashion-MNIST when the fixture arrays are absent (the models themselves are required).
 *
 *   npm run bench:prune [-- --models mlp,cnn,vit,gpt --methods ... --sparsities 0.5,0.7,2:4 --out FILE --fresh --recompute]
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readOnnxModel } from '../src/io/onnx/model.js';
import { findPrunableLayers } from '../src/io/onnx/operators.js';
import { writeFileAtomic } from '../src/io/fs.js';
import { loadDataset, type ClassificationDataset, type Dataset } from '../src/io/dataset.js';
import { pruneModel, type PruneModelReport } from '../src/prune/model.js';
import { evaluateModel } from '../src/runtime/evaluate.js';
import { measureModelCollapse } from '../src/collapse/model.js';
import type { SparsityPattern } from '../src/pruners/types.js';
import { arg, resumableResults } from './args.js';
import { FIXTURES, fmnistSpecs } from './fixture-data.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');


const MODELS: Record<string, { file: string; kind: 'vision' | 'tokens' }> = {
  mlp: { file: 'fmnist-mlp.onnx', kind: 'vision' },
  cnn: { file: 'fmnist-cnn.onnx', kind: 'vision' },
  vit: { file: 'fmnist-vit.onnx', kind: 'vision' },
  gpt: { file: 'lic-gpt.onnx', kind: 'tokens' },
  /** The bundled demo MLP (data/), benchmarked when the fixtures are absent. */
  demo: { file: 'data/fmnist-mlp.onnx', kind: 'vision' },
};

/** One measured point. */
export interface BenchPoint {
  model: string;
  method: string;
  sparsity: number;
  pattern: string;
  accuracy?: number;
  perplexity?: number;
  meanError: number | null;
  layerErrors: Array<{ name: string; error: number | null; skipped?: boolean }>;
  pruneSeconds: number;
  collapse?: { nc1: number; cdnv: number; etf: number; nc4?: number; effectiveRank: number };
}

interface Results {
  machine: { cpu: string; cores: number; memoryGiB: number };
  node: string;
  setup: Record<string, string>;
  dense: Record<string, { accuracy?: number; perplexity?: number; collapse?: BenchPoint['collapse'] }>;
  points: BenchPoint[];
}

function patternOf(text: string): { pattern: SparsityPattern; sparsity: number; label: string } {
  if (text.includes(':')) {
    const [n, m] = text.split(':').map(Number) as [number, number];
    return { pattern: { kind: 'nm', n, m }, sparsity: 1 - n / m, label: text };
  }
  return { pattern: { kind: 'unstructured' }, sparsity: Number(text), label: 'unstructured' };
}

async function collapseOf(model: Parameters<typeof measureModelCollapse>[0], test: ClassificationDataset, calib: ClassificationDataset) {
  const c = await measureModelCollapse(model, test, { layers: 'penultimate', train: calib });
  const layer = c.layers[c.layers.length - 1]!;
  return { accuracy: c.accuracy, collapse: { nc1: layer.nc1, cdnv: layer.cdnv, etf: layer.etf, nc4: layer.nc4, effectiveRank: layer.effectiveRank } };
}

async function main(): Promise<void> {
  const models = arg('models', existsSync(join(FIXTURES, 'fmnist-mlp.onnx')) ? 'mlp,cnn,vit,gpt' : 'demo').split(',');
  const methods = arg('methods', 'magnitude,wanda,sparsegpt,obc,iht,iobs').split(',');
  const sparsities = arg('sparsities', '0.5,0.6,0.7,0.8,0.9,2:4').split(',');
  const { out: OUT, results, recompute } = resumableResults<Results>(join(root, 'bench/results/prune-fixtures.json'), {
    vision: '2,048 calibration images (1,792 statistics + 256 held out), 10,000 test images',
    gpt: '160 training windows of 128 tokens (128 statistics + 32 held out), 185 validation windows',
    mode: 'sequential, 1 round, damp 0.01, iobs defaults (3 iterations, η = 0.5, projection auto)',
  }, { dense: {}, points: [] });
  const save = () => writeFileAtomic(OUT, new TextEncoder().encode(JSON.stringify(results, null, 1) + '\n'));
  const vision = fmnistSpecs();
  for (const name of models) {
    const spec = MODELS[name];
    if (!spec) throw new Error(`unknown model ${name}`);
    const path = name === 'demo' ? join(root, 'data/fmnist-mlp.onnx') : join(FIXTURES, spec.file);
    if (!existsSync(path)) {
      console.error(`skipping ${name}: ${path} absent`);
      continue;
    }
    const model = readOnnxModel(path);
    let calib: Dataset;
    let test: Dataset;
    if (spec.kind === 'vision') {
      calib = loadDataset(vision.calib, { inputs: model.inputs });
      test = loadDataset(vision.test, { inputs: model.inputs });
    } else {
      calib = loadDataset({ tokens: join(FIXTURES, 'lic-gpt.train-tokens.npy'), limit: 160 }, { inputs: model.inputs });
      test = loadDataset({ tokens: join(FIXTURES, 'lic-gpt.val-tokens.npy') }, { inputs: model.inputs });
    }
    if (!results.dense[name]) {
      results.dense[name] =
        spec.kind === 'vision'
          ? await collapseOf(model, test as ClassificationDataset, calib as ClassificationDataset)
          : { perplexity: (await evaluateModel(model, test)).perplexity };
      save();
    }
    for (const s of sparsities) {
      const { pattern, sparsity, label } = patternOf(s);
      const skip = pattern.kind === 'nm' ? findPrunableLayers(model).filter((v) => v.cols % pattern.m !== 0).map((v) => v.name) : [];
      for (const method of methods) {
        const same = (p: BenchPoint) => p.model === name && p.method === method && p.sparsity === sparsity && p.pattern === label;
        if (recompute) results.points = results.points.filter((p) => !same(p));
        else if (results.points.some(same)) continue;
        const started = performance.now();
        let report: PruneModelReport;
        let pruned;
        try {
          ({ model: pruned, report } = await pruneModel(model, calib, {
            method,
            sparsity,
            pattern,
            skip,
            calibSamples: spec.kind === 'vision' ? 1792 : 128,
            heldOutSamples: spec.kind === 'vision' ? 256 : 32,
          }));
        } catch (error) {
          console.error(`${name} ${method} ${s}: ${(error as Error).message}`);
          continue;
        }
        const point: BenchPoint = {
          model: name,
          method,
          sparsity,
          pattern: label,
          meanError: report.totals.meanError,
          layerErrors: report.layers.map((l) => ({ name: l.name, error: l.error, ...(l.skipped ? { skipped: true } : {}) })),
          pruneSeconds: report.seconds,
        };
        if (spec.kind === 'vision') Object.assign(point, await collapseOf(pruned, test as ClassificationDataset, calib as ClassificationDataset));
        else point.perplexity = (await evaluateModel(pruned, test)).perplexity;
        results.points.push(point);
        save();
        const metric = point.accuracy !== undefined ? `acc ${(point.accuracy * 100).toFixed(2)}` : `ppl ${point.perplexity!.toFixed(3)}`;
        console.error(`${name} ${method} ${s}: ${metric} err ${point.meanError?.toFixed(5)} prune ${report.seconds.toFixed(1)}s total ${((performance.now() - started) / 1000).toFixed(1)}s`);
      }
    }
  }
}

await main();
