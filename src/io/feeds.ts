/**
 * Model inputs besides the one the data feeds ("inputs as exported"): Hugging Face / optimum
 * exports of BERT or GPT-2 take `attention_mask`, `token_type_ids`, `position_ids`, and for
 * decoders with a cache `past_key_values.*` and `use_cache_branch`, next to `input_ids`.
 *
 * This module names those conventions, builds the feeds they get (generated per batch from the
 * batch size: ones, zeros, positions, an empty past), converts user arrays to a model input's
 * element type (integer and bool inputs are never fed floats), and phrases the error for an
 * input that nothing feeds.
 */
import { SurgeonInputError } from '../errors.js';
import { type NdArray, formatShape, isDynamic, shapeSize, toFloat32 } from './tensor.js';
import type { DatasetTarget, ModelInputInfo } from './dataset.js';

/** Typed data fed to a model input (bool inputs take a Uint8Array of 0/1, see {@link FeedType}). */
export type FeedData = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | Int8Array;

/** Element type of a feed, as onnxruntime names it. */
export type FeedType = 'float32' | 'float64' | 'int32' | 'int64' | 'bool' | 'uint8' | 'int8';

/** One input of one batch: data, dims (batch first), and its element type (needed for `bool`). */
export interface Feed {
  data: FeedData;
  dims: number[];
  /** Element type; when absent it follows from the array class (a Uint8Array is uint8). */
  type?: FeedType;
}

/** The inputs surgeon fills by convention when no data feeds them. */
export type Convention = 'attention_mask' | 'token_type_ids' | 'position_ids' | 'past' | 'use_cache_branch';

/**
 * A model input fed from per-sample data other than the primary input (e.g. `meta` next to
 * `image`, or `attention_mask` from an .npz): `count × prod(sampleShape)` values, C order,
 * sliced per batch like the primary input.
 */
export interface ExtraInput {
  data: FeedData;
  /** The input's shape without the batch axis. */
  sampleShape: number[];
  type: FeedType;
}

/**
 * A model input filled by convention, generated per batch (see {@link generatedFeed}):
 * `attention_mask` ones, `token_type_ids` zeros, `position_ids` 0..T−1 along the last axis,
 * `past_key_values.*` an empty past (its past-sequence axis is 0), `use_cache_branch` false.
 */
export interface GeneratedInput {
  convention: Convention;
  fill: 'ones' | 'zeros' | 'positions';
  type: FeedType;
  /** Dims of a batch; the entry at `batchAxis` (when set) is replaced by the batch size. */
  dims: number[];
  batchAxis?: number;
}

/** The primary input and its resolved per-sample shape (token windows: [T]). */
export interface PrimaryShape {
  input: ModelInputInfo;
  sampleShape: readonly number[];
}

const SUPPORTED: Record<string, FeedType> = {
  float32: 'float32',
  float64: 'float64',
  double: 'float64',
  float: 'float32',
  int64: 'int64',
  int32: 'int32',
  bool: 'bool',
  uint8: 'uint8',
  int8: 'int8',
};

/** Whether the input takes integers or booleans (token ids, masks), not floats. */
export function isIntegerInput(input: ModelInputInfo): boolean {
  return /^(u?int|bool)/i.test(input.elemType);
}

/** Whether the input takes floating-point values. */
export function isFloatInput(input: ModelInputInfo): boolean {
  return /float|double|half/i.test(input.elemType);
}

/**
 * The feed type of `input`: its own element type for integer and bool inputs, float32 for
 * float inputs and inputs of unknown type (the single-input behaviour), float64 for double
 * inputs. Undefined for integer types onnxruntime-node cannot be fed here (uint16, …).
 */
export function feedTypeOf(input: ModelInputInfo): FeedType | undefined {
  const own = SUPPORTED[input.elemType.toLowerCase()];
  if (own) return own;
  return isIntegerInput(input) ? undefined : 'float32';
}

const MASKS = new Set(['attention_mask', 'input_mask', 'mask']);
const TOKEN_TYPES = new Set(['token_type_ids', 'segment_ids']);
const POSITIONS = new Set(['position_ids']);
const PAST = /^(past_key_values|past)([._]|$)/;

