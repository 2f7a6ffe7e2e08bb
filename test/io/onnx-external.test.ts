import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SurgeonInputError } from '../../src/errors.js';
import { readOnnxModel } from '../../src/io/onnx/model.js';
import { onnxType, type StringStringEntryProto } from '../../src/io/onnx/proto.js';
import { saveOnnxModel } from '../../src/io/onnx/save.js';
import { tensorToArray } from '../../src/io/onnx/tensor.js';
import { maxViolation, writeExternalModel } from './onnx-helpers.js';
import { describeShared, fixture, tiny } from '../fixtures.js';

/** An MLP exported as Flatten → Gemm → Relu → … → Gemm, with its first and last Gemm's initializer prefixes. */
interface MlpCase {
  title: string;
  path: () => string;
  first: string;
  last: string;
  side: number;
  hidden: number;
  classes: number;
}
const TINY_MLP: MlpCase = { title: 'test/fixtures/tiny-mlp', path: () => tiny('tiny-mlp.onnx'), first: 'fc1', last: 'fc3', side: 8, hidden: 32, classes: 4 };
const FMNIST_MLP: MlpCase = { title: 'fmnist-mlp (PyTorch export)', path: () => fixture('fmnist-mlp.onnx'), first: 'net.1', last: 'net.5', side: 28, hidden: 256, classes: 10 };

