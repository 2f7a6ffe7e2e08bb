/**
 * The dataset spec shared by CLI commands (`--inputs/--labels`, `--dataset`, `--tokens`) and
 * its loading into flat, model-shaped typed arrays.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { SurgeonInputError } from '../errors.js';
import { type NdArray, formatShape, isDynamic, isIntegerDType, positiveInt, shapeSize, toFloat32 } from './tensor.js';
import { readArrays, pickArray } from './arrays.js';
import { readIdx } from './idx.js';
import { loadTokens } from './tokens.js';

/** What the user asked for (one of `inputs`, `dataset`, `tokens`), plus preprocessing. */
export interface DatasetSpec {
  /** Inputs file: .npy, .npz (member `x`, `images`, or the first) or IDX, optionally gzipped. */
  inputs?: string;
  /** Labels file, same formats (member `y`, `labels`, or the first). Defaults to `y`/`labels` inside an inputs .npz. */
  labels?: string;
  /** `fashion-mnist`, `fashion-mnist:train` or `fashion-mnist:test` (default split: test). */
  dataset?: string;
  /** 1-D integer token stream (.npy/.npz/IDX). */
  tokens?: string;
  /** Window length T for `tokens` (default: the model input's fixed sequence length). */
  seqLen?: number;
  /** Multiplier applied first (default 1; 1/255 for `--dataset fashion-mnist`). */
  scale?: number;
  /** Subtracted per channel after scaling (one value, or one per channel). Default 0. */
  mean?: number[];
  /** Divisor per channel after subtracting the mean (one value, or one per channel). Default 1. */
  std?: number[];
  /** Keep only the first `limit` samples (or token windows). */
  limit?: number;
}

/** A model input as described by the ONNX reader. Symbolic dims, -1 and 0 are dynamic. */
export interface ModelInputInfo {
  name: string;
  elemType: string;
  dims: ReadonlyArray<number | string>;
  /** False when the model gives no shape at all (rank unknown): the data's sample shape is used as is. */
  hasShape?: boolean;
}

/** The model whose inputs the data must fit. */
export interface DatasetTarget {
  inputs: ReadonlyArray<ModelInputInfo>;
}

/** Images/features with optional integer labels, normalised, in the model's input layout. */
export interface ClassificationDataset {
  kind: 'classification';
  /** The model input the data feeds. */
  inputName: string;
  /** count × prod(sampleShape) values, C order. */
  x: Float32Array;
  /** The model input shape without the batch axis, e.g. [1, 28, 28]. */
  sampleShape: number[];
  count: number;
  labels?: Int32Array;
  /** max(label) + 1 when labels are present. */
  numClasses?: number;
}

/**
 * Token windows for next-token evaluation: window w is `tokens[w*T .. w*T+T)` and its targets are
 * `targets[w*T .. w*T+T)`, i.e. the stream shifted by one (see {@link loadDataset}).
 */
export interface TokenDataset {
  kind: 'tokens';
  inputName: string;
  /** count × seqLen model inputs (a view of the stream). */
  tokens: BigInt64Array | Int32Array;
  /** count × seqLen next tokens: targets[i] is the token following tokens[i] in the stream. */
  targets: BigInt64Array | Int32Array;
  count: number;
  seqLen: number;
}

/** A loaded dataset. */
export type Dataset = ClassificationDataset | TokenDataset;

/** One batch of a {@link ClassificationDataset}: views (no copies) of its arrays. */
export interface ClassificationBatch {
  start: number;
  count: number;
  x: Float32Array;
  labels?: Int32Array;
}

/** One batch of a {@link TokenDataset}: views (no copies) of its arrays. */
export interface TokenBatch {
  start: number;
  count: number;
  x: BigInt64Array | Int32Array;
  targets: BigInt64Array | Int32Array;
}

const FMNIST_DEFAULT_DIR = '/usr/share/datasets/fashion-mnist';

