import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateRawSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { SurgeonInputError } from '../../src/errors.js';
import { encodeNpy } from '../../src/io/npy.js';
import { encodeNpz, parseNpz, readNpz, writeNpz } from '../../src/io/npz.js';
import type { NdArray } from '../../src/io/tensor.js';

const dir = mkdtempSync(join(tmpdir(), 'surgeon-npz-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const x: NdArray = { dtype: 'float32', shape: [2, 3], data: Float32Array.of(1, 2, 3, 4, 5, 6) };
const y: NdArray = { dtype: 'int64', shape: [2], data: BigInt64Array.of(7n, -8n) };

/**
 * A zip built the way Python's zipfile does for numpy.savez_compressed: deflated members,
 * optionally with zip64 extra fields in the central directory (sizes/offset saturated).
 */
function deflatedZip(members: Array<[string, Uint8Array]>, zip64 = false): Uint8Array {
  const chunks: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const [name, raw] of members) {
    const nameBytes = new TextEncoder().encode(name);
    const comp = deflateRawSync(raw);
    const local = new Uint8Array(30 + nameBytes.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, 20, true);
    lv.setUint16(8, 8, true);
    lv.setUint32(14, crc32(raw), true);
    lv.setUint32(18, comp.length, true);
    lv.setUint32(22, raw.length, true);
    lv.setUint16(26, nameBytes.length, true);
    local.set(nameBytes, 30);
    const extraLen = zip64 ? 4 + 24 : 0;
    const cd = new Uint8Array(46 + nameBytes.length + extraLen);
    const cv = new DataView(cd.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(10, 8, true);
    cv.setUint32(16, crc32(raw), true);
    cv.setUint32(20, zip64 ? 0xffffffff : comp.length, true);
    cv.setUint32(24, zip64 ? 0xffffffff : raw.length, true);
    cv.setUint16(28, nameBytes.length, true);
    cv.setUint16(30, extraLen, true);
    cv.setUint32(42, zip64 ? 0xffffffff : offset, true);
    cd.set(nameBytes, 46);
    if (zip64) {
      const e = 46 + nameBytes.length;
      cv.setUint16(e, 1, true);
      cv.setUint16(e + 2, 24, true);
      cv.setBigUint64(e + 4, BigInt(raw.length), true);
      cv.setBigUint64(e + 12, BigInt(comp.length), true);
      cv.setBigUint64(e + 20, BigInt(offset), true);
    }
    chunks.push(local, comp);
    central.push(cd);
    offset += local.length + comp.length;
  }
  const cdSize = central.reduce((s, c) => s + c.length, 0);
  const end = new Uint8Array(22);
  const ev = new DataView(end.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, members.length, true);
  ev.setUint16(10, members.length, true);
  ev.setUint32(12, cdSize, true);
  ev.setUint32(16, offset, true);
  const all = [...chunks, ...central, end];
  const out = new Uint8Array(all.reduce((s, c) => s + c.length, 0));
  let p = 0;
  for (const c of all) {
    out.set(c, p);
    p += c.length;
  }
  return out;
}

describe('npz', () => {
  it('round-trips a stored archive through a file', () => {
    const path = join(dir, 'a.npz');
    writeNpz(path, { x, y });
    const m = readNpz(path);
    expect([...m.keys()]).toEqual(['x', 'y']);
    expect(m.get('x')!.shape).toEqual([2, 3]);
    expect(Array.from(m.get('x')!.data as Float32Array)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Array.from(m.get('y')!.data as BigInt64Array)).toEqual([7n, -8n]);
  });

  it('reads deflated members', () => {
    const m = parseNpz(deflatedZip([['x.npy', encodeNpy(x)], ['y.npy', encodeNpy(y)]]));
    expect(Array.from(m.get('x')!.data as Float32Array)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Array.from(m.get('y')!.data as BigInt64Array)).toEqual([7n, -8n]);
  });

  it('reads zip64 extra fields', () => {
    const m = parseNpz(deflatedZip([['x.npy', encodeNpy(x)], ['y.npy', encodeNpy(y)]], true));
    expect([...m.keys()]).toEqual(['x', 'y']);
    expect(Array.from(m.get('y')!.data as BigInt64Array)).toEqual([7n, -8n]);
  });

  it('skips non-.npy members and handles an empty archive', () => {
    const m = parseNpz(deflatedZip([['README.txt', new Uint8Array(3)], ['x.npy', encodeNpy(x)]]));
    expect([...m.keys()]).toEqual(['x']);
    expect(parseNpz(encodeNpz({})).size).toBe(0);
  });

  it('detects corruption', () => {
    const good = encodeNpz({ x });
    const bad = good.slice();
    bad[35 + 64 + 4] = bad[35 + 64 + 4]! ^ 0xff; // local header (30 + "x.npy") + npy header (64): inside the data
    expect(() => parseNpz(bad, 'bad.npz')).toThrow(/bad\.npz:x\.npy: corrupt \.npz member \(size or CRC mismatch\)/);
    expect(() => parseNpz(new Uint8Array(100), 'zero.npz')).toThrow(
      'zero.npz: not a .npz/zip archive (no end-of-central-directory record); save it with numpy.savez',
    );
    expect(() => parseNpz(good.subarray(0, 100), 'cut.npz')).toThrow(SurgeonInputError);
  });

  it('names the member in member errors', () => {
    const fortran = encodeNpy(x);
    const text = new TextDecoder('latin1').decode(fortran.subarray(0, 80)).replace('False', 'True ');
    fortran.set(Uint8Array.from(text, (c) => c.charCodeAt(0)));
    const path = join(dir, 'f.npz');
    writeFileSync(path, deflatedZip([['x.npy', fortran]]));
    expect(() => readNpz(path)).toThrow(`${path}:x.npy: Fortran-order arrays are not supported; save it with np.ascontiguousarray`);
  });
});
