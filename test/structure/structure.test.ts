import { afterAll, describe, expect, it } from 'vitest';
import { SurgeonInputError } from '../../src/errors.js';
import { loadDataset, type Dataset } from '../../src/io/dataset.js';
import { OnnxGraphBuilder } from '../../src/io/onnx/graph-builder.js';
import { readOnnxModel, type OnnxModel } from '../../src/io/onnx/model.js';
import { tensorDims } from '../../src/io/onnx/tensor.js';
import { createEngine } from '../../src/linalg/create-engine.js';
import type { StructurePlan } from '../../src/structure/graph.js';
import { pruneStructured } from '../../src/structure/prune.js';
import { selectUnits } from '../../src/structure/select.js';
import { shrinkModel, type GroupRemoval } from '../../src/structure/shrink.js';
import { gaussian, mulberry32 } from '../../src/random.js';
import { demoData, describeShared, fixture } from '../fixtures.js';
import { residualCnn } from './models.js';
import { copy, planOf, run } from './helpers.js';
import { maxAbsDiff } from '../linalg/helpers.js';

const engine = createEngine();
afterAll(async () => {
  await engine.dispose();
});

/** 32 demo images as one batch of feeds. */
function demoImages(model: OnnxModel, limit = 32): Dataset {
  return loadDataset({ inputs: demoData('fmnist-train.npz.gz'), scale: 1 / 255, limit }, { inputs: model.inputs });
}

/** Every third unit of every group. */
function everyThird(plan: StructurePlan): GroupRemoval[] {
  return plan.groups.map((group) => ({ group, units: Int32Array.from({ length: Math.floor(group.units / 3) }, (_, i) => 3 * i + 1) }));
}

describe('dependency analysis', () => {
  it('finds the residual groups of a ResNet-shaped CNN: both producers of a residual Add, their BatchNorms and every consumer', async () => {
    const model = readOnnxModel(residualCnn());
    const plan = await planOf(model);
    const byName = new Map(plan.groups.map((g) => [g.name, g]));
    const stage1 = byName.get('stem.w+1')!;
    expect(stage1.producers.map((p) => p.node)).toEqual(['/stem/Conv', '/s1.b/Conv']);
    expect(stage1.consumers.map((c) => c.node).sort()).toEqual(['/down/Conv', '/s1.a/Conv']);
    expect(stage1.slices.map((s) => s.tensor).sort()).toEqual(['s1.b.bn.bias', 's1.b.bn.mean', 's1.b.bn.scale', 's1.b.bn.var', 'stem.bn.bias', 'stem.bn.mean', 'stem.bn.scale', 'stem.bn.var']);
    const stage2 = byName.get('down.w+1')!;
    expect(stage2.consumers.map((c) => c.node).sort()).toEqual(['/head/Gemm', '/s2.a/Conv']);
    expect(stage2.consumers.find((c) => c.op === 'Conv')!.viewSpan).toBe(9);
    expect([...byName.keys()].sort()).toEqual(['down.w+1', 's1.a.w', 's2.a.w', 'stem.w+1']);
    expect(plan.groups.every((g) => g.kind === 'channels')).toBe(true);
    expect(plan.blocked).toEqual([{ name: 'head.w', kind: 'neurons', producers: ['/head/Gemm'], reason: "its tensor 'logits' is a graph output" }]);
  });

  it('blocks a residual Add whose other operand no prunable layer produces, and names it', async () => {
    const g = new OnnxGraphBuilder();
    const x = g.input('x', 'float32', ['batch', 4]);
    g.initializer('w1', [4, 4], new Float32Array(16).fill(0.1));
    g.initializer('w2', [3, 4], new Float32Array(12).fill(0.2));
    const [h] = g.node('Gemm', [x, 'w1'], { transB: { int: 1 } }, { name: 'fc1' });
    const [s] = g.node('Add', [h!, x], {}, { name: 'skip' });
    g.node('Gemm', [s!, 'w2'], { transB: { int: 1 } }, { name: 'fc2', outputs: ['y'] });
    g.output('y', 'float32', ['batch', 3]);
    const plan = await planOf(readOnnxModel(g.toBytes()));
    expect(plan.groups).toEqual([]);
    expect(plan.blocked.find((b) => b.name === 'w1')!.reason).toMatch(/^residual Add skip: its other operand 'x' is not produced by a prunable layer/);
  });

  it('lists weighted nodes that produce no units (a shared weight) with the reason', async () => {
    const g = new OnnxGraphBuilder();
    const x = g.input('x', 'float32', ['batch', 4]);
    g.initializer('w', [4, 4], new Float32Array(16).fill(0.1));
    const [a] = g.node('MatMul', [x, 'w'], {}, { name: 'first' });
    const [r] = g.node('Relu', [a!], {}, { name: 'relu' });
    g.node('MatMul', [r!, 'w'], {}, { name: 'second', outputs: ['y'] });
    g.output('y', 'float32', ['batch', 4]);
    const plan = await planOf(readOnnxModel(g.toBytes()));
    expect(plan.nonProducers.map((n) => n.node)).toEqual(['first', 'second']);
    expect(plan.nonProducers[0]!.reason).toMatch(/shared with other nodes/);
    expect(plan.groups).toEqual([]);
  });
});

