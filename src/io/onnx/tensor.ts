/**
 * TensorProto ⇄ typed arrays: element types, raw_data (little-endian), typed fields,
 * external data, sub-byte and narrow-float formats.
 */
import { closeSync, existsSync, fstatSync, openSync, readSync } from 'node:fs';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { SurgeonInputError } from '../../errors.js';
import {
  bfloat16ToFloat32,
  float16ToFloat32,
  float32ToBfloat16,
  float32ToFloat16,
  miniFloatToFloat32,
  type MiniFloatFormat,
} from '../floats.js';
import type { TypedData } from '../tensor.js';
import { DataLocation, DataType, int64ToBigInt, int64ToNumber, type Int64, type TensorProto } from './proto.js';

/** Element type names, indexed by `TensorProto.DataType` code (ORT's names where it has one). */
export const ELEM_TYPE_NAMES = [
  'undefined', 'float32', 'uint8', 'int8', 'uint16', 'int16', 'int32', 'int64', 'string', 'bool',
  'float16', 'float64', 'uint32', 'uint64', 'complex64', 'complex128', 'bfloat16',
  'float8e4m3fn', 'float8e4m3fnuz', 'float8e5m2', 'float8e5m2fnuz', 'uint4', 'int4', 'float4e2m1',
  'float8e8m0', 'uint2', 'int2',
] as const;

/** An element type name such as `'float32'` or `'int64'`. */
export type ElemTypeName = (typeof ELEM_TYPE_NAMES)[number];

/** The name of a `TensorProto.DataType` code (`'unknown(N)'` for codes newer than this schema). */
export function elemTypeName(code: number | undefined | null): ElemTypeName | `unknown(${number})` {
  const name = ELEM_TYPE_NAMES[code ?? 0];
  return name ?? `unknown(${code})`;
}

/** The `TensorProto.DataType` code of an element type name (-1 when unknown). */
export function elemTypeCode(name: string): number {
  return (ELEM_TYPE_NAMES as readonly string[]).indexOf(name);
}

/** Bits per element in raw_data, by DataType code (0 for strings/undefined). */
const BITS = [0, 32, 8, 8, 16, 16, 32, 64, 0, 8, 16, 64, 32, 64, 64, 128, 16, 8, 8, 8, 8, 4, 4, 4, 8, 2, 2];

/** What {@link tensorToArray} returns for each element type. */
export type TensorData = TypedData | string[];

/** Options for reading tensor data. */
export interface TensorReadOptions {
  /** Folder that external data locations are relative to (the model's folder). */
  baseDir?: string;
}

/** The tensor's dims as numbers. */
export function tensorDims(tensor: Pick<TensorProto, 'dims'>): number[] {
  return (tensor.dims ?? []).map((d: Int64) => int64ToNumber(d));
}

/** Number of elements (product of dims; 1 for a scalar). */
export function tensorSize(tensor: Pick<TensorProto, 'dims'>): number {
  let n = 1;
  for (const d of tensor.dims ?? []) n *= int64ToNumber(d);
  return n;
}

/** Whether the tensor's data lives in an external file. */
export function isExternal(tensor: TensorProto): boolean {
  return tensor.dataLocation === DataLocation.EXTERNAL;
}

/** The tensor's `external_data` entries as a record (`location`, `offset`, `length`, `checksum`). */
export function externalDataInfo(tensor: TensorProto): Record<string, string> {
  const info: Record<string, string> = {};
  for (const e of tensor.externalData ?? []) if (e.key) info[e.key] = e.value ?? '';
  return info;
}

/**
 * The absolute path of the file holding an EXTERNAL tensor's data: its `location` resolved
 * against `baseDir` (the model's folder), whatever the current working directory.
 *
 * A location must stay inside the model's folder (what the ONNX spec and onnxruntime
 * require): an absolute location, or one whose `..` segments leave the folder, is refused
 * with a {@link SurgeonInputError} naming the tensor, the location and the fix. So is a
 * model read from bytes without `baseDir`, since relative locations then have no anchor.
 */
