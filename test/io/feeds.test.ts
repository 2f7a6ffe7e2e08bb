/**
 * "Inputs as exported": models with several inputs (BERT / GPT-2 shaped, built here with the
 * graph builder) fed from token streams, named .npz arrays and integer id arrays.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SurgeonInputError } from '../../src/errors.js';
import { type ClassificationDataset, type Dataset, type TokenDataset, loadDataset } from '../../src/io/dataset.js';
import { writeNpy } from '../../src/io/npy.js';
import { writeNpz } from '../../src/io/npz.js';
import { readOnnxModel } from '../../src/io/onnx/model.js';
import type { NdArray } from '../../src/io/tensor.js';
import { batchFeeds } from '../../src/runtime/capture.js';
import { evaluateModel } from '../../src/runtime/evaluate.js';
import { ModelSession, type TensorData } from '../../src/runtime/session.js';
import { mulberry32 } from '../../src/random.js';
import { TWO_INPUT_W, bertLike, gptLike, twoInputClassifier } from './multi-input-models.js';

const dir = mkdtempSync(join(tmpdir(), 'surgeon-feeds-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function npy(name: string, arr: NdArray): string {
  const path = join(dir, name);
  writeNpy(path, arr);
  return path;
}
function npz(name: string, arrays: Record<string, NdArray>): string {
  const path = join(dir, name);
  writeNpz(path, arrays);
  return path;
}
const i64 = (shape: number[], values: ArrayLike<number>): NdArray => ({ dtype: 'int64', shape, data: BigInt64Array.from(Array.from(values), (v) => BigInt(v)) });
const f32 = (shape: number[], values: ArrayLike<number>): NdArray => ({ dtype: 'float32', shape, data: Float32Array.from(values) });

/** A stream of `n` token ids in [0, V). */
function stream(n: number, V: number, seed = 3): NdArray {
  const u = mulberry32(seed);
  return i64([n], Array.from({ length: n }, () => Math.floor(u() * V)));
}
const T = 8;
const WINDOWS = 5;

const asTokens = (d: Dataset): TokenDataset => {
  if (d.kind !== 'tokens') throw new Error('expected tokens');
  return d;
};
const asClassification = (d: Dataset): ClassificationDataset => {
  if (d.kind !== 'classification') throw new Error('expected classification');
  return d;
};

/** Runs `bytes` once on `feeds` and returns output `output`. */
async function runOnce(bytes: Uint8Array, feeds: Record<string, { data: TensorData; dims: number[]; type?: 'bool' }>, output = 'logits'): Promise<Float32Array> {
  const session = await ModelSession.create(bytes);
  try {
    return (await session.run(feeds, [output]))[output]!.data as Float32Array;
  } finally {
    await session.release();
  }
}

/** exp(mean NLL) of logits [P, V] against the targets. */
function perplexity(logits: Float32Array, targets: ArrayLike<number | bigint>, V: number): number {
  let nll = 0;
  const P = targets.length;
  for (let p = 0; p < P; p++) {
    let max = -Infinity;
    for (let v = 0; v < V; v++) max = Math.max(max, logits[p * V + v]!);
    let sum = 0;
    for (let v = 0; v < V; v++) sum += Math.exp(logits[p * V + v]! - max);
    nll += max + Math.log(sum) - logits[p * V + Number(targets[p])]!;
  }
  return Math.exp(nll / P);
}

/** Windows of the stream as one int64 batch [N, T] and their next-token targets. */
function windows(s: NdArray, n = WINDOWS): { ids: BigInt64Array; targets: BigInt64Array } {
  const data = s.data as BigInt64Array;
  return { ids: data.slice(0, n * T), targets: data.slice(1, n * T + 1) };
}
const ones = (n: number) => new BigInt64Array(n).fill(1n);
const positions = (n: number) => BigInt64Array.from({ length: n * T }, (_, i) => BigInt(i % T));

