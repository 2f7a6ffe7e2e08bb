/**
 * A trained residual CNN for the structured-pruning benchmark: a stem, two residual stages with
 * BatchNormalization, global average pooling and a linear head, trained on Fashion-MNIST with
 * TensorFlow.js (the project's training loop, src/tfjs/train.ts, on the wasm backend) and written
 * as ONNX in NCHW as PyTorch exports it (Conv + BatchNormalization + Relu + Add + MaxPool +
 * GlobalAveragePool + Flatten + Gemm; the graph is test/structure/models.ts' `residualCnn`).
 *
 * Layout (channels c1 = 16, c2 = 32): stem Conv 3×3 stride 2 (28×28 → 14×14, pads 1 as
 * PyTorch's `padding=1`), stage 1 = two Conv–BN at 14×14 with the identity shortcut, MaxPool 2,
 * a Conv–BN–Relu to c2, stage 2 = two Conv–BN at 7×7 with the identity shortcut. The stride-2
 * stem keeps training to a few minutes on 2 cores (a stride-1 stem is 4× the work).
 *
 * Training is deterministic for a seed: seeded initialisers, seeded shuffles, and the wasm
 * backend, which runs single-threaded in Node. The result is cached in bench/.cache/
 * (gitignored) under a key of the whole configuration; the ONNX model is checked against the
 * TF.js model on 256 test images before it is cached.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { writeFileAtomic } from '../../src/io/fs.js';
import { loadDataset } from '../../src/io/dataset.js';
import { readOnnxModel } from '../../src/io/onnx/model.js';
import { ModelSession } from '../../src/runtime/session.js';
import { selectBackend } from '../../src/tfjs/backend.js';
import { evaluateTfjs, loadTrainingData, subset, type TfjsData } from '../../src/tfjs/data.js';
import { trainEpochs } from '../../src/tfjs/train.js';
import { residualCnn, residualCnnShapes, type ResidualCnnWeights, type ResidualCnnWidths } from '../../test/structure/models.js';

const here = dirname(fileURLToPath(import.meta.url));
/** bench/.cache of the source tree (this file runs from dist/bench/models). */
export const CACHE_DIR = resolve(here, '../../../bench/.cache');

/** How the residual CNN is trained. */
export interface ResidualCnnTraining {
  widths: ResidualCnnWidths;
  stemStride: number;
  seed: number;
  batchSize: number;
  /** Phases of Adam: one pass over the first `samples` training images at learning rate `lr`. */
  phases: Array<{ samples: number; lr: number }>;
}

/** The benchmark's configuration: ≈ 3–4 minutes on the 2-core machine. */
export const RESIDUAL_CNN_TRAINING: ResidualCnnTraining = {
  widths: { c1: 16, c2: 32 },
  stemStride: 2,
  seed: 7,
  batchSize: 64,
  phases: [
    { samples: 60000, lr: 2e-3 },
    { samples: 20000, lr: 4e-4 },
  ],
};

/** What training recorded (kept beside the cached model). */
export interface ResidualCnnMeta {
  training: ResidualCnnTraining;
  backend: string;
  trainingData: string;
  trainSeconds: number;
  epochs: Array<{ samples: number; lr: number; loss: number; accuracy: number; seconds: number }>;
  /** TF.js accuracy on the 10,000 test images. */
  testAccuracy: number;
  /** Largest |logit difference| of the ONNX model against TF.js on 256 test images. */
  onnxMaxAbsDiff: number;
  parameters: number;
}

/** The TF.js model (NHWC) with layer names that map to the ONNX initializers. */
export function buildResidualCnnTfjs(widths: ResidualCnnWidths, stemStride: number, seed: number): tf.LayersModel {
  let s = 0;
  const init = () => tf.initializers.heNormal({ seed: seed * 1000 + ++s });
  const x = tf.input({ shape: [28, 28, 1], name: 'input' });
  const convBn = (name: string, input: tf.SymbolicTensor, filters: number, relu: boolean, stride = 1): tf.SymbolicTensor => {
    // stride 2: pad 1 on every side, then 'valid' — PyTorch's padding=1 (TF's 'same' would pad 0/1)
    const padded = stride === 1 ? input : (tf.layers.zeroPadding2d({ padding: 1, name: `${name}_pad` }).apply(input) as tf.SymbolicTensor);
    const c = tf.layers.conv2d({ filters, kernelSize: 3, strides: stride, padding: stride === 1 ? 'same' : 'valid', kernelInitializer: init(), name }).apply(padded) as tf.SymbolicTensor;
    const b = tf.layers.batchNormalization({ epsilon: 1e-5, momentum: 0.9, name: `${name}_bn` }).apply(c) as tf.SymbolicTensor;
    return relu ? (tf.layers.reLU({ name: `${name}_relu` }).apply(b) as tf.SymbolicTensor) : b;
  };
  const block = (name: string, input: tf.SymbolicTensor, filters: number): tf.SymbolicTensor => {
    const a = convBn(`${name}_a`, input, filters, true);
    const b = convBn(`${name}_b`, a, filters, false);
    const sum = tf.layers.add({ name: `${name}_add` }).apply([b, input]) as tf.SymbolicTensor;
    return tf.layers.reLU({ name: `${name}_relu` }).apply(sum) as tf.SymbolicTensor;
  };
  let h = convBn('stem', x, widths.c1, true, stemStride);
  h = block('s1', h, widths.c1);
  h = tf.layers.maxPooling2d({ poolSize: 2, name: 'pool' }).apply(h) as tf.SymbolicTensor;
  h = convBn('down', h, widths.c2, true);
  h = block('s2', h, widths.c2);
  h = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(h) as tf.SymbolicTensor;
  const y = tf.layers.dense({ units: 10, kernelInitializer: tf.initializers.glorotUniform({ seed: seed * 1000 + ++s }), name: 'head' }).apply(h) as tf.SymbolicTensor;
  return tf.model({ inputs: x, outputs: y, name: 'residual_cnn' });
}

