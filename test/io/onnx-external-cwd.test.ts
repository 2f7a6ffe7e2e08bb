/**
 * External data resolves against the model's folder whatever the working directory (reading,
 * onnxruntime sessions from bytes, capture copies, saving), and locations that leave the
 * model's folder are refused. Every model is built here with OnnxGraphBuilder.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { SurgeonInputError } from '../../src/errors.js';
import type { ClassificationDataset } from '../../src/io/dataset.js';
import { OnnxGraphBuilder } from '../../src/io/onnx/graph-builder.js';
import { allTensors } from '../../src/io/onnx/graphs.js';
import { readOnnxModel } from '../../src/io/onnx/model.js';
import { findPrunableLayers } from '../../src/io/onnx/operators.js';
import { createMessage, encodeModelProto, type ModelProto, type StringStringEntryProto } from '../../src/io/onnx/proto.js';
import { saveOnnxModel } from '../../src/io/onnx/save.js';
import { captureSession } from '../../src/runtime/capture.js';
import { evaluateModel } from '../../src/runtime/evaluate.js';
import { ModelSession } from '../../src/runtime/session.js';

const tmp = mkdtempSync(join(tmpdir(), 'surgeon-extcwd-'));
const home = process.cwd();
afterAll(() => {
  process.chdir(home);
  rmSync(tmp, { recursive: true, force: true });
});

const entry = (key: string, value: string): StringStringEntryProto => createMessage<StringStringEntryProto>('StringStringEntryProto', { key, value });

/** Moves every float initializer (all graphs) of `proto` into `dir/file`, referenced as `location` (default `file`). */
function externalize(proto: ModelProto, dir: string, file: string, location = file): void {
  const chunks: Buffer[] = [];
  let offset = 0;
  for (const t of allTensors(proto.graph!)) {
    if (t.dataType !== 1 || !t.rawData || t.rawData.byteLength < 16) continue;
    chunks.push(Buffer.from(t.rawData));
    t.externalData = [entry('location', location), entry('offset', String(offset)), entry('length', String(t.rawData.byteLength))];
    t.dataLocation = 1;
    delete (t as { rawData?: Uint8Array }).rawData;
    offset += chunks.at(-1)!.byteLength;
  }
  writeFileSync(join(dir, file), Buffer.concat(chunks));
}

const W = Float32Array.from({ length: 12 }, (_, i) => (i % 5) - 2);
const B = Float32Array.from([0.5, -0.5, 1, 0]);
const X = Float32Array.from({ length: 6 * 3 }, (_, i) => Math.cos(i));

/** y = x·W + b with W [3,4], b [4]. */
function linear(): ModelProto {
  const g = new OnnxGraphBuilder();
  const x = g.input('x', 'float32', ['batch', 3]);
  const [h] = g.node('MatMul', [x, g.initializer('w', [3, 4], W)], {}, { name: 'mm' });
  g.node('Add', [h!, g.initializer('b', [4], B)], {}, { outputs: ['y'] });
  g.output('y', 'float32', ['batch', 4]);
  return g.toModel();
}

function expected(w: Float32Array): Float32Array {
  const out = new Float32Array(6 * 4);
  for (let n = 0; n < 6; n++) for (let o = 0; o < 4; o++) {
    let acc = B[o]!;
    for (let k = 0; k < 3; k++) acc += X[n * 3 + k]! * w[k * 4 + o]!;
    out[n * 4 + o] = acc;
  }
  return out;
}

function close(a: Float32Array, b: Float32Array): void {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThan(1e-5);
}

/** Runs `fn` with the working directory set to `dir`. */
async function inDir<T>(dir: string, fn: () => Promise<T> | T): Promise<T> {
  process.chdir(dir);
  try {
    return await fn();
  } finally {
    process.chdir(home);
  }
}

function writeModel(dir: string, proto: ModelProto, name = 'model.onnx'): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, name);
  writeFileSync(path, encodeModelProto(proto));
  return path;
}

