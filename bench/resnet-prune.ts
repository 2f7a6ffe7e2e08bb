/**
 * Issue #11: prune time of a ResNet-18-sized conv net, `surgeon prune --method sparsegpt
 * --sparsity 0.5` on 256 calibration images of 3 × 64 × 64.
 *
 * The model is torchvision's ResNet-18 shape built with {@link OnnxGraphBuilder}, seeded
 * He-initialised random weights, BatchNorm folded into the convolutions (Conv with bias): 7×7
 * stride-2 stem, MaxPool 3×3 s2 p1, 4 stages × 2 BasicBlocks (64/128/256/512 channels, 1×1
 * stride-2 downsample convs on stage entries), residual Add + Relu, GlobalAveragePool, Flatten,
 * Gemm to 1000 classes (11.69 M parameters). Input float32 [batch, 3, 64, 64]. The 256
 * calibration images are seeded standard-normal values (.npy float32 [256, 3, 64, 64]).
 *
 * The CLI runs as a child process under /usr/bin/time (peak RSS) with --calib-samples 256
 * --held-out 0 --threads 2 --json, plus --profile when the CLI knows the flag (the CLI before
 * the pipeline changes does not).
 *
 *   npm run bench:resnet [-- --cli PATH/dist/cli/main.js] [--label NAME] [--images 256]
 * replaces the labelled run in bench/results/resnet-prune.json and rewrites
 * bench/results/resnet-prune.md (every label side by side, speedups against "before").
 * --held-out (default 0; "default" omits the flag) is passed on; a CLI that refuses it is rerun
 * without it (the older CLI refuses 0; with all 256 images used for calibration none are left to
 * hold out either way).
 */
import { spawnSync } from 'node:child_process';
import { cpus, loadavg, tmpdir } from 'node:os';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OnnxGraphBuilder } from '../src/io/onnx/graph-builder.js';
import { writeNpy } from '../src/io/npy.js';
import { gaussian, mulberry32 } from '../src/random.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const RESULTS = join(root, 'bench/results');

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : fallback;
}

const CLI = resolve(arg('cli', join(root, 'dist/cli/main.js')));
const LABEL = arg('label', 'after');
const IMAGES = Number(arg('images', '256'));
/** `--held-out` passed to the CLI; "default" leaves it out (the older CLI refuses 0). */
const HELD_OUT = arg('held-out', '0');
const SIZE = 64;
const round3 = (x: number) => Math.round(x * 1000) / 1000;

/** The ResNet-18-shaped model and its parameter count. */
export function resnet18(seed = 18): { bytes: Uint8Array; parameters: number; convs: number } {
  const normal = gaussian(mulberry32(seed));
  const g = new OnnxGraphBuilder({ name: 'resnet18-folded' });
  let parameters = 0;
  let convs = 0;
  const conv = (x: string, name: string, cin: number, cout: number, k: number, stride: number, pad: number): string => {
    const std = Math.sqrt(2 / (cin * k * k)); // He (fan_in, ReLU)
    const w = new Float32Array(cout * cin * k * k);
    for (let i = 0; i < w.length; i++) w[i] = normal() * std;
    const b = new Float32Array(cout);
    for (let i = 0; i < cout; i++) b[i] = 0.01 * normal(); // folded BatchNorm shift
    parameters += w.length + b.length;
    convs++;
    const [y] = g.node('Conv', [x, g.initializer(`${name}.weight`, [cout, cin, k, k], w), g.initializer(`${name}.bias`, [cout], b)], {
      kernel_shape: { ints: [k, k] },
      strides: { ints: [stride, stride] },
      pads: { ints: [pad, pad, pad, pad] },
      dilations: { ints: [1, 1] },
      group: { int: 1 },
    }, { name: `/${name}/Conv` });
    return y!;
  };
  const relu = (x: string) => g.node('Relu', [x])[0]!;

  g.input('input', 'float32', ['batch', 3, SIZE, SIZE]);
  let x = relu(conv('input', 'conv1', 3, 64, 7, 2, 3));
  [x] = g.node('MaxPool', [x], { kernel_shape: { ints: [3, 3] }, strides: { ints: [2, 2] }, pads: { ints: [1, 1, 1, 1] } });
  let cin = 64;
  [64, 128, 256, 512].forEach((cout, s) => {
    for (let blk = 0; blk < 2; blk++) {
      const stride = s > 0 && blk === 0 ? 2 : 1;
      const p = `layer${s + 1}.${blk}`;
      const h = relu(conv(x!, `${p}.conv1`, cin, cout, 3, stride, 1));
      const h2 = conv(h, `${p}.conv2`, cout, cout, 3, 1, 1);
      const skip = stride !== 1 || cin !== cout ? conv(x!, `${p}.downsample.0`, cin, cout, 1, stride, 0) : x!;
      x = relu(g.node('Add', [h2, skip])[0]!);
      cin = cout;
    }
  });
  [x] = g.node('GlobalAveragePool', [x!]);
  [x] = g.node('Flatten', [x!], { axis: { int: 1 } });
  const fcW = new Float32Array(1000 * 512);
  const bound = 1 / Math.sqrt(512);
  for (let i = 0; i < fcW.length; i++) fcW[i] = normal() * bound;
  const fcB = new Float32Array(1000);
  parameters += fcW.length + fcB.length;
  g.node('Gemm', [x!, g.initializer('fc.weight', [1000, 512], fcW), g.initializer('fc.bias', [1000], fcB)], { transB: { int: 1 } }, { name: '/fc/Gemm', outputs: ['logits'] });
  g.output('logits', 'float32', ['batch', 1000]);
  return { bytes: g.toBytes(), parameters, convs };
}

