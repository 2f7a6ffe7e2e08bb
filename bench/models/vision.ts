/**
 * The part the Fashion-MNIST builders (./mlp-twice.ts, ./conv.ts) share: train a TF.js layers
 * model on the 60,000 training images (src/tfjs/train.ts: Adam, seeded shuffles), measure test
 * accuracy, write the ONNX model the builder lays out, check it against onnxruntime on 256 test
 * images, and write its metadata.
 */
import * as ort from 'onnxruntime-node';
import { writeFileAtomic } from '../../src/io/fs.js';
import { tf } from '../../src/tfjs/backend.js';
import { batchOf, evaluateTfjs, range } from '../../src/tfjs/data.js';
import { trainEpochs } from '../../src/tfjs/train.js';
import { assertOnnxMatches, type BuildOptions, CALIBRATION, cachePath, fashionMnist, log, machine, trainingBackend, writeJson } from './common.js';

/** A Fashion-MNIST classifier recipe. */
export interface VisionRecipe {
  /** File stem in the cache folder (`<name>.onnx`, `<name>.meta.json`). */
  name: string;
  /** What the metadata says the model is. */
  architecture: string;
  /** The TF.js model (input [28, 28, 1], logits). */
  build(): tf.LayersModel;
  /** The ONNX model of the trained TF.js model: input `input` float32 [batch, 1, 28, 28], output `logits` [batch, 10]. */
  toOnnx(model: tf.LayersModel): Uint8Array;
  epochs: number;
  batchSize: number;
  lr: number;
  seed: number;
}

/** The files a vision builder writes (into `dir`, default bench/.cache/models). */
export function visionFiles(name: string, dir?: string): { model: string; meta: string } {
  return { model: cachePath(`${name}.onnx`, dir), meta: cachePath(`${name}.meta.json`, dir) };
}

/** The [out, in] matrix of a TF.js Dense kernel [in, out] (PyTorch's nn.Linear layout, Gemm transB = 1). */
export function kernelValues(model: tf.LayersModel, layer: string): { kernel: Float32Array; bias: Float32Array; shape: number[] } {
  const [k, b] = model.getLayer(layer).getWeights();
  return { kernel: k!.dataSync() as Float32Array, bias: b!.dataSync() as Float32Array, shape: k!.shape };
}

/** Trains, evaluates, exports, checks and records `recipe` (see the module comment). */
export async function makeVisionModel(recipe: VisionRecipe, options: BuildOptions = {}): Promise<void> {
  const backend = await trainingBackend();
  const files = visionFiles(recipe.name, options.dir);
  const data = fashionMnist();
  const model = recipe.build();
  const epochs = options.steps ?? recipe.epochs;
  const t0 = performance.now();
  const { epochs: history, optimizer } = await trainEpochs(model, data.train, {
    epochs,
    batchSize: recipe.batchSize,
    lr: recipe.lr,
    seed: recipe.seed,
    onEpochEnd: (e) => log(`${recipe.name}: epoch ${e.epoch + 1}/${epochs}, train loss ${e.loss.toFixed(4)}, accuracy ${(e.accuracy * 100).toFixed(2)} %, ${e.seconds.toFixed(0)} s`),
  });
  optimizer.dispose();
  const trainSeconds = (performance.now() - t0) / 1000;
  const test = await evaluateTfjs(model, data.test);
  log(`${recipe.name}: test accuracy ${(test.accuracy * 100).toFixed(2)} %`);

  const onnx = recipe.toOnnx(model);
  const n = 256;
  const expected = tf.tidy(() => model.predict(batchOf(data.test, range(0, n)).x) as tf.Tensor);
  // one channel: NHWC [n, 28, 28, 1] and NCHW [n, 1, 28, 28] hold the same values in the same order
  const input = new ort.Tensor('float32', data.test.x.slice(0, n * 784), [n, 1, 28, 28]);
  const check = await assertOnnxMatches(recipe.name, onnx, { input }, 'logits', (await expected.data()) as Float32Array, n);
  expected.dispose();
  writeFileAtomic(files.model, onnx);
  writeJson(files.meta, {
    task: 'fashion-mnist classification',
    made_by: `bench/models/${recipe.name}.ts (npm run bench:models)`,
    input: 'float32 input [batch,1,28,28], pixels/255',
    output: 'logits [batch,10]',
    architecture: recipe.architecture,
    parameters: model.countParams(),
    data: {
      train: 'Debian dataset-fashion-mnist, all 60,000 training images',
      calibration: `fmnist-calib-{images,labels}.npy: ${CALIBRATION.count} training images, the first of a permutation seeded ${CALIBRATION.seed} (uint8; --scale 1/255)`,
      test: 'fmnist-test-{images,labels}.npy: the 10,000 test images (uint8; --scale 1/255), the same as --dataset fashion-mnist:test',
    },
    training: { optimizer: 'Adam', loss: 'softmax cross-entropy', epochs, batchSize: recipe.batchSize, lr: recipe.lr, seed: recipe.seed, history },
    test_accuracy_tfjs: test.accuracy,
    test_loss_tfjs: test.loss,
    onnx_check: check,
    backend,
    machine: machine(),
    train_seconds: trainSeconds,
  });
  model.dispose();
}
