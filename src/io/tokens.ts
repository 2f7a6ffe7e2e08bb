/**
 * Token streams cut into next-token-prediction windows (the `--tokens` data source).
 */
import { SurgeonInputError } from '../errors.js';
import { type NdArray, formatShape, isDynamic, isIntegerDType, positiveInt } from './tensor.js';
import { pickArray, readArrays } from './arrays.js';
import type { DatasetSpec, DatasetTarget, ModelInputInfo, TokenDataset } from './dataset.js';
import { conventionOf, conventionalInputs } from './feeds.js';

/**
 * The input a token stream feeds: `input_ids`, else the first integer input that is no
 * convention (attention_mask, position_ids, …), else the first integer input, else the first.
 */
export function tokenInput(target: DatasetTarget): ModelInputInfo {
  const named = target.inputs.find((i) => i.name === 'input_ids');
  if (named) return named;
  const ints = target.inputs.filter((i) => /int/i.test(i.elemType));
  return ints.find((i) => !conventionOf(i)) ?? ints[0] ?? target.inputs[0]!;
}

/**
 * Loads the token stream at `path` as windows for `target`'s token input (see {@link tokenInput}
 * and loadDataset in dataset.ts for the protocol): N = floor((L − 1) / T) windows, `tokens` =
 * s[0 .. NT) and `targets` = s[1 .. NT], both views of one stream (int64, or int32 for int32
 * model inputs). The model's other inputs are filled by convention (`generated`, see io/feeds.ts).
 */
export function loadTokens(path: string, spec: DatasetSpec, target: DatasetTarget, limit: number | undefined): TokenDataset {
  if (spec.scale !== undefined || spec.mean || spec.std || spec.labels) {
    throw new SurgeonInputError('--scale, --mean, --std and --labels do not apply to --tokens; drop them');
  }
  const input = tokenInput(target);
  if (input.dims.length !== 2) {
    throw new SurgeonInputError(`model input '${input.name}' ${formatShape(input.dims)} is not [batch, seq]; pass a language model taking token ids`);
  }
  const modelT = input.dims[1]!;
  let T = positiveInt(spec.seqLen, '--seq-len');
  if (!isDynamic(modelT)) {
    if (T !== undefined && T !== modelT) {
      throw new SurgeonInputError(`--seq-len ${T} but the model input '${input.name}' takes ${formatShape(input.dims)}; pass --seq-len ${modelT}`);
    }
    T = modelT as number;
  }
  if (T === undefined) throw new SurgeonInputError(`the model input '${input.name}' ${formatShape(input.dims)} has no fixed length; pass --seq-len T`);
  const generated = conventionalInputs(target, new Set([input.name]), { input, sampleShape: [T] }, '--tokens');

  const arr = pickArray(readArrays(path), ['tokens', 'x'], path);
  if (arr.shape.length !== 1 || !isIntegerDType(arr.dtype)) {
    throw new SurgeonInputError(`${path}: tokens are ${arr.dtype} ${formatShape(arr.shape)}; pass a 1-D integer array (token ids)`);
  }
  const L = arr.shape[0]!;
  let count = Math.floor((L - 1) / T);
  if (count < 1) throw new SurgeonInputError(`${path}: ${L} tokens make no window of ${T} plus a target; pass a longer stream or a smaller --seq-len`);
  if (limit !== undefined) count = Math.min(count, limit);
  const used = count * T + 1;
  const stream = /int32/i.test(input.elemType) ? toInt32Tokens(arr, used, path) : toInt64Tokens(arr, used, path);
  return {
    kind: 'tokens',
    inputName: input.name,
    tokens: stream.subarray(0, count * T),
    targets: stream.subarray(1, used),
    count,
    seqLen: T,
    ...(Object.keys(generated).length > 0 ? { generated } : {}),
  };
}

function badToken(path: string, i: number, v: unknown): SurgeonInputError {
  return new SurgeonInputError(`${path}: token at index ${i} is ${String(v)}; pass non-negative token ids`);
}

/** The first `n` tokens as int64 (a view when already int64), checked non-negative. */
function toInt64Tokens(arr: NdArray, n: number, path: string): BigInt64Array {
  const src = arr.data;
  if (src instanceof BigInt64Array || src instanceof BigUint64Array) {
    const words = new Int32Array(src.buffer, src.byteOffset, 2 * n);
    for (let i = 0; i < n; i++) if (words[2 * i + 1]! < 0) throw badToken(path, i, src[i]);
    return src instanceof BigInt64Array ? src.subarray(0, n) : new BigInt64Array(src.buffer, src.byteOffset, n);
  }
  const out = new BigInt64Array(n);
  const words = new Int32Array(out.buffer);
  for (let i = 0; i < n; i++) {
    const v = src[i] as number;
    if (v < 0) throw badToken(path, i, v);
    words[2 * i] = v; // non-negative and < 2^32: the high word stays 0
  }
  return out;
}

/** The first `n` tokens as int32, checked to be in [0, 2^31). */
function toInt32Tokens(arr: NdArray, n: number, path: string): Int32Array {
  const src = arr.data;
  const out = new Int32Array(n);
  if (src instanceof BigInt64Array || src instanceof BigUint64Array) {
    const words = new Int32Array(src.buffer, src.byteOffset, 2 * n);
    for (let i = 0; i < n; i++) {
      if (words[2 * i + 1] !== 0 || words[2 * i]! < 0) throw badToken(path, i, src[i]);
      out[i] = words[2 * i]!;
    }
    return out;
  }
  for (let i = 0; i < n; i++) {
    const v = src[i] as number;
    if (v < 0 || v > 0x7fffffff) throw badToken(path, i, v);
    out[i] = v;
  }
  return out;
}
