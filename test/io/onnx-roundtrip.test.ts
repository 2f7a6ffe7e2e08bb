import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readOnnxModel } from '../../src/io/onnx/model.js';
import { decodeModelProto, encodeModelProto, encodeTensorProto } from '../../src/io/onnx/proto.js';
import { tensorSize, tensorToArray } from '../../src/io/onnx/tensor.js';
import { conformanceDirs, HAVE_TESTDATA, readDataSet } from './onnx-helpers.js';
import { demoData, FIXTURE_NAMES, fixture, itShared, tiny, TINY_NAMES } from '../fixtures.js';

const readDataSetBytes = (dir: string, kind: string, i: number): Uint8Array => readFileSync(join(dir, 'test_data_set_0', `${kind}_${i}.pb`));

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
}

/** Decode → encode gives the file's bytes back; the model reads as opset 17 with a dynamic batch. */
function checkRoundTrip(path: string): void {
  const bytes = readFileSync(path);
  const model = readOnnxModel(path);
  expect(sameBytes(model.toBytes(), bytes)).toBe(true);
  expect(model.opset).toBe(17);
  const input = model.inputs[0]!;
  expect(input.dims[0]).toBe('batch');
  expect(model.outputs[0]!.elemType).toBe('float32');
  for (const t of model.graph.initializer) expect(tensorToArray(t).length).toBe(tensorSize(t));
}

describe('ONNX round trip: fixtures', () => {
  for (const name of FIXTURE_NAMES) itShared(`${name}.onnx (PyTorch export) re-encodes byte-identically`, () => checkRoundTrip(fixture(`${name}.onnx`)));
  for (const name of TINY_NAMES) it(`test/fixtures/${name}.onnx re-encodes byte-identically`, () => checkRoundTrip(tiny(`${name}.onnx`)));
  it('data/fmnist-mlp.onnx (the demo model) re-encodes byte-identically', () => checkRoundTrip(demoData('fmnist-mlp.onnx')));
});

const GROUPS = ['node', 'simple', 'pytorch-converted', 'pytorch-operator'];
(HAVE_TESTDATA ? describe : describe.skip)(
  HAVE_TESTDATA ? 'ONNX round trip: libonnx conformance models' : 'ONNX round trip: SKIPPED, /usr/share/libonnx-testdata is absent',
  () => {
    for (const group of GROUPS) {
      it(`${group}/*/model.onnx re-encode byte-identically and their test data decode`, () => {
        const dirs = conformanceDirs(group);
        expect(dirs.length).toBeGreaterThan(0);
        const differing: string[] = [];
        let tensors = 0;
        for (const dir of dirs) {
          const bytes = readFileSync(join(dir, 'model.onnx'));
          if (!sameBytes(encodeModelProto(decodeModelProto(bytes)), bytes)) differing.push(dir);
          const model = readOnnxModel(join(dir, 'model.onnx'));
          const ins = model.graph.input.filter((v) => !model.initializer(v.name ?? ''));
          const outs = model.graph.output;
          for (const [kind, decls] of [['input', ins], ['output', outs]] as const) {
            const protos = readDataSet(dir, kind);
            protos.forEach((t, i) => {
              if (!decls[i]?.type?.tensorType) return; // sequence/optional/map data are not TensorProtos
              const arr = tensorToArray(t);
              const n = tensorSize(t);
              expect(arr.length === n || arr.length === 2 * n, `${dir} ${kind}_${i}`).toBe(true);
              if (!sameBytes(encodeTensorProto(t), readDataSetBytes(dir, kind, i))) differing.push(`${dir} ${kind}_${i}.pb`);
              tensors++;
            });
          }
        }
        expect(differing).toEqual([]);
        expect(tensors).toBeGreaterThan(0);
        console.info(`[onnx round trip] ${group}: ${dirs.length} models and ${tensors} test-data TensorProtos byte-identical after decode/encode, all decoded to arrays`);
      });
    }
  },
);