/**
 * The convention that fills `input`, recognised by name and element type: `attention_mask`
 * (also `input_mask`, `mask`), `token_type_ids` (also `segment_ids`), `position_ids`,
 * `past_key_values.*` / `past.*` / `past_*` (float), `use_cache_branch`; each in int64, int32,
 * bool or float (float32/float64). Undefined for any other input.
 */
export function conventionOf(input: ModelInputInfo): Convention | undefined {
  const convention = conventionByName(input.name);
  const type = SUPPORTED[input.elemType.toLowerCase()];
  if (!convention || !type) return undefined;
  if (convention === 'past' && type !== 'float32' && type !== 'float64') return undefined;
  return convention;
}

/** The convention an input of this name would follow, whatever its element type. */
function conventionByName(name: string): Convention | undefined {
  if (MASKS.has(name)) return 'attention_mask';
  if (TOKEN_TYPES.has(name)) return 'token_type_ids';
  if (POSITIONS.has(name)) return 'position_ids';
  if (name === 'use_cache_branch') return 'use_cache_branch';
  if (PAST.test(name)) return 'past';
  return undefined;
}

/** `'name' (type [dims])` for messages. */
function describe(input: ModelInputInfo): string {
  return `'${input.name}' (${input.elemType} ${input.hasShape === false ? 'of unknown shape' : formatShape(input.dims)})`;
}

/**
 * The generated feeds of every input of `target` that `fed` does not name, by convention.
 * `source` names the data in messages (`--tokens`, a file path).
 * @throws SurgeonInputError naming every input that no convention fills (and how to feed it),
 *   or a conventional input whose shape cannot be built.
 */
export function conventionalInputs(
  target: DatasetTarget,
  fed: ReadonlySet<string>,
  primary: PrimaryShape,
  source: string,
): Record<string, GeneratedInput> {
  const generated: Record<string, GeneratedInput> = {};
  const unfed: ModelInputInfo[] = [];
  for (const input of target.inputs) {
    if (fed.has(input.name)) continue;
    const convention = conventionOf(input);
    if (!convention) {
      if (conventionByName(input.name)) {
        throw new SurgeonInputError(
          `model input ${describe(input)} cannot be filled by convention: surgeon fills it only as ` +
            `${conventionByName(input.name) === 'past' ? 'float32 or float64' : 'int64, int32, int8, uint8, bool, float32 or float64'}; export the model with inputs of those types`,
        );
      }
      unfed.push(input);
      continue;
    }
    generated[input.name] = generatedInput(input, convention, primary);
  }
  if (unfed.length > 0) {
    const names = target.inputs.map((i) => i.name).join(', ');
    const what = unfed.length === 1 ? `model input ${describe(unfed[0]!)} is` : `model inputs ${unfed.map(describe).join(', ')} are`;
    throw new SurgeonInputError(
      `${what} not fed by ${source} (surgeon fills only attention_mask, token_type_ids, position_ids, past_key_values.* and use_cache_branch by convention); ` +
        `pass --inputs FILE.npz with one array per model input, named as the inputs (${names})`,
    );
  }
  return generated;
}

function generatedInput(input: ModelInputInfo, convention: Convention, primary: PrimaryShape): GeneratedInput {
  const type = SUPPORTED[input.elemType.toLowerCase()]!;
  switch (convention) {
    case 'attention_mask':
    case 'token_type_ids':
    case 'position_ids': {
      const fill = convention === 'attention_mask' ? 'ones' : convention === 'position_ids' ? 'positions' : 'zeros';
      return { convention, fill, type, ...sequenceDims(input, primary) };
    }
    case 'use_cache_branch': {
      const dims = input.hasShape === false ? [1] : input.dims.map((d) => (isDynamic(d) ? 1 : (d as number)));
      return { convention, fill: 'zeros', type, dims };
    }
    case 'past':
      return { convention, fill: 'zeros', type, ...emptyPastDims(input, primary) };
  }
}