export function externalDataPath(tensor: TensorProto, baseDir: string | undefined): string {
  const location = externalDataInfo(tensor).location;
  const what = `tensor '${tensor.name ?? ''}'`;
  if (!location) throw new SurgeonInputError(`${what}: external data has no location entry; the model is malformed`);
  if (isAbsolute(location) || /^[A-Za-z]:[\\/]/.test(location)) {
    throw new SurgeonInputError(
      `${what}: external data location '${location}' is an absolute path, outside the model's folder; move the file beside the model and set the location to its file name`,
    );
  }
  if (baseDir === undefined) {
    throw new SurgeonInputError(
      `${location}: external data of ${what} cannot be found because the model was read from bytes; pass baseDir (the model's folder)`,
    );
  }
  const base = resolve(baseDir);
  const file = resolve(base, location);
  const rel = relative(base, file);
  if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
    throw new SurgeonInputError(
      `${what}: external data location '${location}' leaves the model's folder ${base}; move the file beside the model (or into a subfolder) and set the location relative to the model`,
    );
  }
  return file;
}

/**
 * Reads the bytes of an EXTERNAL tensor from `baseDir/location` at `offset`, `length`.
 * Throws SurgeonInputError when the location escapes `baseDir` (see {@link externalDataPath}),
 * or the file is missing or too short.
 */
export function readExternalBytes(tensor: TensorProto, baseDir: string | undefined): Uint8Array {
  const info = externalDataInfo(tensor);
  const location = info.location ?? '';
  const what = `tensor '${tensor.name ?? ''}'`;
  const file = externalDataPath(tensor, baseDir);
  if (!existsSync(file)) {
    throw new SurgeonInputError(`${file}: external data file of ${what} not found; put '${location}' beside the model`);
  }
  const offset = info.offset ? Number(info.offset) : 0;
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    const expected = Math.ceil((tensorSize(tensor) * (BITS[tensor.dataType ?? 0] ?? 0)) / 8);
    const length = info.length ? Number(info.length) : expected || size - offset;
    if (offset + length > size) {
      throw new SurgeonInputError(
        `${file}: external data of ${what} needs bytes ${offset}..${offset + length} but the file has ${size}; put the matching data file beside the model`,
      );
    }
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const n = readSync(fd, out, done, length - done, offset + done);
      if (n <= 0) break;
      done += n;
    }
    return out;
  } finally {
    closeSync(fd);
  }
}