describe('writing the smaller model', () => {
  it('the structured residual CNN runs in onnxruntime and equals the masked dense model (units zeroed) to 1e-5; residual members shrink alike', async () => {
    const model = readOnnxModel(residualCnn());
    const plan = await planOf(model);
    const removals = everyThird(plan);
    const masked = copy(model);
    shrinkModel(masked, removals, 'zero');
    const small = copy(model);
    shrinkModel(small, removals, 'remove');
    const data = demoImages(model);
    expect(maxAbsDiff(await run(small, data), await run(masked, data))).toBeLessThan(1e-5);
    // both producers of a residual group, and their BatchNorms, keep the same channels
    for (const { group, units } of removals) {
      const kept = group.units - units.length;
      for (const p of group.producers) expect(tensorDims(small.initializer(p.weight)!)[p.axis]).toBe(kept);
      for (const s of group.slices) expect(tensorDims(small.initializer(s.tensor)!)[s.axis]).toBe(kept);
      for (const c of group.consumers) expect(tensorDims(small.initializer(c.tensor)!)[c.axis]).toBe(kept * c.span);
    }
    expect(small.toBytes().length).toBeLessThan(0.8 * model.toBytes().length);
  });

  it('removing units whose outgoing weights are zero changes no output (1e-6)', async () => {
    const model = readOnnxModel(residualCnn());
    const plan = await planOf(model);
    const removals = everyThird(plan);
    // zero only the consumer columns: the units still compute, but nothing reads them
    for (const { group, units } of removals) {
      shrinkModel(model, [{ group: { ...group, producers: [], slices: [] }, units }], 'zero');
    }
    const small = copy(model);
    shrinkModel(small, removals, 'remove');
    const data = demoImages(model);
    expect(maxAbsDiff(await run(small, data), await run(model, data))).toBeLessThan(1e-6);
  });

  it('refuses, in one line, a sparsity that would empty a group and a structure the model lacks', async () => {
    const model = readOnnxModel(residualCnn());
    const data = demoImages(model, 64);
    await expect(pruneStructured(model, data, { structure: 'channels', method: 'magnitude', sparsity: 0.99 })).rejects.toThrow(SurgeonInputError);
    await expect(pruneStructured(model, data, { structure: 'channels', method: 'magnitude', sparsity: 0.99 })).rejects.toThrow(/^--sparsity 0.99 removes all 16 units of group stem.w\+1; pass a smaller sparsity or --skip stem.w\+1$/);
    await expect(pruneStructured(model, data, { structure: 'neurons', method: 'obs', sparsity: 0.3 })).rejects.toThrow(/^no group of neurons can shrink in this model \(head.w: its tensor 'logits' is a graph output\); see surgeon inspect, or try --structure channels or heads$/);
    await expect(pruneStructured(model, data, { structure: 'channels', method: 'sparsegpt' as never, sparsity: 0.3 })).rejects.toThrow(/has no structured form/);
  });
});

