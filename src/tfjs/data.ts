/**
 * Datasets for tfjs models: the shared dataset spec ({@link loadDataset}) fitted to a layers
 * model's input (NHWC / feature vectors), batching into tensors, and the classification loss.
 */
import * as tf from '@tensorflow/tfjs';
import { SurgeonInputError } from '../errors.js';
import { type ClassificationDataset, type DatasetSpec, loadDataset } from '../io/dataset.js';

/** Labelled samples in the model's input layout. */
export interface TfjsData {
  x: Float32Array;
  labels: Int32Array;
  /** Per-sample shape, e.g. [28, 28, 1]. */
  sampleShape: number[];
  count: number;
  numClasses: number;
}

/** The model's input as the dataset loader describes inputs. */
export function inputInfo(model: tf.LayersModel): { name: string; elemType: string; dims: number[] } {
  const shape = model.inputs[0]!.shape;
  return { name: model.inputs[0]!.name, elemType: 'float32', dims: shape.map((d) => (d === null ? -1 : d)) };
}

/** Loads `spec` shaped for `model` (its first input). @throws SurgeonInputError without labels. */
export function loadTfjsData(spec: DatasetSpec, model: tf.LayersModel | { dims: number[] }, requireLabels = true): TfjsData {
  const dims = 'dims' in model ? model.dims : inputInfo(model).dims;
  const ds = loadDataset(spec, { inputs: [{ name: 'input', elemType: 'float32', dims }] });
  if (ds.kind !== 'classification') throw new SurgeonInputError('tfjs models take images or feature vectors; pass --inputs/--labels or --dataset');
  if (requireLabels && !ds.labels) throw new SurgeonInputError(`${spec.inputs ?? spec.dataset}: no labels; pass --labels FILE (class indices)`);
  return fromDataset(ds);
}

/** Loads `spec` as it is (no model yet): [N, H, W] images become [H, W, 1]; needs labels. */
export function loadTrainingData(spec: DatasetSpec): TfjsData {
  const ds = loadDataset(spec, { inputs: [{ name: 'input', elemType: 'float32', dims: [], hasShape: false }] });
  if (ds.kind !== 'classification' || !ds.labels) throw new SurgeonInputError('training needs labelled samples; pass --inputs FILE --labels FILE or --dataset fashion-mnist:train');
  const data = fromDataset(ds);
  if (data.sampleShape.length === 2) data.sampleShape = [...data.sampleShape, 1];
  return data;
}

/** A loaded classification dataset as {@link TfjsData} (no copies; labels zero when absent). */
export function tfjsDataOf(ds: ClassificationDataset): TfjsData {
  if (ds.kind !== 'classification') throw new SurgeonInputError('TensorFlow.js gradient methods take labelled images or feature vectors; pass --inputs/--labels or --dataset');
  return fromDataset(ds);
}

function fromDataset(ds: ClassificationDataset): TfjsData {
  // the targets above declare one float32 input, so the data is float32
  if (!(ds.x instanceof Float32Array)) throw new Error(`internal: tfjs data loaded as ${ds.xType ?? ds.x.constructor.name}, not float32`);
  return { x: ds.x, labels: ds.labels ?? new Int32Array(ds.count), sampleShape: ds.sampleShape, count: ds.count, numClasses: ds.numClasses ?? 0 };
}

/** Samples `idx` (or start..start+count) as a batch tensor pair. */
export function batchOf(data: TfjsData, idx: ArrayLike<number>): { x: tf.Tensor; y: tf.Tensor1D } {
  const per = data.x.length / data.count;
  const xs = new Float32Array(idx.length * per);
  const ys = new Int32Array(idx.length);
  for (let i = 0; i < idx.length; i++) {
    const s = idx[i]!;
    xs.set(data.x.subarray(s * per, (s + 1) * per), i * per);
    ys[i] = data.labels[s]!;
  }
  return { x: tf.tensor(xs, [idx.length, ...data.sampleShape]), y: tf.tensor1d(ys, 'int32') };
}

/** Indices start..start+count. */
export function range(start: number, count: number): Int32Array {
  const out = new Int32Array(count);
  for (let i = 0; i < count; i++) out[i] = start + i;
  return out;
}

/** A subset of `data` (copies). */
export function subset(data: TfjsData, start: number, count: number): TfjsData {
  const per = data.x.length / data.count;
  const n = Math.max(0, Math.min(count, data.count - start));
  return { ...data, x: data.x.slice(start * per, (start + n) * per), labels: data.labels.slice(start, start + n), count: n };
}

/** Whether the model's last layer applies softmax (its outputs are probabilities). */
export function outputsProbabilities(model: tf.LayersModel): boolean {
  const last = model.layers[model.layers.length - 1]!;
  const act = (last.getConfig() as { activation?: string }).activation;
  return act === 'softmax' || last.getClassName() === 'Softmax';
}

/** Log-probabilities (or logits up to a constant) of the model on `x`. */
export function logitsOf(model: tf.LayersModel, x: tf.Tensor, training = false): tf.Tensor2D {
  const out = (training ? (model.apply(x, { training: true }) as tf.Tensor) : (model.predict(x) as tf.Tensor)) as tf.Tensor2D;
  return outputsProbabilities(model) ? (tf.log(tf.clipByValue(out, 1e-7, 1)) as tf.Tensor2D) : out;
}

/** Mean softmax cross-entropy of logits against integer labels. */
export function crossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    const logp = tf.logSoftmax(logits);
    const onehot = tf.oneHot(labels, logits.shape[1]);
    return tf.neg(tf.mean(tf.sum(tf.mul(onehot, logp), 1))) as tf.Scalar;
  });
}

/** Accuracy and mean loss of `model` on `data` (batched, no gradients). */
export async function evaluateTfjs(model: tf.LayersModel, data: TfjsData, batchSize = 256, onProgress?: (done: number) => void): Promise<{ accuracy: number; loss: number; samples: number }> {
  let correct = 0;
  let lossSum = 0;
  for (let start = 0; start < data.count; start += batchSize) {
    const n = Math.min(batchSize, data.count - start);
    const [c, l] = tf.tidy(() => {
      const { x, y } = batchOf(data, range(start, n));
      const logits = logitsOf(model, x);
      const hits = tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), y), 'float32'));
      return [hits, tf.mul(crossEntropy(logits, y), n)];
    });
    correct += (await c!.data())[0]!;
    lossSum += (await l!.data())[0]!;
    tf.dispose([c!, l!]);
    onProgress?.(start + n);
  }
  return { accuracy: correct / Math.max(1, data.count), loss: lossSum / Math.max(1, data.count), samples: data.count };
}
