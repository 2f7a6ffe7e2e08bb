/** `surgeon inspect MODEL [--backend B] [--json]`: prunable layers of an ONNX or TensorFlow.js model. */
import { Command } from 'commander';
import { inspectModel } from '../../src/inspect.js';
import { action } from '../run.js';
import { addBackendOption, formatName, openModel } from '../network-options.js';
import { percent, table } from '../format.js';

export function inspectCommand(): Command {
  const command = new Command('inspect')
    .description('list the prunable layers, parameters and sparsity of an ONNX or TensorFlow.js (layers or graph) model')
    .argument('<model>', 'ONNX model (.onnx) or TensorFlow.js model (folder or model.json)')
    .option('--json', 'print JSON instead of tables');
  addBackendOption(command);
  return command.action(
    action(async (modelPath: string, options: { json?: boolean; backend?: string }) => {
      const network = await openModel(modelPath, options);
      try {
        const report = inspectModel(network);
        if (options.json) {
          process.stdout.write(JSON.stringify(report, null, 2) + '\n');
          return;
        }
        const io = (v: { name: string; elemType: string; dims: ReadonlyArray<number | string> }) => `${v.name} ${v.elemType}[${v.dims.join(',')}]`;
        const facts = [report.opset !== undefined ? `opset ${report.opset}` : '', report.producer ? `from ${report.producer}` : '', ...Object.entries(report.facts).map(([k, v]) => `${k} ${v}`)].filter(Boolean);
        const note = (l: (typeof report.layers)[number]) =>
          [l.detail?.via ? `via ${(l.detail.via as string[]).join('→')}` : '', l.uses ? `shared by ${l.uses.length} nodes` : '', l.tiedWith ? `tied with ${l.tiedWith.join(', ')}` : '', l.uncapturable ? 'input not capturable' : '', l.detail?.subgraph ? `in ${l.detail.subgraph}` : '']
            .filter(Boolean)
            .join('; ');
        const lines = [
          `${modelPath}: ${formatName(network)}${facts.length ? `, ${facts.join(', ')}` : ''}`,
          `inputs:  ${report.inputs.map(io).join('; ')}`,
          `outputs: ${report.outputs.map(io).join('; ')}`,
          '',
          table(
            ['layer', 'op', 'shape', 'parameters', 'sparsity', 'input', 'notes'],
            report.layers.map((l) => [l.name, l.op, `${l.shape[0]}×${l.shape[1]}`, l.parameters, percent(l.sparsity), l.input, note(l)]),
          ),
          '',
          `prunable parameters: ${report.prunableParameters.toLocaleString('en-US')} of ${report.parameters.toLocaleString('en-US')}, sparsity ${percent(report.sparsity)}`,
        ];
        if (report.otherInitializers.length) {
          lines.push('', table(['other tensor', 'dtype', 'shape', 'parameters'], report.otherInitializers.map((t) => [t.name, t.dtype, `[${t.shape.join(',')}]`, t.parameters])));
        }
        if (report.skipped.length) lines.push('', table(['not prunable', 'op', 'why'], report.skipped.map((s) => [s.node, s.op, s.reason])));
        process.stdout.write(lines.join('\n') + '\n');
      } finally {
        network.dispose();
      }
    }),
  );
}
