/**
 * NumPy `.npy` reader and writer (format versions 1.0, 2.0 and 3.0, C order only).
 * See https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
 */
import { readFileSync } from 'node:fs';
import { SurgeonInputError } from '../errors.js';
import { float16BitsToNumber, numberToFloat16Bits } from './floats.js';
import { writeFileAtomic } from './fs.js';
import { type DType, type NdArray, type TypedData, dtypeSize, formatShape, shapeSize } from './tensor.js';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** Whether `bytes` start with the `.npy` magic string. */
export function isNpy(bytes: Uint8Array): boolean {
  if (bytes.length < MAGIC.length) return false;
  for (let i = 0; i < MAGIC.length; i++) if (bytes[i] !== MAGIC[i]) return false;
  return true;
}

const KIND_TO_DTYPE: Record<string, DType> = {
  f2: 'float16', f4: 'float32', f8: 'float64',
  i1: 'int8', i2: 'int16', i4: 'int32', i8: 'int64',
  u1: 'uint8', u2: 'uint16', u4: 'uint32', u8: 'uint64',
  b1: 'bool', '?': 'bool',
};

interface Header {
  dtype: DType;
  bigEndian: boolean;
  shape: number[];
  dataOffset: number;
}

function parseHeader(bytes: Uint8Array, source: string): Header {
  if (!isNpy(bytes)) {
    throw new SurgeonInputError(`${source}: not a .npy file (bad magic bytes); pass an array saved with numpy.save`);
  }
  if (bytes.length < 10) throw new SurgeonInputError(`${source}: truncated .npy header; re-save the array with numpy.save`);
  const major = bytes[6]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number;
  let start: number;
  if (major === 1) {
    headerLen = view.getUint16(8, true);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw new SurgeonInputError(`${source}: truncated .npy header; re-save the array with numpy.save`);
    headerLen = view.getUint32(8, true);
    start = 12;
  } else {
    throw new SurgeonInputError(
      `${source}: unsupported .npy format version ${major}.${bytes[7]}; save it with numpy.save (versions 1.0–3.0)`,
    );
  }
  const dataOffset = start + headerLen;
  if (dataOffset > bytes.length) {
    throw new SurgeonInputError(`${source}: truncated .npy header; re-save the array with numpy.save`);
  }
  const text = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(start, dataOffset));

  const descrMatch = /['"]descr['"]\s*:\s*(['"])(.*?)\1/.exec(text);
  if (!descrMatch) {
    throw new SurgeonInputError(
      `${source}: structured or unreadable dtype in .npy header; save a plain numeric array (e.g. arr.astype(np.float32))`,
    );
  }
  const descr = descrMatch[2]!;
  const order = descr[0]!;
  const kind = '<>|='.includes(order) ? descr.slice(1) : descr;
  const dtype = KIND_TO_DTYPE[kind];
  if (!dtype) {
    throw new SurgeonInputError(`${source}: unsupported dtype '${descr}'; convert it with arr.astype(np.float32)`);
  }
  const bigEndian = order === '>' && dtypeSize(dtype) > 1;

  const fortranMatch = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(text);
  if (!fortranMatch) throw new SurgeonInputError(`${source}: .npy header lacks 'fortran_order'; re-save it with numpy.save`);
  if (fortranMatch[1] === 'True') {
    throw new SurgeonInputError(`${source}: Fortran-order arrays are not supported; save it with np.ascontiguousarray`);
  }

  const shapeMatch = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(text);
  if (!shapeMatch) throw new SurgeonInputError(`${source}: .npy header lacks 'shape'; re-save it with numpy.save`);
  const shape: number[] = [];
  for (const part of shapeMatch[1]!.split(',')) {
    const t = part.trim();
    if (t === '') continue;
    if (!/^\d+L?$/.test(t)) throw new SurgeonInputError(`${source}: bad shape '(${shapeMatch[1]})' in .npy header; re-save it with numpy.save`);
    shape.push(Number.parseInt(t, 10));
  }
  return { dtype, bigEndian, shape, dataOffset };
}

type TypedCtor = new (buffer: ArrayBufferLike, byteOffset: number, length: number) => TypedData;

function ctorOf(dtype: DType): TypedCtor & { new (length: number): TypedData } {
  switch (dtype) {
    case 'float32': return Float32Array;
    case 'float64': return Float64Array;
    case 'int8': return Int8Array;
    case 'uint8':
    case 'bool': return Uint8Array;
    case 'int16': return Int16Array;
    case 'uint16':
    case 'float16': return Uint16Array;
    case 'int32': return Int32Array;
    case 'uint32': return Uint32Array;
    case 'int64': return BigInt64Array;
    case 'uint64': return BigUint64Array;
  }
}

/**
 * Decodes `count` raw elements of `dtype` from `raw` into a typed array: a zero-copy view when
 * little-endian and aligned, otherwise a copy (byte-swapped when `bigEndian`). float16 is
 * decoded into a new Float32Array. Shared by the .npy and IDX readers.
 */
