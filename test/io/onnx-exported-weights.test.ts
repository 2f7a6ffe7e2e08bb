/**
 * The operator table on weights as exporters write them: behind Constant/Identity/Cast/
 * Transpose/Reshape chains, shared by several nodes, tied with an embedding, quantized, and
 * inside If/Loop bodies. Every model is built here with OnnxGraphBuilder.
 */
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { OnnxGraphBuilder } from '../../src/io/onnx/graph-builder.js';
import { readOnnxModel, type OnnxModel } from '../../src/io/onnx/model.js';
import { findPrunableLayers, scanLayers, transposeND, type WeightView } from '../../src/io/onnx/operators.js';
import { ModelSession } from '../../src/runtime/session.js';
import { maxAbsDiff } from '../linalg/helpers.js';

/** fp16-exact weight values. */
const value = (k: number): number => (((k * 7) % 11) - 5) / 4;
/** Wb[k][n] (4 inputs × 3 outputs, as MatMul's right operand) and its transpose Wt[n][k]. */
const WB = Float32Array.from({ length: 12 }, (_, i) => value(i));
const WT = transposeND(WB, [4, 3], [1, 0]);
const X = Float32Array.from({ length: 8 }, (_, i) => Math.sin(i + 1));
const XT = transposeND(X, [2, 4], [1, 0]);

async function run(model: OnnxModel, feeds: Record<string, { data: Float32Array; dims: number[] }>, output: string): Promise<Float32Array> {
  const session = await ModelSession.create(model, { threads: 1 });
  try {
    return (await session.run(feeds, [output]))[output]!.data as Float32Array;
  } finally {
    await session.release();
  }
}

/** Zeroes view entries i with i % 3 == 0 (the same positions in every view). */
function zeroSome(view: WeightView): Float32Array {
  const w = view.read();
  for (let i = 0; i < w.length; i += 3) w[i] = 0;
  view.write(w);
  return w;
}

/**
 * Model A has its weight behind a chain, model B the same weight as a plain initializer.
 * Their views read the same matrix; zeroing the same entries through both views gives the
 * same onnxruntime outputs; A's view reads back what was written.
 */
async function checkEquivalent(a: Uint8Array, b: Uint8Array, feeds: Record<string, { data: Float32Array; dims: number[] }>): Promise<{ model: OnnxModel; view: WeightView }> {
  const mA = readOnnxModel(a);
  const mB = readOnnxModel(b);
  const [vA, ...restA] = findPrunableLayers(mA);
  const [vB, ...restB] = findPrunableLayers(mB);
  expect(restA).toHaveLength(0);
  expect(restB).toHaveLength(0);
  expect([vA!.rows, vA!.cols]).toEqual([vB!.rows, vB!.cols]);
  expect(Array.from(vA!.read())).toEqual(Array.from(vB!.read()));
  const denseA = await run(mA, feeds, 'y');
  expect(maxAbsDiff(denseA, await run(mB, feeds, 'y'))).toBeLessThanOrEqual(1e-6);
  const written = zeroSome(vA!);
  zeroSome(vB!);
  expect(Array.from(vA!.read())).toEqual(Array.from(written));
  expect(Array.from(findPrunableLayers(mA)[0]!.read())).toEqual(Array.from(written));
  const prunedA = await run(mA, feeds, 'y');
  expect(maxAbsDiff(prunedA, await run(mB, feeds, 'y'))).toBeLessThanOrEqual(1e-6);
  expect(maxAbsDiff(prunedA, denseA)).toBeGreaterThan(1e-3); // the write reached what onnxruntime runs
  return { model: mA, view: vA! };
}

/** y = MatMul(x, operand) where `operand(g)` builds a [4, 3] weight. */
function rightModel(operand: (g: OnnxGraphBuilder) => string): Uint8Array {
  const g = new OnnxGraphBuilder();
  const x = g.input('x', 'float32', ['batch', 4]);
  g.node('MatMul', [x, operand(g)], {}, { name: 'mm', outputs: ['y'] });
  g.output('y', 'float32', ['batch', 3]);
  return g.toBytes();
}
const plainRight = (): Uint8Array => rightModel((g) => g.initializer('w', [4, 3], WB));
const xFeed = { x: { data: X, dims: [2, 4] } };

