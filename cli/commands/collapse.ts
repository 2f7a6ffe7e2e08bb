/**
 * `surgeon collapse MODEL <data> [--layers penultimate|all|NAMES] [--train-inputs FILE --train-labels FILE | --train-dataset NAME]
 *  [--limit N] [--batch B] [--threads T] [--json]`: neural-collapse metrics per layer.
 */
import { Command } from 'commander';
import { loadDataset, type ClassificationDataset, type DatasetSpec } from '../../src/io/dataset.js';
import { measureModelCollapse, type ModelCollapse } from '../../src/collapse/model.js';
import type { LayerSelection } from '../../src/collapse/select.js';
import { SurgeonInputError } from '../../src/errors.js';
import { action } from '../run.js';
import { addBackendOption, backendLine, formatFields, openModel, refuseFlags } from '../network-options.js';
import { addDataOptions, dataSpec, hasData, parseNumber } from '../data-options.js';
import { progressBar, type Progress } from '../progress.js';
import { formatNumber, percent, table } from '../format.js';

/** Parses `--layers` (shared with the tfjs branch). */
export function parseLayers(text: string | undefined): LayerSelection {
  if (text === undefined) return 'default';
  const value = text.trim();
  if (value === 'penultimate' || value === 'all' || value === 'default') return value;
  const names = value.split(',').map((s) => s.trim()).filter(Boolean);
  if (names.length === 0) throw new SurgeonInputError('--layers is empty; pass penultimate, all, or comma-separated tensor/layer names');
  return names;
}

function classification(dataset: ReturnType<typeof loadDataset>, what: string): ClassificationDataset {
  if (dataset.kind !== 'classification') {
    throw new SurgeonInputError(`collapse measures classifiers; the ${what} data are token windows — pass --${what === 'train' ? 'train-' : ''}inputs FILE with labels or --${what === 'train' ? 'train-' : ''}dataset fashion-mnist`);
  }
  if (!dataset.labels) {
    throw new SurgeonInputError(
      what === 'train'
        ? 'collapse needs labels for the train split; pass --train-labels FILE or --train-dataset fashion-mnist:train'
        : 'collapse needs labels; pass --labels FILE or --dataset fashion-mnist',
    );
  }
  return dataset;
}

/** Shown value of an optional metric. */
function cell(value: number | undefined): string | number {
  return value === undefined ? '–' : Number.isNaN(value) ? 'NaN' : value;
}

/** The table and notes `surgeon collapse` prints (shared with the tfjs branch). */
export function render(result: ModelCollapse): string {
  const header = ['layer', 'd', 'NC1', 'tr ratio', 'CDNV', 'ETF', 'equinorm', 'NC3', 'NC4', 'eff. rank'];
  const rows = result.layers.map((l) => [
    `${l.name}${l.penultimate ? ' *' : ''}`,
    l.d,
    cell(l.nc1),
    cell(l.traceRatio),
    cell(l.cdnv),
    cell(l.etf),
    cell(l.equinorm),
    cell(l.nc3),
    cell(l.nc4),
    cell(l.effectiveRank),
  ]);
  const lines = [table(header, rows), ''];
  lines.push(`accuracy ${percent(result.accuracy)} (${result.accuracy.toFixed(4)}) on ${result.samples} samples, K = ${result.K}, in ${result.seconds.toFixed(2)} s`);
  if (result.classifier) {
    lines.push(`* penultimate features: input of classifier ${result.classifier.name} (${result.classifier.K} × ${result.classifier.d}); NC3 = ‖Wᵀ/‖W‖ − M̃ᵀ/‖M̃‖‖²_F`);
  }
  lines.push(
    result.nc4MeansFrom === 'train'
      ? `NC4: nearest-class-mean (means of ${result.trainSamples} train samples) vs network disagreement`
      : 'NC4: nearest-class-mean vs network disagreement, class means of the evaluated set itself (pass --train-inputs/--train-dataset for train means)',
  );
  if (result.balancedness && result.balancedness.length > 0) {
    lines.push(`balancedness: ${result.balancedness.map((b) => `${b.lower}→${b.upper} ${formatNumber(b.value)}`).join(', ')}`);
  }
  return lines.join('\n') + '\n';
}

/**
 * The --train-* split (class means for NC4), or undefined when none is given. Train arrays given
 * as files inherit the evaluation set's (`spec`) normalisation unless they set their own;
 * --train-limit applies.
 * @throws SurgeonInputError for --train-labels without --train-inputs.
 */
export function trainDataSpec(options: Record<string, unknown>, spec: DatasetSpec): DatasetSpec | undefined {
  const trainSpec: DatasetSpec = dataSpec(options, 'train');
  if (hasData(trainSpec)) {
    if (trainSpec.inputs && trainSpec.scale === undefined && trainSpec.mean === undefined && trainSpec.std === undefined) {
      if (spec.scale !== undefined) trainSpec.scale = spec.scale;
      if (spec.mean !== undefined) trainSpec.mean = spec.mean;
      if (spec.std !== undefined) trainSpec.std = spec.std;
    }
    if (options.trainLimit !== undefined) trainSpec.limit = parseNumber(String(options.trainLimit), '--train-limit', true);
    return trainSpec;
  }
  if (trainSpec.labels) throw new SurgeonInputError('--train-labels needs --train-inputs FILE; pass both');
  return undefined;
}