/** Symbolic dim names of the primary input → their sizes, and the name of its batch dim. */
function primaryNames(primary: PrimaryShape): { batch?: string; sizes: Map<string, number> } {
  const sizes = new Map<string, number>();
  const dims = primary.input.hasShape === false ? [] : primary.input.dims;
  for (let j = 1; j < dims.length; j++) {
    const d = dims[j];
    if (typeof d === 'string' && d !== '?' && primary.sampleShape[j - 1] !== undefined) sizes.set(d, primary.sampleShape[j - 1]!);
  }
  const b = dims[0];
  return { ...(typeof b === 'string' && b !== '?' ? { batch: b } : {}), sizes };
}

/**
 * Dims of a mask / token-type / position input: a dynamic axis 0 is the batch; a symbolic dim
 * the primary input shares takes its size; any other dynamic dim is the sequence length (the
 * primary's axis 1: T for token windows). An input of unknown shape is [batch, T].
 */
function sequenceDims(input: ModelInputInfo, primary: PrimaryShape): { dims: number[]; batchAxis?: number } {
  const S = primary.sampleShape[0];
  const cannot = () =>
    new SurgeonInputError(
      `cannot tell the shape of model input ${describe(input)} from the data feeding '${primary.input.name}' ${formatShape(primary.sampleShape)} per sample; ` +
        'pass --inputs FILE.npz with one array per model input, named as the inputs',
    );
  if (input.hasShape === false) {
    if (S === undefined) throw cannot();
    return { dims: [1, S], batchAxis: 0 };
  }
  if (input.dims.length === 0) throw cannot();
  const { sizes } = primaryNames(primary);
  let batchAxis: number | undefined;
  const dims = input.dims.map((d, i) => {
    if (!isDynamic(d)) return d as number;
    if (i === 0) {
      batchAxis = 0;
      return 1;
    }
    const known = typeof d === 'string' ? sizes.get(d) : undefined;
    if (known !== undefined) return known;
    if (S === undefined) throw cannot();
    return S;
  });
  return { dims, ...(batchAxis !== undefined ? { batchAxis } : {}) };
}

/**
 * Dims of an empty past: the batch axis (the primary's batch dim name, else a dynamic axis 0)
 * is the batch, fixed dims stay, and the one other dynamic dim — the past sequence (by name
 * `past…` when there are several) — is 0.
 */
function emptyPastDims(input: ModelInputInfo, primary: PrimaryShape): { dims: number[]; batchAxis?: number } {
  const refuse = (why: string) =>
    new SurgeonInputError(
      `cannot build an empty past for model input ${describe(input)}: ${why}; ` +
        'export the model without past inputs (a decoder without cache, e.g. optimum\'s decoder_model.onnx) or with a dynamic past-sequence axis',
    );
  if (input.hasShape === false || input.dims.length === 0) throw refuse('its shape is not declared');
  const { batch, sizes } = primaryNames(primary);
  let batchAxis = batch !== undefined ? input.dims.indexOf(batch) : -1;
  if (batchAxis < 0 && isDynamic(input.dims[0]!)) batchAxis = 0;
  const dynamic = input.dims.map((_, i) => i).filter((i) => i !== batchAxis && isDynamic(input.dims[i]!));
  let pastAxis: number | undefined;
  if (dynamic.length === 1) pastAxis = dynamic[0];
  else if (dynamic.length > 1) {
    const named = dynamic.filter((i) => /past/i.test(String(input.dims[i])));
    if (named.length === 1) pastAxis = named[0];
  }
  if (pastAxis === undefined) {
    throw refuse(dynamic.length === 0 ? 'it has no dynamic past-sequence axis' : 'it has several dynamic axes and none is named as the past sequence');
  }
  const dims: number[] = [];
  for (let i = 0; i < input.dims.length; i++) {
    const d = input.dims[i]!;
    if (i === batchAxis) dims.push(1);
    else if (i === pastAxis) dims.push(0);
    else if (!isDynamic(d)) dims.push(d as number);
    else {
      const known = typeof d === 'string' ? sizes.get(d) : undefined;
      if (known === undefined) throw refuse(`its dim ${i} (${String(d)}) is dynamic and not the batch or the past sequence`);
      dims.push(known);
    }
  }
  return { dims, ...(batchAxis >= 0 ? { batchAxis } : {}) };
}

