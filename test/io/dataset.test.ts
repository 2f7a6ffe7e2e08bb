import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { SurgeonInputError } from '../../src/errors.js';
import { type ClassificationDataset, type DatasetTarget, type TokenDataset, batches, loadDataset } from '../../src/io/dataset.js';
import { readNpy, writeNpy } from '../../src/io/npy.js';
import { writeNpz } from '../../src/io/npz.js';
import type { NdArray } from '../../src/io/tensor.js';
import { fixture, HAVE_FIXTURES, NEEDS_FIXTURES, needsFixtures, tiny } from '../fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'surgeon-dataset-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function npy(name: string, arr: NdArray): string {
  const path = join(dir, name);
  writeNpy(path, arr);
  return path;
}
const model = (dims: (number | string)[], elemType = 'float32', name = 'input'): DatasetTarget => ({ inputs: [{ name, elemType, dims }] });
const u8 = (shape: number[], values: number[]): NdArray => ({ dtype: 'uint8', shape, data: Uint8Array.from(values) });
const f32 = (shape: number[], values: number[]): NdArray => ({ dtype: 'float32', shape, data: Float32Array.from(values) });
/** Token ids of either array type as a plain list. */
const ids = (a: BigInt64Array | Int32Array): Array<number | bigint> => Array.from(a as ArrayLike<number | bigint>);
const classification = (d: ReturnType<typeof loadDataset>): ClassificationDataset => {
  if (d.kind !== 'classification') throw new Error('expected classification');
  return d;
};
const tokens = (d: ReturnType<typeof loadDataset>): TokenDataset => {
  if (d.kind !== 'tokens') throw new Error('expected tokens');
  return d;
};