/** The `collapse` command. */
export function collapseCommand(): Command {
  const command = new Command('collapse')
    .description('neural-collapse metrics per layer (NC1–NC4, CDNV, ETF distance, class-mean rank) on a labelled set')
    .argument('<model>', 'ONNX classifier (.onnx) or TensorFlow.js model (folder or model.json)');
  addDataOptions(command);
  addDataOptions(command, 'train', 'train (class means for NC4)')
    .option('--layers <which>', 'penultimate, all (adds activation outputs), or comma-separated tensor/layer names (default: inputs of every prunable layer)')
    .option('--limit <n>', 'measure only the first n samples')
    .option('--train-limit <n>', 'use only the first n train samples for the NC4 class means')
    .option('--batch <b>', 'samples per batch (default 128)')
    .option('--threads <t>', 'onnxruntime intra-op threads (ONNX models; default 2)')
    .option('--agop', 'TF.js layers models: also correlate each Dense layer\'s WᵀW with its AGOP and AGOP^1/2 (Beaglehole et al. 2024)')
    .option('--agop-max-dim <d>', 'with --agop: widest Dense input the AGOP view measures (AGOP^1/2 costs O(d³); default 1024)')
    .option('--json', 'print JSON');
  addBackendOption(command);
  return command.action(
    action(async (modelPath: string, options: Record<string, string | boolean | undefined>) => {
      const network = await openModel(modelPath, options);
      try {
        refuseFlags(network, options, {
          '--agop': { key: 'agop', formats: ['tfjs-layers'], why: 'it differentiates through the network: TensorFlow.js layers models only' },
          '--agop-max-dim': { key: 'agopMaxDim', formats: ['tfjs-layers'], why: 'it sizes the AGOP view of TensorFlow.js layers models' },
          '--threads': { key: 'threads', formats: ['onnx'], why: 'TensorFlow.js picks its own threads' },
        });
        if (options.agopMaxDim !== undefined && !options.agop) throw new SurgeonInputError('--agop-max-dim needs --agop; add --agop or drop it');
        const layers = parseLayers(options.layers as string | undefined);
        const spec = dataSpec(options);
        if (options.limit !== undefined) spec.limit = parseNumber(String(options.limit), '--limit', true);
        const batchSize = parseNumber(String(options.batch ?? '128'), '--batch', true);
        const threads = parseNumber(String(options.threads ?? '2'), '--threads', true);
        const dataset = classification(loadDataset(spec, { inputs: network.inputs }), 'evaluation');
        const trainSpec = trainDataSpec(options, spec);
        const train = trainSpec ? classification(loadDataset(trainSpec, { inputs: network.inputs }), 'train') : undefined;
        let bar: Progress | undefined;
        const onProgress = (done: number, total: number, phase: string) => {
          bar ??= progressBar('collapse', total);
          bar.update(done, phase);
        };
        const result: ModelCollapse & { format?: string; agop?: unknown; agopSkipped?: unknown } = await measureModelCollapse(network, dataset, {
          layers,
          batchSize,
          threads,
          ...(train ? { train } : {}),
          onProgress,
        });
        bar?.finish();
        let agopLines = '';
        if (options.agop && network.gradients) {
          const { agopCorrelations } = await import('../../src/tfjs/agop.js');
          const { tfjsDataOf } = await import('../../src/tfjs/data.js');
          const agop = await agopCorrelations(network.gradients.loaded.model, tfjsDataOf(dataset), {
            batchSize,
            limit: result.samples,
            maxDim: parseNumber(String(options.agopMaxDim ?? '1024'), '--agop-max-dim', true),
          });
          result.agop = agop.layers;
          if (agop.skipped.length) result.agopSkipped = agop.skipped;
          agopLines = renderAgop(agop.layers, agop.skipped);
        }
        if (options.json) {
          process.stdout.write(JSON.stringify({ ...formatFields(network), ...result }, null, 2) + '\n');
        } else {
          process.stdout.write(render(result) + agopLines + backendLine(network));
        }
      } finally {
        network.dispose();
      }
    }),
  );
}

/** The AGOP table (TF.js layers models, --agop). */
function renderAgop(layers: Array<{ layer: string; d: number; corrAgop: number; corrSqrtAgop: number }>, skipped: Array<{ layer: string; d: number; reason: string }>): string {
  const lines = [
    '',
    table(['Dense layer', 'd', 'corr(WᵀW, AGOP)', 'corr(WᵀW, AGOP^1/2)'], layers.map((a) => [a.layer, a.d, formatNumber(a.corrAgop), formatNumber(a.corrSqrtAgop)])),
    'AGOP = (1/n) Σ J(x)ᵀJ(x), J the Jacobian of the outputs w.r.t. the layer input (Beaglehole et al. 2024)',
  ];
  for (const s of skipped) lines.push(`AGOP skipped ${s.layer} (d = ${s.d}): ${s.reason}`);
  return lines.join('\n') + '\n';
}
