/**
 * TensorFlow.js benchmark on Fashion-MNIST: an MLP, a LeNet-style CNN and a tiny ViT trained with
 * `surgeon train`, then one-shot global I-OBS vs one-shot WoodFisher vs global magnitude (MLP and
 * CNN at 90 % and 95 %, ViT at 70 % and 90 %), 5 epochs of gradual pruning with fine-tuning at 90 % vs
 * dense (MLP, CNN); time per epoch per backend (wasm on the training set, cpu on a small subset;
 * the ViT on wasm only); and the penultimate NC1 (Papyan et al. 2020) of every model before and
 * after one-shot pruning at 90 %, on the first `collapse` training images.
 * Writes bench/results/tfjs.json (merging into the previous results: parts not run are kept) and
 * prints a markdown table.
 *
 *   npx tsc -p tsconfig.json && npx tsc -p bench/tsconfig.json && node dist/bench/tfjs.js [--quick] [--only mlp,cnn,vit,collapse]
 *
 * `--only collapse` retrains the MLP and CNN (their folders are temporary) without their pruning rows.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { selectBackend, tf } from '../src/tfjs/backend.js';
import { evaluateTfjs, loadTfjsData, subset, type TfjsData } from '../src/tfjs/data.js';
import { gradualPrune } from '../src/tfjs/gradual.js';
import { registerFastGradients } from '../src/tfjs/gradients.js';
import { loadTfjsModel } from '../src/tfjs/model.js';
import { pruneTfjsModel, type TfjsMethod } from '../src/tfjs/prune.js';
import { trainEpochs } from '../src/tfjs/train.js';
import { measureTfjsCollapse } from '../src/tfjs/collapse.js';
import { buildModel } from '../src/tfjs/arch.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const PARTS = ['mlp', 'cnn', 'vit', 'collapse'] as const;
type Part = (typeof PARTS)[number];
const onlyAt = argv.findIndex((a) => a === '--only' || a.startsWith('--only='));
const onlyText = onlyAt < 0 ? undefined : argv[onlyAt]!.includes('=') ? argv[onlyAt]!.slice(7) : argv[onlyAt + 1];
const only = new Set<Part>(onlyText ? (onlyText.split(',').map((s) => s.trim()) as Part[]) : PARTS);
for (const p of only) if (!PARTS.includes(p)) throw new Error(`--only ${onlyText}: expected a comma-separated subset of ${PARTS.join(',')}`);
const SIZES = quick
  ? { train: 5000, epochs: 2, calib: 500, held: 250, fisher: 64, test: 2000, finetune: 3000, cpuMlp: 500, cpuCnn: 200, vitTrain: 5000, vitEpochs: 2, vitBatch: 32, collapse: 1000 }
  : { train: 20000, epochs: 3, calib: 1000, held: 500, fisher: 128, test: 10000, finetune: 10000, cpuMlp: 2000, cpuCnn: 500, vitTrain: 20000, vitEpochs: 2, vitBatch: 32, collapse: 2000 };
const VIT_LR = 2e-3;
const METHODS: TfjsMethod[] = ['magnitude', 'woodfisher', 'iobs'];

function train(arch: string, out: string): { secondsPerEpoch: number; test: { accuracy: number } } {
  const vit = arch === 'vit-tiny';
  const r = spawnSync(process.execPath, [join(root, 'dist/cli/main.js'), 'train', '--arch', arch, '--dataset', 'fashion-mnist:train', '--limit', String(vit ? SIZES.vitTrain : SIZES.train),
    '--epochs', String(vit ? SIZES.vitEpochs : SIZES.epochs), ...(vit ? ['--lr', String(VIT_LR), '--batch', String(SIZES.vitBatch)] : []), '--backend', 'wasm', '--out', out, '--json', '--test-dataset', 'fashion-mnist:test'], { encoding: 'utf8', env: { ...process.env, SURGEON_NO_PROGRESS: '1' } });
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

/** Penultimate NC1 and accuracy of `model` on the collapse subset. */
async function nc1Of(model: tf.LayersModel): Promise<{ nc1: number; accuracy: number }> {
  const r = await measureTfjsCollapse(model, collapseData, { layers: 'penultimate' });
  return { nc1: r.layers[0]!.nc1, accuracy: r.accuracy };
}