describe('external data from another working directory', () => {
  const modelDir = join(tmp, 'models', 'linear');
  const proto = linear();
  mkdirSync(modelDir, { recursive: true });
  externalize(proto, modelDir, 'weights.bin');
  const path = writeModel(modelDir, proto);
  const elsewhere = join(tmp, 'elsewhere');
  mkdirSync(elsewhere, { recursive: true });

  it('readOnnxModel(relative path), sessions from bytes, capture copies and evaluation all find the data', async () => {
    await inDir(elsewhere, async () => {
      const model = readOnnxModel(relative(elsewhere, path));
      expect(model.baseDir).toBe(modelDir);
      expect(model.externalInitializers().map((t) => t.name)).toEqual(['w', 'b']);
      expect(Array.from(model.readInitializer('w'))).toEqual(Array.from(W));
      const session = await ModelSession.create(model, { threads: 1 });
      close((await session.run({ x: { data: X, dims: [6, 3] } })).y!.data as Float32Array, expected(W));
      await session.release();
      const capture = await captureSession(model, ['mm_out0'], { threads: 1 });
      const got = await capture.run({ x: { data: X, dims: [6, 3] } }, ['mm_out0', 'y']);
      await capture.release();
      close(got.y!.data as Float32Array, expected(W));
      const data: ClassificationDataset = { kind: 'classification', inputName: 'x', x: X, sampleShape: [3], count: 6, labels: new Int32Array(6), numClasses: 4 };
      const result = await evaluateModel(model, data, { threads: 1 });
      expect(result.samples).toBe(6);
    });
  });

  it('a relative baseDir is fixed when the model is read', async () => {
    const bytes = readFileSync(path);
    const model = await inDir(join(tmp, 'models'), () => readOnnxModel(bytes, { baseDir: 'linear' }));
    expect(model.baseDir).toBe(modelDir);
    await inDir(elsewhere, () => expect(Array.from(model.readInitializer('w'))).toEqual(Array.from(W)));
  });

  it('a pruned external-data model saves to a relative path and runs from its new folder', async () => {
    const outDir = join(tmp, 'out');
    mkdirSync(outDir, { recursive: true });
    const w = await inDir(elsewhere, async () => {
      const model = readOnnxModel(relative(elsewhere, path));
      const [view] = findPrunableLayers(model);
      const v = view!.read();
      v.fill(0, 0, 3); // output 0 loses every input
      view!.write(v);
      const res = saveOnnxModel(model, relative(elsewhere, join(outDir, 'pruned.onnx')));
      expect(res.path).toBe(join(outDir, 'pruned.onnx'));
      return model.readInitializer('w');
    });
    expect(w[0]).toBe(0);
    const s = await ort.InferenceSession.create(join(outDir, 'pruned.onnx'), { logSeverityLevel: 3 });
    const out = await s.run({ x: new ort.Tensor('float32', X, [6, 3]) });
    await s.release();
    close(out.y!.data as Float32Array, expected(w));
  });
});

