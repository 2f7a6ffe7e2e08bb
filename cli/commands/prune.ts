/** `surgeon prune MODEL --method M --sparsity S <calibration data> --out OUT.onnx [...]`. */
import { Command, Option } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { SurgeonInputError } from '../../src/errors.js';
import { readOnnxModel } from '../../src/io/onnx/model.js';
import { saveOnnxModel } from '../../src/io/onnx/save.js';
import { loadDataset } from '../../src/io/dataset.js';
import { pruneModel, type PruneModelOptions } from '../../src/prune/model.js';
import { PRUNER_NAMES } from '../../src/pruners/registry.js';
import type { SparsityPattern } from '../../src/pruners/types.js';
import { action } from '../run.js';
import { isTfjsModelPath } from '../../src/tfjs/path.js';
import { addDataOptions, dataSpec, hasData, parseNumber } from '../data-options.js';
import { addPrunerOptions, prunerOptions } from '../prune-options.js';
import { progressBar } from '../progress.js';
import { formatNumber, percent, table } from '../format.js';

/** Parses `unstructured` or `N:M`. */
export function parsePattern(text: string | undefined): SparsityPattern {
  if (!text || text === 'unstructured') return { kind: 'unstructured' };
  const m = /^(\d+):(\d+)$/.exec(text.trim());
  if (!m) throw new SurgeonInputError(`--pattern ${text}: expected 'unstructured' or N:M such as 2:4`);
  const n = Number(m[1]);
  const mm = Number(m[2]);
  if (!(mm > 0 && n < mm)) throw new SurgeonInputError(`--pattern ${text}: N:M needs 0 ≤ N < M (N weights kept of every M); e.g. 2:4`);
  return { kind: 'nm', n, m: mm };
}

/** Parses a sparsity in [0, 1). */
export function parseSparsity(text: string, flag = '--sparsity'): number {
  const value = Number(text);
  if (text.trim() === '' || !(value >= 0 && value < 1)) throw new SurgeonInputError(`${flag} ${text} is outside [0, 1); pass a fraction such as 0.5`);
  return value;
}

/** A new path beside `input`, never the input itself: NAME.METHOD-S.onnx (then -2, -3 ...). */
export function defaultOutput(input: string, suffix: string): string {
  const dir = dirname(resolve(input));
  const stem = basename(input, extname(input));
  let candidate = join(dir, `${stem}.${suffix}.onnx`);
  for (let i = 2; existsSync(candidate); i++) candidate = join(dir, `${stem}.${suffix}-${i}.onnx`);
  return candidate;
}

/** Reads the per-layer sparsity override file (JSON object: layer name → sparsity). */
function readOverrides(path: string): Record<string, number> {
  if (!existsSync(path)) throw new SurgeonInputError(`${path}: no such file; pass a JSON file mapping layer names to sparsities`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new SurgeonInputError(`${path}: not valid JSON (${(error as Error).message.split('\n')[0]}); write {"layer": 0.7, ...}`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed) || !Object.values(parsed).every((v) => typeof v === 'number')) {
    throw new SurgeonInputError(`${path}: expected a JSON object of layer name → sparsity, e.g. {"fc1.weight": 0.7}`);
  }
  return parsed as Record<string, number>;
}

