/**
 * Regenerates the demo's data and model in data/ (deterministic, seeded):
 *
 * - data/fmnist-train.npz.gz, data/fmnist-test.npz.gz: a class-balanced Fashion-MNIST subset
 *   (the first 300 train and 200 test images of each class, in file order), members `x`
 *   (uint8 [N, 28, 28]) and `y` (uint8 [N]), gzipped;
 * - data/fmnist-mlp.onnx: an MLP 784-128-64-10 (Flatten → Gemm → Relu → Gemm → Relu → Gemm,
 *   opset 17, dynamic batch, input float32 [batch, 1, 28, 28] = pixels/255) trained on the
 *   train subset by ./train-mlp.ts and written by src/io/onnx/build.ts;
 * - data/fmnist-mlp.json: how it was made and its accuracy.
 *
 * Source: Debian's IDX files (`apt-get install dataset-fashion-mnist`) in $SURGEON_DATA or
 * /usr/share/datasets/fashion-mnist.
 *
 *   npm run demo:make        (= tsc -p scripts/tsconfig.json && node dist/scripts/make-demo.js)
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { readIdx } from '../src/io/idx.js';
import { encodeNpz } from '../src/io/npz.js';
import { writeFileAtomic } from '../src/io/fs.js';
import type { NdArray } from '../src/io/tensor.js';
import { buildMlpModel } from '../src/io/onnx/build.js';
import { mlpAccuracy, trainMlp } from './train-mlp.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const DATA = join(ROOT, 'data');
const PER_CLASS = { train: 300, test: 200 };
const TRAIN = { sizes: [784, 128, 64, 10], epochs: 30, batchSize: 32, learningRate: 1e-3, seed: 20240611 };

function sourceDir(): string {
  const env = process.env['SURGEON_DATA'];
  const dirs = env ? [join(env, 'fashion-mnist'), env] : ['/usr/share/datasets/fashion-mnist'];
  const dir = dirs.find((d) => existsSync(join(d, 'train-images-idx3-ubyte.gz')) && existsSync(join(d, 't10k-images-idx3-ubyte.gz')));
  if (!dir) throw new Error(`Fashion-MNIST IDX files not found in ${dirs.join(' or ')}; run apt-get install dataset-fashion-mnist or set SURGEON_DATA`);
  return dir;
}

/** The first `perClass` samples of every class, kept in file order. */
function balancedSubset(images: NdArray, labels: NdArray, perClass: number): { x: Uint8Array; y: Uint8Array; n: number } {
  const counts = new Array<number>(10).fill(0);
  const picked: number[] = [];
  const lab = labels.data as Uint8Array;
  for (let i = 0; i < lab.length && picked.length < perClass * 10; i++) {
    if (counts[lab[i]!]! < perClass) {
      counts[lab[i]!]!++;
      picked.push(i);
    }
  }
  const px = 28 * 28;
  const x = new Uint8Array(picked.length * px);
  const y = new Uint8Array(picked.length);
  const src = images.data as Uint8Array;
  picked.forEach((s, i) => {
    x.set(src.subarray(s * px, (s + 1) * px), i * px);
    y[i] = lab[s]!;
  });
  return { x, y, n: picked.length };
}

function writeSplit(name: string, split: { x: Uint8Array; y: Uint8Array; n: number }): string {
  const path = join(DATA, `fmnist-${name}.npz.gz`);
  const npz = encodeNpz({ x: { dtype: 'uint8', shape: [split.n, 28, 28], data: split.x }, y: { dtype: 'uint8', shape: [split.n], data: split.y } });
  writeFileAtomic(path, gzipSync(npz, { level: 9 }));
  return path;
}

function floats(split: { x: Uint8Array; n: number }): Float32Array {
  const out = new Float32Array(split.x.length);
  for (let i = 0; i < out.length; i++) out[i] = split.x[i]! / 255;
  return out;
}

const started = performance.now();
const dir = sourceDir();
mkdirSync(DATA, { recursive: true });
const train = balancedSubset(readIdx(join(dir, 'train-images-idx3-ubyte.gz')), readIdx(join(dir, 'train-labels-idx1-ubyte.gz')), PER_CLASS.train);
const test = balancedSubset(readIdx(join(dir, 't10k-images-idx3-ubyte.gz')), readIdx(join(dir, 't10k-labels-idx1-ubyte.gz')), PER_CLASS.test);
const written = [writeSplit('train', train), writeSplit('test', test)];

const xTrain = floats(train);
const yTrain = Int32Array.from(train.y);
const layers = trainMlp(xTrain, yTrain, train.n, {
  ...TRAIN,
  onEpoch: (epoch, loss) => process.stderr.write(`epoch ${epoch}/${TRAIN.epochs}: loss ${loss.toFixed(4)}\n`),
});
const trainAccuracy = mlpAccuracy(layers, xTrain, yTrain, train.n);
const testAccuracy = mlpAccuracy(layers, floats(test), Int32Array.from(test.y), test.n);
const seconds = (performance.now() - started) / 1000;
const onnx = buildMlpModel(layers, {
  inputShape: [1, 28, 28],
  name: 'fmnist-mlp',
  metadata: { made_by: 'scripts/make-demo.ts', input: 'float32 [batch,1,28,28], pixels/255' },
});
const modelPath = join(DATA, 'fmnist-mlp.onnx');
writeFileAtomic(modelPath, onnx);
const meta = {
  task: 'fashion-mnist classification (10 classes)',
  made_by: 'scripts/make-demo.ts (npm run demo:make)',
  source: 'Debian dataset-fashion-mnist IDX files',
  subset: `first ${PER_CLASS.train} train and ${PER_CLASS.test} test images of each class, in file order`,
  input: 'float32 [batch,1,28,28], pixels/255',
  output: 'logits [batch,10]',
  architecture: 'Flatten → Gemm 784→128 → Relu → Gemm 128→64 → Relu → Gemm 64→10 (opset 17, dynamic batch)',
  training: { optimizer: 'Adam', loss: 'softmax cross-entropy', ...TRAIN },
  parameters: layers.reduce((a, l) => a + l.W.length + l.b.length, 0),
  train_accuracy: Number(trainAccuracy.toFixed(4)),
  test_accuracy: Number(testAccuracy.toFixed(4)),
};
writeFileAtomic(join(DATA, 'fmnist-mlp.json'), new TextEncoder().encode(JSON.stringify(meta, null, 2) + '\n'));
process.stdout.write(
  `wrote ${[...written, modelPath].map((p) => p.slice(ROOT.length + 1)).join(', ')}: train accuracy ${(trainAccuracy * 100).toFixed(1)}%, ` +
    `test accuracy ${(testAccuracy * 100).toFixed(1)}% (${seconds.toFixed(1)} s)\n`,
);