/** Prunes a fresh copy of the model in `folder` one-shot; test accuracy, seconds and (on request) NC1. */
async function oneShot(folder: string, method: TfjsMethod, sparsity: number, collapse: boolean): Promise<{ accuracy: number; seconds: number; nc1?: { nc1: number; accuracy: number } }> {
  const { model } = await loadTfjsModel(folder);
  const t0 = performance.now();
  const { masks } = await pruneTfjsModel(model, calib, held, { method, sparsity, samples: SIZES.fisher, block: 128, iterations: 4, step: 0.5 });
  const seconds = (performance.now() - t0) / 1000;
  tf.dispose([...masks.values()]);
  const accuracy = (await evaluateTfjs(model, test)).accuracy;
  const nc1 = collapse ? await nc1Of(model) : undefined;
  model.dispose();
  return { accuracy, seconds, ...(nc1 ? { nc1 } : {}) };
}

type Row = { arch: string; dense: number; oneShot: Record<string, Record<string, number>>; gradual?: { accuracy: number } };
type Timing = { arch: string; wasm: { samples: number; secondsPerEpoch: number }; cpu?: { samples: number; secondsPerEpoch: number; extrapolatedTo: number; extrapolatedSeconds: number } };
type Collapse = { arch: string; samples: number; dense: { nc1: number; accuracy: number }; pruned: Record<string, { nc1: number; accuracy: number }> };

const file = join(root, `bench/results/tfjs${quick ? '-quick' : ''}.json`);
const previous = (existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {}) as { results?: Row[]; timing?: Timing[]; collapse?: Collapse[]; sizes?: Record<string, number>; updated?: Record<string, string> };
const results = new Map((previous.results ?? []).map((r) => [r.arch, r]));
const timing = new Map((previous.timing ?? []).map((t) => [t.arch, t]));
const collapses = new Map((previous.collapse ?? []).map((c) => [c.arch, c]));
const updated: Record<string, string> = { ...(previous.updated ?? {}) };

const dir = mkdtempSync(join(tmpdir(), 'surgeon-bench-tfjs-'));
await selectBackend('wasm');
registerFastGradients(); // LayerNormalization's gradient (ViT) is slow without it
const test = loadTfjsData({ dataset: 'fashion-mnist:test', limit: SIZES.test }, { dims: [-1, 28, 28, 1] });
const trainAll = loadTfjsData({ dataset: 'fashion-mnist:train', limit: Math.max(SIZES.finetune, SIZES.calib + SIZES.held, SIZES.collapse) }, { dims: [-1, 28, 28, 1] });
const calib = subset(trainAll, 0, SIZES.calib);
const held = subset(trainAll, SIZES.calib, SIZES.held);
const collapseData: TfjsData = subset(trainAll, 0, SIZES.collapse);
const doCollapse = only.has('collapse');
const started = performance.now();

for (const part of ['mlp', 'cnn', 'vit'] as const) {
  const full = only.has(part);
  if (!full && !(doCollapse)) continue;
  const arch = part === 'vit' ? 'vit-tiny' : part;
  const folder = join(dir, arch);
  const trained = train(arch, folder);
  const dense = await loadTfjsModel(folder);
  const denseAcc = (await evaluateTfjs(dense.model, test)).accuracy;
  const denseNc1 = doCollapse ? await nc1Of(dense.model) : undefined;
  dense.model.dispose();
  const collapse: Collapse | undefined = denseNc1 && { arch, samples: SIZES.collapse, dense: denseNc1, pruned: {} };
  const sparsities = !full ? [0.9] : part === 'vit' ? [0.7, 0.9] : [0.9, 0.95];
  const row: Row = { arch, dense: denseAcc, oneShot: {} };
  for (const sparsity of sparsities) {
    for (const method of METHODS) {
      const r = await oneShot(folder, method, sparsity, Boolean(collapse) && sparsity === 0.9);
      const entry = (row.oneShot[method] ??= {});
      entry[String(sparsity)] = r.accuracy;
      entry[`seconds@${sparsity}`] = r.seconds;
      if (collapse && r.nc1) collapse.pruned[method] = r.nc1;
      process.stderr.write(`${arch} ${method} ${sparsity}: ${r.accuracy.toFixed(4)} (${r.seconds.toFixed(1)} s)${r.nc1 ? `, NC1 ${r.nc1.nc1.toFixed(3)}` : ''}\n`);
    }
  }
  if (collapse) {
    collapses.set(arch, collapse);
    updated.collapse = new Date().toISOString();
  }
  if (!full) continue;
  if (part !== 'vit') {
    const { model } = await loadTfjsModel(folder);
    const teacher = (await loadTfjsModel(folder)).model;
    const ft = subset(trainAll, 0, SIZES.finetune);
    const t0 = performance.now();
    const gradual = await gradualPrune(model, ft, held, { method: 'iobs', sparsity: 0.9, epochs: 5, samples: SIZES.fisher, iterations: 2, batchSize: 64, lr: 5e-4, distill: { teacher, temperature: 2, weight: 0.5 } });
    const gradualAcc = (await evaluateTfjs(model, test)).accuracy;
    Object.assign(row, { gradual: { sparsity: 0.9, epochs: 5, method: 'iobs', distill: true, accuracy: gradualAcc, seconds: (performance.now() - t0) / 1000, perEpoch: gradual.epochs } });
    process.stderr.write(`${arch} gradual 90%: ${gradualAcc.toFixed(4)} vs dense ${denseAcc.toFixed(4)}\n`);
    tf.dispose([...gradual.masks.values()]);
    model.dispose();
    teacher.dispose();
    const cpuSamples = arch === 'cnn' ? SIZES.cpuCnn : SIZES.cpuMlp;
    const cpuSeconds = await cpuEpoch(arch, cpuSamples);
    timing.set(arch, { arch, wasm: { samples: SIZES.train, secondsPerEpoch: trained.secondsPerEpoch }, cpu: { samples: cpuSamples, secondsPerEpoch: cpuSeconds, extrapolatedTo: SIZES.train, extrapolatedSeconds: (cpuSeconds * SIZES.train) / cpuSamples } });
  } else {
    Object.assign(row, { trainSamples: SIZES.vitTrain, epochs: SIZES.vitEpochs, batch: SIZES.vitBatch, lr: VIT_LR });
    timing.set(arch, { arch, wasm: { samples: SIZES.vitTrain, secondsPerEpoch: trained.secondsPerEpoch } });
  }
  results.set(arch, row);
  updated[part] = new Date().toISOString();
}
const seconds = (performance.now() - started) / 1000;

