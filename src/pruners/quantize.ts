/**
 * Weight quantization grids shared by GPTQ (./gptq.ts), the joint SparseGPT sweep
 * (./sparsegpt.ts) and round-to-nearest, and by the writers that store the codes
 * (../io/onnx/quantized.ts).
 *
 * The grid is GPTQ's asymmetric min–max grid (Frantar et al. 2023, `Quantizer.find_params`), per
 * output row and group of `groupSize` consecutive inputs: with xmin = min(0, min w) and
 * xmax = max(0, max w) over the group's kept weights (all-zero groups take [−1, 1]),
 *   scale = (xmax − xmin) / maxq,  zero = round(−xmin / scale)  (an integer in [0, maxq]),
 *   code  = clamp(round(w / scale) + zero, 0, maxq),  ŵ = (code − zero) · scale,
 * maxq = 2^bits − 1. Zero is on the grid (code = zero), so pruned weights stay exactly 0.
 * `scale` is rounded to float32 and ŵ computed as the float32 product, exactly as onnxruntime's
 * MatMulNBits and DequantizeLinear dequantize, so what surgeon evaluates is what runs.
 */
import { SurgeonInputError } from '../errors.js';

/** Bit widths surgeon writes (MatMulNBits and DequantizeLinear in onnxruntime). */
export type QuantBits = 4 | 8;

/** A quantization grid: bits per weight and inputs per group (one scale and zero point each). */
export interface QuantGrid {
  bits: QuantBits;
  /** Consecutive inputs sharing one scale: a power of two ≥ 16 (what MatMulNBits takes). */
  groupSize: number;
}

/** Default inputs per group (as onnxruntime's and GPTQ's usual 128). */
export const DEFAULT_GROUP_SIZE = 128;

/** A layer's quantized weights: codes, and per (row, group) scale and zero point. */
export interface QuantizedWeight {
  bits: QuantBits;
  groupSize: number;
  rows: number;
  cols: number;
  /** ⌈cols / groupSize⌉. */
  groups: number;
  /** rows × cols codes in [0, 2^bits − 1], row-major. */
  codes: Uint8Array;
  /** rows × groups float32 scales. */
  scales: Float32Array;
  /** rows × groups zero points in [0, 2^bits − 1]. */
  zeros: Uint8Array;
}

/** Throws a one-line {@link SurgeonInputError} unless `grid` is one surgeon can write. */
export function validateGrid(grid: QuantGrid): void {
  if (grid.bits !== 4 && grid.bits !== 8) throw new SurgeonInputError(`quantization to ${grid.bits} bits is not supported; use --quantize int8 or int4`);
  const g = grid.groupSize;
  if (!(Number.isInteger(g) && g >= 16 && (g & (g - 1)) === 0)) {
    throw new SurgeonInputError(`--group-size ${g}: expected a power of two ≥ 16 (onnxruntime's MatMulNBits block sizes), e.g. 32, 64 or 128`);
  }
}

/** The largest code, 2^bits − 1. */
export const maxCode = (bits: QuantBits): number => (1 << bits) - 1;

/** Scale and zero point of one group from its range (see the module comment). */
export function gridParams(xmin: number, xmax: number, bits: QuantBits): { scale: number; zero: number } {
  let lo = Math.min(0, xmin);
  let hi = Math.max(0, xmax);
  if (lo === 0 && hi === 0) {
    lo = -1;
    hi = 1;
  }
  const maxq = maxCode(bits);
  const scale = Math.fround((hi - lo) / maxq);
  const zero = Math.min(maxq, Math.max(0, Math.round(-lo / scale)));
  return { scale, zero };
}

/** The code of w. */
export function quantizeValue(w: number, scale: number, zero: number, maxq: number): number {
  const q = Math.round(w / scale) + zero;
  return q < 0 ? 0 : q > maxq ? maxq : q;
}

/** ŵ = (code − zero) · scale in float32. */
export function dequantizeValue(code: number, scale: number, zero: number): number {
  return Math.fround((code - zero) * scale);
}

/** Allocates an empty {@link QuantizedWeight}. */
export function emptyQuantized(rows: number, cols: number, grid: QuantGrid): QuantizedWeight {
  const groups = Math.ceil(cols / grid.groupSize);
  return { bits: grid.bits, groupSize: grid.groupSize, rows, cols, groups, codes: new Uint8Array(rows * cols), scales: new Float32Array(rows * groups), zeros: new Uint8Array(rows * groups) };
}

/** The float32 weights of a quantized layer (rows × cols). */
export function dequantize(q: QuantizedWeight): Float32Array {
  const W = new Float32Array(q.rows * q.cols);
  for (let r = 0; r < q.rows; r++) {
    for (let j = 0; j < q.cols; j++) {
      const g = r * q.groups + Math.floor(j / q.groupSize);
      W[r * q.cols + j] = dequantizeValue(q.codes[r * q.cols + j]!, q.scales[g]!, q.zeros[g]!);
    }
  }
  return W;
}

/**
 * Round-to-nearest: every group's grid from its kept weights (`mask`: 1 = kept; pruned weights
 * become code `zero`, i.e. exactly 0), every weight rounded on its own — the baseline GPTQ is
 * compared with. Returns the dequantized weights and the codes.
 */
export function rtnQuantize(W: Float32Array | Float64Array, rows: number, cols: number, grid: QuantGrid, mask?: Uint8Array): { W: Float32Array; quantized: QuantizedWeight } {
  validateGrid(grid);
  const q = emptyQuantized(rows, cols, grid);
  const maxq = maxCode(grid.bits);
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let g = 0; g < q.groups; g++) {
      const j1 = g * grid.groupSize;
      const j2 = Math.min(cols, j1 + grid.groupSize);
      let lo = Infinity;
      let hi = -Infinity;
      for (let j = j1; j < j2; j++) {
        const i = r * cols + j;
        if (mask && mask[i] === 0) continue;
        if (W[i]! < lo) lo = W[i]!;
        if (W[i]! > hi) hi = W[i]!;
      }
      const { scale, zero } = gridParams(lo === Infinity ? 0 : lo, hi === -Infinity ? 0 : hi, grid.bits);
      q.scales[r * q.groups + g] = scale;
      q.zeros[r * q.groups + g] = zero;
      for (let j = j1; j < j2; j++) {
        const i = r * cols + j;
        const code = mask && mask[i] === 0 ? zero : quantizeValue(W[i]!, scale, zero, maxq);
        q.codes[i] = code;
        out[i] = dequantizeValue(code, scale, zero);
      }
    }
  }
  return { W: out, quantized: q };
}
