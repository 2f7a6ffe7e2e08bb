/** `surgeon eval MODEL <data> [--limit N] [--batch B] [--threads T] [--backend B] [--json]`. */
import { Command } from 'commander';
import { loadDataset } from '../../src/io/dataset.js';
import { evaluateModel } from '../../src/runtime/evaluate.js';
import { action } from '../run.js';
import { addDataOptions, dataSpec, parseNumber } from '../data-options.js';
import { addBackendOption, addDeviceOptions, formatFields, openModel, refuseFlags } from '../network-options.js';
import { progressBar } from '../progress.js';
import { percent } from '../format.js';

export function evalCommand(): Command {
  const command = new Command('eval')
    .description('measure accuracy (classifiers) or perplexity (language models) of an ONNX or TensorFlow.js model')
    .argument('<model>', 'ONNX model (.onnx) or TensorFlow.js model (folder or model.json)');
  addDataOptions(command)
    .option('--limit <n>', 'evaluate only the first n samples (windows)')
    .option('--batch <b>', 'samples per batch (default 256; 16 windows for tokens)')
    .option('--threads <t>', 'onnxruntime intra-op threads (ONNX models; default 2)')
    .option('--json', 'print JSON');
  addBackendOption(command);
  addDeviceOptions(command);
  return command.action(
    action(async (modelPath: string, options: Record<string, string | boolean | undefined>) => {
      const network = await openModel(modelPath, options);
      try {
        refuseFlags(network, options, { '--threads': { key: 'threads', formats: ['onnx'], why: 'TensorFlow.js picks its own threads' } });
        const spec = dataSpec(options);
        if (options.limit !== undefined) spec.limit = parseNumber(String(options.limit), '--limit', true);
        const dataset = loadDataset(spec, { inputs: network.inputs });
        const bar = progressBar('eval', dataset.count);
        const result = await evaluateModel(network, dataset, {
          batchSize: options.batch !== undefined ? parseNumber(String(options.batch), '--batch', true) : undefined,
          threads: options.threads !== undefined ? parseNumber(String(options.threads), '--threads', true) : 2,
          onProgress: (done) => bar.update(done),
        });
        bar.finish();
        const full = { ...formatFields(network), ...result };
        if (options.json) {
          process.stdout.write(JSON.stringify(full, null, 2) + '\n');
        } else if (result.accuracy !== undefined) {
          process.stdout.write(`accuracy ${percent(result.accuracy)} (${result.accuracy.toFixed(4)}) on ${result.samples} samples in ${result.seconds.toFixed(2)} s\n`);
        } else {
          process.stdout.write(`perplexity ${result.perplexity!.toFixed(4)} over ${result.positions} positions (${result.samples} windows) in ${result.seconds.toFixed(2)} s\n`);
        }
      } finally {
        network.dispose();
      }
    }),
  );
}