/**
 * Loads the data described by `spec` for the model described by `target`.
 *
 * Classification (`inputs` or `dataset`): values are converted to float32, then
 * `x = (x·scale − mean) / std` with mean/std per channel (axis 1 of the model input) or one
 * value broadcast. Samples are reshaped to the model input shape (batch axis excluded: the
 * first dim that is symbolic, -1 or 0, which must be axis 0) when their element counts match,
 * e.g. uint8 [N,28,28] → float32 [N,1,28,28]. `fashion-mnist[:train|:test]` reads the IDX files
 * from `$SURGEON_DATA` (or `$SURGEON_DATA/fashion-mnist`), else /usr/share/datasets/fashion-mnist,
 * with scale 1/255 unless `spec.scale` is given.
 *
 * Tokens (`tokens`, `seqLen` T): the 1-D stream s of length L is cut into
 * N = floor((L − 1) / T) non-overlapping windows; the model sees window w = s[wT .. wT+T) and
 * every position t is scored against the next token s[wT+t+1] (the last position's target is
 * the first token of the next window). This is the protocol of the lic-gpt fixture
 * ("non-overlapping windows of 128 over the val split, every position scored"): it reproduces
 * its PyTorch validation perplexity 8.97717 over 185 × 128 = 23,680 positions.
 *
 * @throws SurgeonInputError for missing/unreadable files, shapes that fit no model input,
 *   label/sample count mismatches, NaN/Inf inputs, bad flags.
 */
export function loadDataset(spec: DatasetSpec, target: DatasetTarget): Dataset {
  const limit = positiveInt(spec.limit, '--limit');
  const given = [spec.inputs && '--inputs', spec.dataset && '--dataset', spec.tokens && '--tokens'].filter(Boolean);
  if (given.length > 1) throw new SurgeonInputError(`${given.join(' and ')} cannot be combined; pass only one data source`);
  if (given.length === 0) {
    throw new SurgeonInputError('no data given; pass --inputs FILE [--labels FILE], --dataset fashion-mnist, or --tokens FILE --seq-len T');
  }
  if (target.inputs.length === 0) throw new SurgeonInputError('the model has no inputs to feed; pass a model with a graph input');
  if (spec.tokens) return loadTokens(spec.tokens, spec, target, limit);
  if (spec.seqLen !== undefined) throw new SurgeonInputError('--seq-len applies only to --tokens; drop it or pass --tokens FILE');

  let images: NdArray;
  let labels: NdArray | undefined;
  let source: string;
  let labelSource: string | undefined;
  let scale = spec.scale;
  if (spec.dataset) {
    if (spec.labels) throw new SurgeonInputError('--labels cannot be combined with --dataset (it brings its own labels); drop --labels');
    const files = fashionMnistFiles(spec.dataset);
    images = readIdx(files.images);
    labels = readIdx(files.labels);
    source = files.images;
    labelSource = files.labels;
    scale ??= 1 / 255;
  } else {
    const arrays = readArrays(spec.inputs!);
    source = spec.inputs!;
    images = pickArray(arrays, ['x', 'images'], source);
    if (spec.labels) {
      labels = pickArray(readArrays(spec.labels), ['y', 'labels'], spec.labels);
      labelSource = spec.labels;
    } else {
      const inner = arrays.get('y') ?? arrays.get('labels');
      if (inner && inner !== images) {
        labels = inner;
        labelSource = `${source}:${arrays.has('y') ? 'y' : 'labels'}`;
      }
    }
  }
  return buildClassification(images, source, labels, labelSource, { ...spec, scale }, target, limit);
}

/** Paths of the Fashion-MNIST IDX files for a `--dataset` value. */
function fashionMnistFiles(name: string): { images: string; labels: string } {
  const m = /^fashion-mnist(?::(train|test))?$/.exec(name);
  if (!m) throw new SurgeonInputError(`unknown dataset '${name}'; pass fashion-mnist, fashion-mnist:train or fashion-mnist:test`);
  const prefix = m[1] === 'train' ? 'train' : 't10k';
  const env = process.env['SURGEON_DATA'];
  const dirs = env ? [join(env, 'fashion-mnist'), env] : [FMNIST_DEFAULT_DIR];
  for (const dir of dirs) {
    for (const ext of ['.gz', '']) {
      const images = join(dir, `${prefix}-images-idx3-ubyte${ext}`);
      const labels = join(dir, `${prefix}-labels-idx1-ubyte${ext}`);
      if (existsSync(images) && existsSync(labels)) return { images, labels };
    }
  }
  throw new SurgeonInputError(
    `${name}: ${prefix}-images-idx3-ubyte.gz and ${prefix}-labels-idx1-ubyte.gz not found in ${dirs.join(' or ')}; ` +
      'run `apt-get install dataset-fashion-mnist` or set SURGEON_DATA to a folder holding the Fashion-MNIST IDX files',
  );
}

