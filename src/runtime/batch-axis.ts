/**
 * Where the samples are in a captured tensor. Exporters do not always keep the batch on axis 0:
 * PyTorch's nn.TransformerEncoder (batch_first=False) works on [T, N, d], a Gemm with transA on
 * [d, N]. The batch axis is found from the batch's sample count N: axis 0 when it is the only
 * axis of size N, otherwise the unique axis of size N. Axes known not to hold the batch (the
 * feature axis a layer contracts, see `exclude`) are not candidates, so an [N, d] tensor feeding
 * a d-wide layer is never ambiguous even when d = N. No candidate, or several (e.g. [T, N, d]
 * with T = N), is a {@link SurgeonInputError}: the tensor is never measured on a guessed axis.
 *
 * The features of sample n are the tensor's slice at index n of the batch axis, in C order of
 * the remaining axes ([T, N, d] → the [T, d] slice, T-major: feature t·d + j), i.e. exactly the
 * per-sample flattening of the batch-first tensor [N, T, d].
 *
 * {@link BatchLayout} detects the axis once, on the first batch, and checks every later batch
 * against it (a last, smaller batch cannot change the answer).
 */
import { SurgeonInputError } from '../errors.js';

/** Float data {@link toSampleMajor} rearranges. */
export type FloatArray = Float32Array | Float64Array;

/** Options of {@link findBatchAxis} and {@link BatchLayout}. */
export interface BatchAxisOptions {
  /**
   * Axes that cannot hold the batch, e.g. the feature axis of a layer the tensor feeds
   * (negative: counted from the end, −1 the last axis). Ignored when out of range.
   */
  exclude?: readonly number[];
  /** The flag that sets the batch size, named in the ambiguity message (default `--batch`). */
  batchFlag?: string;
  /** The fix named when no axis holds the batch (default: pick another tensor in --layers). */
  tensorAdvice?: string;
}

const DEFAULT_TENSOR_ADVICE = 'pick a tensor that keeps one axis per sample in --layers';

/** A batch size near `count` (≥ 2) that no size of `dims` equals, for the ambiguity message. */
function otherBatchSize(dims: readonly number[], count: number): number {
  for (let step = 1; ; step++) {
    for (const b of [count - step, count + step]) if (b >= 2 && !dims.includes(b)) return b;
  }
}

/** `[a, b, c]` */
function shapeText(dims: readonly number[]): string {
  return `[${dims.join(', ')}]`;
}

/**
 * The axis of `dims` that holds the `count` samples of a batch (see the module comment).
 * @throws SurgeonInputError naming the tensor, its shape and the fix when no axis or several
 *   axes have size `count`.
 */
export function findBatchAxis(name: string, dims: readonly number[], count: number, options: BatchAxisOptions = {}): number {
  const rank = dims.length;
  const excluded = new Set<number>();
  for (const axis of options.exclude ?? []) {
    const a = axis < 0 ? rank + axis : axis;
    if (a >= 0 && a < rank) excluded.add(a);
  }
  const candidates: number[] = [];
  for (let a = 0; a < rank; a++) if (dims[a] === count && !excluded.has(a)) candidates.push(a);
  if (candidates.length === 1) return candidates[0]!;
  const head = `tensor '${name}' has shape ${shapeText(dims)} for a batch of ${count} sample${count === 1 ? '' : 's'}`;
  if (candidates.length === 0) {
    throw new SurgeonInputError(
      `${head}: no axis has size ${count}, so its samples cannot be told apart (the batch is merged into another axis or reduced away); ${options.tensorAdvice ?? DEFAULT_TENSOR_ADVICE}`,
    );
  }
  const flag = options.batchFlag ?? '--batch';
  const axes = candidates.length === 2 ? `axes ${candidates[0]} and ${candidates[1]} both have` : `axes ${candidates.join(', ')} all have`;
  throw new SurgeonInputError(
    `${head}: ${axes} size ${count}, so which one holds the samples is ambiguous; pass another ${flag} (e.g. ${flag} ${otherBatchSize(dims, count)}) so that only the batch axis has the batch size`,
  );
}

/** `dims` without the batch axis: the per-sample shape. */
export function perSampleShape(dims: readonly number[], axis: number): number[] {
  return dims.filter((_, a) => a !== axis);
}

/**
 * The tensor `data` (shape `dims`, C order) with the batch axis `axis` moved to the front, the
 * other axes in their order: row n of the result (prod of the other dims values) is sample n's
 * features. Returns `data` itself when nothing moves (axis 0, or only size-1 axes before it).
 */
export function toSampleMajor<T extends FloatArray>(data: T, dims: readonly number[], axis: number): T {
  let outer = 1;
  for (let a = 0; a < axis; a++) outer *= dims[a]!;
  if (outer === 1) return data;
  const count = dims[axis]!;
  let inner = 1;
  for (let a = axis + 1; a < dims.length; a++) inner *= dims[a]!;
  const out = new (data.constructor as { new (n: number): T })(data.length);
  // in[o, n, i] → out[n, o, i]
  for (let n = 0; n < count; n++) {
    for (let o = 0; o < outer; o++) {
      const from = (o * count + n) * inner;
      out.set(data.subarray(from, from + inner), (n * outer + o) * inner);
    }
  }
  return out;
}

/**
 * The batch axis of one tensor over a stream of batches: found on the first batch
 * ({@link findBatchAxis}), then checked on every later one.
 */
export class BatchLayout {
  /** The batch axis, once the first batch was seen. */
  axis: number | undefined;
  private firstDims: number[] | undefined;

  /** `axis`: the batch axis when it is known (e.g. a graph input the caller feeds batch-first). */
  constructor(
    readonly name: string,
    private readonly options: BatchAxisOptions = {},
    axis?: number,
  ) {
    this.axis = axis;
  }

  /**
   * One batch's features, sample-major (count × d), and the per-sample shape.
   * @throws SurgeonInputError when the batch axis cannot be found, or a later batch does not
   *   have `count` samples on it.
   */
  features<T extends FloatArray>(data: T, dims: readonly number[], count: number): { data: T; shape: number[] } {
    if (this.axis === undefined) this.axis = findBatchAxis(this.name, dims, count, this.options);
    const axis = this.axis;
    if (dims[axis] !== count) {
      const first = this.firstDims ? ` (${shapeText(this.firstDims)} on the first batch)` : '';
      throw new SurgeonInputError(
        `tensor '${this.name}' has shape ${shapeText(dims)} for a batch of ${count} samples, but its batch axis ${axis}${first} should have size ${count}; ${this.options.tensorAdvice ?? DEFAULT_TENSOR_ADVICE}`,
      );
    }
    this.firstDims ??= dims.slice();
    return { data: toSampleMajor(data, dims, axis), shape: perSampleShape(dims, axis) };
  }
}