describe('weights behind a chain of producers', () => {
  const cases: Array<{ name: string; via: string[]; kind: 'initializer' | 'constant'; dtype: string; source: string; operand: (g: OnnxGraphBuilder) => string }> = [
    { name: 'Constant (value tensor)', via: [], kind: 'constant', dtype: 'float32', source: 'wc', operand: (g) => g.constant('wc', [4, 3], WB) },
    {
      name: 'Constant value_floats → Reshape',
      via: ['Reshape'],
      kind: 'constant',
      dtype: 'float32',
      source: 'wf',
      operand: (g) => {
        g.node('Constant', [], { value_floats: { floats: Array.from(WB) } }, { name: 'wf_Constant', outputs: ['wf'] });
        const shape = g.constant('shape', [2], [4, 3], 'int64');
        return g.node('Reshape', ['wf', shape])[0]!;
      },
    },
    { name: 'Identity', via: ['Identity'], kind: 'initializer', dtype: 'float32', source: 'w', operand: (g) => g.node('Identity', [g.initializer('w', [4, 3], WB)])[0]! },
    { name: 'Cast float16 → float32', via: ['Cast'], kind: 'initializer', dtype: 'float16', source: 'w16', operand: (g) => g.node('Cast', [g.initializer('w16', [4, 3], WB, 'float16')], { to: { int: 1 } })[0]! },
    { name: 'Transpose of a [out, in] weight', via: ['Transpose'], kind: 'initializer', dtype: 'float32', source: 'wt', operand: (g) => g.node('Transpose', [g.initializer('wt', [3, 4], WT)], { perm: { ints: [1, 0] } })[0]! },
    {
      name: 'Reshape of a flat initializer',
      via: ['Reshape'],
      kind: 'initializer',
      dtype: 'float32',
      source: 'flat',
      operand: (g) => g.node('Reshape', [g.initializer('flat', [12], WB), g.initializer('shape', [2], [-1, 3], 'int64')])[0]!,
    },
    {
      name: 'Reshape of a [in, 1, out] initializer (Constant shape with a 0)',
      via: ['Reshape'],
      kind: 'initializer',
      dtype: 'float32',
      source: 'w3',
      operand: (g) => g.node('Reshape', [g.initializer('w3', [4, 1, 3], WB), g.constant('shape', [2], [0, 3], 'int64')])[0]!,
    },
    {
      name: 'Squeeze of a [1, in, out] initializer',
      via: ['Squeeze'],
      kind: 'initializer',
      dtype: 'float32',
      source: 'w3',
      operand: (g) => g.node('Squeeze', [g.initializer('w3', [1, 4, 3], WB), g.initializer('axes', [1], [0], 'int64')])[0]!,
    },
    {
      name: 'Identity → Cast → Transpose of a bfloat16 Constant',
      via: ['Identity', 'Cast', 'Transpose'],
      kind: 'constant',
      dtype: 'bfloat16',
      source: 'wb',
      operand: (g) => {
        const [i] = g.node('Identity', [g.constant('wb', [3, 4], WT, 'bfloat16')]);
        const [c] = g.node('Cast', [i!], { to: { int: 1 } });
        return g.node('Transpose', [c!])[0]!;
      },
    },
    {
      name: 'Transpose of a flat weight reshaped to [out, in]',
      via: ['Reshape', 'Transpose'],
      kind: 'initializer',
      dtype: 'float32',
      source: 'flatT',
      operand: (g) => {
        const [r] = g.node('Reshape', [g.initializer('flatT', [12], WT), g.initializer('shape', [2], [3, 4], 'int64')]);
        return g.node('Transpose', [r!], { perm: { ints: [1, 0] } })[0]!;
      },
    },
  ];

  for (const c of cases) {
    it(`${c.name}: one view, same matrix and same ORT outputs as the plain initializer, source keeps its dtype`, async () => {
      const { model, view } = await checkEquivalent(rightModel(c.operand), plainRight(), xFeed);
      expect(view.via).toEqual(c.via);
      expect(view.uses[0]!.via).toEqual(c.via);
      expect(view.sourceKind).toBe(c.kind);
      expect(view.sourceDType).toBe(c.dtype);
      expect(view.weightName).toBe(c.source);
      expect(view.name).toBe(c.source);
      expect([view.op, view.nodeName, view.inputName, view.outputName, view.orientation]).toEqual(['MatMul', 'mm', 'x', 'y', 'right']);
      expect(view.tied).toBe(false);
      expect(view.capturable).toBe(true);
      const code = { float32: 1, float16: 10, bfloat16: 16 }[c.dtype];
      const stored = c.kind === 'initializer' ? model.initializer(c.source)! : model.graph.node.find((n) => n.output[0] === c.source)!.attribute[0]!.t;
      if (stored) expect(stored.dataType).toBe(code);
    });
  }

  it('Gemm(transB=1, alpha) with its weight behind Identity', async () => {
    const build = (chain: boolean): Uint8Array => {
      const g = new OnnxGraphBuilder();
      const x = g.input('x', 'float32', ['batch', 4]);
      const w = g.initializer('wt', [3, 4], WT);
      const operand = chain ? g.node('Identity', [w])[0]! : w;
      g.node('Gemm', [x, operand, g.initializer('bias', [3], [1, 2, 3])], { transB: { int: 1 }, alpha: { float: 0.5 } }, { outputs: ['y'] });
      g.output('y', 'float32', ['batch', 3]);
      return g.toBytes();
    };
    const { view } = await checkEquivalent(build(true), build(false), xFeed);
    expect([view.op, view.alpha, view.transposeWeight, view.via]).toEqual(['Gemm', 0.5, false, ['Identity']]);
  });

  it("left orientation: MatMul(Transpose(w), x)", async () => {
    const build = (chain: boolean): Uint8Array => {
      const g = new OnnxGraphBuilder();
      const x = g.input('x', 'float32', [4, 'n']);
      const operand = chain ? g.node('Transpose', [g.initializer('w', [4, 3], WB)])[0]! : g.initializer('a', [3, 4], WT);
      g.node('MatMul', [operand, x], {}, { outputs: ['y'] });
      g.output('y', 'float32', [3, 'n']);
      return g.toBytes();
    };
    const { view } = await checkEquivalent(build(true), build(false), { x: { data: XT, dims: [4, 2] } });
    expect([view.orientation, view.rows, view.cols, view.via]).toEqual(['left', 3, 4, ['Transpose']]);
  });

  it('grouped Conv whose OIHW weight is a Transpose of an HWIO initializer: one view per group', async () => {
    const oihw = Float32Array.from({ length: 4 * 2 * 3 * 3 }, (_, i) => value(i));
    const hwio = transposeND(oihw, [4, 2, 3, 3], [2, 3, 1, 0]);
    const build = (chain: boolean): Uint8Array => {
      const g = new OnnxGraphBuilder();
      const x = g.input('x', 'float32', [1, 4, 5, 5]);
      const w = chain ? g.node('Transpose', [g.initializer('hwio', [3, 3, 2, 4], hwio)], { perm: { ints: [3, 2, 0, 1] } })[0]! : g.initializer('oihw', [4, 2, 3, 3], oihw);
      g.node('Conv', [x, w], { group: { int: 2 }, pads: { ints: [1, 1, 1, 1] } }, { outputs: ['y'] });
      g.output('y', 'float32', [1, 4, 5, 5]);
      return g.toBytes();
    };
    const mA = readOnnxModel(build(true));
    const mB = readOnnxModel(build(false));
    const vA = findPrunableLayers(mA);
    const vB = findPrunableLayers(mB);
    expect(vA.map((v) => [v.name, v.rows, v.cols, v.groupIndex, v.via])).toEqual([
      ['hwio#g0', 2, 18, 0, ['Transpose']],
      ['hwio#g1', 2, 18, 1, ['Transpose']],
    ]);
    const feeds = { x: { data: Float32Array.from({ length: 100 }, (_, i) => Math.cos(i)), dims: [1, 4, 5, 5] } };
    for (let gi = 0; gi < 2; gi++) {
      expect(Array.from(vA[gi]!.read())).toEqual(Array.from(vB[gi]!.read()));
    }
    zeroSome(vA[1]!);
    zeroSome(vB[1]!);
    expect(Array.from(vA[0]!.read())).toEqual(Array.from(vB[0]!.read())); // the other group is untouched
    expect(maxAbsDiff(await run(mA, feeds, 'y'), await run(mB, feeds, 'y'))).toBeLessThanOrEqual(1e-6);
  });

  it('read() then write() of the same data leaves the model bytes identical (float16 and bfloat16 sources)', () => {
    for (const c of cases) {
      const bytes = rightModel(c.operand);
      const model = readOnnxModel(bytes);
      for (const v of findPrunableLayers(model)) v.write(v.read());
      expect(Buffer.compare(Buffer.from(model.toBytes()), Buffer.from(bytes))).toBe(0);
    }
  });
});