/** The model input `data` of per-sample shape `rest` feeds, and the resolved sample shape. */
function fitInput(rest: number[], source: string, target: DatasetTarget): { input: ModelInputInfo; sampleShape: number[] } {
  const floats = target.inputs.filter((i) => /float|double|half/i.test(i.elemType));
  const candidates = floats.length > 0 ? floats : target.inputs;
  const perSample = shapeSize(rest);
  for (const input of candidates) {
    if (input.hasShape === false) return { input, sampleShape: rest.slice() };
    const batchAxis = input.dims.findIndex(isDynamic);
    if (batchAxis > 0) {
      throw new SurgeonInputError(
        `model input '${input.name}' ${formatShape(input.dims)} has its batch axis at position ${batchAxis}; export the model with the batch on axis 0`,
      );
    }
    const modelSample = input.dims.slice(1);
    if (modelSample.every((d) => !isDynamic(d))) {
      const fixed = modelSample as number[];
      if (shapeSize(fixed) === perSample) return { input, sampleShape: fixed.slice() };
    } else if (modelSample.length === rest.length && modelSample.every((d, i) => isDynamic(d) || d === rest[i])) {
      return { input, sampleShape: rest.slice() };
    }
  }
  const input = candidates[0]!;
  const modelSample = input.dims.slice(1);
  const fixed = modelSample.every((d) => !isDynamic(d));
  throw new SurgeonInputError(
    `${source}: samples have shape ${formatShape(rest)} (${perSample} values) but the model input '${input.name}' takes ` +
      `${formatShape(modelSample)}${fixed ? ` (${shapeSize(modelSample as number[])})` : ''}; pass data of that shape`,
  );
}

/** Per-channel values of a --mean/--std option, broadcast to `channels`. */
function perChannel(values: number[] | undefined, fallback: number, channels: number, flag: string, inputName: string): Float64Array {
  const out = new Float64Array(channels).fill(fallback);
  if (values === undefined || values.length === 0) return out;
  if (values.some((v) => !Number.isFinite(v))) throw new SurgeonInputError(`${flag} must be finite numbers (got ${values.join(',')}); fix the value`);
  if (values.length === 1) out.fill(values[0]!);
  else if (values.length === channels) out.set(values);
  else {
    throw new SurgeonInputError(
      `${flag} has ${values.length} values but the model input '${inputName}' has ${channels} channels (axis 1); pass 1 or ${channels} values`,
    );
  }
  return out;
}

