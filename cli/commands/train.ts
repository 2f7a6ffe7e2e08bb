/** `surgeon train --arch mlp|cnn|vit-tiny <data with labels> --epochs E --out DIR [--backend B]`: small reference tfjs models. */
import { Command, Option } from 'commander';
import { ARCHITECTURES, BACKEND_NAMES } from '../../src/tfjs/names.js';
import { SurgeonInputError } from '../../src/errors.js';
import { action } from '../run.js';
import { addDataOptions, dataSpec, parseNumber } from '../data-options.js';
import { progressBar } from '../progress.js';
import { percent } from '../format.js';

export function trainCommand(): Command {
  const command = new Command('train')
    .description('train a small reference TensorFlow.js model (MLP, LeNet-style CNN or tiny ViT) and save it as model.json + shards')
    .addOption(new Option('--arch <name>', 'architecture').choices([...ARCHITECTURES]).makeOptionMandatory());
  addDataOptions(command, '', 'training')
    .option('--limit <n>', 'train on the first n samples only')
    .option('--epochs <e>', 'epochs', '3')
    .option('--batch <b>', 'batch size', '64')
    .option('--lr <η>', 'Adam learning rate', '0.001')
    .option('--seed <s>', 'initialisation and shuffling seed', '1')
    .option('--test-dataset <name>', 'evaluate on this built-in dataset after training (e.g. fashion-mnist:test)')
    .addOption(new Option('--backend <b>', 'tfjs backend').choices([...BACKEND_NAMES]).default('auto'))
    .requiredOption('--out <dir>', 'output folder (model.json + weight shards)')
    .option('--json', 'print JSON');
  return command.action(
    action(async (o: Record<string, string | boolean | undefined>) => {
      // TensorFlow.js loads only when this command runs.
      const { buildModel } = await import('../../src/tfjs/arch.js');
      const { parseBackend, selectBackend } = await import('../../src/tfjs/backend.js');
      const { evaluateTfjs, loadTfjsData, loadTrainingData } = await import('../../src/tfjs/data.js');
      const { saveNewModel } = await import('../../src/tfjs/model.js');
      const { trainEpochs } = await import('../../src/tfjs/train.js');
      const backend = await selectBackend(parseBackend(o.backend as string));
      const spec = dataSpec(o);
      if (o.limit !== undefined) spec.limit = parseNumber(String(o.limit), '--limit', true);
      const arch = String(o.arch);
      const probe = loadTrainingData(spec);
      if (probe.numClasses < 2) throw new SurgeonInputError('the labels hold fewer than 2 classes; pass classification labels');
      const seed = parseNumber(String(o.seed), '--seed', true);
      const model = buildModel(arch, probe.sampleShape, probe.numClasses, seed);
      const epochs = parseNumber(String(o.epochs), '--epochs', true);
      const bar = progressBar('train', probe.count * epochs);
      const { epochs: stats } = await trainEpochs(model, probe, {
        epochs,
        batchSize: parseNumber(String(o.batch), '--batch', true),
        lr: parseNumber(String(o.lr), '--lr'),
        seed,
        onBatch: (b) => bar.update(b.epoch * probe.count + b.done, `epoch ${b.epoch + 1}/${epochs} loss ${b.loss.toFixed(4)} acc ${percent(b.accuracy)}`),
      });
      bar.finish();
      let test: { accuracy: number; loss: number; samples: number } | undefined;
      if (o.testDataset) test = await evaluateTfjs(model, loadTfjsData({ dataset: String(o.testDataset) }, model));
      const output = await saveNewModel(model, String(o.out), { surgeon: { arch, backend: backend.name } });
      const secondsPerEpoch = stats.reduce((a, s) => a + s.seconds, 0) / Math.max(1, stats.length);
      const result = { arch, backend, samples: probe.count, epochs: stats, secondsPerEpoch, parameters: model.countParams(), ...(test ? { test } : {}), output };
      model.dispose();
      if (o.json) {
        process.stdout.write(JSON.stringify(result, null, 2) + '\n');
        return;
      }
      const lines = stats.map((s) => `epoch ${s.epoch + 1}: loss ${s.loss.toFixed(4)}, accuracy ${percent(s.accuracy)}, ${s.seconds.toFixed(1)} s`);
      lines.push(`${arch} (${result.parameters.toLocaleString('en-US')} parameters) on ${probe.count} samples, backend ${backend.name}: ${secondsPerEpoch.toFixed(2)} s per epoch`);
      if (test) lines.push(`test accuracy ${percent(test.accuracy)} on ${test.samples} samples`);
      lines.push(`wrote ${output}`);
      process.stdout.write(lines.join('\n') + '\n');
    }),
  );
}