describe('external data locations that leave the model folder', () => {
  const root = join(tmp, 'escape');
  const inner = join(root, 'inner');
  mkdirSync(join(inner, 'sub'), { recursive: true });

  const variant = (name: string, file: string, location: string): string => {
    const proto = linear();
    externalize(proto, root, file, location);
    return writeModel(inner, proto, `${name}.onnx`);
  };

  const refused = (fn: () => unknown, pattern: RegExp): void => {
    let err: unknown;
    try {
      fn();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SurgeonInputError);
    expect((err as Error).message).toMatch(pattern);
    expect((err as Error).message).not.toContain('\n');
  };

  it("'..' leaving the folder and absolute locations are refused, naming the tensor, the location and the fix", async () => {
    const up = readOnnxModel(variant('up', 'outside.bin', '../outside.bin'));
    refused(() => up.readInitializer('w'), /^tensor 'w': external data location '\.\.\/outside\.bin' leaves the model's folder .*; move the file beside the model/);
    const abs = readOnnxModel(variant('abs', 'absolute.bin', join(root, 'absolute.bin')));
    refused(() => abs.readInitializer('w'), /^tensor 'w': external data location '.*absolute\.bin' is an absolute path.*; move the file beside the model/);
    for (const model of [up, abs]) {
      await expect(ModelSession.create(model)).rejects.toThrow(SurgeonInputError);
      refused(() => saveOnnxModel(model, join(root, 'saved.onnx')), /external data location/);
      refused(() => saveOnnxModel(model, join(inner, 'saved.onnx')), /external data location/);
      refused(() => findPrunableLayers(model)[0]!.read(), /external data location/);
    }
  });

  it("locations in a subfolder, or whose '..' comes back into the folder, are accepted", async () => {
    const proto = linear();
    externalize(proto, join(inner, 'sub'), 'w.bin', 'sub/w.bin');
    const sub = readOnnxModel(writeModel(inner, proto, 'sub.onnx'));
    expect(Array.from(sub.readInitializer('w'))).toEqual(Array.from(W));
    const back = linear();
    externalize(back, inner, 'back.bin', '../inner/back.bin');
    const model = readOnnxModel(writeModel(inner, back, 'back.onnx'));
    expect(Array.from(model.readInitializer('w'))).toEqual(Array.from(W));
    const session = await ModelSession.create(model, { threads: 1 });
    close((await session.run({ x: { data: X, dims: [6, 3] } })).y!.data as Float32Array, expected(W));
    await session.release();
  });
});

describe('external data in subgraphs', () => {
  it('an If body whose initializer is external: the view reads it, and saving elsewhere carries it along', async () => {
    const g = new OnnxGraphBuilder();
    const x = g.input('x', 'float32', ['batch', 3]);
    const then = new OnnxGraphBuilder({ name: 'then' });
    then.initializer('w_then', [3, 4], W);
    then.node('MatMul', [x, 'w_then'], {}, { name: 'then_mm', outputs: ['t'] });
    then.output('t', 'float32');
    const other = new OnnxGraphBuilder({ name: 'else' });
    other.node('Identity', [g.initializer('zeros', [6, 4], new Float32Array(24))], {}, { outputs: ['e'] });
    other.output('e', 'float32');
    g.node('If', [g.initializer('cond', [], [1], 'bool')], { then_branch: { graph: then.toGraph() }, else_branch: { graph: other.toGraph() } }, { name: 'branch', outputs: ['y'] });
    g.output('y', 'float32');
    const proto = g.toModel();
    const dir = join(tmp, 'subgraph');
    mkdirSync(dir, { recursive: true });
    externalize(proto, dir, 'data.bin');
    const model = readOnnxModel(writeModel(dir, proto));
    expect(model.externalInitializers().map((t) => t.name)).toEqual(['zeros', 'w_then']);
    const [view] = findPrunableLayers(model);
    expect([view!.name, view!.subgraph, view!.sourceSubgraph]).toEqual(['w_then', 'branch/then_branch', 'branch/then_branch']);
    const v = view!.read();
    v[0] = 0;
    view!.write(v);
    const outDir = join(tmp, 'subgraph-out');
    mkdirSync(outDir, { recursive: true });
    const res = saveOnnxModel(model, join(outDir, 'pruned.onnx'));
    expect(res.externalDataPath).toBe(join(outDir, 'pruned.onnx.data'));
    const saved = readOnnxModel(res.path);
    expect(saved.externalInitializers().map((t) => t.name)).toEqual(['zeros']);
    const w = saved.readInitializer('w_then', 'branch/then_branch');
    expect(w[0]).toBe(0);
    const s = await ort.InferenceSession.create(res.path, { logSeverityLevel: 3 });
    const out = await s.run({ x: new ort.Tensor('float32', X.subarray(0, 18), [6, 3]) });
    await s.release();
    const exp = new Float32Array(24);
    for (let n = 0; n < 6; n++) for (let o = 0; o < 4; o++) for (let k = 0; k < 3; k++) exp[n * 4 + o] = exp[n * 4 + o]! + X[n * 3 + k]! * w[k * 4 + o]!;
    close(out.y!.data as Float32Array, exp);
  });
});
