/**
 * IDX files (the MNIST / Fashion-MNIST format), plain or gzipped.
 * Layout: bytes 0x00 0x00, a type code, the number of dimensions, then one big-endian uint32
 * per dimension, then the big-endian data in C order.
 */
import { gunzipSync } from 'node:zlib';
import { SurgeonInputError } from '../errors.js';
import { type DType, type NdArray, dtypeSize, formatShape, shapeSize } from './tensor.js';
import { decodeElements, readFile } from './npy.js';

const TYPES: Record<number, DType> = {
  0x08: 'uint8',
  0x09: 'int8',
  0x0b: 'int16',
  0x0c: 'int32',
  0x0d: 'float32',
  0x0e: 'float64',
};

/** Whether `bytes` start with the gzip magic `1f 8b`. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Decompresses `bytes` when gzipped, otherwise returns them unchanged. */
export function maybeGunzip(bytes: Uint8Array, source: string): Uint8Array {
  if (!isGzip(bytes)) return bytes;
  try {
    return gunzipSync(bytes);
  } catch (err) {
    throw new SurgeonInputError(`${source}: corrupt or truncated gzip data; re-download the file`, { cause: err });
  }
}

/** Whether (already decompressed) `bytes` look like an IDX file header. */
export function isIdx(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0 && bytes[1] === 0 && bytes[2]! in TYPES && bytes[3]! >= 1;
}

/**
 * Parses an IDX file, plain or gzipped (detected by its `1f 8b` magic). Data is converted to
 * native byte order (uint8/int8 data is a zero-copy view of the decompressed bytes).
 * @throws SurgeonInputError on a bad magic, unknown type code or truncated data.
 */
export function parseIdx(bytes: Uint8Array, source = '<bytes>'): NdArray {
  const raw = maybeGunzip(bytes, source);
  if (raw.length < 4 || raw[0] !== 0 || raw[1] !== 0) {
    throw new SurgeonInputError(`${source}: not an IDX file (bad magic bytes); pass an MNIST-style IDX file, .npy or .npz`);
  }
  const dtype = TYPES[raw[2]!];
  if (!dtype) {
    throw new SurgeonInputError(`${source}: unknown IDX type code 0x${raw[2]!.toString(16).padStart(2, '0')}; pass an IDX file of type 0x08–0x0E`);
  }
  const ndim = raw[3]!;
  const dataOffset = 4 + 4 * ndim;
  if (raw.length < dataOffset) throw new SurgeonInputError(`${source}: truncated IDX header; re-download the file`);
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const shape: number[] = [];
  for (let i = 0; i < ndim; i++) shape.push(view.getUint32(4 + 4 * i, false));
  const count = shapeSize(shape);
  const need = count * dtypeSize(dtype);
  const have = raw.length - dataOffset;
  if (have < need) {
    throw new SurgeonInputError(
      `${source}: truncated IDX data (shape ${formatShape(shape)} needs ${need} bytes, file has ${have}); re-download the file`,
    );
  }
  const data = decodeElements(raw.subarray(dataOffset, dataOffset + need), dtype, count, dtypeSize(dtype) > 1);
  return { dtype, shape, data };
}

/** Reads an IDX file, plain or gzipped (see {@link parseIdx}). */
export function readIdx(path: string): NdArray {
  return parseIdx(readFile(path), path);
}