/** [a, b, …] row-major → the same data with axes permuted (`perm[i]`: the source axis of output axis i). */
function permute(data: Float32Array, dims: readonly number[], perm: readonly number[]): Float32Array {
  const outDims = perm.map((p) => dims[p]!);
  const strides = dims.map((_, i) => dims.slice(i + 1).reduce((a, b) => a * b, 1));
  const out = new Float32Array(data.length);
  const idx = new Array<number>(outDims.length).fill(0);
  for (let o = 0; o < out.length; o++) {
    let src = 0;
    for (let i = 0; i < idx.length; i++) src += idx[i]! * strides[perm[i]!]!;
    out[o] = data[src]!;
    for (let i = idx.length - 1; i >= 0; i--) {
      if (++idx[i]! < outDims[i]!) break;
      idx[i] = 0;
    }
  }
  return out;
}

/** The TF.js weights as the ONNX initializers of `residualCnn` (kernels HWIO → OIHW, Dense [in, out] → [out, in]). */
export function onnxWeightsOf(model: tf.LayersModel, widths: ResidualCnnWidths): ResidualCnnWeights {
  const out: ResidualCnnWeights = {};
  for (const name of ['stem', 's1.a', 's1.b', 'down', 's2.a', 's2.b']) {
    const layer = name.replace('.', '_');
    const [kernel, bias] = model.getLayer(layer).getWeights();
    out[`${name}.w`] = permute(kernel!.dataSync() as Float32Array, kernel!.shape, [3, 2, 0, 1]);
    out[`${name}.b`] = Float32Array.from(bias!.dataSync());
    const [gamma, beta, mean, variance] = model.getLayer(`${layer}_bn`).getWeights();
    out[`${name}.bn.scale`] = Float32Array.from(gamma!.dataSync());
    out[`${name}.bn.bias`] = Float32Array.from(beta!.dataSync());
    out[`${name}.bn.mean`] = Float32Array.from(mean!.dataSync());
    out[`${name}.bn.var`] = Float32Array.from(variance!.dataSync());
  }
  const [kernel, bias] = model.getLayer('head').getWeights();
  out['head.w'] = permute(kernel!.dataSync() as Float32Array, kernel!.shape, [1, 0]);
  out['head.b'] = Float32Array.from(bias!.dataSync());
  const shapes = residualCnnShapes(widths);
  for (const [name, dims] of Object.entries(shapes)) {
    if (out[name]?.length !== dims.reduce((a, b) => a * b, 1)) throw new Error(`residual CNN: weight ${name} has ${out[name]?.length} entries, expected [${dims.join(', ')}]`);
  }
  return out;
}

/** The Fashion-MNIST training split (Debian's IDX files), else the 2,048 fixture calibration images. */
function trainingData(): { data: TfjsData; source: string } {
  try {
    return { data: loadTrainingData({ dataset: 'fashion-mnist:train' }), source: 'fashion-mnist:train (60,000 images)' };
  } catch {
    const fixtures = resolve(here, '../../../../shared/fixtures');
    const data = loadTrainingData({ inputs: join(fixtures, 'fmnist-calib-images.npy'), labels: join(fixtures, 'fmnist-calib-labels.npy'), scale: 1 / 255 });
    return { data, source: `../shared/fixtures/fmnist-calib (${data.count} images; install dataset-fashion-mnist for the full training set)` };
  }
}