/** Copies bytes into a fresh, aligned ArrayBuffer. */
function aligned(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

/** Unpacks sub-byte elements (low bits first) into one byte per element. */
function unpackBits(bytes: Uint8Array, n: number, bits: 2 | 4, signed: boolean): Uint8Array | Int8Array {
  const out = signed ? new Int8Array(n) : new Uint8Array(n);
  const per = 8 / bits;
  const mask = (1 << bits) - 1;
  const signBit = 1 << (bits - 1);
  for (let i = 0; i < n; i++) {
    let v = (bytes[(i / per) | 0]! >> ((i % per) * bits)) & mask;
    if (signed && v & signBit) v -= 1 << bits;
    out[i] = v;
  }
  return out;
}

/** Decodes element data stored as little-endian bytes (raw_data or external). */
function fromBytes(bytes: Uint8Array, code: number, n: number, name: string): TensorData {
  const bits = BITS[code] ?? 0;
  const needed = Math.ceil((n * bits) / 8);
  if (bits > 0 && bytes.byteLength < needed) {
    throw new SurgeonInputError(`tensor '${name}': has ${bytes.byteLength} data bytes, needs ${needed}; the model is truncated or malformed`);
  }
  const b = bytes.subarray(0, needed);
  switch (ELEM_TYPE_NAMES[code]) {
    case 'float32': return new Float32Array(aligned(b));
    case 'complex64': return new Float32Array(aligned(b));
    case 'float64': case 'complex128': return new Float64Array(aligned(b));
    case 'uint8': case 'bool': return new Uint8Array(aligned(b));
    case 'int8': return new Int8Array(aligned(b));
    case 'uint16': return new Uint16Array(aligned(b));
    case 'int16': return new Int16Array(aligned(b));
    case 'int32': return new Int32Array(aligned(b));
    case 'uint32': return new Uint32Array(aligned(b));
    case 'int64': return new BigInt64Array(aligned(b));
    case 'uint64': return new BigUint64Array(aligned(b));
    case 'float16': return float16ToFloat32(new Uint16Array(aligned(b)));
    case 'bfloat16': return bfloat16ToFloat32(new Uint16Array(aligned(b)));
    case 'uint4': return unpackBits(b, n, 4, false);
    case 'int4': return unpackBits(b, n, 4, true);
    case 'uint2': return unpackBits(b, n, 2, false);
    case 'int2': return unpackBits(b, n, 2, true);
    case 'float4e2m1': return miniFloatToFloat32(unpackBits(b, n, 4, false) as Uint8Array, 'float4e2m1');
    case 'float8e4m3fn': case 'float8e4m3fnuz': case 'float8e5m2': case 'float8e5m2fnuz': case 'float8e8m0':
      return miniFloatToFloat32(new Uint8Array(aligned(b)), ELEM_TYPE_NAMES[code] as MiniFloatFormat);
    default:
      throw new SurgeonInputError(`tensor '${name}': element type ${elemTypeName(code)} cannot be read from raw data`);
  }
}

/** Decodes data stored in `int32_data` (int8/16, uint8/16, bool, float16, bfloat16, float8, packed 4/2-bit). */
function fromInt32Data(src: number[], code: number, n: number, name: string): TensorData {
  const t = ELEM_TYPE_NAMES[code];
  const bytesOf = (): Uint8Array => Uint8Array.from(src, (v) => v & 0xff);
  switch (t) {
    case 'int32': return Int32Array.from(src);
    case 'int8': return Int8Array.from(src);
    case 'uint8': case 'bool': return Uint8Array.from(src);
    case 'int16': return Int16Array.from(src);
    case 'uint16': return Uint16Array.from(src);
    case 'float16': return float16ToFloat32(Int32Array.from(src));
    case 'bfloat16': return bfloat16ToFloat32(Int32Array.from(src));
    default:
      return fromBytes(bytesOf(), code, n, name);
  }
}

/**
 * Converts a TensorProto's data to a typed array: raw_data (little-endian), the typed
 * fields, or EXTERNAL data relative to `options.baseDir`. float16, bfloat16 and the
 * float8/float4 formats become Float32Array; int64/uint64 BigInt64Array/BigUint64Array;
 * bool Uint8Array; int4/uint4/int2/uint2 one element per byte; complex interleaved (re, im);
 * string a string[] (UTF-8).
 */
export function tensorToArray(tensor: TensorProto, options: TensorReadOptions = {}): TensorData {
  const code = tensor.dataType ?? 0;
  const n = tensorSize(tensor);
  const name = tensor.name ?? '';
  if (ELEM_TYPE_NAMES[code] === 'string') {
    const dec = new TextDecoder();
    return (tensor.stringData ?? []).map((s) => dec.decode(s));
  }
  if (isExternal(tensor)) return fromBytes(readExternalBytes(tensor, options.baseDir), code, n, name);
  if (tensor.rawData && tensor.rawData.byteLength > 0) return fromBytes(tensor.rawData, code, n, name);
  const t = ELEM_TYPE_NAMES[code];
  switch (t) {
    case 'float32': case 'complex64': return Float32Array.from(tensor.floatData ?? []);
    case 'float64': case 'complex128': return Float64Array.from(tensor.doubleData ?? []);
    case 'int64': return BigInt64Array.from(tensor.int64Data ?? [], (v) => int64ToBigInt(v));
    case 'uint64': return BigUint64Array.from(tensor.uint64Data ?? [], (v) => BigInt.asUintN(64, int64ToBigInt(v)));
    case 'uint32': return Uint32Array.from(tensor.uint64Data ?? [], (v) => int64ToNumber(v));
    case undefined: case 'undefined':
      throw new SurgeonInputError(`tensor '${name}': unknown element type code ${code}`);
    default:
      return fromInt32Data(tensor.int32Data ?? [], code, n, name);
  }
}

/** Converts a BigInt64Array/BigUint64Array to numbers; throws RangeError when a value is beyond ±2^53. */
export function bigIntsToNumbers(values: BigInt64Array | BigUint64Array): Float64Array {
  const out = new Float64Array(values.length);
  const max = BigInt(Number.MAX_SAFE_INTEGER);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v > max || v < -max) throw new RangeError(`int64 value ${v} at index ${i} is not a safe integer`);
    out[i] = Number(v);
  }
  return out;
}

