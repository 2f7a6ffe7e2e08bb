/**
 * `surgeon prune GRAPH_DIR/model.json --method magnitude|wanda|sparsegpt|obc|iht|iobs --sparsity S
 * <calibration data> --out DIR` for TensorFlow.js graph models (tfjs-converter's frozen graphs):
 * one-shot, layer-wise, sequential (src/tfjs/graph.ts).
 */
import { resolve } from 'node:path';
import { SurgeonInputError } from '../../src/errors.js';
import type { BackendInfo } from '../../src/tfjs/backend.js';
import { loadTfjsData } from '../../src/tfjs/data.js';
import { loadTfjsGraphModel, pruneGraphModel, saveGraphModel } from '../../src/tfjs/graph.js';
import { dataSpec, hasData, parseNumber } from '../data-options.js';
import { progressBar } from '../progress.js';
import { percent, table } from '../format.js';
import { parsePattern, parseSparsity } from './prune.js';

type Opts = Record<string, string | boolean | undefined>;

/** The graph-model branch of `surgeon prune` (tfjs). */
export async function graphPrune(modelPath: string, o: Opts, backend: BackendInfo): Promise<void> {
  const method = String(o.method);
  if (method === 'woodfisher') throw new SurgeonInputError('--method woodfisher needs gradients of a tfjs layers model; for graph models use magnitude, wanda, sparsegpt, obc, iht or iobs');
  const pattern = parsePattern(o.pattern as string | undefined);
  if (pattern.kind === 'unstructured' && o.sparsity === undefined) throw new SurgeonInputError('--sparsity is required; pass e.g. --sparsity 0.5');
  const sparsity = o.sparsity !== undefined ? parseSparsity(String(o.sparsity)) : 0;
  if (!o.out) throw new SurgeonInputError('--out DIR is required for tfjs models (a folder for model.json and its shards; never the input folder)');
  const loaded = await loadTfjsGraphModel(modelPath);
  try {
    const spec = dataSpec(o);
    if (method !== 'magnitude' && !hasData(spec)) throw new SurgeonInputError(`--method ${method} needs calibration data; pass --dataset fashion-mnist:train or --inputs FILE`);
    spec.limit = parseNumber(String(o.calibSamples ?? '512'), '--calib-samples', true);
    const dims = (loaded.model.inputs[0]!.shape ?? []).map((d) => (d === null || d === undefined ? -1 : d));
    const calib = hasData(spec) ? loadTfjsData(spec, { dims }, false) : undefined;
    const bar = progressBar('prune', loaded.layers.length);
    const report = await pruneGraphModel(loaded, calib, {
      method,
      sparsity,
      pattern,
      ...(o.damp !== undefined ? { damp: parseNumber(String(o.damp), '--damp') } : {}),
      ...(o.iterations !== undefined ? { iterations: parseNumber(String(o.iterations), '--iterations', true) } : {}),
      ...(o.step !== undefined ? { step: parseNumber(String(o.step), '--step') } : {}),
      ...(o.skip ? { skip: String(o.skip).split(',').map((s) => s.trim()).filter(Boolean) } : {}),
      onLayer: (done, _total, layer) => bar.update(done, layer),
    });
    bar.finish();
    const output = saveGraphModel(loaded, resolve(String(o.out)));
    const full = { ...report, format: 'graph-model', sparsity, pattern, backend, calibSamples: calib?.count ?? 0, output };
    if (o.json) {
      process.stdout.write(JSON.stringify(full, null, 2) + '\n');
      return;
    }
    process.stdout.write(
      [
        table(['weight', 'node', 'op', 'shape', 'sparsity'], report.layers.map((l) => [l.weight, l.node, l.op, `${l.rows}×${l.cols}`, percent(l.sparsity)])),
        '',
        `${method} on a graph model: ${report.zeros} of ${report.parameters} weights zero (${percent(report.zeros / Math.max(1, report.parameters))}), one shot, backend ${backend.name}, in ${report.seconds.toFixed(1)} s`,
        `wrote ${output}`,
      ].join('\n') + '\n',
    );
  } finally {
    loaded.model.dispose();
  }
}
