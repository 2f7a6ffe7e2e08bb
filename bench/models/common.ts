/**
 * What the model builders of bench/models share: where the models go (bench/.cache/models),
 * the TF.js backend, seeded initial weights, the Fashion-MNIST splits (with the calibration and
 * test arrays the CLI reads), the onnxruntime-against-TF.js check every exported model must
 * pass, and the metadata file written beside each model.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { loadDataset, type ClassificationDataset } from '../../src/io/dataset.js';
import { writeFileAtomic } from '../../src/io/fs.js';
import { writeNpy } from '../../src/io/npy.js';
import { gaussian, mulberry32 } from '../../src/random.js';
import { selectBackend, tf, type BackendInfo } from '../../src/tfjs/backend.js';
import { permutation } from '../../src/tfjs/train.js';
import type { TfjsData } from '../../src/tfjs/data.js';

const here = dirname(fileURLToPath(import.meta.url));
/** The repository root (this file runs from dist/bench/models). */
export const ROOT = resolve(here, '../../..');
/** Where the built models and their data live (git-ignored). */
export const CACHE = join(ROOT, 'bench/.cache/models');

/** A path in `dir` (default the cache folder; created on first use). */
export function cachePath(name: string, dir = CACHE): string {
  mkdirSync(dir, { recursive: true });
  return join(dir, name);
}

/** Options every builder takes: a shorter training and another folder, for smoke runs. */
export interface BuildOptions {
  /** Training steps (char-gpt) or epochs (vision models) instead of the recipe's. */
  steps?: number;
  /** Folder to write into instead of bench/.cache/models. */
  dir?: string;
}

/** Writes `value` as pretty JSON, atomically. */
export function writeJson(path: string, value: unknown): void {
  writeFileAtomic(path, new TextEncoder().encode(JSON.stringify(value, null, 2) + '\n'));
}

/** x with its last two axes swapped. */
function swapLast2(x: tf.Tensor): tf.Tensor {
  const perm = x.shape.map((_, i) => i);
  perm[perm.length - 2] = perm.length - 1;
  perm[perm.length - 1] = perm.length - 2;
  return tf.transpose(x, perm);
}

/** matMul(a, b, tA, tB) with the transposes done by Transpose, so the backend multiplies untransposed operands. */
function plainMatMul(a: tf.Tensor, b: tf.Tensor, transposeA: boolean, transposeB: boolean): tf.Tensor {
  return tf.matMul(transposeA ? swapLast2(a) : a, transposeB ? swapLast2(b) : b);
}

let gradientRegistered = false;

/**
 * Replaces tfjs-core's BatchMatMul gradient, in this process only, by the same formulas with
 * explicit transposes. The wasm backend (4.22) multiplies transposed operands about 10× slower
 * than plain ones (2048×128 by 128×512 on this machine: 11 ms plain, 100–150 ms with transposeA
 * or transposeB; a Transpose first costs under 1 ms), and every MatMul gradient multiplies one
 * transposed operand. Only speed changes (the products are the same up to summation order).
 */
function registerTransposeFreeMatMulGradient(): void {
  if (gradientRegistered) return;
  gradientRegistered = true;
  tf.registerGradient({
    kernelName: 'BatchMatMul',
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, saved, attrs) => {
      const [a, b] = saved as [tf.Tensor, tf.Tensor];
      const g = Array.isArray(dy) ? dy[0]! : dy;
      const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
      if (!transposeA && !transposeB) return { a: () => plainMatMul(g, b, false, true), b: () => plainMatMul(a, g, true, false) };
      if (!transposeA && transposeB) return { a: () => plainMatMul(g, b, false, false), b: () => plainMatMul(g, a, true, false) };
      if (transposeA && !transposeB) return { a: () => plainMatMul(b, g, false, true), b: () => plainMatMul(a, g, false, false) };
      return { a: () => plainMatMul(b, g, true, true), b: () => plainMatMul(g, a, true, true) };
    },
  });
}

/** The TF.js backend every builder trains on: wasm (tfjs-node is not installable here), with the MatMul gradient above. */
export async function trainingBackend(): Promise<BackendInfo> {
  const info = await selectBackend('wasm');
  registerTransposeFreeMatMulGradient();
  return info;
}

/** The machine, as the metadata files record it. */
export function machine(): string {
  const c = cpus();
  return `${c[0]?.model ?? 'unknown CPU'}, ${c.length} cores, Node ${process.version}`;
}

/** `count` normal(0, std²) values from a seeded stream. */
export function normalMatrix(count: number, std: number, seed: number): Float32Array {
  const normal = gaussian(mulberry32(seed));
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = normal() * std;
  return out;
}

/** Fashion-MNIST as TF.js training data and the CLI's calibration/test arrays. */
export interface FashionMnist {
  train: TfjsData;
  test: TfjsData;
  /** The calibration images written for the CLI (uint8 [2048, 28, 28]) and their labels. */
  calibImages: string;
  calibLabels: string;
  /** All 10,000 test images (uint8) and labels. */
  testImages: string;
  testLabels: string;
}

/** Calibration images: the first 2,048 of a seeded (0) permutation of the 60,000 training images. */
export const CALIBRATION = { count: 2048, seed: 0 };

