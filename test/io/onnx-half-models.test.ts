/**
 * float16 and bfloat16 models: onnxruntime sessions take Float32Array feeds and return
 * Float32Array outputs (the stored type in `storedType`), evaluation and calibration work,
 * and weights keep their dtype when written. Every model is built here with OnnxGraphBuilder.
 */
import { describe, expect, it } from 'vitest';
import type { ClassificationDataset, TokenDataset } from '../../src/io/dataset.js';
import { OnnxGraphBuilder, type BuilderDType } from '../../src/io/onnx/graph-builder.js';
import { readOnnxModel } from '../../src/io/onnx/model.js';
import { findPrunableLayers } from '../../src/io/onnx/operators.js';
import { pruneModel } from '../../src/prune/model.js';
import { captureSession } from '../../src/runtime/capture.js';
import { evaluateModel } from '../../src/runtime/evaluate.js';
import { ModelSession } from '../../src/runtime/session.js';

/** Values exact in float16 and bfloat16 (multiples of 1/16 below 4). */
const exact = (n: number, seed: number): Float32Array => Float32Array.from({ length: n }, (_, i) => ((((i + seed) * 37) % 23) - 11) / 16);

/** x[b,4] → MatMul W1[4,8] → Add b1 → Relu (h) → MatMul W2[8,3] → logits, all in `dtype`. */
function classifier(dtype: BuilderDType): Uint8Array {
  const g = new OnnxGraphBuilder();
  const x = g.input('x', dtype, ['batch', 4]);
  const [a] = g.node('MatMul', [x, g.initializer('w1', [4, 8], exact(32, 1), dtype)]);
  const [b] = g.node('Add', [a!, g.initializer('b1', [8], exact(8, 2), dtype)]);
  g.node('Relu', [b!], {}, { outputs: ['h'] });
  g.node('MatMul', ['h', g.initializer('w2', [8, 3], exact(24, 3), dtype)], {}, { outputs: ['logits'] });
  g.output('logits', dtype, ['batch', 3]);
  return g.toBytes();
}

/** ids[b,T] → Gather(E[V,8]) → MatMul W[8,V] → logits[b,T,V], all floats in `dtype`. */
function languageModel(dtype: BuilderDType): Uint8Array {
  const V = 11;
  const g = new OnnxGraphBuilder();
  const ids = g.input('ids', 'int64', ['batch', 'seq']);
  const [e] = g.node('Gather', [g.initializer('embed', [V, 8], exact(V * 8, 4), dtype), ids]);
  g.node('MatMul', [e!, g.initializer('head', [8, V], exact(8 * V, 5), dtype)], {}, { outputs: ['logits'] });
  g.output('logits', dtype, ['batch', 'seq', V]);
  return g.toBytes();
}

const N = 64;
const X = Float32Array.from({ length: N * 4 }, (_, i) => Math.round(Math.sin(i * 1.3) * 16) / 16);

async function logitsOf(bytes: Uint8Array): Promise<{ data: Float32Array; type: string; storedType?: string; upcast: readonly string[] }> {
  const session = await ModelSession.create(readOnnxModel(bytes), { threads: 1 });
  try {
    const out = (await session.run({ x: { data: X, dims: [N, 4] } }))['logits']!;
    expect(out.data).toBeInstanceOf(Float32Array);
    return { data: out.data as Float32Array, type: out.type, ...(out.storedType ? { storedType: out.storedType } : {}), upcast: session.upcast };
  } finally {
    await session.release();
  }
}

function maxRelDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!) / (1 + Math.abs(b[i]!)));
  return m;
}

function argmaxLabels(logits: Float32Array, K: number): Int32Array {
  const labels = new Int32Array(logits.length / K);
  for (let i = 0; i < labels.length; i++) {
    let best = 0;
    for (let k = 1; k < K; k++) if (logits[i * K + k]! > logits[i * K + best]!) best = k;
    labels[i] = best;
  }
  return labels;
}

