import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fixture, HAVE_FIXTURES, NEEDS_FIXTURES } from '../fixtures.js';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { SurgeonInputError } from '../../src/errors.js';
import { parseIdx, readIdx } from '../../src/io/idx.js';
import { readNpy } from '../../src/io/npy.js';

/** IDX bytes for `values` of the given type code, written big-endian. */
function idx(type: number, shape: number[], values: number[]): Uint8Array {
  const size = { 0x08: 1, 0x09: 1, 0x0b: 2, 0x0c: 4, 0x0d: 4, 0x0e: 8 }[type]!;
  const out = new Uint8Array(4 + 4 * shape.length + size * values.length);
  const v = new DataView(out.buffer);
  out[2] = type;
  out[3] = shape.length;
  shape.forEach((d, i) => v.setUint32(4 + 4 * i, d, false));
  const o = 4 + 4 * shape.length;
  values.forEach((x, i) => {
    const at = o + size * i;
    if (type === 0x08) v.setUint8(at, x);
    else if (type === 0x09) v.setInt8(at, x);
    else if (type === 0x0b) v.setInt16(at, x, false);
    else if (type === 0x0c) v.setInt32(at, x, false);
    else if (type === 0x0d) v.setFloat32(at, x, false);
    else v.setFloat64(at, x, false);
  });
  return out;
}

describe('idx', () => {
  const cases: Array<[number, string, number[]]> = [
    [0x08, 'uint8', [0, 255, 7, 128, 1, 2]],
    [0x09, 'int8', [-128, 127, 0, -1, 1, 2]],
    [0x0b, 'int16', [-32768, 32767, 0, -1, 256, 2]],
    [0x0c, 'int32', [-2147483648, 2147483647, 0, -1, 65536, 2]],
    [0x0d, 'float32', [1.5, -2.25, 0, 1e-3, 3e8, -7]],
    [0x0e, 'float64', [Math.PI, -1e300, 0, 5e-324, 2, 3]],
  ];
  for (const [type, dtype, values] of cases) {
    it(`type 0x${type.toString(16)} (${dtype}), plain and gzipped`, () => {
      const bytes = idx(type, [2, 3], values);
      for (const b of [bytes, gzipSync(bytes)]) {
        const a = parseIdx(b);
        expect(a.dtype).toBe(dtype);
        expect(a.shape).toEqual([2, 3]);
        const expected = dtype === 'float32' ? values.map(Math.fround) : values;
        expect(Array.from(a.data as ArrayLike<number>)).toEqual(expected);
      }
    });
  }

  it('rejects bad magic, unknown types, truncation and broken gzip', () => {
    expect(() => parseIdx(Uint8Array.of(1, 0, 8, 1, 0, 0, 0, 0), 'a.idx')).toThrow(/a\.idx: not an IDX file/);
    expect(() => parseIdx(Uint8Array.of(0, 0, 0x0a, 1, 0, 0, 0, 0), 'b.idx')).toThrow(
      'b.idx: unknown IDX type code 0x0a; pass an IDX file of type 0x08–0x0E',
    );
    const full = idx(0x0c, [3], [1, 2, 3]);
    expect(() => parseIdx(full.subarray(0, full.length - 2), 'c.idx')).toThrow(
      'c.idx: truncated IDX data (shape [3] needs 12 bytes, file has 10); re-download the file',
    );
    expect(() => parseIdx(full.subarray(0, 6), 'd.idx')).toThrow(/d\.idx: truncated IDX header/);
    const gz = gzipSync(full);
    expect(() => parseIdx(gz.subarray(0, gz.length - 6), 'e.gz')).toThrow(/e\.gz: corrupt or truncated gzip data/);
    expect(() => parseIdx(full.subarray(0, 6))).toThrow(SurgeonInputError);
  });
});

describe('idx against the fixtures', () => {
  const debian = process.env['SURGEON_DATA'] ?? '/usr/share/datasets/fashion-mnist';
  const pairs: Array<[string, string]> = [
    [join(debian, 't10k-images-idx3-ubyte.gz'), fixture('fmnist-test-images.npy')],
    [join(debian, 't10k-labels-idx1-ubyte.gz'), fixture('fmnist-test-labels.npy')],
  ];
  for (const [idxPath, npyPath] of pairs) {
    const have = existsSync(idxPath) && HAVE_FIXTURES;
    const name = `${idxPath} equals ${npyPath} element for element`;
    const missing = [existsSync(idxPath) ? '' : `${idxPath} absent: apt-get install dataset-fashion-mnist`, HAVE_FIXTURES ? '' : NEEDS_FIXTURES].filter(Boolean).join('; ');
    it.skipIf(!have)(have ? name : `${name} (skipped: ${missing})`, () => {
      const a = readIdx(idxPath);
      const b = readNpy(npyPath);
      expect(a.dtype).toBe('uint8');
      expect(a.shape).toEqual(b.shape);
      expect(Buffer.compare(a.data as Uint8Array, b.data as Uint8Array)).toBe(0);
    });
  }
});