describe('shared and tied weights', () => {
  it('one initializer used by two MatMuls (one through Identity) is one view with two uses', async () => {
    const build = (shared: boolean): Uint8Array => {
      const g = new OnnxGraphBuilder();
      const x = g.input('x', 'float32', ['batch', 4]);
      const w = g.initializer('w', [4, 3], WB);
      const w2 = shared ? g.node('Identity', [w], {}, { name: 'id' })[0]! : g.initializer('w_copy', [4, 3], WB);
      const [h] = g.node('Relu', [x], {}, { outputs: ['h'] });
      const [y1] = g.node('MatMul', [x, w], {}, { name: 'mm1' });
      const [y2] = g.node('MatMul', [h!, w2], {}, { name: 'mm2' });
      g.node('Add', [y1!, y2!], {}, { outputs: ['y'] });
      g.output('y', 'float32', ['batch', 3]);
      return g.toBytes();
    };
    const shared = readOnnxModel(build(true));
    const copies = readOnnxModel(build(false));
    const [view, ...rest] = findPrunableLayers(shared);
    expect(rest).toHaveLength(0);
    expect(view!.uses.map((u) => [u.nodeName, u.inputName, u.outputName, u.orientation, u.via])).toEqual([
      ['mm1', 'x', 'mm1_out0', 'right', []],
      ['mm2', 'h', 'mm2_out0', 'right', ['Identity']],
    ]);
    expect([view!.nodeName, view!.inputName, view!.rows, view!.cols, view!.tied]).toEqual(['mm1', 'x', 3, 4, false]);
    const plain = findPrunableLayers(copies);
    expect(plain).toHaveLength(2);
    zeroSome(view!);
    for (const v of plain) zeroSome(v);
    expect(maxAbsDiff(await run(shared, xFeed, 'y'), await run(copies, xFeed, 'y'))).toBeLessThanOrEqual(1e-6);
  });

  it('uses that see the weight as different matrices or in different layouts are listed, not viewed', () => {
    const g = new OnnxGraphBuilder();
    const x = g.input('x', 'float32', ['batch', 4]);
    const z = g.input('z', 'float32', [3, 'n']);
    const w = g.initializer('w', [4, 3], WB);
    g.node('MatMul', [x, w], {}, { name: 'right' });
    g.node('MatMul', [w, z], {}, { name: 'left' });
    const sq = g.initializer('sq', [4, 4], Float32Array.from({ length: 16 }, (_, i) => value(i)));
    g.node('MatMul', [x, sq], {}, { name: 'plain' });
    g.node('MatMul', [x, g.node('Transpose', [sq])[0]!], {}, { name: 'transposed' });
    const { views, skipped } = scanLayers(readOnnxModel(g.toBytes()));
    expect(views).toHaveLength(0);
    expect(skipped.map((s) => [s.nodeName, s.weightName])).toEqual([
      ['right', 'w'],
      ['left', 'w'],
      ['plain', 'sq'],
      ['transposed', 'sq'],
    ]);
    expect(skipped[0]!.reason).toMatch(/shared by right, left, which see it as different matrices \(3x4 vs 4x3\)/);
    expect(skipped[2]!.reason).toMatch(/read it in different layouts/);
  });

  it('an embedding tied with the lm_head (Gather + MatMul(h, Transpose(E))) is flagged tied', async () => {
    const V = 6;
    const E = Float32Array.from({ length: V * 4 }, (_, i) => value(i + 3));
    const g = new OnnxGraphBuilder();
    const ids = g.input('ids', 'int64', ['batch', 'seq']);
    const e = g.initializer('embed.weight', [V, 4], E);
    const [emb] = g.node('Gather', [e, ids], {}, { name: '/embed/Gather' });
    g.node('Shape', [e], {}, { name: 'shape_only' });
    const [h] = g.node('Relu', [emb!]);
    const [et] = g.node('Transpose', [e], { perm: { ints: [1, 0] } }, { name: '/lm_head/Transpose' });
    g.node('MatMul', [h!, et!], {}, { name: '/lm_head/MatMul', outputs: ['logits'] });
    g.output('logits', 'float32', ['batch', 'seq', V]);
    const model = readOnnxModel(g.toBytes());
    const [view, ...rest] = findPrunableLayers(model);
    expect(rest).toHaveLength(0);
    expect([view!.name, view!.rows, view!.cols, view!.via, view!.tied, view!.tiedWith]).toEqual(['embed.weight', V, 4, ['Transpose'], true, ['/embed/Gather']]);
    expect(Array.from(view!.read())).toEqual(Array.from(E)); // the lm_head's rows are the embedding's rows
    // writing the tied view changes the embedding the Gather reads
    const w = view!.read();
    w.fill(0, 0, 4);
    view!.write(w);
    expect(Array.from(model.readInitializer('embed.weight').subarray(0, 4))).toEqual([0, 0, 0, 0]);
    const s = await ort.InferenceSession.create(model.toBytes(), { logSeverityLevel: 3 });
    const out = await s.run({ ids: new ort.Tensor('int64', BigInt64Array.from([0n, 1n]), [1, 2]) });
    await s.release();
    const logits = out.logits!.data as Float32Array;
    expect(Array.from(logits.subarray(0, V))).toEqual(new Array(V).fill(0)); // token 0's embedding is zero now
    expect(logits[V]).toBe(0); // and so is its logit
  });
});