interface Run {
  label: string;
  cli: string;
  profileFlag: boolean;
  heldOutArg: string;
  status: number;
  wallSeconds: number;
  peakRssMiB: number | null;
  profile?: Record<string, number>;
  totalSeconds?: number;
  sparsity?: number;
  meanError?: number | null;
  calibSamples?: number;
  heldOutSamples?: number;
  layers?: number;
  error?: string;
  date: string;
  machine: { cpus: number; model: string; load1: number; node: string };
}

function main(): void {
  const dir = mkdtempSync(join(tmpdir(), 'surgeon-resnet-'));
  try {
    const { bytes, parameters, convs } = resnet18();
    const model = join(dir, 'resnet18.onnx');
    writeFileSync(model, bytes);
    const normal = gaussian(mulberry32(2024));
    const data = new Float32Array(IMAGES * 3 * SIZE * SIZE);
    for (let i = 0; i < data.length; i++) data[i] = normal();
    const calib = join(dir, 'calib.npy');
    writeNpy(calib, { dtype: 'float32', shape: [IMAGES, 3, SIZE, SIZE], data });
    console.error(`model: ${convs} convs + fc, ${parameters.toLocaleString('en-US')} parameters; ${IMAGES} images → ${dir}`);

    const help = spawnSync(process.execPath, [CLI, 'prune', '--help'], { encoding: 'utf8' });
    const profileFlag = /--profile/.test(help.stdout + help.stderr);
    const rssFile = join(dir, 'rss.txt');
    const haveTime = existsSync('/usr/bin/time');
    const cli = (heldOut: string) => {
      const args = [
        CLI, 'prune', model, '--method', 'sparsegpt', '--sparsity', '0.5', '--inputs', calib,
        '--calib-samples', String(IMAGES), ...(heldOut === 'default' ? [] : ['--held-out', heldOut]), '--threads', '2', '--json',
        '--out', join(dir, 'pruned.onnx'), ...(profileFlag ? ['--profile'] : []),
      ];
      const env = { ...process.env, SURGEON_NO_PROGRESS: '1' };
      const t0 = performance.now();
      const r = haveTime
        ? spawnSync('/usr/bin/time', ['-f', '%M', '-o', rssFile, process.execPath, ...args], { encoding: 'utf8', env, maxBuffer: 256 << 20 })
        : spawnSync(process.execPath, args, { encoding: 'utf8', env, maxBuffer: 256 << 20 });
      return { r, wallSeconds: round3((performance.now() - t0) / 1000) };
    };
    let heldOut = HELD_OUT;
    let { r, wallSeconds } = cli(heldOut);
    if (r.status !== 0 && heldOut !== 'default' && /--held-out/.test(r.stderr)) {
      console.error(`--held-out ${heldOut} refused (${r.stderr.trim()}); rerunning with the default`);
      heldOut = 'default';
      ({ r, wallSeconds } = cli(heldOut));
    }
    let peakRssMiB: number | null = null;
    if (haveTime && existsSync(rssFile)) {
      const kb = Number(readFileSync(rssFile, 'utf8').trim().split('\n').pop());
      if (Number.isFinite(kb)) peakRssMiB = Math.round(kb / 1024);
    }
    const run: Run = {
      label: LABEL,
      cli: CLI,
      profileFlag,
      heldOutArg: heldOut,
      status: r.status ?? -1,
      wallSeconds,
      peakRssMiB,
      date: new Date().toISOString(),
      machine: { cpus: cpus().length, model: cpus()[0]?.model ?? '?', load1: round3(loadavg()[0]!), node: process.version },
    };
    if (r.status === 0) {
      const rep = JSON.parse(r.stdout) as Record<string, unknown> & { profile?: Record<string, number>; totals?: { sparsity: number; meanError: number | null }; layers?: unknown[] };
      if (rep.profile) run.profile = Object.fromEntries(Object.entries(rep.profile).map(([k, v]) => [k, round3(v)]));
      if (typeof rep.totalSeconds === 'number') run.totalSeconds = round3(rep.totalSeconds);
      if (rep.totals) {
        run.sparsity = rep.totals.sparsity;
        run.meanError = rep.totals.meanError;
      }
      if (typeof rep.calibSamples === 'number') run.calibSamples = rep.calibSamples;
      if (typeof rep.heldOutSamples === 'number') run.heldOutSamples = rep.heldOutSamples;
      if (Array.isArray(rep.layers)) run.layers = rep.layers.length;
    } else {
      run.error = (r.stderr || r.stdout || String(r.error)).trim().split('\n').slice(-3).join(' | ');
    }
    console.error(JSON.stringify(run));

    mkdirSync(RESULTS, { recursive: true });
    const jsonPath = join(RESULTS, 'resnet-prune.json');
    const old = existsSync(jsonPath) ? (JSON.parse(readFileSync(jsonPath, 'utf8')) as { runs?: Run[] }) : {};
    const runs = (old.runs ?? []).filter((x) => x.label !== LABEL);
    runs.push(run);
    const out = {
      model: { shape: 'ResNet-18 (torchvision), BatchNorm folded into Conv biases', parameters, convs, gemms: 1, input: [IMAGES, 3, SIZE, SIZE] },
      command: 'surgeon prune MODEL --method sparsegpt --sparsity 0.5 --inputs calib.npy --calib-samples 256 [--held-out 0] --threads 2 --json [--profile]',
      runs,
    };
    writeFileSync(jsonPath, JSON.stringify(out, null, 2) + '\n');
    writeFileSync(join(RESULTS, 'resnet-prune.md'), markdown(out));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function markdown(out: { model: { parameters: number }; runs: Run[] }): string {
  const before = out.runs.find((r) => r.label === 'before');
  const phases = [...new Set(out.runs.flatMap((r) => Object.keys(r.profile ?? {})))];
  const lines = [
    `ResNet-18-shaped model (${out.model.parameters.toLocaleString('en-US')} parameters, BatchNorm folded), ${IMAGES} images of 3×64×64, SparseGPT 50 %, --threads 2; --held-out per run: ${out.runs.map((r) => `${r.label} ${r.heldOutArg}`).join(', ')}.`,
    '',
    `| run | wall (s) | ${phases.map((p) => `${p} (s)`).join(' | ')} | peak RSS (MiB) | speedup vs before |`,
    `|---|---:|${phases.map(() => '---:').join('|')}${phases.length ? '|' : ''}---:|---:|`,
  ];
  for (const r of out.runs) {
    const speed = before && r.status === 0 && before.status === 0 ? `${(before.wallSeconds / r.wallSeconds).toFixed(2)}×` : '–';
    const ph = phases.map((p) => (r.profile?.[p] !== undefined ? r.profile[p]!.toFixed(1) : '–'));
    lines.push(`| ${r.label}${r.status === 0 ? '' : ` (failed: ${r.error})`} | ${r.wallSeconds.toFixed(1)} | ${ph.join(' | ')}${ph.length ? ' | ' : ''}${r.peakRssMiB ?? '–'} | ${speed} |`);
  }
  return lines.join('\n') + '\n';
}

main();
