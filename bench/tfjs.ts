/**
 * TensorFlow.js benchmark on Fashion-MNIST: an MLP and a LeNet-style CNN trained with
 * `surgeon train`, then one-shot global I-OBS vs one-shot WoodFisher vs global magnitude at
 * 90 % and 95 % sparsity, and 5 epochs of gradual pruning with fine-tuning at 90 % vs dense;
 * time per epoch per backend (wasm on the training set, cpu on a small subset).
 * Writes bench/results/tfjs.json and prints a markdown table.
 *
 *   npx tsc -p tsconfig.json && npx tsc -p bench/tsconfig.json && node dist/bench/tfjs.js [--quick]
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { selectBackend, tf } from '../src/tfjs/backend.js';
import { evaluateTfjs, loadTfjsData, subset } from '../src/tfjs/data.js';
import { gradualPrune } from '../src/tfjs/gradual.js';
import { loadTfjsModel } from '../src/tfjs/model.js';
import { pruneTfjsModel, type TfjsMethod } from '../src/tfjs/prune.js';
import { trainEpochs } from '../src/tfjs/train.js';
import { buildModel } from '../src/tfjs/arch.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const quick = process.argv.includes('--quick');
const SIZES = quick
  ? { train: 5000, epochs: 2, calib: 500, held: 250, fisher: 64, test: 2000, finetune: 3000, cpuMlp: 500, cpuCnn: 200 }
  : { train: 20000, epochs: 3, calib: 1000, held: 500, fisher: 128, test: 10000, finetune: 10000, cpuMlp: 2000, cpuCnn: 500 };

function train(arch: string, out: string): { secondsPerEpoch: number; test: { accuracy: number } } {
  const r = spawnSync(process.execPath, [join(root, 'dist/cli/main.js'), 'train', '--arch', arch, '--dataset', 'fashion-mnist:train', '--limit', String(SIZES.train),
    '--epochs', String(SIZES.epochs), '--backend', 'wasm', '--out', out, '--json', '--test-dataset', 'fashion-mnist:test'], { encoding: 'utf8', env: { ...process.env, SURGEON_NO_PROGRESS: '1' } });
  if (r.status !== 0) throw new Error(`surgeon train failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as { secondsPerEpoch: number; test: { accuracy: number } };
}

async function cpuEpoch(arch: string, samples: number): Promise<number> {
  await selectBackend('cpu');
  const data = loadTfjsData({ dataset: 'fashion-mnist:train', limit: samples }, { dims: [-1, 28, 28, 1] });
  const model = buildModel(arch, [28, 28, 1], 10);
  const { epochs } = await trainEpochs(model, data, { epochs: 1, batchSize: 64 });
  model.dispose();
  await selectBackend('wasm');
  return epochs[0]!.seconds;
}

const dir = mkdtempSync(join(tmpdir(), 'surgeon-bench-tfjs-'));
await selectBackend('wasm');
const test = loadTfjsData({ dataset: 'fashion-mnist:test', limit: SIZES.test }, { dims: [-1, 28, 28, 1] });
const trainAll = loadTfjsData({ dataset: 'fashion-mnist:train', limit: Math.max(SIZES.finetune, SIZES.calib + SIZES.held) }, { dims: [-1, 28, 28, 1] });
const calib = subset(trainAll, 0, SIZES.calib);
const held = subset(trainAll, SIZES.calib, SIZES.held);
const results: Record<string, unknown>[] = [];
const timing: Record<string, unknown>[] = [];
for (const arch of ['mlp', 'cnn']) {
  const folder = join(dir, arch);
  const trained = train(arch, folder);
  const cpuSamples = arch === 'cnn' ? SIZES.cpuCnn : SIZES.cpuMlp;
  const cpuSeconds = await cpuEpoch(arch, cpuSamples);
  timing.push({ arch, wasm: { samples: SIZES.train, secondsPerEpoch: trained.secondsPerEpoch }, cpu: { samples: cpuSamples, secondsPerEpoch: cpuSeconds, extrapolatedTo: SIZES.train, extrapolatedSeconds: (cpuSeconds * SIZES.train) / cpuSamples } });
  const dense = await loadTfjsModel(folder);
  const denseAcc = (await evaluateTfjs(dense.model, test)).accuracy;
  dense.model.dispose();
  const row: Record<string, unknown> = { arch, dense: denseAcc, oneShot: {} as Record<string, Record<string, number>> };
  for (const sparsity of [0.9, 0.95]) {
    for (const method of ['magnitude', 'woodfisher', 'iobs'] as TfjsMethod[]) {
      const { model } = await loadTfjsModel(folder);
      const t0 = performance.now();
      const { masks } = await pruneTfjsModel(model, calib, held, { method, sparsity, samples: SIZES.fisher, block: 128, iterations: 4, step: 0.5 });
      const seconds = (performance.now() - t0) / 1000;
      tf.dispose([...masks.values()]);
      const acc = (await evaluateTfjs(model, test)).accuracy;
      model.dispose();
      const entry = ((row.oneShot as Record<string, Record<string, number>>)[method] ??= {});
      entry[String(sparsity)] = acc;
      entry[`seconds@${sparsity}`] = seconds;
      process.stderr.write(`${arch} ${method} ${sparsity}: ${acc.toFixed(4)} (${seconds.toFixed(1)} s)\n`);
    }
  }
  const { model } = await loadTfjsModel(folder);
  const teacher = (await loadTfjsModel(folder)).model;
  const ft = subset(trainAll, 0, SIZES.finetune);
  const t0 = performance.now();
  const gradual = await gradualPrune(model, ft, held, { method: 'iobs', sparsity: 0.9, epochs: 5, samples: SIZES.fisher, iterations: 2, batchSize: 64, lr: 5e-4, distill: { teacher, temperature: 2, weight: 0.5 } });
  const gradualAcc = (await evaluateTfjs(model, test)).accuracy;
  row.gradual = { sparsity: 0.9, epochs: 5, method: 'iobs', distill: true, accuracy: gradualAcc, seconds: (performance.now() - t0) / 1000, perEpoch: gradual.epochs };
  process.stderr.write(`${arch} gradual 90%: ${gradualAcc.toFixed(4)} vs dense ${denseAcc.toFixed(4)}\n`);
  tf.dispose([...gradual.masks.values()]);
  model.dispose();
  teacher.dispose();
  results.push(row);
}

const pct = (v: number) => `${(100 * v).toFixed(1)}`;
const lines = ['| model | dense | sparsity | magnitude | WoodFisher | global I-OBS |', '|---|---|---|---|---|---|'];
for (const r of results) {
  const o = r.oneShot as Record<string, Record<string, number>>;
  for (const s of ['0.9', '0.95']) lines.push(`| ${r.arch} | ${pct(r.dense as number)} | ${Number(s) * 100} % one-shot | ${pct(o.magnitude![s]!)} | ${pct(o.woodfisher![s]!)} | ${pct(o.iobs![s]!)} |`);
  const g = r.gradual as { accuracy: number };
  lines.push(`| ${r.arch} | ${pct(r.dense as number)} | 90 % gradual, 5 epochs (I-OBS steps, distillation) | | | ${pct(g.accuracy)} |`);
}
lines.push('', '| model | wasm s/epoch | cpu s/epoch (subset) |', '|---|---|---|');
for (const t of timing as Array<{ arch: string; wasm: { samples: number; secondsPerEpoch: number }; cpu: { samples: number; secondsPerEpoch: number; extrapolatedSeconds: number } }>) {
  lines.push(`| ${t.arch} | ${t.wasm.secondsPerEpoch.toFixed(1)} (${t.wasm.samples} images) | ${t.cpu.secondsPerEpoch.toFixed(1)} on ${t.cpu.samples} images (≈ ${t.cpu.extrapolatedSeconds.toFixed(0)} for ${t.wasm.samples}) |`);
}
const markdown = lines.join('\n');
const out = { date: new Date().toISOString(), quick, sizes: SIZES, backend: 'wasm (SIMD) for pruning and training; cpu only for timing', results, timing, markdown };
mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(join(root, `bench/results/tfjs${quick ? '-quick' : ''}.json`), JSON.stringify(out, null, 2) + '\n');
process.stdout.write(markdown + '\n');
