/**
 * A dense, C-ordered n-dimensional array as read from .npy/.npz/IDX files.
 */
import { SurgeonInputError } from '../errors.js';

/** Element types the readers understand (NumPy names). */
export type DType =
  | 'float16'
  | 'float32'
  | 'float64'
  | 'int8'
  | 'uint8'
  | 'int16'
  | 'uint16'
  | 'int32'
  | 'uint32'
  | 'int64'
  | 'uint64'
  | 'bool';

/** Typed-array storage of an {@link NdArray}. */
export type TypedData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

/**
 * A C-ordered array. `float16` data is decoded into a `Float32Array` (dtype stays `'float16'`);
 * `bool` is stored as a `Uint8Array` of 0/1.
 */
export interface NdArray {
  dtype: DType;
  shape: number[];
  data: TypedData;
}

/** Number of elements of `shape` (1 for a scalar `[]`). */
export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Bytes per element of `dtype` as stored on disk (float16 is 2). */
export function dtypeSize(dtype: DType): number {
  switch (dtype) {
    case 'int8':
    case 'uint8':
    case 'bool':
      return 1;
    case 'float16':
    case 'int16':
    case 'uint16':
      return 2;
    case 'float32':
    case 'int32':
    case 'uint32':
      return 4;
    case 'float64':
    case 'int64':
    case 'uint64':
      return 8;
  }
}

/** Whether `dtype` holds integers (bool counts as integer). */
export function isIntegerDType(dtype: DType): boolean {
  return dtype !== 'float16' && dtype !== 'float32' && dtype !== 'float64';
}

/**
 * The values of `arr` as a `Float32Array`. Returns `arr.data` itself (no copy) when it is
 * already a `Float32Array`; 64-bit integers are converted through `Number`.
 */
export function toFloat32(arr: NdArray): Float32Array {
  const src = arr.data;
  if (src instanceof Float32Array) return src;
  const out = new Float32Array(src.length);
  if (src instanceof BigInt64Array || src instanceof BigUint64Array) {
    for (let i = 0; i < src.length; i++) out[i] = Number(src[i]);
  } else {
    out.set(src);
  }
  return out;
}

/** The values of `arr` as plain numbers (64-bit integers through `Number`, possibly lossy). */
export function toNumberArray(arr: NdArray): number[] {
  const src = arr.data;
  const out = new Array<number>(src.length);
  for (let i = 0; i < src.length; i++) out[i] = Number(src[i]);
  return out;
}

/** Formats a shape as `[a,b,c]` for messages. */
export function formatShape(shape: readonly (number | string)[]): string {
  return `[${shape.join(',')}]`;
}

/** Whether a model dim is dynamic (symbolic, -1 or 0). */
export const isDynamic = (d: number | string): boolean => typeof d === 'string' || d <= 0;

/** `value` checked to be a positive integer (undefined passes through). */
export function positiveInt(value: number | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isInteger(value) || value < 1) throw new SurgeonInputError(`${flag} must be a positive integer (got ${value}); pass e.g. ${flag} 128`);
  return value;
}
