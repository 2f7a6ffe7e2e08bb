/**
 * Reads an array file of any supported format, sniffed from its bytes (not its extension):
 * `.npy`, `.npz`, or IDX — each optionally gzipped.
 */
import { SurgeonInputError } from '../errors.js';
import type { NdArray } from './tensor.js';
import { isNpy, parseNpy, readFile } from './npy.js';
import { isZip, parseNpz } from './npz.js';
import { isIdx, maybeGunzip, parseIdx } from './idx.js';

/**
 * All arrays in the file at `path`, keyed by name. A `.npy` or IDX file gives one array named
 * `arr_0`; a `.npz` gives its members in archive order.
 * @throws SurgeonInputError when the file is missing or in no supported format.
 */
export function readArrays(path: string): Map<string, NdArray> {
  const raw = maybeGunzip(readFile(path), path);
  if (isNpy(raw)) return new Map([['arr_0', parseNpy(raw, path)]]);
  if (isZip(raw)) return parseNpz(raw, path);
  if (isIdx(raw)) return new Map([['arr_0', parseIdx(raw, path)]]);
  throw new SurgeonInputError(`${path}: not a .npy, .npz or IDX file (optionally gzipped); pass data in one of those formats`);
}

/**
 * The array named by the first of `prefer` present in `arrays`, else the first array.
 * @throws SurgeonInputError when `arrays` is empty.
 */
export function pickArray(arrays: Map<string, NdArray>, prefer: readonly string[], source: string): NdArray {
  for (const name of prefer) {
    const a = arrays.get(name);
    if (a) return a;
  }
  const first = arrays.values().next();
  if (first.done) throw new SurgeonInputError(`${source}: the archive holds no arrays; pass a .npz saved with numpy.savez(file, x=...)`);
  return first.value;
}

/** Reads the file at `path` and picks one array from it (see {@link readArrays}, {@link pickArray}). */
export function readArray(path: string, prefer: readonly string[] = []): NdArray {
  return pickArray(readArrays(path), prefer, path);
}