describe('classification data', () => {
  it('reshapes per-sample data to the model input shape', () => {
    const path = npy('r.npy', u8([3, 2, 2], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]));
    const d = classification(loadDataset({ inputs: path }, model(['batch', 1, 2, 2])));
    expect(d.inputName).toBe('input');
    expect(d.sampleShape).toEqual([1, 2, 2]);
    expect(d.count).toBe(3);
    expect(d.x).toBeInstanceOf(Float32Array);
    expect(Array.from(d.x)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(d.labels).toBeUndefined();
    // -1 and 0 are dynamic batch dims too; flat models take the flattened sample
    expect(classification(loadDataset({ inputs: path }, model([-1, 4]))).sampleShape).toEqual([4]);
    expect(classification(loadDataset({ inputs: path }, model([0, 2, 2]))).sampleShape).toEqual([2, 2]);
    // rank unknown (the ONNX reader's hasShape: false): the data's sample shape is used as is
    const unknown: DatasetTarget = { inputs: [{ name: 'input', elemType: 'float32', dims: [], hasShape: false }] };
    expect(classification(loadDataset({ inputs: path }, unknown)).sampleShape).toEqual([2, 2]);
  });

  it('picks the float input among several and takes symbolic inner dims from the data', () => {
    const path = npy('s.npy', f32([2, 3, 2], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]));
    const target: DatasetTarget = {
      inputs: [
        { name: 'mask', elemType: 'int64', dims: ['N', 3] },
        { name: 'feats', elemType: 'float32', dims: ['N', 'len', 2] },
      ],
    };
    const d = classification(loadDataset({ inputs: path }, target));
    expect(d.inputName).toBe('feats');
    expect(d.sampleShape).toEqual([3, 2]);
  });

  it('normalises 1×1: (x·scale − mean) / std', () => {
    const path = npy('one.npy', u8([1, 1], [10]));
    const d = classification(loadDataset({ inputs: path, scale: 0.5, mean: [1], std: [2] }, model(['N', 1])));
    expect(Array.from(d.x)).toEqual([2]); // (10·0.5 − 1) / 2
  });

  it('normalises 2×2 batched, per channel (axis 1) and broadcast', () => {
    const path = npy('two.npy', f32([2, 2, 2], [0, 1, 2, 3, 4, 5, 6, 7]));
    const d = classification(loadDataset({ inputs: path, mean: [1, 2], std: [2, 4] }, model(['N', 2, 2])));
    // sample 0: channel 0 [0,1] → [(0−1)/2, (1−1)/2]; channel 1 [2,3] → [0, 0.25]; sample 1 likewise
    expect(Array.from(d.x)).toEqual([-0.5, 0, 0, 0.25, 1.5, 2, 1, 1.25]);
    const b = classification(loadDataset({ inputs: path, scale: 2, mean: [1], std: [0.5] }, model(['N', 2, 2])));
    expect(Array.from(b.x)).toEqual([-2, 2, 6, 10, 14, 18, 22, 26]); // (2x − 1) / 0.5
    expect(() => loadDataset({ inputs: path, mean: [1, 2, 3] }, model(['N', 2, 2]))).toThrow(
      "--mean has 3 values but the model input 'input' has 2 channels (axis 1); pass 1 or 2 values",
    );
    expect(() => loadDataset({ inputs: path, std: [0] }, model(['N', 2, 2]))).toThrow(/--std must not be 0/);
  });

  it('names shapes that fit no model input', () => {
    const path = npy('images.npy', u8([2, 28, 27], new Array(2 * 28 * 27).fill(0)));
    expect(() => loadDataset({ inputs: path }, model(['batch', 1, 28, 28]))).toThrow(
      new SurgeonInputError(
        `${path}: samples have shape [28,27] (756 values) but the model input 'input' takes [1,28,28] (784); pass data of that shape`,
      ),
    );
  });

  it('checks labels against the inputs', () => {
    const images = npy('i.npy', u8([3, 2], [1, 2, 3, 4, 5, 6]));
    const good = npy('l.npy', u8([3], [2, 0, 1]));
    const d = classification(loadDataset({ inputs: images, labels: good }, model(['N', 2])));
    expect(Array.from(d.labels!)).toEqual([2, 0, 1]);
    expect(d.numClasses).toBe(3);
    const short = npy('short.npy', u8([2], [0, 1]));
    expect(() => loadDataset({ inputs: images, labels: short }, model(['N', 2]))).toThrow(
      new SurgeonInputError(`${short}: 2 labels but ${images} has 3 samples; pass one label per sample`),
    );
    const neg = npy('neg.npy', { dtype: 'int64', shape: [3], data: BigInt64Array.of(0n, -1n, 2n) });
    expect(() => loadDataset({ inputs: images, labels: neg }, model(['N', 2]))).toThrow(
      `${neg}: label at index 1 is -1; pass non-negative integer class indices`,
    );
  });

  it('names the first NaN/Inf', () => {
    const path = npy('nan.npy', f32([2, 3], [0, 1, 2, 3, NaN, Infinity]));
    expect(() => loadDataset({ inputs: path }, model(['N', 3]))).toThrow(
      new SurgeonInputError(
        `${path}: value at flat index 4 (sample 1, element 1) is NaN; replace non-finite values (e.g. np.nan_to_num) or drop those samples`,
      ),
    );
    // the bad sample is past the limit: fine
    expect(classification(loadDataset({ inputs: path, limit: 1 }, model(['N', 3]))).count).toBe(1);
  });

  it('reads .npz (x/y members), IDX.gz, and applies limit', () => {
    const npz = join(dir, 'd.npz');
    writeNpz(npz, { y: u8([3], [1, 1, 0]), x: u8([3, 2], [1, 2, 3, 4, 5, 6]) });
    const d = classification(loadDataset({ inputs: npz, limit: 2 }, model(['N', 2])));
    expect(Array.from(d.x)).toEqual([1, 2, 3, 4]);
    expect(Array.from(d.labels!)).toEqual([1, 1]);
    const idx = join(dir, 'x.idx.gz');
    writeFileSync(idx, gzipSync(Uint8Array.of(0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 1, 200, 100)));
    expect(Array.from(classification(loadDataset({ inputs: idx }, model(['N', 1]))).x)).toEqual([200, 100]);
    expect(() => loadDataset({ inputs: npz, limit: 0 }, model(['N', 2]))).toThrow(/--limit must be a positive integer/);
  });

  it('rejects conflicting or missing sources', () => {
    expect(() => loadDataset({}, model(['N', 2]))).toThrow(/no data given/);
    expect(() => loadDataset({ inputs: 'a', tokens: 'b' }, model(['N', 2]))).toThrow('--inputs and --tokens cannot be combined; pass only one data source');
    expect(() => loadDataset({ inputs: join(dir, 'missing.npy') }, model(['N', 2]))).toThrow(/missing\.npy: file not found/);
    const junk = join(dir, 'junk.bin');
    writeFileSync(junk, 'hello world');
    expect(() => loadDataset({ inputs: junk }, model(['N', 2]))).toThrow(`${junk}: not a .npy, .npz or IDX file (optionally gzipped); pass data in one of those formats`);
  });

  it('yields batches as views', () => {
    const path = npy('b.npy', u8([5, 2], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
    const lab = npy('bl.npy', u8([5], [0, 1, 2, 3, 4]));
    const d = classification(loadDataset({ inputs: path, labels: lab }, model(['N', 2])));
    const got = [...batches(d, 2)];
    expect(got.map((b) => [b.start, b.count])).toEqual([[0, 2], [2, 2], [4, 1]]);
    expect(Array.from(got[1]!.x)).toEqual([4, 5, 6, 7]);
    expect(got[1]!.x.buffer).toBe(d.x.buffer);
    expect(Array.from(got[2]!.labels!)).toEqual([4]);
    expect(() => [...batches(d, 0)]).toThrow(/--batch-size must be a positive integer/);
  });
});

describe('--dataset fashion-mnist', () => {
  const saved = process.env['SURGEON_DATA'];
  afterEach(() => {
    if (saved === undefined) delete process.env['SURGEON_DATA'];
    else process.env['SURGEON_DATA'] = saved;
  });

  it('reads the IDX files under $SURGEON_DATA with scale 1/255', () => {
    const root = join(dir, 'data');
    mkdirSync(join(root, 'fashion-mnist'), { recursive: true });
    const images = Uint8Array.of(0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2, 0, 255, 51, 102);
    const labels = Uint8Array.of(0, 0, 8, 1, 0, 0, 0, 2, 9, 3);
    writeFileSync(join(root, 'fashion-mnist', 'train-images-idx3-ubyte.gz'), gzipSync(images));
    writeFileSync(join(root, 'fashion-mnist', 'train-labels-idx1-ubyte.gz'), gzipSync(labels));
    process.env['SURGEON_DATA'] = root;
    const d = classification(loadDataset({ dataset: 'fashion-mnist:train' }, model(['N', 1, 1, 2])));
    expect(Array.from(d.x)).toEqual([0, 1, 0.2, 0.4].map(Math.fround));
    expect(Array.from(d.labels!)).toEqual([9, 3]);
    expect(d.numClasses).toBe(10);
    const s = classification(loadDataset({ dataset: 'fashion-mnist:train', scale: 1 }, model(['N', 2])));
    expect(Array.from(s.x)).toEqual([0, 255, 51, 102]);
  });

  it('says how to install it when absent', () => {
    process.env['SURGEON_DATA'] = join(dir, 'nowhere');
    expect(() => loadDataset({ dataset: 'fashion-mnist' }, model(['N', 784]))).toThrow(/apt-get install dataset-fashion-mnist` or set SURGEON_DATA/);
    expect(() => loadDataset({ dataset: 'mnist' }, model(['N', 784]))).toThrow(
      "unknown dataset 'mnist'; pass fashion-mnist, fashion-mnist:train or fashion-mnist:test",
    );
  });

  const debian = '/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz';
  const images = fixture('fmnist-test-images.npy');
  const have = existsSync(debian) && HAVE_FIXTURES;
  const missing = [existsSync(debian) ? '' : 'apt-get install dataset-fashion-mnist', HAVE_FIXTURES ? '' : NEEDS_FIXTURES].filter(Boolean).join('; ');
  it.skipIf(!have)(`Debian's test split equals the fixture / 255${have ? '' : ` (skipped: ${missing})`}`, () => {
    delete process.env['SURGEON_DATA'];
    const d = classification(loadDataset({ dataset: 'fashion-mnist' }, model(['batch', 1, 28, 28])));
    const ref = readNpy(images).data as Uint8Array;
    expect(d.count).toBe(10000);
    expect(d.numClasses).toBe(10);
    let same = true;
    for (let i = 0; i < ref.length; i++) if (d.x[i] !== Math.fround(ref[i]! / 255)) same = false;
    expect(same).toBe(true);
  });
});

describe('token windows', () => {
  const stream = npy('tok.npy', { dtype: 'int64', shape: [10], data: BigInt64Array.from([0n, 1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n, 9n]) });

  it('cuts floor((L−1)/T) windows with targets shifted by one (views of the stream)', () => {
    const d = tokens(loadDataset({ tokens: stream, seqLen: 4 }, model(['batch', 'seq'], 'int64', 'tokens')));
    expect(d.count).toBe(2);
    expect(d.seqLen).toBe(4);
    expect(ids(d.tokens)).toEqual([0n, 1n, 2n, 3n, 4n, 5n, 6n, 7n]);
    expect(ids(d.targets)).toEqual([1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n]);
    expect(d.tokens.buffer).toBe(d.targets.buffer);
    const got = [...batches(d, 1)];
    expect(ids(got[1]!.x)).toEqual([4n, 5n, 6n, 7n]);
    expect(ids(got[1]!.targets)).toEqual([5n, 6n, 7n, 8n]);
    // L − 1 = 9 = 3·3: the last window's last target is the stream's last token
    expect(tokens(loadDataset({ tokens: stream, seqLen: 3 }, model(['batch', 'seq'], 'int64'))).count).toBe(3);
    expect(tokens(loadDataset({ tokens: stream, seqLen: 3, limit: 2 }, model(['batch', 'seq'], 'int64'))).count).toBe(2);
  });

  it('converts to int32 for int32 models and takes T from a fixed model dim', () => {
    const small = npy('tok16.npy', { dtype: 'uint16', shape: [6], data: Uint16Array.of(5, 6, 7, 8, 9, 10) });
    const d = tokens(loadDataset({ tokens: small }, model(['batch', 2], 'int32')));
    expect(d.tokens).toBeInstanceOf(Int32Array);
    expect(ids(d.tokens)).toEqual([5, 6, 7, 8]);
    expect(ids(d.targets)).toEqual([6, 7, 8, 9]);
    const d64 = tokens(loadDataset({ tokens: small }, model(['batch', 2], 'int64')));
    expect(ids(d64.tokens)).toEqual([5n, 6n, 7n, 8n]);
  });

  it('rejects bad token input', () => {
    expect(() => loadDataset({ tokens: stream, seqLen: 8 }, model(['batch', 4], 'int64'))).toThrow(
      "--seq-len 8 but the model input 'input' takes [batch,4]; pass --seq-len 4",
    );
    expect(() => loadDataset({ tokens: stream }, model(['batch', 'seq'], 'int64'))).toThrow(/has no fixed length; pass --seq-len T/);
    expect(() => loadDataset({ tokens: stream, seqLen: 10 }, model(['batch', 'seq'], 'int64'))).toThrow(/10 tokens make no window of 10 plus a target/);
    const neg = npy('negtok.npy', { dtype: 'int64', shape: [4], data: BigInt64Array.of(1n, -3n, 2n, 2n) });
    expect(() => loadDataset({ tokens: neg, seqLen: 2 }, model(['batch', 'seq'], 'int64'))).toThrow(
      `${neg}: token at index 1 is -3; pass non-negative token ids`,
    );
    const flt = npy('ftok.npy', f32([4], [1, 2, 3, 4]));
    expect(() => loadDataset({ tokens: flt, seqLen: 2 }, model(['batch', 'seq'], 'int64'))).toThrow(/pass a 1-D integer array/);
    expect(() => loadDataset({ tokens: stream, seqLen: 2, scale: 2 }, model(['batch', 'seq'], 'int64'))).toThrow(/do not apply to --tokens/);
  });

  /** exp(mean NLL) of `gpt` on the windows of `stream`, with the count of windows and scored positions. */
  async function perplexity(gpt: string, stream: string, T: number): Promise<{ perplexity: number; windows: number; positions: number }> {
    const ort = await import('onnxruntime-node');
    const session = await ort.InferenceSession.create(gpt, { intraOpNumThreads: 1 });
    const d = tokens(loadDataset({ tokens: stream }, model(['batch', T], 'int64', session.inputNames[0]!)));
    let nll = 0;
    let n = 0;
    for (const b of batches(d, 32)) {
      const out = await session.run({ [d.inputName]: new ort.Tensor('int64', b.x as BigInt64Array, [b.count, d.seqLen]) });
      const logits = out[session.outputNames[0]!]!.data as Float32Array;
      const V = logits.length / (b.count * d.seqLen);
      for (let p = 0; p < b.count * d.seqLen; p++) {
        let max = -Infinity;
        for (let v = 0; v < V; v++) max = Math.max(max, logits[p * V + v]!);
        let sum = 0;
        for (let v = 0; v < V; v++) sum += Math.exp(logits[p * V + v]! - max);
        nll += max + Math.log(sum) - logits[p * V + Number(b.targets[p])]!;
        n++;
      }
    }
    await session.release();
    return { perplexity: Math.exp(nll / n), windows: d.count, positions: n };
  }
  const meta = async (path: string) => JSON.parse((await import('node:fs')).readFileSync(path, 'utf8')) as { val_perplexity_pytorch?: number; perplexity?: number };

  it.skipIf(!HAVE_FIXTURES)(needsFixtures("reproduces lic-gpt's PyTorch validation perplexity"), async () => {
    const r = await perplexity(fixture('lic-gpt.onnx'), fixture('lic-gpt.val-tokens.npy'), 128);
    expect([r.windows, r.positions]).toEqual([185, 185 * 128]);
    expect(Math.abs(r.perplexity - (await meta(fixture('lic-gpt.meta.json'))).val_perplexity_pytorch!)).toBeLessThan(1e-4);
  }, 60_000);

  it("reproduces test/fixtures/tiny-gpt's reference perplexity (TypeScript forward pass)", async () => {
    const r = await perplexity(tiny('tiny-gpt.onnx'), tiny('tiny-tokens.npy'), 8);
    expect([r.windows, r.positions]).toEqual([128, 128 * 8]);
    const expected = (await meta(tiny('tiny-gpt.meta.json'))).perplexity!;
    expect(expected).toBeLessThan(16); // better than uniform over 16 tokens
    expect(Math.abs(r.perplexity - expected) / expected).toBeLessThan(1e-5);
  });
});
