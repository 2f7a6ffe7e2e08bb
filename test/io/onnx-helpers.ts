/** Shared helpers of the ONNX I/O tests. */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { decodeTensorProto, onnxType, type StringStringEntryProto, type TensorProto } from '../../src/io/onnx/proto.js';
import { readOnnxModel } from '../../src/io/onnx/model.js';
import { elemTypeName, tensorDims, tensorToArray, type TensorData } from '../../src/io/onnx/tensor.js';
import { float32ToFloat16 } from '../../src/io/floats.js';

export const TESTDATA = '/usr/share/libonnx-testdata/data';
export const HAVE_TESTDATA = existsSync(TESTDATA);

/** Test dirs (absolute) under `TESTDATA/group` that hold a model.onnx. */
export function conformanceDirs(group: string): string[] {
  const root = join(TESTDATA, group);
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .sort()
    .map((d) => join(root, d))
    .filter((d) => existsSync(join(d, 'model.onnx')));
}

/** Reads `dir/test_data_set_0/{input,output}_*.pb` as TensorProtos, in index order. */
export function readDataSet(dir: string, kind: 'input' | 'output', set = 0): TensorProto[] {
  const d = join(dir, `test_data_set_${set}`);
  if (!existsSync(d)) return [];
  const files = readdirSync(d)
    .filter((f) => f.startsWith(`${kind}_`) && f.endsWith('.pb'))
    .sort((a, b) => Number(a.slice(kind.length + 1, -3)) - Number(b.slice(kind.length + 1, -3)));
  return files.map((f) => decodeTensorProto(readFileSync(join(d, f))));
}

const ORT_TYPES = new Set(['float32', 'uint8', 'int8', 'uint16', 'int16', 'int32', 'int64', 'string', 'bool', 'float16', 'float64', 'uint32', 'uint64']);

/** Converts a decoded TensorProto to an ort.Tensor, or undefined when ORT's JS API cannot take that type. */
export function toOrtTensor(t: TensorProto): ort.Tensor | undefined {
  const type = elemTypeName(t.dataType);
  if (!ORT_TYPES.has(type)) return undefined;
  let data: TensorData | Uint16Array = tensorToArray(t);
  if (type === 'float16') data = float32ToFloat16(data as Float32Array);
  return new ort.Tensor(type as 'float32', data as Float32Array, tensorDims(t));
}

/** Largest violation of |a-b| <= atol + rtol·|b| (0 when all within; NaN matches NaN). */
export function maxViolation(actual: ArrayLike<unknown>, expected: ArrayLike<unknown>, rtol = 1e-3, atol = 1e-4): number {
  if (actual.length !== expected.length) return Infinity;
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const b = expected[i];
    if (typeof b === 'bigint' || typeof b === 'string' || typeof b === 'boolean') {
      if (a !== b && !(typeof b === 'boolean' && Number(a) === Number(b))) return Infinity;
      continue;
    }
    const x = Number(a);
    const y = Number(b);
    if (Number.isNaN(y) && Number.isNaN(x)) continue;
    if (x === y) continue;
    const v = Math.abs(x - y) - (atol + rtol * Math.abs(y));
    if (!(v <= 0)) worst = Math.max(worst, Number.isNaN(v) ? Infinity : v);
  }
  return worst;
}

const entry = (key: string, value: string) => onnxType('StringStringEntryProto').create({ key, value }) as unknown as StringStringEntryProto;

/** Writes the model at `source` with all initializers moved to `dir/weights.bin`; returns the model path (`dir/ext.onnx`). */
export function writeExternalModel(source: string, dir: string): string {
  const model = readOnnxModel(source);
  const chunks: Buffer[] = [];
  let offset = 0;
  for (const t of model.graph.initializer) {
    const raw = t.rawData!;
    chunks.push(Buffer.from(raw));
    t.externalData = [entry('location', 'weights.bin'), entry('offset', String(offset)), entry('length', String(raw.byteLength))];
    t.dataLocation = 1;
    t.rawData = new Uint8Array(0);
    delete (t as { rawData?: Uint8Array }).rawData;
    offset += raw.byteLength;
  }
  writeFileSync(join(dir, 'weights.bin'), Buffer.concat(chunks));
  const path = join(dir, 'ext.onnx');
  writeFileSync(path, model.toBytes());
  return path;
}

