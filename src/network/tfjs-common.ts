/** Helpers shared by the TF.js network formats (./tfjs-layers.ts, ./tfjs-graph.ts): feeds, fetched values, saving. */
import { readdirSync, realpathSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { SurgeonInputError } from '../errors.js';
import type { SparseTensorReport } from '../io/onnx/sparse.js';
import type { TfjsSparseReport } from '../tfjs/sparse.js';
import { listOf } from '../collapse/select.js';
import type { NamedTensor } from '../runtime/session.js';
import { modelJsonPath } from '../tfjs/io.js';
import type { Feeds } from './types.js';

/** dims of a symbolic shape: unknown sizes (the batch) as -1. */
export function symbolicDims(shape: ReadonlyArray<number | null>): number[] {
  return shape.map((v) => (v === null || v === undefined ? -1 : v));
}

/** The feeds of one batch as tensors, in the model's input order (the caller disposes them). */
export function feedTensors(names: readonly string[], dtypes: readonly string[], feeds: Feeds): tf.Tensor[] {
  return names.map((name, i) => {
    const feed = feeds[name];
    if (!feed) throw new SurgeonInputError(`model input '${name}' is not fed (the batch feeds ${listOf(Object.keys(feeds))}); feed every model input (${listOf(names)})`);
    const { data, dims } = feed;
    if (dtypes[i] === 'int32') {
      const values = data instanceof Int32Array ? data : data instanceof BigInt64Array ? Int32Array.from(data, (v) => Number(v)) : Int32Array.from(data as ArrayLike<number>);
      return tf.tensor(values, dims.slice(), 'int32');
    }
    const values = data instanceof Float32Array ? data : data instanceof BigInt64Array ? Float32Array.from(data, (v) => Number(v)) : Float32Array.from(data as ArrayLike<number>);
    return tf.tensor(values, dims.slice(), 'float32');
  });
}

/** A fed input as a Float32 named tensor (a view of the feed when it is already Float32). */
export function fedAsFloat(feeds: Feeds, name: string): NamedTensor {
  const feed = feeds[name];
  if (!feed) throw new SurgeonInputError(`tensor '${name}' is a model input that this batch does not feed; feed it from the data`);
  const { data, dims } = feed;
  const values = data instanceof Float32Array ? data : data instanceof BigInt64Array ? Float32Array.from(data, (v) => Number(v)) : Float32Array.from(data as ArrayLike<number>);
  return { data: values, dims: dims.slice(), type: 'float32' };
}

/** A tensor's values as a fresh Float32 named tensor. */
export function asNamedTensor(t: tf.Tensor): NamedTensor {
  const raw = t.dataSync();
  const data = raw instanceof Float32Array ? Float32Array.from(raw) : Float32Array.from(raw as ArrayLike<number>);
  return { data, dims: t.shape.slice(), type: 'float32' };
}

/** Bytes of the files of a written tfjs model folder. */
export function folderBytes(modelJson: string): number {
  const dir = dirname(modelJson);
  return readdirSync(dir).reduce((a, f) => a + statSync(join(dir, f)).size, 0);
}

function real(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return resolve(p);
  }
}

/** A TF.js sparse weight in the report format of ONNX sparse storage. */
export function asSparseReport(r: TfjsSparseReport): SparseTensorReport {
  return { name: r.name, encoding: 'bitmask', dtype: 'float32', elements: r.elements, nonzeros: r.nonzeros, denseBytes: r.denseBytes, storedBytes: r.storedBytes };
}


/** Refuses `out` when it is the folder of `inputPath` (the input is never overwritten). */
export function refuseInputFolder(out: string, inputPath: string | undefined): void {
  if (!inputPath) return;
  const inputDir = dirname(modelJsonPath(inputPath));
  if (real(modelJsonPath(out)) === real(join(inputDir, 'model.json')) || real(out) === real(inputDir)) {
    throw new SurgeonInputError(`--out ${out} is the input model's folder; choose another folder (the input is never overwritten)`);
  }
}

/** A TF.js network's life: `end` frees its model once; `check` refuses use afterwards. */
export class Lifetime {
  private ended = false;

  constructor(private readonly free: () => void) {}

  /** Frees once; later calls do nothing. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.free();
  }

  /** Throws when the network was disposed. */
  check(): void {
    if (this.ended) throw new Error('internal: the network was disposed');
  }
}

/** The layers of `layers`, nested models (Sequential inside a model) expanded in place, in order. */
export function leafLayers(layers: readonly tf.layers.Layer[]): tf.layers.Layer[] {
  const out: tf.layers.Layer[] = [];
  const walk = (list: readonly tf.layers.Layer[]) => {
    for (const l of list) {
      const inner = (l as unknown as { layers?: tf.layers.Layer[] }).layers;
      if (Array.isArray(inner)) walk(inner);
      else out.push(l);
    }
  };
  walk(layers);
  return out;
}
