/** `surgeon inspect MODEL_DIR/model.json` for TensorFlow.js layers models. */
import { parseBackend, selectBackend } from '../../src/tfjs/backend.js';
import { loadTfjsModel, prunableViews } from '../../src/tfjs/model.js';
import { percent, table } from '../format.js';

/** The tfjs branch of `surgeon inspect`. */
export async function tfjsInspect(modelPath: string, o: { json?: boolean; backend?: string }): Promise<void> {
  const backend = await selectBackend(parseBackend(o.backend));
  const { model, file } = await loadTfjsModel(modelPath);
  const views = prunableViews(model);
  const layers = views.map((v) => {
    const values = v.variable.read().dataSync();
    let zeros = 0;
    for (let i = 0; i < values.length; i++) if (values[i] === 0) zeros++;
    return { name: v.name, layer: v.layer, op: v.className, shape: [v.rows, v.cols], kernelShape: v.shape, parameters: v.rows * v.cols, sparsity: zeros / (v.rows * v.cols) };
  });
  const prunable = layers.reduce((a, l) => a + l.parameters, 0);
  const zeros = layers.reduce((a, l) => a + l.sparsity * l.parameters, 0);
  const report = {
    format: 'tfjs-layers',
    path: file.path,
    backend,
    inputs: model.inputs.map((t) => ({ name: t.name, dtype: t.dtype, dims: t.shape.map((d) => d ?? -1) })),
    outputs: model.outputs.map((t) => ({ name: t.name, dtype: t.dtype, dims: t.shape.map((d) => d ?? -1) })),
    layers,
    parameters: model.countParams(),
    prunableParameters: prunable,
    sparsity: prunable ? zeros / prunable : 0,
    otherLayers: model.layers.filter((l) => !views.some((v) => v.layer === l.name)).map((l) => ({ name: l.name, op: l.getClassName(), parameters: l.countParams() })),
  };
  model.dispose();
  if (o.json) {
    process.stdout.write(JSON.stringify(report, null, 2) + '\n');
    return;
  }
  const io = (v: { name: string; dtype: string; dims: number[] }) => `${v.name} ${v.dtype}[${v.dims.join(',')}]`;
  process.stdout.write(
    [
      `${file.path}: TensorFlow.js layers model (backend ${backend.name})`,
      `inputs:  ${report.inputs.map(io).join('; ')}`,
      `outputs: ${report.outputs.map(io).join('; ')}`,
      '',
      table(['layer', 'op', 'shape', 'parameters', 'sparsity', 'kernel'], layers.map((l) => [l.name, l.op, `${l.shape[0]}×${l.shape[1]}`, l.parameters, percent(l.sparsity), `[${l.kernelShape.join(',')}]`])),
      '',
      `prunable parameters: ${prunable.toLocaleString('en-US')} of ${report.parameters.toLocaleString('en-US')}, sparsity ${percent(report.sparsity)}`,
    ].join('\n') + '\n',
  );
}
