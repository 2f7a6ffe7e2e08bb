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
import {
  type ExtraInput,
  type FeedData,
  type FeedType,
  type GeneratedInput,
  conventionOf,
  conventionalInputs,
  feedTypeOf,
  isFloatInput,
  toFeedData,
} from './feeds.js';

export type { ExtraInput, Feed, FeedData, FeedType, GeneratedInput, Convention } from './feeds.js';

/** What the user asked for (one of `inputs`, `dataset`, `tokens`), plus preprocessing. */
export interface DatasetSpec {
  /**
   * Inputs file: .npy, .npz (member `x`, `images`, or the first) or IDX, optionally gzipped.
   * An .npz whose member names match model input names feeds each of those inputs.
   */
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

/**
 * The model inputs a dataset feeds besides its primary input (`inputName`): every model input is
 * fed by exactly one of the primary input, `extra` or `generated` (see {@link loadDataset}).
 * `batchFeeds` (runtime/capture.ts) turns all three into the feeds of each batch.
 */
export interface OtherInputs {
  /** Inputs fed from per-sample data (named .npz members), keyed by input name; sliced per batch. */
  extra?: Record<string, ExtraInput>;
  /** Inputs filled by convention (masks, token types, positions, an empty past), keyed by input name; generated per batch. */
  generated?: Record<string, GeneratedInput>;
}

/** Images/features (or integer ids) with optional integer labels, normalised, in the model's input layout. */
export interface ClassificationDataset extends OtherInputs {
  kind: 'classification';
  /** The model input the data feeds (the primary input). */
  inputName: string;
  /**
   * count × prod(sampleShape) values, C order: float32 for float inputs (normalised), the
   * input's own type for integer and bool inputs (e.g. int64 `input_ids`).
   */
  x: FeedData;
  /** Element type of `x` as fed (default: float32). */
  xType?: FeedType;
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
export interface TokenDataset extends OtherInputs {
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
  x: FeedData;
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
 * Loads the data described by `spec` for the model described by `target` (all its inputs: name,
 * element type, dims).
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
 * Models with several inputs (Hugging Face / optimum exports). The data feeds one primary input
 * (`inputName`, with `x` or `tokens`); every other model input is fed from data (`extra`) or by
 * convention (`generated`; see io/feeds.ts), else loading fails naming it:
 * - `tokens`: the stream feeds `input_ids` (else the first integer input that is no
 *   convention). `attention_mask` (also `input_mask`, `mask`) gets ones, `position_ids`
 *   0..T−1 in every window, `token_type_ids` (also `segment_ids`) zeros, each in the input's
 *   own element type; `past_key_values.*` / `past.*` get an empty past (their past-sequence
 *   axis is 0: the model runs without cache) and `use_cache_branch` false.
 * - `inputs`, an .npz whose member names match input names of a model with several inputs:
 *   each such member feeds its input (reshaped as above; integer and bool inputs get the data in
 *   their own type, never floats). The primary input is `input_ids` when among them, else the
 *   first float input that is no convention, else the first. `labels` (or `y`) are the labels
 *   unless `spec.labels` is given. The remaining inputs follow the conventions above.
 * - `inputs` otherwise (one array): it feeds the first float input that is no convention (else
 *   `input_ids`, else the first whose shape fits); integer data for an integer input (the int64
 *   `input_ids` of a sequence classifier) keeps an integer type. The other inputs follow the
 *   conventions above.
 * `scale`, `mean` and `std` apply to the primary input when it is float (other float inputs are
 * fed as stored) and are refused for an integer one.
 *
 * @throws SurgeonInputError for missing/unreadable files, shapes that fit no model input,
 *   label/sample count mismatches, NaN/Inf inputs, bad flags, model inputs nothing feeds.
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
  let defaultScale = 1;
  if (spec.dataset) {
    if (spec.labels) throw new SurgeonInputError('--labels cannot be combined with --dataset (it brings its own labels); drop --labels');
    const files = fashionMnistFiles(spec.dataset);
    images = readIdx(files.images);
    labels = readIdx(files.labels);
    source = files.images;
    labelSource = files.labels;
    defaultScale = 1 / 255;
  } else {
    const arrays = readArrays(spec.inputs!);
    source = spec.inputs!;
    if (target.inputs.length > 1 && target.inputs.some((i) => arrays.has(i.name))) return loadNamed(arrays, source, spec, target, limit);
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
  return buildClassification(images, source, labels, labelSource, spec, target, limit, defaultScale);
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

/**
 * The sample shape of `input` for data of per-sample shape `rest`, or undefined when it does
 * not fit. @throws SurgeonInputError when the input's batch axis is not axis 0.
 */
function fitsInput(input: ModelInputInfo, rest: number[]): number[] | undefined {
  if (input.hasShape === false) return rest.slice();
  const batchAxis = input.dims.findIndex(isDynamic);
  if (batchAxis > 0) {
    throw new SurgeonInputError(
      `model input '${input.name}' ${formatShape(input.dims)} has its batch axis at position ${batchAxis}; export the model with the batch on axis 0`,
    );
  }
  const modelSample = input.dims.slice(1);
  if (modelSample.every((d) => !isDynamic(d))) {
    const fixed = modelSample as number[];
    if (shapeSize(fixed) === shapeSize(rest)) return fixed.slice();
  } else if (modelSample.length === rest.length && modelSample.every((d, i) => isDynamic(d) || d === rest[i])) {
    return rest.slice();
  }
  return undefined;
}

function shapeMismatch(input: ModelInputInfo, rest: number[], source: string): SurgeonInputError {
  const modelSample = input.dims.slice(1);
  const fixed = modelSample.every((d) => !isDynamic(d));
  return new SurgeonInputError(
    `${source}: samples have shape ${formatShape(rest)} (${shapeSize(rest)} values) but the model input '${input.name}' takes ` +
      `${formatShape(modelSample)}${fixed ? ` (${shapeSize(modelSample as number[])})` : ''}; pass data of that shape`,
  );
}

/**
 * The model input one array of per-sample shape `rest` feeds, and the resolved sample shape:
 * among the inputs that are no convention (all inputs when every one is), the float ones, else
 * all of them with `input_ids` first; the first that fits.
 */
function fitInput(rest: number[], source: string, target: DatasetTarget): { input: ModelInputInfo; sampleShape: number[] } {
  const free = target.inputs.filter((i) => !conventionOf(i));
  const pool = free.length > 0 ? free : target.inputs;
  const floats = pool.filter(isFloatInput);
  const candidates = floats.length > 0 ? floats : [...pool.filter((i) => i.name === 'input_ids'), ...pool.filter((i) => i.name !== 'input_ids')];
  for (const input of candidates) {
    const sampleShape = fitsInput(input, rest);
    if (sampleShape) return { input, sampleShape };
  }
  throw shapeMismatch(candidates[0]!, rest, source);
}

/** The feed type of `input`. @throws SurgeonInputError for element types that cannot be fed. */
function inputFeedType(input: ModelInputInfo): FeedType {
  const type = feedTypeOf(input);
  if (!type) {
    throw new SurgeonInputError(
      `model input '${input.name}' is ${input.elemType}; surgeon feeds float, int64, int32, int8, uint8 and bool inputs; export the model with one of those input types`,
    );
  }
  return type;
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

/** Labels checked against `total` samples, the first `count` kept. */
function readLabels(labelArr: NdArray, labelSource: string, total: number, source: string, count: number): { labels: Int32Array; numClasses: number } {
  const n = labelArr.shape[0] ?? 1;
  if (labelArr.shape.length === 0 || shapeSize(labelArr.shape) !== n) {
    throw new SurgeonInputError(`${labelSource}: labels have shape ${formatShape(labelArr.shape)}; pass a 1-D array of class indices`);
  }
  if (n !== total) {
    throw new SurgeonInputError(`${labelSource}: ${n} labels but ${source} has ${total} samples; pass one label per sample`);
  }
  return toLabels(labelArr, labelSource, count);
}

/**
 * The primary input's data: floats converted to float32, checked finite and normalised
 * (`defaultScale` unless `spec.scale` is given); integer and bool inputs in their own type,
 * where normalisation flags are refused.
 */
function primaryData(
  arr: NdArray,
  input: ModelInputInfo,
  sampleShape: number[],
  count: number,
  source: string,
  spec: DatasetSpec,
  defaultScale: number,
): { x: FeedData; xType: FeedType } {
  const per = shapeSize(sampleShape);
  const type = inputFeedType(input);
  if (type !== 'float32' && type !== 'float64') {
    if (spec.scale !== undefined || spec.mean !== undefined || spec.std !== undefined) {
      throw new SurgeonInputError(`--scale, --mean and --std apply to float inputs only, but the model input '${input.name}' is ${input.elemType}; drop them`);
    }
    return { x: toFeedData(arr, count * per, type, source, input.name), xType: type };
  }
  const x = toFloat32({ ...arr, data: arr.data.subarray(0, count * per) });
  if (!isIntegerDType(arr.dtype)) checkFinite(x, per, source);

  const channels = sampleShape.length > 0 ? sampleShape[0]! : 1;
  const mean = perChannel(spec.mean, 0, channels, '--mean', input.name);
  const std = perChannel(spec.std, 1, channels, '--std', input.name);
  if (std.some((s) => s === 0)) throw new SurgeonInputError('--std must not be 0; pass the per-channel standard deviation');
  const scale = spec.scale ?? defaultScale;
  if (!Number.isFinite(scale)) throw new SurgeonInputError(`--scale must be a finite number (got ${scale}); fix the value`);
  if (scale !== 1 || mean.some((m) => m !== 0) || std.some((s) => s !== 1)) normalize(x, count, channels, per / channels, scale, mean, std);
  return { x, xType: 'float32' };
}

/** A non-primary input's data in its feed type (floats checked finite, not normalised). */
function extraData(arr: NdArray, input: ModelInputInfo, sampleShape: number[], count: number, source: string): ExtraInput {
  const per = shapeSize(sampleShape);
  const type = inputFeedType(input);
  const data = toFeedData(arr, count * per, type, source, input.name);
  if ((data instanceof Float32Array || data instanceof Float64Array) && !isIntegerDType(arr.dtype)) checkFinite(data, per, source);
  return { data, sampleShape, type };
}

function buildClassification(
  images: NdArray,
  source: string,
  labelArr: NdArray | undefined,
  labelSource: string | undefined,
  spec: DatasetSpec,
  target: DatasetTarget,
  limit: number | undefined,
  defaultScale: number,
): ClassificationDataset {
  if (images.shape.length === 0) throw new SurgeonInputError(`${source}: holds a scalar; pass an array of samples [N, ...]`);
  const total = images.shape[0]!;
  const { input, sampleShape } = fitInput(images.shape.slice(1), source, target);
  const generated = conventionalInputs(target, new Set([input.name]), { input, sampleShape }, source);
  const count = Math.min(total, limit ?? total);
  const labelled = labelArr ? readLabels(labelArr, labelSource!, total, source, count) : undefined;
  const { x, xType } = primaryData(images, input, sampleShape, count, source, spec, defaultScale);
  return {
    kind: 'classification',
    inputName: input.name,
    x,
    xType,
    sampleShape,
    count,
    ...(labelled ? labelled : {}),
    ...(Object.keys(generated).length > 0 ? { generated } : {}),
  };
}

/**
 * An .npz whose members are named as model inputs (see {@link loadDataset}): each member feeds
 * its input, `labels`/`y` (when no input has that name) are the labels.
 */
function loadNamed(arrays: Map<string, NdArray>, source: string, spec: DatasetSpec, target: DatasetTarget, limit: number | undefined): ClassificationDataset {
  const named = target.inputs.filter((i) => arrays.has(i.name));
  const where = (input: ModelInputInfo) => `${source}:${input.name}`;
  let total = -1;
  let first: ModelInputInfo | undefined;
  for (const input of named) {
    const arr = arrays.get(input.name)!;
    if (arr.shape.length === 0) throw new SurgeonInputError(`${where(input)}: holds a scalar; pass an array of samples [N, ...]`);
    if (!first) {
      first = input;
      total = arr.shape[0]!;
    } else if (arr.shape[0] !== total) {
      throw new SurgeonInputError(`${where(input)}: ${arr.shape[0]} samples but ${where(first)} has ${total}; pass one row per sample in every array`);
    }
  }
  const primary =
    named.find((i) => i.name === 'input_ids') ?? named.find((i) => isFloatInput(i) && !conventionOf(i)) ?? named.find((i) => !conventionOf(i)) ?? named[0]!;

  let labelArr: NdArray | undefined;
  let labelSource: string | undefined;
  if (spec.labels) {
    labelArr = pickArray(readArrays(spec.labels), ['y', 'labels'], spec.labels);
    labelSource = spec.labels;
  } else {
    const name = ['labels', 'y'].find((n) => arrays.has(n) && !target.inputs.some((i) => i.name === n));
    if (name) {
      labelArr = arrays.get(name);
      labelSource = `${source}:${name}`;
    }
  }

  const shapes = new Map(named.map((input) => {
    const rest = arrays.get(input.name)!.shape.slice(1);
    const shape = fitsInput(input, rest);
    if (!shape) throw shapeMismatch(input, rest, where(input));
    return [input.name, shape] as const;
  }));
  const sampleShape = shapes.get(primary.name)!;
  const generated = conventionalInputs(target, new Set(named.map((i) => i.name)), { input: primary, sampleShape }, source);
  const count = Math.min(total, limit ?? total);
  const labelled = labelArr ? readLabels(labelArr, labelSource!, total, source, count) : undefined;
  const { x, xType } = primaryData(arrays.get(primary.name)!, primary, sampleShape, count, where(primary), spec, 1);
  const extra: Record<string, ExtraInput> = {};
  for (const input of named) {
    if (input !== primary) extra[input.name] = extraData(arrays.get(input.name)!, input, shapes.get(input.name)!, count, where(input));
  }
  return {
    kind: 'classification',
    inputName: primary.name,
    x,
    xType,
    sampleShape,
    count,
    ...(labelled ? labelled : {}),
    ...(Object.keys(extra).length > 0 ? { extra } : {}),
    ...(Object.keys(generated).length > 0 ? { generated } : {}),
  };
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

function checkFinite(x: Float32Array | Float64Array, per: number, source: string): void {
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