describe('quantized weights', () => {
  it('DequantizeLinear weights (directly or behind Transpose) are listed, not pruned', () => {
    const g = new OnnxGraphBuilder();
    const x = g.input('x', 'float32', ['batch', 4]);
    const q = g.initializer('w_q', [4, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], 'int8');
    const dq = g.node('DequantizeLinear', [q, g.initializer('scale', [], [0.1]), g.initializer('zp', [], [0], 'int8')])[0]!;
    g.node('MatMul', [x, dq], {}, { name: 'mm' });
    const qt = g.initializer('wt_q', [3, 4], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], 'uint8');
    const dqt = g.node('DequantizeLinear', [qt, g.initializer('scale2', [], [0.1])])[0]!;
    g.node('MatMul', [x, g.node('Transpose', [dqt])[0]!], {}, { name: 'mm_t' });
    g.node('MatMulInteger', [g.input('xq', 'uint8', ['batch', 4]), qt], {}, { name: 'mmi' });
    const { views, skipped } = scanLayers(readOnnxModel(g.toBytes()));
    expect(views).toHaveLength(0);
    expect(skipped).toEqual([
      { nodeName: 'mm', op: 'MatMul', reason: "quantized weight 'w_q' (DequantizeLinear); listed, not pruned", weightName: dq },
      { nodeName: 'mm_t', op: 'MatMul', reason: "quantized weight 'wt_q' (DequantizeLinear); listed, not pruned", weightName: expect.any(String) },
      { nodeName: 'mmi', op: 'MatMulInteger', reason: 'quantized operator MatMulInteger; listed, not pruned' },
    ]);
  });

  it('a weight computed by another op, or not a float tensor, is listed with the reason', () => {
    const g = new OnnxGraphBuilder();
    const x = g.input('x', 'float32', ['batch', 4]);
    const w = g.initializer('w', [4, 3], WB);
    g.node('MatMul', [x, g.node('Mul', [w, g.initializer('two', [], [2])], {}, { name: 'scale' })[0]!], {}, { name: 'mm' });
    g.node('MatMul', [x, g.node('Cast', [g.initializer('wi', [4, 3], WB, 'int32')], { to: { int: 1 } })[0]!], {}, { name: 'mm_int' });
    const { views, skipped } = scanLayers(readOnnxModel(g.toBytes()));
    expect(views).toHaveLength(0);
    expect(skipped.map((s) => s.reason)).toEqual([expect.stringMatching(/computed by Mul 'scale'/), "weight 'wi' is int32, not a float tensor"]);
  });
});