export function decodeElements(raw: Uint8Array, dtype: DType, count: number, bigEndian: boolean): TypedData {
  const size = dtypeSize(dtype);
  const Ctor = ctorOf(dtype);
  let data: TypedData;
  if (!bigEndian && (raw.byteOffset % size === 0)) {
    data = new Ctor(raw.buffer, raw.byteOffset, count);
  } else if (!bigEndian) {
    data = new Ctor(count);
    new Uint8Array(data.buffer).set(raw.subarray(0, count * size));
  } else {
    data = new Ctor(count);
    const out = new Uint8Array(data.buffer);
    for (let i = 0; i < count; i++) {
      const o = i * size;
      for (let b = 0; b < size; b++) out[o + b] = raw[o + size - 1 - b]!;
    }
  }
  if (dtype === 'float16') {
    const half = data as Uint16Array;
    const f = new Float32Array(count);
    for (let i = 0; i < count; i++) f[i] = float16BitsToNumber(half[i]!);
    return f;
  }
  return data;
}

/**
 * Parses the bytes of a `.npy` file. The result's data is a zero-copy view of `bytes` when the
 * data is little-endian and aligned, otherwise a copy. Big-endian data is converted; float16
 * is decoded to a Float32Array (dtype stays `'float16'`).
 * @param source name used in error messages (usually the file path).
 * @throws SurgeonInputError on bad magic, unsupported dtype, Fortran order or truncated data.
 */
export function parseNpy(bytes: Uint8Array, source = '<bytes>'): NdArray {
  const { dtype, bigEndian, shape, dataOffset } = parseHeader(bytes, source);
  const count = shapeSize(shape);
  const need = count * dtypeSize(dtype);
  const have = bytes.length - dataOffset;
  if (have < need) {
    throw new SurgeonInputError(
      `${source}: truncated .npy data (shape ${formatShape(shape)} needs ${need} bytes, file has ${have}); re-save or re-download the file`,
    );
  }
  const data = decodeElements(bytes.subarray(dataOffset, dataOffset + need), dtype, count, bigEndian);
  return { dtype, shape: shape.slice(), data };
}

/** Reads a `.npy` file (see {@link parseNpy}). */
export function readNpy(path: string): NdArray {
  return parseNpy(readFile(path), path);
}

/** Reads a whole file, turning "not found" and similar into a {@link SurgeonInputError}. */
export function readFile(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new SurgeonInputError(`${path}: file not found; check the path`, { cause: err });
    if (code === 'EISDIR') throw new SurgeonInputError(`${path}: is a directory; pass a file`, { cause: err });
    throw new SurgeonInputError(`${path}: cannot read (${code ?? String(err)}); check the path and its permissions`, { cause: err });
  }
}

const DESCR: Record<DType, string> = {
  float16: '<f2', float32: '<f4', float64: '<f8',
  int8: '|i1', uint8: '|u1', int16: '<i2', uint16: '<u2',
  int32: '<i4', uint32: '<u4', int64: '<i8', uint64: '<u8', bool: '|b1',
};

/**
 * Encodes `arr` as a `.npy` file (version 1.0, or 2.0 when the header needs it), little-endian,
 * C order, header padded to 64 bytes. float16 arrays are encoded from their float values
 * (or copied as raw half bits when `data` is a Uint16Array).
 */
export function encodeNpy(arr: NdArray): Uint8Array {
  const count = shapeSize(arr.shape);
  if (arr.data.length !== count) {
    throw new RangeError(`encodeNpy: data has ${arr.data.length} elements but shape ${formatShape(arr.shape)} needs ${count}`);
  }
  const Ctor = arr.dtype === 'float16' ? null : ctorOf(arr.dtype);
  if (Ctor && !(arr.data instanceof Ctor)) {
    throw new RangeError(`encodeNpy: dtype ${arr.dtype} does not match data ${arr.data.constructor.name}`);
  }
  const shapeText = arr.shape.length === 1 ? `(${arr.shape[0]},)` : `(${arr.shape.join(', ')})`;
  const dict = `{'descr': '${DESCR[arr.dtype]}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  let pre = 10;
  let total = Math.ceil((pre + dict.length + 1) / 64) * 64;
  if (total - pre > 0xffff) {
    pre = 12;
    total = Math.ceil((pre + dict.length + 1) / 64) * 64;
  }
  const headerLen = total - pre;
  const header = dict + ' '.repeat(headerLen - dict.length - 1) + '\n';
  const size = dtypeSize(arr.dtype);
  const out = new Uint8Array(total + count * size);
  out.set(MAGIC, 0);
  out[6] = pre === 10 ? 1 : 2;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (pre === 10) view.setUint16(8, headerLen, true);
  else view.setUint32(8, headerLen, true);
  for (let i = 0; i < header.length; i++) out[pre + i] = header.charCodeAt(i);
  if (arr.dtype === 'float16' && !(arr.data instanceof Uint16Array)) {
    const src = arr.data;
    for (let i = 0; i < count; i++) view.setUint16(total + 2 * i, numberToFloat16Bits(Number(src[i])), true);
  } else {
    const d = arr.data;
    out.set(new Uint8Array(d.buffer, d.byteOffset, count * size), total);
  }
  return out;
}

/** Writes `arr` to `path` as `.npy`, atomically (temporary file, then rename). */
export function writeNpy(path: string, arr: NdArray): void {
  writeFileAtomic(path, encodeNpy(arr));
}
