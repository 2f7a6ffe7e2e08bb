/**
 * `--structure heads`: the attention analysis (./src/structure/heads.ts) on tiny multi-head
 * attention blocks built in code (fused and separate q/k/v, computed and constant head shapes, a
 * causal mask), the written model against the masked one, and the fixture ViT and GPT.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { SurgeonInputError } from '../../src/errors.js';
import { loadDataset, type ClassificationDataset, type Dataset } from '../../src/io/dataset.js';
import { readOnnxModel, type OnnxModel } from '../../src/io/onnx/model.js';
import { tensorDims } from '../../src/io/onnx/tensor.js';
import { createEngine } from '../../src/linalg/create-engine.js';
import type { StructurePlan } from '../../src/structure/graph.js';
import { pruneStructured } from '../../src/structure/prune.js';
import { shrinkModel, type GroupRemoval } from '../../src/structure/shrink.js';
import { gaussian, mulberry32 } from '../../src/random.js';
import { describeShared, fixture } from '../fixtures.js';
import { maxAbsDiff } from '../linalg/helpers.js';
import { tinyAttention, type TinyAttentionOptions } from './models.js';
import { copy, planOf, run } from './helpers.js';

const engine = createEngine();
afterAll(async () => {
  await engine.dispose();
});

/** `count` random token sequences [5, 16] for the tiny block. */
function tokens(count: number, seed = 11): ClassificationDataset {
  const normal = gaussian(mulberry32(seed));
  return { kind: 'classification', inputName: 'x', x: Float32Array.from({ length: count * 5 * 16 }, () => normal()), sampleShape: [5, 16], count };
}

const headGroups = (plan: StructurePlan) => plan.groups.filter((g) => g.kind === 'heads');

const layouts: Array<[string, TinyAttentionOptions]> = [
  ['fused q/k/v, computed head shapes, causal mask', { fused: true, computedShapes: true, causal: true }],
  ['separate q/k/v (v without bias), constant head shapes', { fused: false, computedShapes: false }],
];

describe('attention heads: analysis', () => {
  it('finds the heads of a fused q/k/v attention: the head rows of q, k, v and their bias, the out-projection columns, the head Reshapes and the Split', async () => {
    const plan = await planOf(readOnnxModel(tinyAttention({ causal: true })));
    const [group, ...rest] = headGroups(plan);
    expect(rest).toEqual([]);
    expect(group!.name).toBe('/proj/MatMul');
    expect(group!.units).toBe(4);
    expect(group!.producers.map((p) => [p.node, p.weight, p.axis, p.offset, p.span, p.bias])).toEqual([
      ['/qkv/MatMul', 'qkv.w', 1, 0, 4, 'qkv.b'],
      ['/qkv/MatMul', 'qkv.w', 1, 4, 4, 'qkv.b'],
      ['/qkv/MatMul', 'qkv.w', 1, 8, 4, 'qkv.b'],
    ]);
    expect(group!.consumers.map((c) => [c.node, c.tensor, c.axis, c.span, c.viewSpan, c.bias])).toEqual([['/proj/MatMul', 'proj.w', 0, 4, 4, 'proj.b']]);
    expect(group!.headReshapes!.map((r) => [r.kind, r.leading, r.headDim])).toEqual([['split', 2, 4], ['split', 2, 4], ['split', 2, 4], ['merge', 2, 4]]);
    expect(group!.splits!.map((s) => s.outputs)).toEqual([[0, 1, 2]]);
    // the MLP's hidden neurons are a neurons group whose consumer fc2 carries its bias (MatMul + Add)
    const mlp = plan.groups.find((g) => g.kind === 'neurons')!;
    expect(mlp.name).toBe('fc1.w');
    expect(mlp.consumers.map((c) => [c.node, c.bias])).toEqual([['/fc2/MatMul', 'fc2.b']]);
  });

  it('leaves an attention whose mask differs per head alone, with the reason', async () => {
    const plan = await planOf(readOnnxModel(tinyAttention({ perHeadMask: true })));
    expect(headGroups(plan)).toEqual([]);
    expect(plan.blocked.filter((b) => b.kind === 'heads')).toEqual([{ name: '/attn/MatMul', kind: 'heads', producers: [], reason: "Add /mask/Add: 'head_bias' differs per head (a per-head mask or scale)" }]);
  });
});

