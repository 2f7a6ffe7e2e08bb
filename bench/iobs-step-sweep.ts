/**
 * The sweep behind I-OBS's default step η (IOBS_DEFAULT_STEP): the fixture MLP at 90 % and the
 * fixture ViT at 70 %, sequential mode, 512 calibration images (+128 held out), each
 * configuration as (η, iterations): one full Newton step alone (η irrelevant), then η = 0.5,
 * 0.25, 0.1 with more iterations. Records the mean held-out layer error, test accuracy (10,000
 * images) and time in bench/results/iobs-step-sweep.json.
 *
 *   npm run bench:build && node dist/bench/iobs-step-sweep.js
 */
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readOnnxModel } from '../src/io/onnx/model.js';
import { loadDataset } from '../src/io/dataset.js';
import { pruneModel } from '../src/prune/model.js';
import { evaluateModel } from '../src/runtime/evaluate.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const FIXTURES = resolve(root, '../shared/fixtures');

const CASES = [
  { model: 'fmnist-mlp', sparsity: 0.9 },
  { model: 'fmnist-vit', sparsity: 0.7 },
];
const CONFIGS = [
  { step: 1, iterations: 1 },
  { step: 0.5, iterations: 4 },
  { step: 0.25, iterations: 6 },
  { step: 0.1, iterations: 8 },
];

async function main(): Promise<void> {
  if (!existsSync(join(FIXTURES, 'fmnist-mlp.onnx'))) throw new Error(`${FIXTURES} absent: this sweep needs the fixtures`);
  const rows = [];
  for (const { model: name, sparsity } of CASES) {
    const model = readOnnxModel(join(FIXTURES, `${name}.onnx`));
    const calib = loadDataset({ inputs: join(FIXTURES, 'fmnist-calib-images.npy'), scale: 1 / 255 }, { inputs: model.inputs });
    const test = loadDataset({ inputs: join(FIXTURES, 'fmnist-test-images.npy'), labels: join(FIXTURES, 'fmnist-test-labels.npy'), scale: 1 / 255 }, { inputs: model.inputs });
    for (const config of CONFIGS) {
      const { model: pruned, report } = await pruneModel(model, calib, { method: 'iobs', sparsity, ...config });
      const accuracy = (await evaluateModel(pruned, test)).accuracy!;
      const row = { model: name, sparsity, ...config, meanHeldOutError: report.totals.meanError, accuracy, seconds: report.seconds };
      rows.push(row);
      process.stderr.write(`${JSON.stringify(row)}\n`);
    }
  }
  writeFileSync(join(root, 'bench/results/iobs-step-sweep.json'), JSON.stringify({ setup: 'sequential, 512 calibration + 128 held-out images, damp 0.01, projection auto', rows }, null, 1) + '\n');
}

await main();