/** Float element types {@link float32ToTensorBytes} can encode. */
export const WRITABLE_FLOAT_TYPES = ['float32', 'float16', 'bfloat16', 'float64'] as const;

/** Encodes float32 values as the little-endian raw bytes of `code` (float32, float16, bfloat16, float64). */
export function float32ToTensorBytes(data: Float32Array, code: number): Uint8Array {
  switch (ELEM_TYPE_NAMES[code]) {
    case 'float32': return new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
    case 'float16': return new Uint8Array(float32ToFloat16(data).buffer);
    case 'bfloat16': return new Uint8Array(float32ToBfloat16(data).buffer);
    case 'float64': return new Uint8Array(Float64Array.from(data).buffer);
    default:
      throw new SurgeonInputError(`cannot write float data into a tensor of type ${elemTypeName(code)}; only float32/float16/bfloat16/float64 weights are writable`);
  }
}

/**
 * Replaces the data of a float tensor with `data`, in the tensor's own element type
 * (float32, or float16/bfloat16/float64 converted) and storage: raw_data stays raw_data,
 * float_data/double_data/int32_data stay typed fields. An EXTERNAL tensor is inlined as
 * raw_data (the input's external file is never modified). `label` names the tensor in errors.
 */
export function writeFloat32ToTensor(t: TensorProto, data: Float32Array, label = `tensor '${t.name ?? ''}'`): void {
  const n = tensorSize(t);
  if (data.length !== n) throw new SurgeonInputError(`${label} has ${n} elements, got ${data.length}`);
  const code = t.dataType ?? 0;
  const raw = float32ToTensorBytes(data, code);
  const typedField = !isExternal(t) && !(t.rawData && t.rawData.byteLength > 0) && n > 0;
  if (typedField && code === DataType.FLOAT) {
    t.floatData = Array.from(data);
  } else if (typedField && code === DataType.DOUBLE) {
    t.doubleData = Array.from(data);
  } else if (typedField) {
    t.int32Data = Array.from(new Uint16Array(raw.buffer, raw.byteOffset, n));
  } else {
    t.rawData = raw;
    t.floatData = [];
    t.doubleData = [];
    t.int32Data = [];
  }
  if (isExternal(t)) {
    t.externalData = [];
    delete t.dataLocation;
  }
}

/** Reads a tensor that must hold floats as Float32Array (float64 narrowed). */
export function tensorToFloat32(tensor: TensorProto, options: TensorReadOptions = {}): Float32Array {
  const a = tensorToArray(tensor, options);
  if (a instanceof Float32Array) return a;
  if (a instanceof Float64Array) return Float32Array.from(a);
  throw new SurgeonInputError(`tensor '${tensor.name ?? ''}': element type ${elemTypeName(tensor.dataType)} is not a float type`);
}