describe('float16 / bfloat16 sessions', () => {
  it('float16: Float32Array feeds are converted; outputs come back as float32 with storedType float16, close to the fp32 model', async () => {
    const fp32 = await logitsOf(classifier('float32'));
    const fp16 = await logitsOf(classifier('float16'));
    expect([fp16.type, fp16.storedType, fp16.upcast]).toEqual(['float32', 'float16', []]);
    expect(fp32.storedType).toBeUndefined();
    expect(maxRelDiff(fp16.data, fp32.data)).toBeLessThan(1e-2);
    expect(fp16.data.every(Number.isFinite)).toBe(true);
  });

  it('bfloat16 (no bfloat16 in onnxruntime-node, no CPU kernels): runs as a float32 copy, outputs storedType bfloat16', async () => {
    const fp32 = await logitsOf(classifier('float32'));
    const bf16 = await logitsOf(classifier('bfloat16'));
    expect([bf16.type, bf16.storedType, bf16.upcast]).toEqual(['float32', 'bfloat16', ['bfloat16']]);
    // weights and inputs are bfloat16-exact, so float32 arithmetic reproduces the fp32 model
    expect(maxRelDiff(bf16.data, fp32.data)).toBeLessThan(1e-6);
  });

  it('captured float16 intermediates are Float32Array with storedType', async () => {
    const session = await captureSession(readOnnxModel(classifier('float16')), ['h'], { threads: 1 });
    try {
      const out = await session.run({ x: { data: X, dims: [N, 4] } }, ['h']);
      expect(out.h!.data).toBeInstanceOf(Float32Array);
      expect([out.h!.type, out.h!.storedType, out.h!.dims]).toEqual(['float32', 'float16', [N, 8]]);
    } finally {
      await session.release();
    }
  });

  it('evaluates a float16 classifier and a float16 language model (finite perplexity, close to fp32)', async () => {
    const reference = await logitsOf(classifier('float32'));
    const data: ClassificationDataset = { kind: 'classification', inputName: 'x', x: X, sampleShape: [4], count: N, labels: argmaxLabels(reference.data, 3), numClasses: 3 };
    const acc32 = await evaluateModel(readOnnxModel(classifier('float32')), data, { threads: 1 });
    const acc16 = await evaluateModel(readOnnxModel(classifier('float16')), data, { threads: 1 });
    expect(acc32.accuracy).toBe(1);
    expect(acc16.accuracy!).toBeGreaterThanOrEqual(0.9);

    const T = 5;
    const stream = BigInt64Array.from({ length: 8 * T + 1 }, (_, i) => BigInt((i * 7) % 11));
    const tokens: TokenDataset = { kind: 'tokens', inputName: 'ids', tokens: stream.subarray(0, 8 * T), targets: stream.subarray(1, 8 * T + 1), count: 8, seqLen: T };
    const ppl32 = await evaluateModel(readOnnxModel(languageModel('float32')), tokens, { threads: 1 });
    const ppl16 = await evaluateModel(readOnnxModel(languageModel('float16')), tokens, { threads: 1 });
    const pplBf = await evaluateModel(readOnnxModel(languageModel('bfloat16')), tokens, { threads: 1 });
    expect(Number.isFinite(ppl16.perplexity)).toBe(true);
    expect(Math.abs(ppl16.perplexity! / ppl32.perplexity! - 1)).toBeLessThan(1e-2);
    expect(Math.abs(pplBf.perplexity! / ppl32.perplexity! - 1)).toBeLessThan(1e-5);
  });
});

describe('float16 weights', () => {
  it('read → write leaves the bytes identical; zeroing keeps dtype float16 and storage', () => {
    const bytes = classifier('float16');
    const model = readOnnxModel(bytes);
    const views = findPrunableLayers(model);
    expect(views.map((v) => [v.name, v.sourceDType])).toEqual([
      ['w1', 'float16'],
      ['w2', 'float16'],
    ]);
    for (const v of views) v.write(v.read());
    expect(Buffer.compare(Buffer.from(model.toBytes()), Buffer.from(bytes))).toBe(0);
    const w = views[0]!.read();
    for (let i = 0; i < w.length; i += 2) w[i] = 0;
    views[0]!.write(w);
    const t = model.initializer('w1')!;
    expect(t.dataType).toBe(10);
    expect(t.rawData!.byteLength).toBe(32 * 2);
    expect(Array.from(findPrunableLayers(model)[0]!.read())).toEqual(Array.from(w));
  });

  it('sparsegpt calibrates and prunes float16 and bfloat16 models; weights keep their dtype', async () => {
    const data: ClassificationDataset = { kind: 'classification', inputName: 'x', x: X, sampleShape: [4], count: N };
    for (const [dtype, code] of [['float16', 10], ['bfloat16', 16]] as const) {
      const { model, report } = await pruneModel(readOnnxModel(classifier(dtype)), data, { method: 'sparsegpt', sparsity: 0.5, calibSamples: 48, heldOutSamples: 16, threads: 1 });
      expect(report.layers.map((l) => l.sparsity)).toEqual([0.5, 0.5]);
      for (const l of report.layers) expect(Number.isFinite(l.error!)).toBe(true);
      expect(model.initializer('w1')!.dataType).toBe(code);
      expect(model.initializer('w2')!.dataType).toBe(code);
    }
  });
});