export function pruneCommand(): Command {
  const command = new Command('prune')
    .description('prune an ONNX model layer by layer (or a TensorFlow.js model with Fisher curvature) and save the sparse model')
    .argument('<model>', 'ONNX model (.onnx) or TensorFlow.js model (folder or model.json)')
    .addOption(new Option('--method <name>', 'pruning method (woodfisher: TensorFlow.js models)').choices([...PRUNER_NAMES, 'woodfisher']).makeOptionMandatory())
    .option('--sparsity <s>', 'fraction of weights to zero per layer, in [0, 1) (not needed with --pattern N:M)')
    .option('--pattern <p>', "'unstructured' or N:M (N kept of every M consecutive inputs), e.g. 2:4", 'unstructured');
  addDataOptions(command, '', 'calibration')
    .option('--calib-samples <n>', 'calibration samples (images or token windows) for the statistics', '512')
    .option('--held-out <n>', 'further samples to measure reconstruction error (default: calib-samples/4)');
  addPrunerOptions(command)
    .option('--rounds <r>', 'whole-network passes; later rounds recapture inputs from the pruned model', '1')
    .option('--parallel', 'use the dense model inputs for every layer (default: sequential)')
    .option('--global', 'magnitude: one threshold across all layers')
    .option('--skip <names>', 'comma-separated layers to leave dense')
    .option('--layer-sparsity <file>', 'JSON file of per-layer sparsity overrides')
    .option('--batch <b>', 'samples per forward batch', '64')
    .option('--threads <t>', 'onnxruntime threads', '2')
    .option('--out <file>', 'output model (default: a new file beside the input; never the input)')
    .option('--json', 'print the report as JSON')
    .option('--fisher-samples <m>', 'tfjs: per-sample gradients in the empirical Fisher (default 128)')
    .option('--block <B>', 'tfjs: Fisher block size (default 128)')
    .option('--finetune-epochs <E>', 'tfjs: gradual pruning with fine-tuning over E epochs (cubic schedule)')
    .option('--lr <η>', 'tfjs: fine-tuning Adam learning rate (default 5e-4)')
    .option('--distill [T:w]', 'tfjs: distil from the dense model while fine-tuning (default 2:0.5)')
    .option('--allocation <a>', 'tfjs: global or uniform (per-layer) sparsity (default global)')
    .option('--backend <b>', 'tfjs: auto, node-gpu, node, wasm or cpu (default auto)');
  return command.action(
    action(async (modelPath: string, o: Record<string, string | boolean | undefined>) => {
      if (isTfjsModelPath(modelPath)) return (await import('./tfjs-prune.js')).tfjsPrune(modelPath, o);
      if (o.method === 'woodfisher') {
        throw new SurgeonInputError('--method woodfisher needs per-sample gradients and works on TensorFlow.js models; for ONNX models use obc or sparsegpt (the same OBS step with H from activations)');
      }
      const pattern = parsePattern(o.pattern as string | undefined);
      if (o.sparsity === undefined && pattern.kind === 'unstructured') throw new SurgeonInputError('--sparsity is required for unstructured pruning; pass e.g. --sparsity 0.5');
      const sparsity = o.sparsity !== undefined ? parseSparsity(String(o.sparsity)) : 1 - (pattern as { n: number; m: number }).n / (pattern as { n: number; m: number }).m;
      const options: PruneModelOptions = {
        method: String(o.method),
        sparsity,
        pattern,
        calibSamples: parseNumber(String(o.calibSamples), '--calib-samples', true),
        ...prunerOptions(o),
        rounds: parseNumber(String(o.rounds), '--rounds', true),
        parallel: Boolean(o.parallel),
        global: Boolean(o.global),
        threads: parseNumber(String(o.threads), '--threads', true),
        batchSize: parseNumber(String(o.batch), '--batch', true),
      };
      if (o.heldOut !== undefined) options.heldOutSamples = parseNumber(String(o.heldOut), '--held-out', true);
      if (o.skip) options.skip = String(o.skip).split(',').map((s) => s.trim()).filter(Boolean);
      if (o.layerSparsity) options.layerSparsity = readOverrides(String(o.layerSparsity));

      const model = readOnnxModel(modelPath);
      const out = o.out ? resolve(String(o.out)) : defaultOutput(modelPath, `${options.method}-${pattern.kind === 'nm' ? `${pattern.n}of${pattern.m}` : sparsity}`);
      if (model.path && resolve(out) === model.path) throw new SurgeonInputError(`--out ${o.out} is the input model; choose another file (the input is never overwritten)`);
      const spec = dataSpec(o);
      const calib = hasData(spec) ? loadDataset(spec, { inputs: model.inputs }) : undefined;

      const bar = progressBar('prune', 1);
      const { model: pruned, report } = await pruneModel(model, calib, {
        ...options,
        onProgress: (e) => bar.update(e.layersDone, `${e.phase} ${e.layer ?? `stage ${e.stage}/${e.stages}`}`),
      });
      bar.finish();
      const saved = saveOnnxModel(pruned, out, { inputPath: model.path });
      const result = { ...report, output: saved.path };
      if (o.json) {
        process.stdout.write(JSON.stringify(result, null, 2) + '\n');
        return;
      }
      const rows = report.layers.map((l) => [l.name, l.op, `${l.rows}×${l.cols}`, l.skipped ? 'skipped' : percent(l.sparsity), l.error === null ? '–' : formatNumber(l.error), `${l.seconds.toFixed(2)}s`]);
      process.stdout.write(
        [
          table(['layer', 'op', 'shape', 'sparsity', 'rel. error', 'time'], rows),
          '',
          `${report.method} ${report.pattern === 'unstructured' ? percent(report.sparsity) : report.pattern} (${report.mode}, ${report.rounds} round${report.rounds > 1 ? 's' : ''}, damp λ=${report.damp}): ` +
            `${report.totals.zeros.toLocaleString('en-US')} of ${report.totals.parameters.toLocaleString('en-US')} weights zero (${percent(report.totals.sparsity)})` +
            `${report.totals.meanError !== null ? `, mean held-out error ${formatNumber(report.totals.meanError)}` : ''}, ${report.seconds.toFixed(1)} s`,
          `calibration: ${report.calibSamples} samples + ${report.heldOutSamples} held out; engine ${report.engine}`,
          `wrote ${saved.path}`,
        ].join('\n') + '\n',
      );
    }),
  );
}
