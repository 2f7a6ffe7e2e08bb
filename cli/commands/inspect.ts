/** `surgeon inspect MODEL [--json]`. */
import { Command } from 'commander';
import { readOnnxModel } from '../../src/io/onnx/model.js';
import { inspectModel } from '../../src/inspect.js';
import { action } from '../run.js';
import { isTfjsModelPath } from '../../src/tfjs/path.js';
import { percent, table } from '../format.js';

export function inspectCommand(): Command {
  return new Command('inspect')
    .description('list the prunable layers, parameters and sparsity of an ONNX or TensorFlow.js model')
    .argument('<model>', 'ONNX model (.onnx) or TensorFlow.js model (folder or model.json)')
    .option('--json', 'print JSON instead of tables')
    .action(
      action(async (modelPath: string, options: { json?: boolean }) => {
        if (isTfjsModelPath(modelPath)) return (await import('./tfjs-inspect.js')).tfjsInspect(modelPath, options);
        const report = inspectModel(readOnnxModel(modelPath));
        if (options.json) {
          process.stdout.write(JSON.stringify(report, null, 2) + '\n');
          return;
        }
        const notes = (l: (typeof report.layers)[number]): string =>
          [
            l.via ? `via ${l.via.join('→')}` : '',
            l.dtype ?? '',
            l.subgraph ? `in ${l.subgraph}` : '',
            l.uses ? `shared by ${l.uses} nodes` : '',
            l.tiedWith ? `tied with ${l.tiedWith.join(', ')}` : '',
            l.notCapturable ? 'input not capturable' : '',
          ]
            .filter(Boolean)
            .join('; ');
        const withNotes = report.layers.some((l) => notes(l) !== '');
        const io = (v: { name: string; elemType: string; dims: (number | string)[] }) => `${v.name} ${v.elemType}[${v.dims.join(',')}]`;
        const lines = [
          `${modelPath}: ONNX opset ${report.opset}${report.producer ? `, from ${report.producer}` : ''}`,
          `inputs:  ${report.inputs.map(io).join('; ')}`,
          `outputs: ${report.outputs.map(io).join('; ')}`,
          '',
          table(
            ['layer', 'op', 'shape', 'parameters', 'sparsity', 'input', ...(withNotes ? ['notes'] : [])],
            report.layers.map((l) => [l.name, l.op, `${l.shape[0]}×${l.shape[1]}`, l.parameters, percent(l.sparsity), l.input, ...(withNotes ? [notes(l)] : [])]),
          ),
          '',
          `prunable parameters: ${report.prunableParameters.toLocaleString('en-US')} of ${report.parameters.toLocaleString('en-US')}, sparsity ${percent(report.sparsity)}`,
        ];
        if (report.otherInitializers.length) {
          lines.push('', table(['other initializer', 'dtype', 'shape', 'parameters'], report.otherInitializers.map((t) => [t.name, t.dtype, `[${t.shape.join(',')}]`, t.parameters])));
        }
        if (report.skipped.length) lines.push('', table(['not prunable', 'op', 'why'], report.skipped.map((s) => [s.node, s.op, s.reason])));
        process.stdout.write(lines.join('\n') + '\n');
      }),
    );
}