describe('attention heads: the smaller model', () => {
  for (const [what, options] of layouts) {
    it(`${what}: removing heads equals zeroing them (1e-5); heads whose out-projection columns are zero leave no trace (1e-6)`, async () => {
      const model = readOnnxModel(tinyAttention(options));
      const data = tokens(96);
      const plan = await planOf(model, data);
      const removals: GroupRemoval[] = headGroups(plan).map((group) => ({ group, units: Int32Array.from([1, 3]) }));
      expect(removals).toHaveLength(1);
      const masked = copy(model);
      shrinkModel(masked, removals, 'zero');
      const small = copy(model);
      shrinkModel(small, removals, 'remove');
      expect(maxAbsDiff(await run(small, data), await run(masked, data))).toBeLessThan(1e-5);
      // physically smaller: q, k, v and out-projection lose 2 of 4 heads
      const p = removals[0]!.group.producers[0]!;
      expect(tensorDims(small.initializer(p.weight)!)[p.axis]).toBe(p.rows / 2);
      expect(tensorDims(small.initializer('proj.w')!)).toEqual([8, 16]);
      // zero only the out-projection columns of heads 1 and 3: the heads still compute, nothing reads them
      const zeroed = copy(model);
      shrinkModel(zeroed, removals.map((r) => ({ group: { ...r.group, producers: [], slices: [] }, units: r.units })), 'zero');
      const removed = copy(zeroed);
      shrinkModel(removed, removals, 'remove');
      expect(maxAbsDiff(await run(removed, data), await run(zeroed, data))).toBeLessThan(1e-6);
      // and zeroing those columns did change the model (the test can fail)
      expect(maxAbsDiff(await run(zeroed, data), await run(model, data))).toBeGreaterThan(1e-3);
    });
  }

  it('obs and iobs rank heads by group OBS on the out-projection and reconstruct it better than magnitude; the model runs with 2 of 4 heads', async () => {
    const model = readOnnxModel(tinyAttention({ causal: true }));
    const data = tokens(256);
    const errors: Record<string, number> = {};
    for (const method of ['magnitude', 'wanda', 'obs', 'iobs'] as const) {
      const { model: small, report } = await pruneStructured(model, data, { structure: 'heads', method, sparsity: 0.5, calibSamples: 256, engine });
      expect(report.groups.map((g) => [g.name, g.removed, g.units])).toEqual([['/proj/MatMul', 2, 4]]);
      expect(report.after.parameters).toBeLessThan(report.before.parameters);
      expect(report.after.macs).toBeLessThan(report.before.macs);
      expect((await run(small.model, tokens(8))).length).toBe(8 * 5 * 16);
      errors[method] = report.groups[0]!.error!;
      small.dispose();
    }
    expect(errors.obs).toBeLessThan(errors.wanda!);
    expect(errors.iobs).toBeLessThanOrEqual(errors.obs! + 1e-9);
  });

  it('refuses a sparsity that removes every head, and heads in a model without attention, in one line', async () => {
    const model = readOnnxModel(tinyAttention());
    const data = tokens(32);
    await expect(pruneStructured(model, data, { structure: 'heads', method: 'obs', sparsity: 0.9 })).rejects.toThrow(/^--sparsity 0.9 removes all 4 units of group \/proj\/MatMul; pass a smaller sparsity or --skip \/proj\/MatMul$/);
    const blocked = readOnnxModel(tinyAttention({ perHeadMask: true }));
    await expect(pruneStructured(blocked, data, { structure: 'heads', method: 'obs', sparsity: 0.5 })).rejects.toThrow(SurgeonInputError);
    await expect(pruneStructured(blocked, data, { structure: 'heads', method: 'obs', sparsity: 0.5 })).rejects.toThrow(/^no group of heads can shrink in this model \(\/attn\/MatMul: Add \/mask\/Add: 'head_bias' differs per head/);
  });
});

describeShared('attention heads of the fixture ViT and GPT', () => {
  it('ViT (4 heads of 16) and GPT (4 heads of 24, causal): every block\'s heads are found; removing heads equals zeroing them (1e-5)', async () => {
    const cases: Array<[string, (m: OnnxModel) => Dataset]> = [
      ['fmnist-vit.onnx', (m) => loadDataset({ inputs: fixture('fmnist-test-images.npy'), scale: 1 / 255, limit: 32 }, { inputs: m.inputs })],
      ['lic-gpt.onnx', (m) => loadDataset({ tokens: fixture('lic-gpt.val-tokens.npy'), seqLen: 128, limit: 2 }, { inputs: m.inputs })],
    ];
    for (const [file, data] of cases) {
      const model = readOnnxModel(fixture(file));
      const ds = data(model);
      const plan = await planOf(model, ds);
      const groups = headGroups(plan);
      expect(groups.map((g) => g.name), file).toEqual([0, 1, 2, 3].map((b) => `/blocks.${b}/proj/MatMul`));
      expect(plan.blocked.filter((b) => b.kind === 'heads'), file).toEqual([]);
      const removals = groups.map((group, i) => ({ group, units: Int32Array.from(i % 2 ? [0, 3] : [2]) }));
      const masked = copy(model);
      shrinkModel(masked, removals, 'zero');
      const small = copy(model);
      shrinkModel(small, removals, 'remove');
      expect(maxAbsDiff(await run(small, ds), await run(masked, ds)), file).toBeLessThan(1e-5);
      expect(small.toBytes().length).toBeLessThan(model.toBytes().length);
    }
  });
});