function tfjsOf(ds: ClassificationDataset): TfjsData {
  return { x: ds.x as Float32Array, labels: ds.labels!, sampleShape: [28, 28, 1], count: ds.count, numClasses: 10 };
}

/** Writes `count` samples of `data` picked by `idx` as uint8 images [count, 28, 28] and uint8 labels. */
function writeImages(data: TfjsData, idx: ArrayLike<number>, images: string, labels: string): void {
  const px = 28 * 28;
  const x = new Uint8Array(idx.length * px);
  const y = new Uint8Array(idx.length);
  for (let i = 0; i < idx.length; i++) {
    const s = idx[i]!;
    // the loader scaled the uint8 pixels by 1/255; rounding back is exact
    for (let p = 0; p < px; p++) x[i * px + p] = Math.round(data.x[s * px + p]! * 255);
    y[i] = data.labels[s]!;
  }
  writeNpy(images, { dtype: 'uint8', shape: [idx.length, 28, 28], data: x });
  writeNpy(labels, { dtype: 'uint8', shape: [idx.length], data: y });
}

/**
 * Debian's Fashion-MNIST (`apt-get install dataset-fashion-mnist`, or $SURGEON_DATA), pixels/255,
 * as [28, 28, 1] samples; writes fmnist-calib-{images,labels}.npy and fmnist-test-{images,labels}.npy
 * to the cache when missing. @throws when the IDX files are absent (the loader's one-line message).
 */
export function fashionMnist(): FashionMnist {
  const target = { inputs: [{ name: 'input', elemType: 'float32', dims: [-1, 28, 28, 1] }] };
  const train = tfjsOf(loadDataset({ dataset: 'fashion-mnist:train' }, target) as ClassificationDataset);
  const test = tfjsOf(loadDataset({ dataset: 'fashion-mnist:test' }, target) as ClassificationDataset);
  const out = {
    calibImages: cachePath('fmnist-calib-images.npy'),
    calibLabels: cachePath('fmnist-calib-labels.npy'),
    testImages: cachePath('fmnist-test-images.npy'),
    testLabels: cachePath('fmnist-test-labels.npy'),
  };
  if (!existsSync(out.calibImages) || !existsSync(out.calibLabels)) {
    writeImages(train, permutation(train.count, mulberry32(CALIBRATION.seed)).subarray(0, CALIBRATION.count), out.calibImages, out.calibLabels);
  }
  if (!existsSync(out.testImages) || !existsSync(out.testLabels)) {
    writeImages(test, Int32Array.from({ length: test.count }, (_, i) => i), out.testImages, out.testLabels);
  }
  return { train, test, ...out };
}

/** The CLI arrays of {@link fashionMnist}, written (from the IDX files) only when one is missing. */
export function ensureFashionMnistArrays(): void {
  const names = ['fmnist-calib-images.npy', 'fmnist-calib-labels.npy', 'fmnist-test-images.npy', 'fmnist-test-labels.npy'];
  if (names.some((n) => !existsSync(join(CACHE, n)))) fashionMnist();
}

/** How far onnxruntime's outputs are from TF.js's. */
export interface AgreementCheck {
  /** Largest |onnxruntime − TF.js| over all compared outputs. */
  maxAbsDiff: number;
  /** Largest |TF.js output|. */
  maxAbs: number;
  /** The bound the check asserted. */
  tolerance: number;
  samples: number;
}

/**
 * Runs the exported model in onnxruntime-node on `feeds` and compares its `output` with the TF.js
 * model's `expected` values: max |difference| must stay ≤ 1e-4 · max(1, max |expected|).
 * @throws Error (the build fails loudly) when the outputs disagree or their shapes differ.
 */
export async function assertOnnxMatches(label: string, onnx: Uint8Array, feeds: Record<string, ort.Tensor>, output: string, expected: Float32Array, samples: number): Promise<AgreementCheck> {
  const session = await ort.InferenceSession.create(onnx, { intraOpNumThreads: 2, interOpNumThreads: 1, logSeverityLevel: 3 });
  try {
    const result = await session.run(feeds);
    const got = result[output]?.data as Float32Array | undefined;
    if (!got || got.length !== expected.length) {
      throw new Error(`${label}: onnxruntime output '${output}' has ${got?.length ?? 0} values, TF.js ${expected.length}`);
    }
    let maxAbsDiff = 0;
    let maxAbs = 0;
    for (let i = 0; i < got.length; i++) {
      const e = expected[i]!;
      const d = Math.abs(got[i]! - e);
      // NaN fails the check too
      if (!(d <= maxAbsDiff)) maxAbsDiff = Number.isNaN(d) ? Infinity : d;
      maxAbs = Math.max(maxAbs, Math.abs(e));
    }
    const tolerance = 1e-4 * Math.max(1, maxAbs);
    if (!(maxAbsDiff <= tolerance)) {
      throw new Error(`${label}: onnxruntime and TF.js disagree: max |difference| ${maxAbsDiff.toExponential(3)} > ${tolerance.toExponential(3)} (max |output| ${maxAbs.toFixed(3)}) on ${samples} samples`);
    }
    return { maxAbsDiff, maxAbs, tolerance, samples };
  } finally {
    await session.release();
  }
}

/** Progress on stderr. */
export function log(line: string): void {
  process.stderr.write(line + '\n');
}
