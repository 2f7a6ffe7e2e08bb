/**
 * Conversions between numbers and narrow float formats: IEEE float16 (one value or whole typed
 * arrays; used by the .npy and ONNX readers and writers), and the formats ONNX stores
 * (bfloat16, the float8 variants, float4e2m1).
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Decodes one IEEE float16 bit pattern to a number. */
export function float16BitsToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** Encodes a number as IEEE float16 bits, rounding to nearest even (overflow to ±Inf, NaN stays NaN). */
export function numberToFloat16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let m = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    if (rest > half || (rest === half && (m & 1))) m++;
    return sign | m;
  }
  let m = mant >>> 13;
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (m & 1))) {
    m++;
    if (m === 0x400) {
      m = 0;
      e++;
      if (e >= 0x1f) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | m;
}

/** float16 bit patterns → Float32Array. */
export function float16ToFloat32(bits: Uint16Array | Int32Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = float16BitsToNumber(bits[i]! & 0xffff);
  return out;
}

/** Float32Array → float16 bit patterns. */
export function float32ToFloat16(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = numberToFloat16Bits(values[i]!);
  return out;
}

/** bfloat16 bit patterns → Float32Array (exact). */
export function bfloat16ToFloat32(bits: Uint16Array | Int32Array): Float32Array {
  const out = new Float32Array(bits.length);
  const o32 = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) o32[i] = (bits[i]! & 0xffff) << 16;
  return out;
}

/** Float32Array → bfloat16 bit patterns, rounding to nearest even (NaN stays NaN). */
export function float32ToBfloat16(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  const v32 = new Uint32Array(values.buffer, values.byteOffset, values.length);
  for (let i = 0; i < values.length; i++) {
    const x = v32[i]!;
    if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0) {
      out[i] = (x >>> 16) | 0x40;
      continue;
    }
    out[i] = ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
  }
  return out;
}

/** Narrow float formats decoded through a 256-entry table. */
export type MiniFloatFormat =
  | 'float8e4m3fn'
  | 'float8e4m3fnuz'
  | 'float8e5m2'
  | 'float8e5m2fnuz'
  | 'float8e8m0'
  | 'float4e2m1';

const tables = new Map<MiniFloatFormat, Float32Array>();

function buildTable(format: MiniFloatFormat): Float32Array {
  const t = new Float32Array(256);
  const spec = {
    float8e4m3fn: [4, 3, 7],
    float8e4m3fnuz: [4, 3, 8],
    float8e5m2: [5, 2, 15],
    float8e5m2fnuz: [5, 2, 16],
    float8e8m0: [8, 0, 127],
    float4e2m1: [2, 1, 1],
  }[format];
  const [eBits, mBits, bias] = spec as [number, number, number];
  const total = 1 + eBits + mBits;
  for (let b = 0; b < 256; b++) {
    const v = b & ((1 << total) - 1);
    const hasSign = format !== 'float8e8m0';
    const sign = hasSign && v >> (total - 1) ? -1 : 1;
    const e = (v >> mBits) & ((1 << eBits) - 1);
    const m = v & ((1 << mBits) - 1);
    let x = e === 0 && format !== 'float8e8m0' ? (m / 2 ** mBits) * 2 ** (1 - bias) : (1 + m / 2 ** mBits) * 2 ** (e - bias);
    x *= sign;
    if (format === 'float8e4m3fn' && (v & 0x7f) === 0x7f) x = NaN;
    if ((format === 'float8e4m3fnuz' || format === 'float8e5m2fnuz') && v === 0x80) x = NaN;
    if (format === 'float8e5m2' && e === 0x1f) x = m ? NaN : sign * Infinity;
    if (format === 'float8e8m0' && v === 0xff) x = NaN;
    t[b] = x;
  }
  return t;
}

/** Decodes narrow-float codes (one code per element, already unpacked) to Float32Array. */
export function miniFloatToFloat32(codes: Uint8Array, format: MiniFloatFormat): Float32Array {
  let table = tables.get(format);
  if (!table) {
    table = buildTable(format);
    tables.set(format, table);
  }
  const out = new Float32Array(codes.length);
  for (let i = 0; i < codes.length; i++) out[i] = table[codes[i]!]!;
  return out;
}
