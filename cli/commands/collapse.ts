/**
 * `surgeon collapse MODEL <data> [--layers penultimate|all|NAMES] [--train-inputs FILE --train-labels FILE | --train-dataset NAME]
 *  [--limit N] [--batch B] [--threads T] [--json]`: neural-collapse metrics per layer.
 */
import { Command } from 'commander';
import { readOnnxModel } from '../../src/io/onnx/model.js';
import { loadDataset, type ClassificationDataset, type DatasetSpec } from '../../src/io/dataset.js';
import { measureModelCollapse, type ModelCollapse } from '../../src/collapse/model.js';
import type { LayerSelection } from '../../src/collapse/select.js';
import { SurgeonInputError } from '../../src/errors.js';
import { action } from '../run.js';
import { isTfjsModelPath } from '../../src/tfjs/path.js';
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
    .option('--batch <b>', 'samples per batch', '128')
    .option('--threads <t>', 'onnxruntime intra-op threads', '2')
    .option('--agop', 'tfjs: also correlate each Dense layer\'s WᵀW with its AGOP and AGOP^1/2 (Beaglehole et al. 2024)')
    .option('--agop-max-dim <d>', 'tfjs: widest Dense input the AGOP view measures (AGOP^1/2 costs O(d³))', '1024')
    .option('--backend <b>', 'tfjs: auto, node-gpu, node, wasm or cpu (default auto)')
    .option('--json', 'print JSON');
  return command.action(
    action(async (modelPath: string, options: Record<string, string | boolean | undefined>) => {
      if (isTfjsModelPath(modelPath)) return (await import('./tfjs-collapse.js')).tfjsCollapse(modelPath, options);
      if (options.agop) throw new SurgeonInputError('--agop needs a TensorFlow.js model (it differentiates through the network); pass a tfjs model.json');
      const model = readOnnxModel(modelPath);
      const layers = parseLayers(options.layers as string | undefined);
      const spec = dataSpec(options);
      if (options.limit !== undefined) spec.limit = parseNumber(String(options.limit), '--limit', true);
      const batchSize = parseNumber(String(options.batch), '--batch', true);
      const threads = parseNumber(String(options.threads), '--threads', true);
      const dataset = classification(loadDataset(spec, { inputs: model.inputs }), 'evaluation');
      const trainSpec = trainDataSpec(options, spec);
      const train = trainSpec ? classification(loadDataset(trainSpec, { inputs: model.inputs }), 'train') : undefined;
      let bar: Progress | undefined;
      const result = await measureModelCollapse(model, dataset, {
        layers,
        batchSize,
        threads,
        ...(train ? { train } : {}),
        onProgress: (done, total, phase) => {
          bar ??= progressBar('collapse', total);
          bar.update(done, phase);
        },
      });
      bar?.finish();
      if (options.json) {
        process.stdout.write(JSON.stringify(result, null, 2) + '\n');
      } else {
        process.stdout.write(render(result));
      }
    }),
  );
}
