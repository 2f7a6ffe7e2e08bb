/**
 * `surgeon demo [--out DIR] [--model PATH]`: the README's first command. A sparsity curve of the MLP that
 * ships in data/ (trained and exported by scripts/make-demo.ts) on the Fashion-MNIST subset
 * beside it: magnitude, SparseGPT and I-OBS at 50, 70 and 90 % sparsity, 512 calibration
 * images from the train subset, accuracy and collapse on the 2,000 test images. Offline.
 */
import { Command } from 'commander';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SurgeonInputError } from '../../src/errors.js';
import { action } from '../run.js';
import { addRunOptions, quoteCommand, runCurveCommand } from './curve.js';

/** The package's data/ folder (from dist/cli/commands or cli/commands). */
export function demoDataDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [resolve(here, '../../../data'), resolve(here, '../../data')];
  return candidates.find((d) => existsSync(join(d, 'fmnist-mlp.onnx'))) ?? candidates[0]!;
}

/** The demo's fixed settings. */
export const DEMO = {
  methods: 'magnitude,sparsegpt,iobs',
  sparsities: '0.5,0.7,0.9',
  calibSamples: '512',
  model: 'fmnist-mlp.onnx',
  train: 'fmnist-train.npz.gz',
  test: 'fmnist-test.npz.gz',
} as const;

/** The `surgeon demo` command. */
export function demoCommand(): Command {
  const command = new Command('demo')
    .description(`sparsity curve of the bundled Fashion-MNIST MLP: ${DEMO.methods} at ${DEMO.sparsities}; prints the table and writes the report`)
    .option('--out <dir>', 'output folder', 'surgeon-demo')
    .option('--model <path>', 'another Fashion-MNIST classifier to run the demo on (ONNX, TF.js layers or graph model taking 28×28 images scaled to [0, 1]; default: the bundled MLP)')
    .option('--methods <list>', 'methods', DEMO.methods)
    .option('--sparsities <list>', 'sparsities', DEMO.sparsities)
    .option('--calib-samples <n>', 'calibration images from the train subset', DEMO.calibSamples);
  addRunOptions(command);
  return command.action(
    action(async (o: Record<string, string | boolean | undefined>) => {
      const data = demoDataDir();
      const files = [DEMO.model, DEMO.train, DEMO.test].map((f) => join(data, f));
      const missing = files.find((f) => !existsSync(f));
      if (missing) throw new SurgeonInputError(`${missing} is missing; the demo needs the repository's data/ folder (regenerate it with npm run demo:make)`);
      const options = {
        ...o,
        pattern: 'unstructured',
        collapse: 'penultimate',
        calibInputs: files[1],
        calibScale: '1/255',
        inputs: files[2],
        scale: '1/255',
      };
      const model = o.model ? String(o.model) : files[0]!;
      await runCurveCommand(model, options, `surgeon ${quoteCommand(process.argv.slice(2))}`);
    }),
  );
}