function buildClassification(
  images: NdArray,
  source: string,
  labelArr: NdArray | undefined,
  labelSource: string | undefined,
  spec: DatasetSpec,
  target: DatasetTarget,
  limit: number | undefined,
): ClassificationDataset {
  if (images.shape.length === 0) throw new SurgeonInputError(`${source}: holds a scalar; pass an array of samples [N, ...]`);
  const total = images.shape[0]!;
  const { input, sampleShape } = fitInput(images.shape.slice(1), source, target);
  const per = shapeSize(sampleShape);

  let labels: Int32Array | undefined;
  let numClasses: number | undefined;
  if (labelArr) {
    const n = labelArr.shape[0] ?? 1;
    if (labelArr.shape.length === 0 || shapeSize(labelArr.shape) !== n) {
      throw new SurgeonInputError(`${labelSource}: labels have shape ${formatShape(labelArr.shape)}; pass a 1-D array of class indices`);
    }
    if (n !== total) {
      throw new SurgeonInputError(`${labelSource}: ${n} labels but ${source} has ${total} samples; pass one label per sample`);
    }
    ({ labels, numClasses } = toLabels(labelArr, labelSource!, Math.min(total, limit ?? total)));
  }

  const count = Math.min(total, limit ?? total);
  const x = toFloat32({ ...images, data: images.data.subarray(0, count * per) });
  if (!isIntegerDType(images.dtype)) checkFinite(x, per, source);

  const channels = sampleShape.length > 0 ? sampleShape[0]! : 1;
  const mean = perChannel(spec.mean, 0, channels, '--mean', input.name);
  const std = perChannel(spec.std, 1, channels, '--std', input.name);
  if (std.some((s) => s === 0)) throw new SurgeonInputError('--std must not be 0; pass the per-channel standard deviation');
  const scale = spec.scale ?? 1;
  if (!Number.isFinite(scale)) throw new SurgeonInputError(`--scale must be a finite number (got ${scale}); fix the value`);
  if (scale !== 1 || mean.some((m) => m !== 0) || std.some((s) => s !== 1)) normalize(x, count, channels, per / channels, scale, mean, std);

  return { kind: 'classification', inputName: input.name, x, sampleShape, count, ...(labels ? { labels, numClasses } : {}) };
}

/** x ← (x·scale − mean[c]) / std[c], in double, channel-major within each sample. */
function normalize(x: Float32Array, count: number, channels: number, inner: number, scale: number, mean: Float64Array, std: Float64Array): void {
  let p = 0;
  for (let n = 0; n < count; n++) {
    for (let c = 0; c < channels; c++) {
      const m = mean[c]!;
      const s = std[c]!;
      for (let end = p + inner; p < end; p++) x[p] = (x[p]! * scale - m) / s;
    }
  }
}

function checkFinite(x: Float32Array, per: number, source: string): void {
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    if (!Number.isFinite(v)) {
      throw new SurgeonInputError(
        `${source}: value at flat index ${i} (sample ${Math.floor(i / per)}, element ${i % per}) is ${v}; ` +
          'replace non-finite values (e.g. np.nan_to_num) or drop those samples',
      );
    }
  }
}

function toLabels(arr: NdArray, source: string, count: number): { labels: Int32Array; numClasses: number } {
  const labels = new Int32Array(count);
  const src = arr.data;
  let max = -1;
  for (let i = 0; i < count; i++) {
    const v = Number(src[i]);
    if (!Number.isInteger(v) || v < 0 || v > 0x7fffffff) {
      throw new SurgeonInputError(`${source}: label at index ${i} is ${v}; pass non-negative integer class indices`);
    }
    labels[i] = v;
    if (v > max) max = v;
  }
  return { labels, numClasses: max + 1 };
}

/**
 * Splits `dataset` into consecutive batches of at most `batchSize` samples (windows). Each batch
 * holds subarray views of the dataset's arrays (no copies).
 */
export function batches(dataset: ClassificationDataset, batchSize: number): Generator<ClassificationBatch>;
export function batches(dataset: TokenDataset, batchSize: number): Generator<TokenBatch>;
export function batches(dataset: Dataset, batchSize: number): Generator<ClassificationBatch | TokenBatch>;
export function* batches(dataset: Dataset, batchSize: number): Generator<ClassificationBatch | TokenBatch> {
  positiveInt(batchSize, '--batch-size');
  for (let start = 0; start < dataset.count; start += batchSize) {
    const count = Math.min(batchSize, dataset.count - start);
    if (dataset.kind === 'tokens') {
      const a = start * dataset.seqLen;
      const b = a + count * dataset.seqLen;
      yield { start, count, x: dataset.tokens.subarray(a, b), targets: dataset.targets.subarray(a, b) };
    } else {
      const per = shapeSize(dataset.sampleShape);
      const batch: ClassificationBatch = { start, count, x: dataset.x.subarray(start * per, (start + count) * per) };
      if (dataset.labels) batch.labels = dataset.labels.subarray(start, start + count);
      yield batch;
    }
  }
}