const pct = (v: number | undefined) => (v === undefined ? '–' : `${(100 * v).toFixed(1)}`);
const order = (a: { arch: string }, b: { arch: string }) => ['mlp', 'cnn', 'vit-tiny'].indexOf(a.arch) - ['mlp', 'cnn', 'vit-tiny'].indexOf(b.arch);
const lines = ['| model | dense | sparsity | magnitude | WoodFisher | global I-OBS |', '|---|---|---|---|---|---|'];
for (const r of [...results.values()].sort(order)) {
  const o = r.oneShot;
  for (const s of ['0.7', '0.9', '0.95']) if (o.iobs?.[s] !== undefined) lines.push(`| ${r.arch} | ${pct(r.dense)} | ${Math.round(Number(s) * 100)} % one-shot | ${pct(o.magnitude?.[s])} | ${pct(o.woodfisher?.[s])} | ${pct(o.iobs[s])} |`);
  if (r.gradual) lines.push(`| ${r.arch} | ${pct(r.dense)} | 90 % gradual, 5 epochs (I-OBS steps, distillation) | | | ${pct(r.gradual.accuracy)} |`);
}
lines.push('', '| model | wasm s/epoch | cpu s/epoch (subset) |', '|---|---|---|');
for (const t of [...timing.values()].sort(order)) {
  const cpu = t.cpu ? `${t.cpu.secondsPerEpoch.toFixed(1)} on ${t.cpu.samples} images (≈ ${t.cpu.extrapolatedSeconds.toFixed(0)} for ${t.wasm.samples})` : 'not measured';
  lines.push(`| ${t.arch} | ${t.wasm.secondsPerEpoch.toFixed(1)} (${t.wasm.samples} images) | ${cpu} |`);
}
if (collapses.size > 0) {
  lines.push('', '| model | penultimate NC1 dense (train acc) | magnitude 90 % | WoodFisher 90 % | I-OBS 90 % |', '|---|---|---|---|---|');
  const cell = (v: { nc1: number; accuracy: number } | undefined) => (v ? `${v.nc1.toFixed(3)} (${pct(v.accuracy)})` : '–');
  for (const c of [...collapses.values()].sort(order)) lines.push(`| ${c.arch} | ${cell(c.dense)} | ${cell(c.pruned.magnitude)} | ${cell(c.pruned.woodfisher)} | ${cell(c.pruned.iobs)} |`);
}
const markdown = lines.join('\n');
const sorted = <T extends { arch: string }>(m: Map<string, T>) => [...m.values()].sort(order);
const out = {
  date: new Date().toISOString(),
  quick,
  only: [...only],
  seconds,
  sizes: { ...(previous.sizes ?? {}), ...SIZES },
  backend: 'wasm (SIMD) for pruning and training; cpu only for timing',
  collapseNote: `penultimate NC1 = tr(Σ_W Σ_B⁺)/K on the first ${SIZES.collapse} training images (accuracy in brackets is on those images); pruned = one-shot at 90 % global sparsity`,
  updated,
  results: sorted(results),
  timing: sorted(timing),
  collapse: sorted(collapses),
  markdown,
};
mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(file, JSON.stringify(out, null, 2) + '\n');
process.stdout.write(markdown + '\n');