describe('unit selection', () => {
  /** A random SPD H (cols × cols) and weights. */
  function problem(rows: number, cols: number, seed: number) {
    const normal = gaussian(mulberry32(seed));
    const n = 3 * cols;
    const X = Float64Array.from({ length: n * cols }, () => normal());
    const H = new Float64Array(cols * cols);
    for (let s = 0; s < n; s++) for (let a = 0; a < cols; a++) for (let b = 0; b < cols; b++) H[a * cols + b] += (X[s * cols + a]! * X[s * cols + b]!) / n;
    const W = Float32Array.from({ length: rows * cols }, () => normal());
    return { W, H };
  }

  it('obs gives the exact least-squares weights of the kept columns, and its first choice is the cheapest unit', async () => {
    const rows = 3;
    const span = 3;
    const units = 4;
    const cols = span * units;
    const { W, H } = problem(rows, cols, 5);
    const damp = 0.01;
    const sel = await selectUnits(units, [{ W, rows, cols, start: 0, span, H }], { method: 'obs', remove: 1, damp }, engine);
    // exact cost of removing each unit alone: ½ tr(W_S ([Hd⁻¹]_SS)⁻¹ W_Sᵀ) = min over kept weights of ½ tr(ΔHdΔᵀ)
    let mean = 0;
    for (let j = 0; j < cols; j++) mean += H[j * cols + j]! / cols;
    const Hd = Float64Array.from(H);
    for (let j = 0; j < cols; j++) Hd[j * cols + j] += damp * mean;
    const leastSquares = (removed: number) => {
      const K = Array.from({ length: cols }, (_, j) => j).filter((j) => Math.floor(j / span) !== removed);
      // Ŵ_K solves Ŵ_K Hd_KK = W Hd_:,K (normal equations), by Gaussian elimination
      const k = K.length;
      const out = new Float64Array(rows * cols);
      let cost = 0;
      for (let r = 0; r < rows; r++) {
        const A = K.map((a) => K.map((b) => Hd[a * cols + b]!));
        const rhs = K.map((b) => { let s = 0; for (let a = 0; a < cols; a++) s += W[r * cols + a]! * Hd[a * cols + b]!; return s; });
        for (let i = 0; i < k; i++) {
          for (let i2 = i + 1; i2 < k; i2++) {
            const f = A[i2]![i]! / A[i]![i]!;
            for (let j = i; j < k; j++) A[i2]![j]! -= f * A[i]![j]!;
            rhs[i2]! -= f * rhs[i]!;
          }
        }
        const x = new Float64Array(k);
        for (let i = k - 1; i >= 0; i--) {
          let s = rhs[i]!;
          for (let j = i + 1; j < k; j++) s -= A[i]![j]! * x[j]!;
          x[i] = s / A[i]![i]!;
        }
        K.forEach((j, i) => (out[r * cols + j] = x[i]!));
        const delta = Array.from({ length: cols }, (_, j) => out[r * cols + j]! - W[r * cols + j]!);
        for (let a = 0; a < cols; a++) for (let b = 0; b < cols; b++) cost += 0.5 * delta[a]! * Hd[a * cols + b]! * delta[b]!;
      }
      return { out, cost };
    };
    const costs = Array.from({ length: units }, (_, u) => leastSquares(u).cost);
    const cheapest = costs.indexOf(Math.min(...costs));
    expect([...sel.removed]).toEqual([cheapest]);
    const exact = leastSquares(cheapest).out;
    for (let i = 0; i < exact.length; i++) expect(sel.W[0]![i]).toBeCloseTo(exact[i]!, 4);
    for (let r = 0; r < rows; r++) for (let j = cheapest * span; j < (cheapest + 1) * span; j++) expect(sel.W[0]![r * cols + j]).toBe(0);
  });

  it('obs and iobs reconstruct the consumer better than magnitude and wanda on the residual CNN', async () => {
    const model = readOnnxModel(residualCnn());
    const data = demoImages(model, 48);
    const errors: Record<string, number> = {};
    for (const method of ['magnitude', 'wanda', 'obs', 'iobs'] as const) {
      const { report } = await pruneStructured(model, data, { structure: 'channels', method, sparsity: 0.3, calibSamples: 48 });
      expect(report.after.parameters).toBeLessThan(report.before.parameters);
      errors[method] = report.groups.reduce((a, g) => a + (g.error ?? 0), 0);
    }
    expect(errors.obs).toBeLessThan(errors.wanda!);
    expect(errors.iobs).toBeLessThanOrEqual(errors.obs! + 1e-9);
  });
});

describeShared('structured pruning of the fixtures', () => {
  it('MLP and CNN: the structured model equals the masked dense model to 1e-5', async () => {
    for (const name of ['fmnist-mlp', 'fmnist-cnn']) {
      const model = readOnnxModel(fixture(`${name}.onnx`));
      const plan = await planOf(model);
      const removals = everyThird(plan);
      const masked = copy(model);
      shrinkModel(masked, removals, 'zero');
      const small = copy(model);
      shrinkModel(small, removals, 'remove');
      const data = loadDataset({ inputs: fixture('fmnist-test-images.npy'), scale: 1 / 255, limit: 64 }, { inputs: model.inputs });
      expect(maxAbsDiff(await run(small, data), await run(masked, data))).toBeLessThan(1e-5);
    }
  });

  it('MLP at 50 % neurons: ≤ 53 % of the parameters', async () => {
    const model = readOnnxModel(fixture('fmnist-mlp.onnx'));
    const data = loadDataset({ inputs: fixture('fmnist-calib-images.npy'), scale: 1 / 255, limit: 256 }, { inputs: model.inputs });
    const { model: small, report } = await pruneStructured(model, data, { structure: 'neurons', method: 'obs', sparsity: 0.5, calibSamples: 256 });
    expect(report.after.parameters / report.before.parameters).toBeLessThanOrEqual(0.53);
    expect(report.groups.map((g) => [g.name, g.removed, g.units])).toEqual([['net.1.weight', 128, 256], ['net.3.weight', 64, 128]]);
    expect(tensorDims(small.model.initializer('net.3.weight')!)).toEqual([64, 128]);
  });
});