const tmp = mkdtempSync(join(tmpdir(), 'surgeon-onnx-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const OPTS: ort.InferenceSession.SessionOptions = { intraOpNumThreads: 1, interOpNumThreads: 1, logSeverityLevel: 3 };

const input = (side: number): ort.Tensor => {
  const x = new Float32Array(4 * side * side);
  for (let i = 0; i < x.length; i++) x[i] = ((i * 7919) % 256) / 255;
  return new ort.Tensor('float32', x, [4, 1, side, side]);
};

async function logits(path: string, side: number): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(path, OPTS);
  const out = await s.run({ input: input(side) });
  await s.release();
  return out.logits!.data as Float32Array;
}

function externalDataSuite(c: MlpCase): void {
  let MLP = '';
  let dir = '';
  let extPath = '';
  beforeAll(() => {
    MLP = c.path();
    dir = mkdtempSync(join(tmp, 'ext-'));
    extPath = writeExternalModel(MLP, dir);
  });

  describe('external data', () => {
    it('reads external tensors lazily and matches the inline model', async () => {
      const inline = readOnnxModel(MLP);
      const ext = readOnnxModel(extPath);
      expect(ext.externalInitializers().length).toBe(inline.graph.initializer.length);
      for (const t of inline.graph.initializer) {
        expect(Array.from(ext.readInitializer(t.name!))).toEqual(Array.from(tensorToArray(t) as Float32Array));
      }
      expect(maxViolation(await logits(extPath, c.side), await logits(MLP, c.side), 0, 0)).toBe(0);
      expect(Buffer.compare(Buffer.from(ext.toBytes()), readFileSync(extPath))).toBe(0);
    });

    it('saving elsewhere copies external data beside the output; setInitializer inlines; input files untouched', async () => {
      const before = readFileSync(join(dir, 'weights.bin'));
      const ext = readOnnxModel(extPath);
      const w = ext.readInitializer(`${c.last}.weight`);
      w.fill(0);
      ext.setInitializer(`${c.last}.weight`, w);
      const outDir = mkdtempSync(join(tmp, 'out-'));
      const res = saveOnnxModel(ext, join(outDir, 'pruned.onnx'));
      expect(res.externalDataPath).toBe(join(outDir, 'pruned.onnx.data'));
      expect(Buffer.compare(readFileSync(join(dir, 'weights.bin')), before)).toBe(0);
      const saved = readOnnxModel(res.path);
      expect(saved.externalInitializers().length).toBe(ext.graph.initializer.length - 1);
      expect(Array.from(saved.readInitializer(`${c.last}.weight`)).every((v) => v === 0)).toBe(true);
      expect(Array.from(saved.readInitializer(`${c.first}.weight`))).toEqual(Array.from(readOnnxModel(MLP).readInitializer(`${c.first}.weight`)));
      const out = await logits(res.path, c.side);
      const bias = saved.readInitializer(`${c.last}.bias`);
      for (let i = 0; i < out.length; i++) expect(out[i]).toBeCloseTo(bias[i % c.classes]!, 5);
    });

    it('saving into the same folder keeps references to the input data file', () => {
      const ext = readOnnxModel(extPath);
      const res = saveOnnxModel(ext, join(dir, 'copy.onnx'));
      expect(res.externalDataPath).toBeUndefined();
      expect(Buffer.compare(readFileSync(res.path), readFileSync(extPath))).toBe(0);
    });

    it('missing external file → SurgeonInputError naming it and saying to put it beside the model', () => {
      const lone = mkdtempSync(join(tmp, 'lone-'));
      copyFileSync(extPath, join(lone, 'm.onnx'));
      const m = readOnnxModel(join(lone, 'm.onnx'));
      expect(() => m.readInitializer(`${c.first}.weight`)).toThrow(SurgeonInputError);
      expect(() => m.readInitializer(`${c.first}.weight`)).toThrow(/weights\.bin.*not found.*beside the model/);
      expect(() => readOnnxModel(readFileSync(extPath)).readInitializer(`${c.first}.weight`)).toThrow(/baseDir/);
    });
  });

  describe('saving', () => {
    it('round trips through saveOnnxModel and refuses to overwrite the input', () => {
      const src = join(dir, 'in.onnx');
      copyFileSync(MLP, src);
      const m = readOnnxModel(src);
      expect(() => saveOnnxModel(m, src)).toThrow(/refusing to overwrite the input/);
      expect(() => saveOnnxModel(readOnnxModel(readFileSync(src)), src, { inputPath: src })).toThrow(SurgeonInputError);
      const res = saveOnnxModel(m, join(dir, 'out.onnx'));
      expect(Buffer.compare(readFileSync(res.path), readFileSync(MLP))).toBe(0);
      expect(() => saveOnnxModel(m, join(tmp, 'no-such-dir', 'x.onnx'))).toThrow(/does not exist/);
    });

    it('setInitializer writes float32 raw data and keeps untouched bytes identical', () => {
      const m = readOnnxModel(MLP);
      for (const t of m.graph.initializer) m.setInitializer(t.name!, m.readInitializer(t.name!));
      expect(Buffer.compare(Buffer.from(m.toBytes()), readFileSync(MLP))).toBe(0);
      expect(() => m.setInitializer(`${c.first}.bias`, new Float32Array(3))).toThrow(new RegExp(`has ${c.hidden} elements`));
      expect(() => m.setInitializer('nope', new Float32Array(3))).toThrow(/not found/);
    });

    it('float16, bfloat16 and float64 initializers are written in their own dtype', () => {
      const m = readOnnxModel(MLP);
      const t = m.initializer(`${c.last}.bias`)!;
      const K = c.classes;
      const values = Float32Array.from({ length: K }, (_, i) => (i - 4.5) / 3);
      for (const [code, tol] of [[10, 1e-3], [16, 1e-2], [11, 1e-7]] as const) {
        t.dataType = code;
        t.rawData = new Uint8Array(K * (code === 11 ? 8 : 2));
        m.setInitializer(`${c.last}.bias`, values);
        expect(t.rawData.byteLength).toBe(K * (code === 11 ? 8 : 2));
        const back = m.readInitializer(`${c.last}.bias`);
        for (let i = 0; i < K; i++) expect(Math.abs(back[i]! - values[i]!)).toBeLessThan(tol);
      }
    });
  });
}

describe(`external data and saving: ${TINY_MLP.title}`, () => externalDataSuite(TINY_MLP));
describeShared(`external data and saving: ${FMNIST_MLP.title}`, () => externalDataSuite(FMNIST_MLP));

describe('bad inputs', () => {
  it('missing file', () => {
    expect(() => readOnnxModel(join(tmp, 'missing.onnx'))).toThrow(SurgeonInputError);
    expect(() => readOnnxModel(join(tmp, 'missing.onnx'))).toThrow(/missing\.onnx: no such file; check the path/);
  });

  const cases: [string, () => Uint8Array][] = [
    ['a .npy file', () => readFileSync(tiny('tiny-test-labels.npy'))],
    ['random bytes', () => Uint8Array.from({ length: 4096 }, (_, i) => (i * 2654435761) >>> 24)],
    ['a truncated model', () => readFileSync(tiny('tiny-mlp.onnx')).subarray(0, readFileSync(tiny('tiny-mlp.onnx')).byteLength >> 1)],
    ['a JSON file', () => readFileSync(tiny('tiny-mlp.meta.json'))],
    ['an empty file', () => new Uint8Array(0)],
  ];
  for (const [what, bytes] of cases) {
    it(`${what} → SurgeonInputError, one line, naming the file`, () => {
      const p = join(tmp, `bad-${what.replace(/\W+/g, '_')}.onnx`);
      writeFileSync(p, bytes());
      let err: unknown;
      try {
        readOnnxModel(p);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(SurgeonInputError);
      const msg = (err as Error).message;
      expect(msg).toContain(p);
      expect(msg).toMatch(/not a valid ONNX protobuf/);
      expect(msg).not.toContain('\n');
      expect(existsSync(p)).toBe(true);
    });
  }
});