describe('prunable nodes inside If/Loop bodies', () => {
  /** then: MatMul(a, then-initializer) with a from the main graph; else: MatMul(Neg(a), main initializer). */
  function ifModel(): Uint8Array {
    const g = new OnnxGraphBuilder();
    const x = g.input('x', 'float32', [2, 4]);
    const cond = g.input('cond', 'bool', []);
    const [a] = g.node('Relu', [x], {}, { outputs: ['a'] });
    const outer = g.initializer('w_outer', [4, 3], WB);
    const then = new OnnxGraphBuilder({ name: 'then' });
    then.initializer('w_then', [3, 4], WT);
    then.node('Gemm', [a!, 'w_then'], { transB: { int: 1 } }, { name: 'then_gemm', outputs: ['t_out'] });
    then.output('t_out', 'float32');
    const other = new OnnxGraphBuilder({ name: 'else' });
    other.node('Neg', [a!], {}, { outputs: ['neg'] });
    other.node('MatMul', ['neg', outer], {}, { name: 'else_mm', outputs: ['e_out'] });
    other.output('e_out', 'float32');
    g.node('If', [cond], { then_branch: { graph: then.toGraph() }, else_branch: { graph: other.toGraph() } }, { name: 'branch', outputs: ['y'] });
    g.output('y', 'float32', [2, 3]);
    return g.toBytes();
  }

  async function runIf(model: OnnxModel, cond: boolean): Promise<Float32Array> {
    const s = await ort.InferenceSession.create(model.toBytes(), { logSeverityLevel: 3, intraOpNumThreads: 1 });
    const out = await s.run({ x: new ort.Tensor('float32', X, [2, 4]), cond: new ort.Tensor('bool', Uint8Array.of(cond ? 1 : 0), []) });
    await s.release();
    return out.y!.data as Float32Array;
  }

  it('finds them with their subgraph, source graph and whether their input can be captured', () => {
    const model = readOnnxModel(ifModel());
    expect(model.subgraphs().map((s) => s.path)).toEqual(['branch/then_branch', 'branch/else_branch']);
    const views = findPrunableLayers(model);
    expect(views.map((v) => [v.name, v.op, v.nodeName, v.subgraph, v.sourceSubgraph, v.inputName, v.capturable, v.rows, v.cols])).toEqual([
      ['w_then', 'Gemm', 'then_gemm', 'branch/then_branch', 'branch/then_branch', 'a', true, 3, 4],
      ['w_outer', 'MatMul', 'else_mm', 'branch/else_branch', undefined, 'neg', false, 3, 4],
    ]);
    expect(views[0]!.captureNote).toBeUndefined();
    expect(views[1]!.captureNote).toMatch(/'neg' is computed inside subgraph 'branch\/else_branch'/);
    expect(views[1]!.uses[0]!.capturable).toBe(false);
    expect(Array.from(views[0]!.read())).toEqual(Array.from(WT));
    expect(Array.from(views[1]!.read())).toEqual(Array.from(WT));
  });

  it('reads and writes subgraph initializers; onnxruntime runs the pruned bodies', async () => {
    const model = readOnnxModel(ifModel());
    const [vThen, vElse] = findPrunableLayers(model);
    const denseThen = await runIf(model, true);
    const w = zeroSome(vThen!);
    zeroSome(vElse!);
    expect(Array.from(model.readInitializer('w_then', 'branch/then_branch'))).toEqual(Array.from(w));
    expect(model.initializer('w_then')).toBeUndefined(); // not a main-graph initializer
    expect(() => model.readInitializer('w_then', 'nope')).toThrow(/subgraph 'nope' not found/);
    // expected outputs from the zeroed view: then y = relu(x)·Vᵀ; else y = -relu(x)·Vᵀ
    const expected = new Float32Array(6);
    for (let b = 0; b < 2; b++)
      for (let o = 0; o < 3; o++) {
        let acc = 0;
        for (let k = 0; k < 4; k++) acc += Math.max(0, X[b * 4 + k]!) * w[o * 4 + k]!;
        expected[b * 3 + o] = acc;
      }
    const yThen = await runIf(model, true);
    const yElse = await runIf(model, false);
    expect(maxAbsDiff(yThen, expected)).toBeLessThanOrEqual(1e-6);
    expect(maxAbsDiff(yElse, expected.map((v) => -v))).toBeLessThanOrEqual(1e-6);
    expect(maxAbsDiff(yThen, denseThen)).toBeGreaterThan(1e-3);
    // a fresh scan sees the written subgraph initializer
    model.setInitializer('w_then', WT, 'branch/then_branch');
    expect(Array.from(findPrunableLayers(model)[0]!.read())).toEqual(Array.from(WT));
  });

  it('recurses into nested bodies (an If inside a Loop body)', () => {
    const g = new OnnxGraphBuilder();
    const x = g.input('x', 'float32', [2, 4]);
    const inner = new OnnxGraphBuilder({ name: 'inner' });
    inner.node('MatMul', [x, g.initializer('w_nested', [4, 3], WB)], {}, { name: 'nested_mm', outputs: ['n_out'] });
    inner.output('n_out', 'float32');
    const empty = new OnnxGraphBuilder({ name: 'empty' });
    empty.node('Identity', [g.initializer('zeros', [2, 3], new Float32Array(6))], {}, { outputs: ['z_out'] });
    empty.output('z_out', 'float32');
    const body = new OnnxGraphBuilder({ name: 'body' });
    body.input('i', 'int64', []);
    body.input('c', 'bool', []);
    body.node('Identity', ['c'], {}, { outputs: ['c_out'] });
    body.node('If', ['c'], { then_branch: { graph: inner.toGraph() }, else_branch: { graph: empty.toGraph() } }, { name: 'inner_if', outputs: ['scan_out'] });
    body.output('c_out', 'bool');
    body.output('scan_out', 'float32');
    g.node('Loop', [g.initializer('trips', [], [2], 'int64'), g.initializer('go', [], [1], 'bool')], { body: { graph: body.toGraph() } }, { name: 'loop', outputs: ['y'] });
    g.output('y', 'float32');
    const [view, ...rest] = findPrunableLayers(readOnnxModel(g.toBytes()));
    expect(rest).toHaveLength(0);
    expect([view!.name, view!.subgraph, view!.capturable]).toEqual(['w_nested', 'loop/body/inner_if/then_branch', true]);
  });
});
