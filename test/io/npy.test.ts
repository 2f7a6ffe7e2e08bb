import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixture, HAVE_FIXTURES, needsFixtures, tiny } from '../fixtures.js';
import { afterAll, describe, expect, it } from 'vitest';
import { SurgeonInputError } from '../../src/errors.js';
import { float16BitsToNumber, numberToFloat16Bits } from '../../src/io/floats.js';
import { encodeNpy, parseNpy, readNpy, writeNpy } from '../../src/io/npy.js';
import type { DType, NdArray, TypedData } from '../../src/io/tensor.js';

const dir = mkdtempSync(join(tmpdir(), 'surgeon-npy-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A .npy file with a hand-written header (as numpy writes it) and raw data bytes. */
function npyBytes(header: string, data: Uint8Array, major = 1): Uint8Array {
  const pre = major === 1 ? 10 : 12;
  const enc = major === 3 ? new TextEncoder().encode(header) : Uint8Array.from(header, (c) => c.charCodeAt(0));
  const out = new Uint8Array(pre + enc.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]);
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, enc.length, true);
  else view.setUint32(8, enc.length, true);
  out.set(enc, pre);
  out.set(data, pre + enc.length);
  return out;
}

const cases: Array<[DType, TypedData]> = [
  ['float32', Float32Array.from([1.5, -2, 3.25, 0, Infinity, -1e-30])],
  ['float64', Float64Array.from([Math.PI, -1e300, 0, 5e-324, 2, 3])],
  ['int8', Int8Array.from([-128, 127, 0, 1, -1, 5])],
  ['uint8', Uint8Array.from([0, 255, 1, 2, 3, 128])],
  ['int16', Int16Array.from([-32768, 32767, 0, 1, -1, 5])],
  ['uint16', Uint16Array.from([0, 65535, 1, 2, 3, 4])],
  ['int32', Int32Array.from([-2147483648, 2147483647, 0, 1, -1, 5])],
  ['uint32', Uint32Array.from([0, 4294967295, 1, 2, 3, 4])],
  ['int64', BigInt64Array.from([-(2n ** 63n), 2n ** 63n - 1n, 0n, 1n, -1n, 5n])],
  ['uint64', BigUint64Array.from([0n, 2n ** 64n - 1n, 1n, 2n, 3n, 4n])],
  ['bool', Uint8Array.from([1, 0, 0, 1, 1, 0])],
  ['float16', Float32Array.from([0, 1, -2, 0.5, 65504, 2 ** -24])],
];

describe('npy round trip', () => {
  for (const [dtype, data] of cases) {
    it(`${dtype} [2,3]`, () => {
      const arr: NdArray = { dtype, shape: [2, 3], data };
      const bytes = encodeNpy(arr);
      expect(bytes.length % 64).toBe((6 * (dtype === 'float16' ? 2 : data.BYTES_PER_ELEMENT)) % 64);
      const back = parseNpy(bytes);
      expect(back.dtype).toBe(dtype);
      expect(back.shape).toEqual([2, 3]);
      expect(back.data.constructor).toBe(data.constructor);
      expect(Array.from(back.data as ArrayLike<number>)).toEqual(Array.from(data as ArrayLike<number>));
    });
  }

  it('writes and reads a file atomically (no temp file left)', () => {
    const path = join(dir, 'a.npy');
    writeNpy(path, { dtype: 'int32', shape: [3], data: Int32Array.from([7, 8, 9]) });
    expect(readdirSync(dir)).toEqual(['a.npy']);
    const back = readNpy(path);
    expect(back.shape).toEqual([3]);
    expect(Array.from(back.data as Int32Array)).toEqual([7, 8, 9]);
  });

  it('scalar and empty shapes', () => {
    const s = parseNpy(encodeNpy({ dtype: 'float64', shape: [], data: Float64Array.of(4) }));
    expect(s.shape).toEqual([]);
    expect(s.data[0]).toBe(4);
    const e = parseNpy(encodeNpy({ dtype: 'float32', shape: [0, 5], data: new Float32Array(0) }));
    expect(e.shape).toEqual([0, 5]);
    expect(e.data.length).toBe(0);
  });

  it('switches to a version 2.0 header when the header exceeds 64 KiB', () => {
    const shape = new Array<number>(22000).fill(1);
    const bytes = encodeNpy({ dtype: 'uint8', shape, data: Uint8Array.of(42) });
    expect(bytes[6]).toBe(2);
    const back = parseNpy(bytes);
    expect(back.shape.length).toBe(22000);
    expect(back.data[0]).toBe(42);
  });

  it('rejects data that does not match dtype or shape', () => {
    expect(() => encodeNpy({ dtype: 'float32', shape: [2], data: Float64Array.of(1, 2) })).toThrow(/does not match/);
    expect(() => encodeNpy({ dtype: 'float32', shape: [3], data: Float32Array.of(1, 2) })).toThrow(/needs 3/);
  });
});

