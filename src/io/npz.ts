/**
 * NumPy `.npz` archives: zip files of `.npy` members (numpy.savez / savez_compressed).
 * The zip central directory is parsed here; stored and deflated members, zip64 supported.
 */
import { crc32, inflateRawSync } from 'node:zlib';
import { SurgeonInputError } from '../errors.js';
import type { NdArray } from './tensor.js';
import { writeFileAtomic } from './fs.js';
import { encodeNpy, parseNpy, readFile } from './npy.js';

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

/** Whether `bytes` start like a zip archive (`PK\x03\x04` or an empty archive's `PK\x05\x06`). */
export function isZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b &&
    ((bytes[2] === 3 && bytes[3] === 4) || (bytes[2] === 5 && bytes[3] === 6));
}

interface Entry {
  name: string;
  method: number;
  flags: number;
  crc: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

function u64(view: DataView, at: number): number {
  return Number(view.getBigUint64(at, true));
}

function findEocd(view: DataView, source: string): number {
  const min = Math.max(0, view.byteLength - 22 - 0xffff);
  for (let i = view.byteLength - 22; i >= min; i--) {
    if (view.getUint32(i, true) === EOCD) return i;
  }
  throw new SurgeonInputError(`${source}: not a .npz/zip archive (no end-of-central-directory record); save it with numpy.savez`);
}

function readDirectory(bytes: Uint8Array, source: string): Entry[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const corrupt = (what: string) =>
    new SurgeonInputError(`${source}: corrupt .npz archive (${what}); re-save it with numpy.savez`);
  const eocd = findEocd(view, source);
  let count = view.getUint16(eocd + 10, true);
  let cdOffset = view.getUint32(eocd + 16, true);
  if ((count === 0xffff || cdOffset === 0xffffffff) && eocd >= 20 && view.getUint32(eocd - 20, true) === ZIP64_LOCATOR) {
    const at = u64(view, eocd - 20 + 8);
    if (at + 56 > bytes.length || view.getUint32(at, true) !== ZIP64_EOCD) throw corrupt('bad zip64 record');
    count = u64(view, at + 32);
    cdOffset = u64(view, at + 48);
  }
  const entries: Entry[] = [];
  let p = cdOffset;
  for (let k = 0; k < count; k++) {
    if (p + 46 > bytes.length || view.getUint32(p, true) !== CENTRAL) throw corrupt('bad central directory');
    const nameLen = view.getUint16(p + 28, true);
    const extraLen = view.getUint16(p + 30, true);
    const commentLen = view.getUint16(p + 32, true);
    if (p + 46 + nameLen + extraLen > bytes.length) throw corrupt('truncated central directory');
    const e: Entry = {
      name: new TextDecoder().decode(bytes.subarray(p + 46, p + 46 + nameLen)),
      flags: view.getUint16(p + 8, true),
      method: view.getUint16(p + 10, true),
      crc: view.getUint32(p + 16, true),
      compressedSize: view.getUint32(p + 20, true),
      size: view.getUint32(p + 24, true),
      localOffset: view.getUint32(p + 42, true),
    };
    // zip64 extended information: only the fields saturated in the fixed header are present, in this order.
    let x = p + 46 + nameLen;
    const xEnd = x + extraLen;
    while (x + 4 <= xEnd) {
      const id = view.getUint16(x, true);
      const len = view.getUint16(x + 2, true);
      if (id === 0x0001) {
        let q = x + 4;
        if (e.size === 0xffffffff) { e.size = u64(view, q); q += 8; }
        if (e.compressedSize === 0xffffffff) { e.compressedSize = u64(view, q); q += 8; }
        if (e.localOffset === 0xffffffff) e.localOffset = u64(view, q);
      }
      x += 4 + len;
    }
    entries.push(e);
    p += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

function entryBytes(bytes: Uint8Array, e: Entry, source: string): Uint8Array {
  const where = `${source}:${e.name}`;
  if (e.flags & 1) throw new SurgeonInputError(`${where}: encrypted zip members are not supported; re-save with numpy.savez`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const at = e.localOffset;
  if (at + 30 > bytes.length || view.getUint32(at, true) !== LOCAL) {
    throw new SurgeonInputError(`${where}: corrupt .npz archive (bad local header); re-save it with numpy.savez`);
  }
  const start = at + 30 + view.getUint16(at + 26, true) + view.getUint16(at + 28, true);
  if (start + e.compressedSize > bytes.length) {
    throw new SurgeonInputError(`${where}: truncated .npz archive; re-save or re-download the file`);
  }
  const stored = bytes.subarray(start, start + e.compressedSize);
  let data: Uint8Array;
  if (e.method === 0) data = stored;
  else if (e.method === 8) {
    try {
      data = inflateRawSync(stored);
    } catch (err) {
      throw new SurgeonInputError(`${where}: corrupt deflate data; re-save it with numpy.savez_compressed`, { cause: err });
    }
  } else {
    throw new SurgeonInputError(`${where}: zip compression method ${e.method} is not supported; save with numpy.savez or savez_compressed`);
  }
  if (data.length !== e.size || crc32(data) !== e.crc) {
    throw new SurgeonInputError(`${where}: corrupt .npz member (size or CRC mismatch); re-save or re-download the file`);
  }
  return data;
}

/**
 * Parses the bytes of a `.npz` archive into arrays keyed by member name without the `.npy`
 * suffix (as numpy.load does), in archive order. Non-`.npy` members are skipped.
 * @throws SurgeonInputError on a corrupt archive or member.
 */
export function parseNpz(bytes: Uint8Array, source = '<bytes>'): Map<string, NdArray> {
  const out = new Map<string, NdArray>();
  for (const e of readDirectory(bytes, source)) {
    if (!e.name.endsWith('.npy')) continue;
    out.set(e.name.slice(0, -4), parseNpy(entryBytes(bytes, e, source), `${source}:${e.name}`));
  }
  return out;
}

/** Reads a `.npz` file (see {@link parseNpz}). */
export function readNpz(path: string): Map<string, NdArray> {
  return parseNpz(readFile(path), path);
}

/**
 * Encodes arrays as an uncompressed (stored) `.npz` archive; member `k` is written as `k.npy`.
 * Archives over 4 GiB are not supported.
 */
export function encodeNpz(arrays: Map<string, NdArray> | Record<string, NdArray>): Uint8Array {
  const list = arrays instanceof Map ? [...arrays] : Object.entries(arrays);
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const [key, arr] of list) {
    const name = enc.encode(`${key}.npy`);
    const data = encodeNpy(arr);
    const crc = crc32(data);
    const local = new Uint8Array(30 + name.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, LOCAL, true);
    lv.setUint16(4, 20, true);
    lv.setUint16(8, 0, true); // stored
    lv.setUint16(12, 0x21, true); // 1980-01-01
    lv.setUint32(14, crc, true);
    lv.setUint32(18, data.length, true);
    lv.setUint32(22, data.length, true);
    lv.setUint16(26, name.length, true);
    local.set(name, 30);
    const cd = new Uint8Array(46 + name.length);
    const cv = new DataView(cd.buffer);
    cv.setUint32(0, CENTRAL, true);
    cv.setUint16(4, 20, true);
    cv.setUint16(6, 20, true);
    cv.setUint16(14, 0x21, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, data.length, true);
    cv.setUint32(24, data.length, true);
    cv.setUint16(28, name.length, true);
    cv.setUint32(42, offset, true);
    cd.set(name, 46);
    parts.push(local, data);
    central.push(cd);
    offset += local.length + data.length;
  }
  const cdSize = central.reduce((s, c) => s + c.length, 0);
  if (offset + cdSize > 0xffffffff || list.length > 0xffff) throw new RangeError('encodeNpz: archives over 4 GiB or 65535 members are not supported');
  const end = new Uint8Array(22);
  const ev = new DataView(end.buffer);
  ev.setUint32(0, EOCD, true);
  ev.setUint16(8, list.length, true);
  ev.setUint16(10, list.length, true);
  ev.setUint32(12, cdSize, true);
  ev.setUint32(16, offset, true);
  const out = new Uint8Array(offset + cdSize + 22);
  let p = 0;
  for (const b of [...parts, ...central, end]) {
    out.set(b, p);
    p += b.length;
  }
  return out;
}

/** Writes arrays to `path` as a stored `.npz`, atomically (see {@link encodeNpz}). */
export function writeNpz(path: string, arrays: Map<string, NdArray> | Record<string, NdArray>): void {
  writeFileAtomic(path, encodeNpz(arrays));
}