describe('--tokens feeds the conventional inputs of a multi-input language model', () => {
  it('BERT-like (input_ids, attention_mask, token_type_ids): perplexity equals a manual run with ones and zeros', async () => {
    const bytes = bertLike();
    const model = readOnnxModel(bytes);
    const tokens = npy('bert-stream.npy', stream(WINDOWS * T + 1, 11));
    const d = asTokens(loadDataset({ tokens, seqLen: T }, { inputs: model.inputs }));
    expect(d.inputName).toBe('input_ids');
    expect(d.count).toBe(WINDOWS);
    expect(d.generated).toEqual({
      attention_mask: { convention: 'attention_mask', fill: 'ones', type: 'int64', dims: [1, T], batchAxis: 0 },
      token_type_ids: { convention: 'token_type_ids', fill: 'zeros', type: 'int64', dims: [1, T], batchAxis: 0 },
    });
    const result = await evaluateModel(model, d, { batchSize: 2 });
    const { ids, targets } = windows(stream(WINDOWS * T + 1, 11));
    const n = WINDOWS * T;
    const manual = await runOnce(bytes, {
      input_ids: { data: ids, dims: [WINDOWS, T] },
      attention_mask: { data: ones(n), dims: [WINDOWS, T] },
      token_type_ids: { data: new BigInt64Array(n), dims: [WINDOWS, T] },
    });
    const expected = perplexity(manual, targets, 11);
    expect(Number.isFinite(result.perplexity)).toBe(true);
    expect(result.positions).toBe(n);
    expect(result.perplexity!).toBeCloseTo(expected, 5);
    // the mask is used: a zero mask gives another perplexity
    const masked = await runOnce(bytes, {
      input_ids: { data: ids, dims: [WINDOWS, T] },
      attention_mask: { data: new BigInt64Array(n), dims: [WINDOWS, T] },
      token_type_ids: { data: new BigInt64Array(n), dims: [WINDOWS, T] },
    });
    expect(Math.abs(perplexity(masked, targets, 11) - expected)).toBeGreaterThan(1e-3);
  });

  it('fills a bool attention_mask as bool', async () => {
    const model = readOnnxModel(bertLike({ maskType: 'bool' }));
    const d = loadDataset({ tokens: npy('bool-stream.npy', stream(3 * T + 1, 11)), seqLen: T }, { inputs: model.inputs });
    const [first] = [...batchFeeds(d, 2)];
    expect(first!.feeds['attention_mask']).toEqual({ data: new Uint8Array(2 * T).fill(1), dims: [2, T], type: 'bool' });
    const result = await evaluateModel(model, d, { batchSize: 2 });
    expect(Number.isFinite(result.perplexity)).toBe(true);
  });

  it('GPT-2-like (input_ids, attention_mask, position_ids): perplexity equals a manual run with positions 0..T−1', async () => {
    const bytes = gptLike();
    const model = readOnnxModel(bytes);
    const s = stream(WINDOWS * T + 1, 13, 9);
    const d = asTokens(loadDataset({ tokens: npy('gpt-stream.npy', s), seqLen: T }, { inputs: model.inputs }));
    const feeds = [...batchFeeds(d, 2)];
    expect(feeds.map((f) => f.feeds['position_ids']!.dims)).toEqual([[2, T], [2, T], [1, T]]);
    expect(Array.from(feeds[0]!.feeds['position_ids']!.data as BigInt64Array)).toEqual(Array.from(positions(2)));
    const result = await evaluateModel(model, d, { batchSize: 2 });
    const { ids, targets } = windows(s);
    const manual = await runOnce(bytes, {
      input_ids: { data: ids, dims: [WINDOWS, T] },
      attention_mask: { data: ones(WINDOWS * T), dims: [WINDOWS, T] },
      position_ids: { data: positions(WINDOWS), dims: [WINDOWS, T] },
    });
    expect(result.perplexity!).toBeCloseTo(perplexity(manual, targets, 13), 5);
  });

  it('int32 position_ids are generated as int32', () => {
    const model = readOnnxModel(gptLike({ positionType: 'int32' }));
    const d = loadDataset({ tokens: npy('gpt32-stream.npy', stream(2 * T + 1, 13)), seqLen: T }, { inputs: model.inputs });
    const feed = [...batchFeeds(d, 4)][0]!.feeds['position_ids']!;
    expect(feed.type).toBe('int32');
    expect(Array.from(feed.data as Int32Array)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('GPT-2-like with past_key_values: an empty past, use_cache_branch false, logits scored (not present.*)', async () => {
    const bytes = gptLike({ past: true });
    const model = readOnnxModel(bytes);
    expect(model.outputs[0]!.name).toBe('present.0.key');
    const s = stream(WINDOWS * T + 1, 13, 21);
    const d = asTokens(loadDataset({ tokens: npy('past-stream.npy', s), seqLen: T }, { inputs: model.inputs }));
    expect(d.generated!['past_key_values.0.key']).toEqual({ convention: 'past', fill: 'zeros', type: 'float32', dims: [1, 2, 0, 2], batchAxis: 0 });
    expect(d.generated!['use_cache_branch']).toEqual({ convention: 'use_cache_branch', fill: 'zeros', type: 'bool', dims: [1] });
    expect(d.generated!['attention_mask']!.dims).toEqual([1, T]);
    const result = await evaluateModel(model, d, { batchSize: 3 });
    const { ids, targets } = windows(s);
    const empty = { data: new Float32Array(0), dims: [WINDOWS, 2, 0, 2] };
    const feeds = {
      input_ids: { data: ids, dims: [WINDOWS, T] },
      attention_mask: { data: ones(WINDOWS * T), dims: [WINDOWS, T] },
      position_ids: { data: positions(WINDOWS), dims: [WINDOWS, T] },
      'past_key_values.0.key': empty,
      'past_key_values.0.value': empty,
    };
    const manual = await runOnce(bytes, { ...feeds, use_cache_branch: { data: Uint8Array.of(0), dims: [1], type: 'bool' } });
    expect(result.perplexity!).toBeCloseTo(perplexity(manual, targets, 13), 5);
    // use_cache_branch true would change the logits: the generated false is what was fed
    const cached = await runOnce(bytes, { ...feeds, use_cache_branch: { data: Uint8Array.of(1), dims: [1], type: 'bool' } });
    expect(Math.abs(perplexity(cached, targets, 13) - result.perplexity!)).toBeGreaterThan(1e-3);
  });

  it('refuses a past that cannot be empty, in one line', () => {
    const model = readOnnxModel(gptLike({ past: true, pastDims: ['batch_size', 2, 5, 2] }));
    const tokens = npy('fixed-past.npy', stream(2 * T + 1, 13));
    let error: unknown;
    try {
      loadDataset({ tokens, seqLen: T }, { inputs: model.inputs });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SurgeonInputError);
    const message = (error as Error).message;
    expect(message).not.toContain('\n');
    expect(message).toMatch(/^cannot build an empty past for model input 'past_key_values\.0\.key' \(float32 \[batch_size,2,5,2\]\): it has no dynamic past-sequence axis; export the model without past inputs/);
  });

  it('names an input no convention fills, and how to feed it', () => {
    const model = readOnnxModel(bertLike({ unknownInput: true }));
    const tokens = npy('unknown-stream.npy', stream(2 * T + 1, 11));
    const expected = new SurgeonInputError(
      "model input 'speaker_embedding' (float32 [batch_size,6]) is not fed by --tokens (surgeon fills only attention_mask, token_type_ids, position_ids, " +
        'past_key_values.* and use_cache_branch by convention); pass --inputs FILE.npz with one array per model input, named as the inputs ' +
        '(input_ids, attention_mask, token_type_ids, speaker_embedding)',
    );
    expect(() => loadDataset({ tokens, seqLen: T }, { inputs: model.inputs })).toThrow(expected);
    // fed from a named .npz, it is an ordinary extra input
    const u = mulberry32(4);
    const file = npz('speaker.npz', {
      input_ids: i64([3, T], Array.from({ length: 3 * T }, () => Math.floor(u() * 11))),
      speaker_embedding: f32([3, 6], Array.from({ length: 18 }, () => u())),
      labels: i64([3], [0, 1, 2]),
    });
    const d = asClassification(loadDataset({ inputs: file }, { inputs: model.inputs }));
    expect(d.inputName).toBe('input_ids');
    expect(Object.keys(d.extra!)).toEqual(['speaker_embedding']);
    expect(Object.keys(d.generated!)).toEqual(['attention_mask', 'token_type_ids']);
  });
});

describe('.npz arrays named as the model inputs', () => {
  const N = 7;
  const u = mulberry32(12);
  const image = f32([N, 4], Array.from({ length: N * 4 }, () => Math.round(u() * 255)));
  const meta = f32([N, 3], Array.from({ length: N * 3 }, () => u() * 2 - 1));
  const labels = i64([N], Array.from({ length: N }, () => Math.floor(u() * 3)));

  /** Accuracy of logits = [image·scale, meta] · W against `y`. */
  function manualAccuracy(scale: number, y: NdArray): number {
    let correct = 0;
    for (let n = 0; n < N; n++) {
      const row = [...Array.from(image.data.subarray(n * 4, n * 4 + 4), (v) => Math.fround(Number(v) * scale)), ...Array.from(meta.data.subarray(n * 3, n * 3 + 3), Number)];
      const logits = [0, 1, 2].map((k) => row.reduce((s, v, i) => s + v * TWO_INPUT_W[i * 3 + k]!, 0));
      const pred = logits.indexOf(Math.max(...logits));
      if (pred === Number(y.data[n])) correct++;
    }
    return correct / N;
  }

  it('feeds a two-input float classifier; labels from the archive; --scale on the primary input only', async () => {
    const bytes = twoInputClassifier();
    const model = readOnnxModel(bytes);
    const file = npz('two.npz', { meta, image, labels });
    const d = asClassification(loadDataset({ inputs: file, scale: 1 / 255 }, { inputs: model.inputs }));
    expect(d.inputName).toBe('image');
    expect(d.sampleShape).toEqual([1, 2, 2]); // reshaped from [4]
    expect(d.extra!['meta']!.sampleShape).toEqual([3]);
    expect(Array.from(d.extra!['meta']!.data)).toEqual(Array.from(meta.data)); // not scaled
    expect(d.x[0]).toBeCloseTo(Number(image.data[0]) / 255, 6);
    expect(Array.from(d.labels!)).toEqual(Array.from(labels.data, Number));
    const result = await evaluateModel(model, d, { batchSize: 3 });
    expect(result.samples).toBe(N);
    expect(result.accuracy).toBeCloseTo(manualAccuracy(1 / 255, labels), 10);
    // --labels wins over the archive's labels
    const other = i64([N], Array.from({ length: N }, (_, i) => i % 3));
    const d2 = asClassification(loadDataset({ inputs: file, labels: npy('other-labels.npy', other), scale: 1 / 255 }, { inputs: model.inputs }));
    expect((await evaluateModel(model, d2, { batchSize: 4 })).accuracy).toBeCloseTo(manualAccuracy(1 / 255, other), 10);
    // limit and sub-ranges slice every input alike
    const feeds = [...batchFeeds(d, 2, 1, 4)];
    expect(feeds.map((f) => f.feeds['meta']!.dims[0])).toEqual([1, 2]);
    expect(Array.from(feeds[0]!.feeds['meta']!.data)).toEqual(Array.from(meta.data.subarray(3, 6)));
    expect(asClassification(loadDataset({ inputs: file, limit: 2 }, { inputs: model.inputs })).extra!['meta']!.data.length).toBe(6);
  });

  it('rejects arrays with different sample counts and inputs the archive lacks', () => {
    const model = readOnnxModel(twoInputClassifier());
    const short = npz('short.npz', { image, meta: f32([2, 3], [1, 2, 3, 4, 5, 6]) });
    expect(() => loadDataset({ inputs: short }, { inputs: model.inputs })).toThrow(`${short}:meta: 2 samples but ${short}:image has ${N}; pass one row per sample in every array`);
    const lacking = npz('lacking.npz', { image, y: labels });
    expect(() => loadDataset({ inputs: lacking }, { inputs: model.inputs })).toThrow(new RegExp(`^model input 'meta' \\(float32 \\[N,3\\]\\) is not fed by ${lacking.replace(/[.]/g, '\\.')} `));
    const badShape = npz('badshape.npz', { image, meta: f32([N, 2], new Array(2 * N).fill(0)) });
    expect(() => loadDataset({ inputs: badShape }, { inputs: model.inputs })).toThrow(
      `${badShape}:meta: samples have shape [2] (2 values) but the model input 'meta' takes [3] (3); pass data of that shape`,
    );
  });

  it('feeds integer arrays in the input type (an int32 attention_mask for an int64 input)', async () => {
    const bytes = bertLike({ classes: 3 });
    const model = readOnnxModel(bytes);
    const ids = i64([4, T], Array.from({ length: 4 * T }, (_, i) => (i * 7) % 11));
    const mask: NdArray = { dtype: 'int32', shape: [4, T], data: Int32Array.from({ length: 4 * T }, (_, i) => (i % T < 5 ? 1 : 0)) };
    const file = npz('bert-named.npz', { input_ids: ids, attention_mask: mask, labels: i64([4], [0, 1, 2, 0]) });
    const d = asClassification(loadDataset({ inputs: file }, { inputs: model.inputs }));
    expect(d.xType).toBe('int64');
    expect(d.extra!['attention_mask']!.type).toBe('int64');
    expect(d.extra!['attention_mask']!.data).toBeInstanceOf(BigInt64Array);
    expect(Object.keys(d.generated!)).toEqual(['token_type_ids']);
    const result = await evaluateModel(model, d, { batchSize: 3 });
    const logits = await runOnce(bytes, {
      input_ids: { data: ids.data as BigInt64Array, dims: [4, T] },
      attention_mask: { data: BigInt64Array.from(mask.data as Int32Array, (v) => BigInt(v)), dims: [4, T] },
      token_type_ids: { data: new BigInt64Array(4 * T), dims: [4, T] },
    });
    let correct = 0;
    for (let n = 0; n < 4; n++) {
      const row = Array.from(logits.subarray(n * 3, n * 3 + 3));
      if (row.indexOf(Math.max(...row)) === [0, 1, 2, 0][n]) correct++;
    }
    expect(result.accuracy).toBe(correct / 4);
  });
});

describe('integer inputs for classification (--inputs ids.npy --labels y.npy)', () => {
  const N = 6;
  const u = mulberry32(31);
  const idsArr = i64([N, T], Array.from({ length: N * T }, () => Math.floor(u() * 11)));
  const y = i64([N], [0, 1, 2, 1, 0, 2]);

  it('keeps int64 ids, fills the mask and token types, and scores like a manual run', async () => {
    const bytes = bertLike({ classes: 3 });
    const model = readOnnxModel(bytes);
    const inputs = npy('ids.npy', idsArr);
    const labels = npy('ids-labels.npy', y);
    const d = asClassification(loadDataset({ inputs, labels }, { inputs: model.inputs }));
    expect(d.inputName).toBe('input_ids');
    expect(d.x).toBeInstanceOf(BigInt64Array);
    expect(d.sampleShape).toEqual([T]);
    const result = await evaluateModel(model, d, { batchSize: 4 });
    const logits = await runOnce(bytes, {
      input_ids: { data: idsArr.data as BigInt64Array, dims: [N, T] },
      attention_mask: { data: ones(N * T), dims: [N, T] },
      token_type_ids: { data: new BigInt64Array(N * T), dims: [N, T] },
    });
    let correct = 0;
    for (let n = 0; n < N; n++) {
      const row = Array.from(logits.subarray(n * 3, n * 3 + 3));
      if (row.indexOf(Math.max(...row)) === Number(y.data[n])) correct++;
    }
    expect(result.accuracy).toBe(correct / N);
    // int32 and uint8 id files convert to int64 exactly
    const small = npy('ids8.npy', { dtype: 'uint8', shape: [N, T], data: Uint8Array.from(idsArr.data as BigInt64Array, Number) });
    const d8 = asClassification(loadDataset({ inputs: small, labels }, { inputs: model.inputs }));
    expect(Array.from(d8.x)).toEqual(Array.from(idsArr.data));
  });

  it('refuses normalisation and fractional ids for integer inputs', () => {
    const model = readOnnxModel(bertLike({ classes: 3 }));
    const inputs = npy('ids2.npy', idsArr);
    expect(() => loadDataset({ inputs, scale: 2 }, { inputs: model.inputs })).toThrow(
      "--scale, --mean and --std apply to float inputs only, but the model input 'input_ids' is int64; drop them",
    );
    const frac = npy('frac.npy', f32([1, T], [1, 2, 3.5, 4, 5, 6, 7, 8]));
    expect(() => loadDataset({ inputs: frac }, { inputs: model.inputs })).toThrow(
      `${frac}: value at flat index 2 is 3.5 but the model input 'input_ids' is int64; pass integer values (token ids, masks)`,
    );
  });
});