/** Trains the residual CNN (see the module comment) and returns its ONNX bytes and what training recorded. */
export async function trainResidualCnn(config: ResidualCnnTraining = RESIDUAL_CNN_TRAINING, log: (line: string) => void = () => {}): Promise<{ onnx: Uint8Array; meta: ResidualCnnMeta }> {
  const backend = await selectBackend('wasm');
  const { data, source } = trainingData();
  const test = loadTrainingData({ dataset: 'fashion-mnist:test' });
  const model = buildResidualCnnTfjs(config.widths, config.stemStride, config.seed);
  const optimizer = tf.train.adam(config.phases[0]!.lr);
  const epochs: ResidualCnnMeta['epochs'] = [];
  const t0 = performance.now();
  for (const [i, phase] of config.phases.entries()) {
    (optimizer as unknown as { learningRate: number }).learningRate = phase.lr;
    const part = subset(data, 0, phase.samples);
    const { epochs: stats } = await trainEpochs(model, part, { epochs: 1, batchSize: config.batchSize, optimizer, seed: config.seed + i });
    const e = stats[0]!;
    epochs.push({ samples: part.count, lr: phase.lr, loss: e.loss, accuracy: e.accuracy, seconds: e.seconds });
    log(`residual-cnn phase ${i + 1}: ${part.count} images at lr ${phase.lr}: loss ${e.loss.toFixed(4)}, train accuracy ${(100 * e.accuracy).toFixed(1)} %, ${e.seconds.toFixed(0)} s`);
  }
  const trainSeconds = (performance.now() - t0) / 1000;
  const testAccuracy = (await evaluateTfjs(model, test)).accuracy;
  const onnx = residualCnn(onnxWeightsOf(model, config.widths), config.widths, { stemStride: config.stemStride });
  // the ONNX model computes what TF.js computes
  const n = 256;
  const probe = subset(test, 0, n);
  const expected = tf.tidy(() => (model.predict(tf.tensor(probe.x, [n, 28, 28, 1])) as tf.Tensor).dataSync() as Float32Array);
  const session = await ModelSession.create(readOnnxModel(onnx));
  let onnxMaxAbsDiff = 0;
  try {
    const y = await session.run({ input: { data: probe.x, dims: [n, 1, 28, 28], type: 'float32' } });
    const got = Object.values(y)[0]!.data as Float32Array;
    for (let i = 0; i < got.length; i++) onnxMaxAbsDiff = Math.max(onnxMaxAbsDiff, Math.abs(got[i]! - expected[i]!));
  } finally {
    await session.release();
  }
  if (!(onnxMaxAbsDiff < 1e-3)) throw new Error(`residual CNN: the ONNX model differs from the TF.js model by ${onnxMaxAbsDiff} on test images`);
  const meta: ResidualCnnMeta = { training: config, backend: `${backend.name}${backend.simd ? ' (simd)' : ''}`, trainingData: source, trainSeconds, epochs, testAccuracy, onnxMaxAbsDiff, parameters: model.countParams() };
  model.dispose();
  optimizer.dispose();
  log(`residual-cnn: ${meta.parameters} parameters, trained in ${trainSeconds.toFixed(0)} s, test accuracy ${(100 * testAccuracy).toFixed(1)} % (TF.js), ONNX vs TF.js max |Δ| ${onnxMaxAbsDiff.toExponential(2)}`);
  return { onnx, meta };
}

/** The cache key of a configuration. */
function cacheKey(config: ResidualCnnTraining): string {
  let h = 2166136261;
  for (const ch of JSON.stringify(config)) h = Math.imul(h ^ ch.charCodeAt(0), 16777619) >>> 0;
  return h.toString(16).padStart(8, '0');
}

/**
 * The trained residual CNN: from bench/.cache/residual-cnn-<key>.onnx when it is there, else
 * trained now (a few minutes) and cached.
 */
export async function trainedResidualCnn(config: ResidualCnnTraining = RESIDUAL_CNN_TRAINING, log: (line: string) => void = () => {}): Promise<{ path: string; meta: ResidualCnnMeta; cached: boolean }> {
  const base = join(CACHE_DIR, `residual-cnn-${cacheKey(config)}`);
  const path = `${base}.onnx`;
  if (existsSync(path) && existsSync(`${base}.json`)) return { path, meta: JSON.parse(readFileSync(`${base}.json`, 'utf8')) as ResidualCnnMeta, cached: true };
  mkdirSync(CACHE_DIR, { recursive: true });
  const { onnx, meta } = await trainResidualCnn(config, log);
  writeFileAtomic(path, onnx);
  writeFileAtomic(`${base}.json`, new TextEncoder().encode(JSON.stringify(meta, null, 2) + '\n'));
  return { path, meta, cached: false };
}

// `node dist/bench/models/residual-cnn.js`: train (or show the cached model).
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { path, meta, cached } = await trainedResidualCnn(RESIDUAL_CNN_TRAINING, (l) => console.log(l));
  console.log(JSON.stringify({ path, cached, ...meta }, null, 2));
}