/** A zeroed typed array of `n` elements of `type`. */
export function allocFeed(type: FeedType, n: number): FeedData {
  switch (type) {
    case 'float32': return new Float32Array(n);
    case 'float64': return new Float64Array(n);
    case 'int32': return new Int32Array(n);
    case 'int64': return new BigInt64Array(n);
    case 'bool':
    case 'uint8': return new Uint8Array(n);
    case 'int8': return new Int8Array(n);
  }
}

/** The feed of a generated input for a batch of `batch` samples (see {@link GeneratedInput}). */
export function generatedFeed(g: GeneratedInput, batch: number): Feed {
  const dims = g.dims.slice();
  if (g.batchAxis !== undefined) dims[g.batchAxis] = batch;
  const n = shapeSize(dims);
  const data = allocFeed(g.type, n);
  if (g.fill === 'ones') {
    if (data instanceof BigInt64Array) data.fill(1n);
    else data.fill(1);
  } else if (g.fill === 'positions') {
    const L = dims[dims.length - 1] ?? 1;
    if (data instanceof BigInt64Array) for (let i = 0; i < n; i++) data[i] = BigInt(i % L);
    else for (let i = 0; i < n; i++) data[i] = i % L;
  }
  return { data, dims, type: g.type };
}

const RANGES: Partial<Record<FeedType, [number, number]>> = {
  int32: [-0x80000000, 0x7fffffff],
  uint8: [0, 255],
  int8: [-128, 127],
};

/**
 * The first `n` values of `arr` in the element type `type` of model input `inputName`: floats
 * as float32/float64; integers checked to be integral and in range (int64 data stays a view
 * when already int64); bool as 0/1 (any non-zero value is true).
 * @throws SurgeonInputError for a fractional or out-of-range value fed to an integer input.
 */
export function toFeedData(arr: NdArray, n: number, type: FeedType, source: string, inputName: string): FeedData {
  const src = arr.data.subarray(0, n);
  if (type === 'float32') return toFloat32({ ...arr, data: src });
  if (type === 'float64') {
    if (src instanceof Float64Array) return src;
    const out = new Float64Array(n);
    if (src instanceof BigInt64Array || src instanceof BigUint64Array) for (let i = 0; i < n; i++) out[i] = Number(src[i]);
    else out.set(src);
    return out;
  }
  const bad = (i: number, v: unknown, why: string) =>
    new SurgeonInputError(`${source}: value at flat index ${i} is ${String(v)} but the model input '${inputName}' is ${type}; ${why}`);
  if (type === 'bool') {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const v = src[i]!;
      if (typeof v === 'number' && Number.isNaN(v)) throw bad(i, v, 'pass 0/1 or true/false values');
      out[i] = v ? 1 : 0;
    }
    return out;
  }
  if (type === 'int64') {
    if (src instanceof BigInt64Array) return src;
    const out = new BigInt64Array(n);
    for (let i = 0; i < n; i++) {
      const v = src[i]!;
      if (typeof v === 'bigint') {
        if (v > 0x7fffffffffffffffn) throw bad(i, v, 'pass values below 2^63');
        out[i] = v;
      } else {
        if (!Number.isInteger(v)) throw bad(i, v, 'pass integer values (token ids, masks)');
        out[i] = BigInt(v);
      }
    }
    return out;
  }
  const [lo, hi] = RANGES[type]!;
  const out = allocFeed(type, n) as Int32Array | Uint8Array | Int8Array;
  for (let i = 0; i < n; i++) {
    const raw = src[i]!;
    const v = typeof raw === 'bigint' ? Number(raw) : raw;
    if (!Number.isInteger(v)) throw bad(i, raw, 'pass integer values (token ids, masks)');
    if (v < lo || v > hi) throw bad(i, raw, `pass values in [${lo}, ${hi}] or export the model with int64 inputs`);
    out[i] = v;
  }
  return out;
}