describe('TensorProto encode/decode', () => {
  it('typed fields and raw data decode to the same values', async () => {
    const { decodeTensorProto, createMessage } = await import('../../src/io/onnx/proto.js');
    const typed = createMessage<import('../../src/io/onnx/proto.js').TensorProto>('TensorProto', { name: 'x', dims: [2, 2], dataType: 7, int64Data: [1, -2, 3, 2 ** 40] });
    const back = decodeTensorProto(encodeTensorProto(typed));
    expect(Array.from(tensorToArray(back) as BigInt64Array)).toEqual([1n, -2n, 3n, 2n ** 40n]);
    const f16 = createMessage<import('../../src/io/onnx/proto.js').TensorProto>('TensorProto', { name: 'h', dims: [3], dataType: 10, rawData: new Uint8Array([0x00, 0x3c, 0x00, 0xc0, 0x00, 0x7c]) });
    expect(Array.from(tensorToArray(f16) as Float32Array)).toEqual([1, -2, Infinity]);
    const bf = createMessage<import('../../src/io/onnx/proto.js').TensorProto>('TensorProto', { name: 'b', dims: [2], dataType: 16, int32Data: [0x3f80, 0xc040] });
    expect(Array.from(tensorToArray(bf) as Float32Array)).toEqual([1, -3]);
    const i4 = createMessage<import('../../src/io/onnx/proto.js').TensorProto>('TensorProto', { name: 'q', dims: [3], dataType: 22, rawData: new Uint8Array([0xf7, 0x08]) });
    expect(Array.from(tensorToArray(i4) as Int8Array)).toEqual([7, -1, -8]);
  });
});

describe('value info', () => {
  it('keeps symbolic dims as strings and unknown dims as ?', async () => {
    const { valueInfoOf } = await import('../../src/io/onnx/model.js');
    const { onnxType } = await import('../../src/io/onnx/proto.js');
    const bytes = onnxType('ValueInfoProto').encode(
      onnxType('ValueInfoProto').fromObject({ name: 'v', type: { tensorType: { elemType: 7, shape: { dim: [{ dimParam: 'n' }, { dimValue: 0 }, {}, { dimValue: 3 }] } } } }),
    ).finish();
    const v = valueInfoOf(onnxType('ValueInfoProto').decode(bytes) as never);
    expect(v).toEqual({ name: 'v', elemType: 'int64', dims: ['n', 0, '?', 3], hasShape: true });
  });
});

describe('narrow floats', () => {
  it('float16: every non-NaN bit pattern survives decode → encode; rounding is to nearest even', async () => {
    const { float16BitsToNumber, numberToFloat16Bits } = await import('../../src/io/floats.js');
    for (let h = 0; h < 0x10000; h++) {
      const x = float16BitsToNumber(h);
      if (!Number.isNaN(x)) expect(numberToFloat16Bits(x)).toBe(h);
    }
    expect(numberToFloat16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie → even
    expect(numberToFloat16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(numberToFloat16Bits(65520)).toBe(0x7c00);
    expect(numberToFloat16Bits(2 ** -25)).toBe(0); // tie below the smallest subnormal → 0
    expect(numberToFloat16Bits(NaN) & 0x7e00).toBe(0x7e00);
  });

  it('bfloat16 rounds to nearest even', async () => {
    const { float32ToBfloat16, bfloat16ToFloat32 } = await import('../../src/io/floats.js');
    const v = Float32Array.of(1, 1 + 2 ** -8, 1 + 3 * 2 ** -8, -2.5, NaN, Infinity);
    const b = float32ToBfloat16(v);
    expect(Array.from(b.slice(0, 4))).toEqual([0x3f80, 0x3f80, 0x3f82, 0xc020]);
    expect(Array.from(bfloat16ToFloat32(b).slice(4))).toEqual([NaN, Infinity]);
  });
});
