import { describe, expect, it } from 'vitest';
import { OnnxGraphBuilder } from '../../src/io/onnx/graph-builder.js';
import { readOnnxModel } from '../../src/io/onnx/model.js';
import { ModelSession } from '../../src/runtime/session.js';

describe('OnnxGraphBuilder', () => {
  it('writes a model onnxruntime runs: MatMul with an initializer, a Constant bias, an If subgraph', async () => {
    const g = new OnnxGraphBuilder();
    const x = g.input('x', 'float32', ['batch', 2]);
    const w = g.initializer('w', [2, 2], [1, 2, 3, 4]);
    const b = g.constant('b', [2], [10, 20]);
    const [y] = g.node('MatMul', [x, w]);
    const [z] = g.node('Add', [y!, b]);
    const cond = g.initializer('cond', [], [1], 'bool');
    const then = new OnnxGraphBuilder({ name: 'then' });
    then.node('Identity', [z!], {}, { outputs: ['t_out'] });
    then.output('t_out', 'float32');
    const otherwise = new OnnxGraphBuilder({ name: 'else' });
    otherwise.node('Neg', [z!], {}, { outputs: ['e_out'] });
    otherwise.output('e_out', 'float32');
    g.node('If', [cond], { then_branch: { graph: then.toGraph() }, else_branch: { graph: otherwise.toGraph() } }, { outputs: ['out'] });
    g.output('out', 'float32', ['batch', 2]);
    const bytes = g.toBytes();
    expect(readOnnxModel(bytes).inputs.map((i) => i.name)).toEqual(['x']);
    const session = await ModelSession.create(bytes);
    const result = await session.run({ x: { data: new Float32Array([1, 1]), dims: [1, 2] } });
    await session.release();
    expect(Array.from(result.out!.data as Float32Array)).toEqual([14, 26]);
  });
});