describe('float16', () => {
  it('decodes specials and rounds to nearest even when encoding', () => {
    expect(float16BitsToNumber(0x7c00)).toBe(Infinity);
    expect(float16BitsToNumber(0xfc00)).toBe(-Infinity);
    expect(float16BitsToNumber(0x7e00)).toBeNaN();
    expect(float16BitsToNumber(0x8000)).toBe(-0);
    expect(numberToFloat16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie → even
    expect(numberToFloat16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie → even (up)
    expect(numberToFloat16Bits(70000)).toBe(0x7c00);
    expect(numberToFloat16Bits(2 ** -25)).toBe(0); // tie → even (zero)
    expect(numberToFloat16Bits(3 * 2 ** -25)).toBe(2);
    expect(numberToFloat16Bits(NaN) & 0x7c00).toBe(0x7c00);
  });
});

describe('npy headers', () => {
  it('reads version 2.0 and 3.0 headers', () => {
    const data = new Uint8Array(Float32Array.of(1, 2, 3, 4).buffer);
    const h = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }          \n";
    for (const major of [2, 3]) {
      const arr = parseNpy(npyBytes(h, data, major));
      expect(arr.shape).toEqual([2, 2]);
      expect(Array.from(arr.data as Float32Array)).toEqual([1, 2, 3, 4]);
    }
  });

  it('converts big-endian data', () => {
    const be = new Uint8Array(12);
    const v = new DataView(be.buffer);
    [1.5, -2, 1e10].forEach((x, i) => v.setFloat32(4 * i, x, false));
    const f = parseNpy(npyBytes("{'descr': '>f4', 'fortran_order': False, 'shape': (3,), }\n", be));
    expect(Array.from(f.data as Float32Array)).toEqual([1.5, -2, Math.fround(1e10)]);
    const be64 = new Uint8Array(16);
    const v64 = new DataView(be64.buffer);
    v64.setBigInt64(0, -5n, false);
    v64.setBigInt64(8, 2n ** 40n, false);
    const i = parseNpy(npyBytes("{'descr': '>i8', 'fortran_order': False, 'shape': (2,), }\n", be64));
    expect(i.dtype).toBe('int64');
    expect(Array.from(i.data as BigInt64Array)).toEqual([-5n, 2n ** 40n]);
    const h = parseNpy(npyBytes("{'descr': '>f2', 'fortran_order': False, 'shape': (1,), }\n", Uint8Array.of(0x3c, 0x00)));
    expect(h.dtype).toBe('float16');
    expect(h.data[0]).toBe(1);
  });

  it('rejects Fortran order', () => {
    const bytes = npyBytes("{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }\n", new Uint8Array(4));
    expect(() => parseNpy(bytes, 'X.npy')).toThrow(
      new SurgeonInputError('X.npy: Fortran-order arrays are not supported; save it with np.ascontiguousarray'),
    );
  });

  it('rejects bad magic, truncated header and truncated data', () => {
    expect(() => parseNpy(Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]), 'a.npy')).toThrow(/a\.npy: not a \.npy file/);
    const full = encodeNpy({ dtype: 'float32', shape: [4], data: new Float32Array(4) });
    expect(() => parseNpy(full.subarray(0, 40), 'b.npy')).toThrow(/b\.npy: truncated \.npy header/);
    expect(() => parseNpy(full.subarray(0, full.length - 1), 'c.npy')).toThrow(
      'c.npy: truncated .npy data (shape [4] needs 16 bytes, file has 15); re-save or re-download the file',
    );
    expect(() => parseNpy(full.subarray(0, 5), 'd.npy')).toThrow(SurgeonInputError);
  });

  it('rejects unsupported dtypes with a fix', () => {
    const b = npyBytes("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }\n", new Uint8Array(8));
    expect(() => parseNpy(b, 'z.npy')).toThrow("z.npy: unsupported dtype '<c8'; convert it with arr.astype(np.float32)");
    const s = npyBytes("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }\n", new Uint8Array(4));
    expect(() => parseNpy(s, 's.npy')).toThrow(SurgeonInputError);
  });

  it('reports a missing file', () => {
    expect(() => readNpy(join(dir, 'nope.npy'))).toThrow(/nope\.npy: file not found/);
  });
});

describe('npy views', () => {
  it('is zero-copy when aligned and copies when not', () => {
    const bytes = encodeNpy({ dtype: 'float64', shape: [2], data: Float64Array.of(1.25, -3) });
    const a = parseNpy(bytes);
    expect(a.data.buffer).toBe(bytes.buffer);
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    const b = parseNpy(shifted.subarray(1));
    expect(b.data.buffer).not.toBe(shifted.buffer);
    expect(Array.from(b.data as Float64Array)).toEqual([1.25, -3]);
  });

  it('reads the repository fixtures (test/fixtures)', () => {
    const t = readNpy(tiny('tiny-tokens.npy'));
    expect(t.dtype).toBe('int64');
    expect(t.shape).toEqual([1025]);
    const x = readNpy(tiny('tiny-test-images.npy'));
    expect([x.dtype, x.shape]).toEqual(['uint8', [256, 8, 8]]);
    const e = readNpy(tiny('tiny-gpt.expected.npy'));
    expect([e.dtype, e.shape]).toEqual(['float32', [4, 8, 16]]);
  });

  it.skipIf(!HAVE_FIXTURES)(needsFixtures('reads the shared fixtures'), () => {
    const t = readNpy(fixture('lic-gpt.val-tokens.npy'));
    expect(t.dtype).toBe('int64');
    expect(t.shape).toEqual([23734]);
    const l = readNpy(fixture('fmnist-test-labels.npy'));
    expect(l.dtype).toBe('uint8');
    expect(l.shape).toEqual([10000]);
  });
});
