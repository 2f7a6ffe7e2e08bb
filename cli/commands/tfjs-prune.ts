/**
 * `surgeon prune MODEL_DIR/model.json --method magnitude|woodfisher|iobs --sparsity S <data> --out DIR`
 * for TensorFlow.js layers models: one-shot global pruning, or gradual pruning with fine-tuning
 * (`--finetune-epochs E`). Ctrl-C during fine-tuning saves a resumable checkpoint to DIR.
 */
import { resolve } from 'node:path';
import { SurgeonInputError } from '../../src/errors.js';
import type { DatasetSpec } from '../../src/io/dataset.js';
import { parseBackend, selectBackend } from '../../src/tfjs/backend.js';
import { evaluateTfjs, loadTfjsData, subset } from '../../src/tfjs/data.js';
import { gradualPrune } from '../../src/tfjs/gradual.js';
import { readModelFile } from '../../src/tfjs/io.js';
import { loadTfjsModel, saveNewModel, saveTfjsModel } from '../../src/tfjs/model.js';
import { pruneTfjsModel, TFJS_METHODS, type TfjsMethod } from '../../src/tfjs/prune.js';
import { dataSpec, hasData, parseNumber } from '../data-options.js';
import { progressBar } from '../progress.js';
import { percent, table } from '../format.js';

type Opts = Record<string, string | boolean | undefined>;

/** Parses `--distill [T:w]` (default temperature 2, weight 0.5). */
function parseDistill(value: string | boolean | undefined): { temperature: number; weight: number } | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return { temperature: 2, weight: 0.5 };
  const m = /^([0-9.]+)(?::([0-9.]+))?$/.exec(String(value));
  if (!m) throw new SurgeonInputError(`--distill ${value}: expected TEMPERATURE[:WEIGHT], e.g. 2:0.5`);
  const weight = m[2] !== undefined ? Number(m[2]) : 0.5;
  if (!(weight >= 0 && weight <= 1)) throw new SurgeonInputError(`--distill ${value}: the weight must be in [0, 1]`);
  return { temperature: Number(m[1]), weight };
}

/** The tfjs branch of `surgeon prune`. */
export async function tfjsPrune(modelPath: string, o: Opts): Promise<void> {
  const backend = await selectBackend(parseBackend(o.backend as string | undefined));
  if (readModelFile(modelPath).format === 'graph-model') return (await import('./tfjs-graph-prune.js')).graphPrune(modelPath, o, backend);
  const method = String(o.method);
  if (!(TFJS_METHODS as readonly string[]).includes(method)) {
    throw new SurgeonInputError(`--method ${method} is not available for tfjs models; use one of ${TFJS_METHODS.join(', ')} (woodfisher = iobs --step 0 --iterations 1)`);
  }
  if (o.pattern && o.pattern !== 'unstructured') throw new SurgeonInputError('--pattern N:M is not supported for tfjs models yet; use unstructured sparsity');
  if (o.sparsity === undefined) throw new SurgeonInputError('--sparsity is required; pass e.g. --sparsity 0.9');
  const sparsity = Number(o.sparsity);
  if (!(sparsity >= 0 && sparsity < 1)) throw new SurgeonInputError(`--sparsity ${o.sparsity} is outside [0, 1); pass a fraction such as 0.9`);
  if (!o.out) throw new SurgeonInputError('--out DIR is required for tfjs models (a folder for model.json and its shards; never the input folder)');
  const allocation = String(o.allocation ?? 'global');
  if (allocation !== 'global' && allocation !== 'uniform') throw new SurgeonInputError(`--allocation ${allocation}: expected global or uniform`);
  const finetune = o.finetuneEpochs !== undefined ? parseNumber(String(o.finetuneEpochs), '--finetune-epochs', true) : 0;
  const distill = parseDistill(o.distill);

  const loaded = await loadTfjsModel(modelPath);
  const { model } = loaded;
  const spec: DatasetSpec = dataSpec(o);
  const needsData = method !== 'magnitude' || finetune > 0;
  if (needsData && !hasData(spec)) throw new SurgeonInputError(`--method ${method}${finetune ? ' with --finetune-epochs' : ''} needs labelled data; pass --dataset fashion-mnist:train or --inputs FILE --labels FILE`);
  const calibN = parseNumber(String(o.calibSamples ?? '512'), '--calib-samples', true);
  const heldN = o.heldOut !== undefined ? parseNumber(String(o.heldOut), '--held-out', true) : Math.max(1, Math.floor(calibN / 4));
  if (finetune === 0) spec.limit = calibN + heldN;
  const all = hasData(spec) ? loadTfjsData(spec, model) : undefined;
  const calib = all && (finetune > 0 ? all : subset(all, 0, Math.min(calibN, all.count)));
  const heldOut = all && all.count > calibN ? subset(all, calibN, heldN) : undefined;
  const common = {
    method: method as TfjsMethod,
    sparsity,
    allocation: allocation as 'global' | 'uniform',
    samples: o.fisherSamples !== undefined ? parseNumber(String(o.fisherSamples), '--fisher-samples', true) : 128,
    block: o.block !== undefined ? parseNumber(String(o.block), '--block', true) : 128,
    damp: o.damp !== undefined ? parseNumber(String(o.damp), '--damp') : 1e-3,
    iterations: o.iterations !== undefined ? parseNumber(String(o.iterations), '--iterations', true) : 4,
    step: o.step !== undefined ? parseNumber(String(o.step), '--step') : 0.5,
    skip: o.skip ? String(o.skip).split(',').map((s) => s.trim()).filter(Boolean) : undefined,
  };
  const out = resolve(String(o.out));
  const t0 = performance.now();
  let result: Record<string, unknown>;
  if (finetune > 0) {
    let stop = false;
    const onSigint = () => (stop = true);
    process.once('SIGINT', onSigint);
    const meta = (loaded.file.json.userDefinedMetadata as { surgeonCheckpoint?: { epoch: number } } | undefined)?.surgeonCheckpoint;
    const teacher = distill ? (await loadTfjsModel(modelPath)).model : undefined;
    const bar = progressBar('finetune', calib!.count * finetune);
    const report = await gradualPrune(model, calib!, heldOut, {
      ...common,
      epochs: finetune,
      startEpoch: meta?.epoch ?? 0,
      batchSize: 64,
      lr: o.lr !== undefined ? parseNumber(String(o.lr), '--lr') : 5e-4,
      distill: teacher && distill ? { teacher, ...distill } : undefined,
      onBatch: (b) => bar.update(b.epoch * calib!.count + b.done, `s=${percent(b.sparsity)} loss ${b.loss.toFixed(4)} acc ${percent(b.accuracy)}`),
      shouldStop: () => stop,
    });
    bar.finish();
    process.removeListener('SIGINT', onSigint);
    teacher?.dispose();
    if (!report.completed) {
      const epoch = (meta?.epoch ?? 0) + report.epochs.length;
      const path = await saveNewModel(model, out, { surgeonCheckpoint: { epoch, finetuneEpochs: finetune, method, sparsity } });
      process.stderr.write(`surgeon: interrupted after ${epoch} of ${finetune} epochs; checkpoint ${path} — rerun the same command on it to resume\n`);
      process.exitCode = 130;
      return;
    }
    result = { epochs: report.epochs, steps: report.steps.map((s) => ({ sparsity: s.sparsity, zeros: s.zeros, seconds: s.seconds })), layers: report.steps.at(-1)?.layers };
  } else {
    const bar = progressBar('prune', common.iterations);
    const { report, masks } = await pruneTfjsModel(model, calib, heldOut, { ...common, onIteration: (e) => bar.update(e.iteration, `held-out loss ${e.heldOutLoss?.toFixed(4) ?? '–'}`) });
    bar.finish();
    for (const m of masks.values()) m.dispose();
    result = { ...report };
  }
  const evaluation = heldOut ? await evaluateTfjs(model, heldOut) : undefined;
  const path = meta(loaded) ? await saveNewModel(model, out) : saveTfjsModel(loaded, out);
  const full = { ...result, method, sparsity, allocation, backend, heldOut: evaluation, seconds: (performance.now() - t0) / 1000, output: path };
  model.dispose();
  if (o.json) {
    process.stdout.write(JSON.stringify(full, null, 2) + '\n');
    return;
  }
  const layers = (result.layers as Array<{ weight: string; className: string; rows: number; cols: number; sparsity: number }> | undefined) ?? [];
  process.stdout.write(
    [
      table(['weight', 'layer', 'shape', 'sparsity'], layers.map((l) => [l.weight, l.className, `${l.rows}×${l.cols}`, percent(l.sparsity)])),
      '',
      `${method} ${percent(sparsity)} (${allocation}${finetune ? `, ${finetune} epochs of gradual pruning with fine-tuning` : ', one shot'}) on backend ${backend.name} in ${full.seconds.toFixed(1)} s` +
        (evaluation ? `; held-out accuracy ${percent(evaluation.accuracy)}, loss ${evaluation.loss.toFixed(4)} on ${evaluation.samples} samples` : ''),
      `wrote ${path}`,
    ].join('\n') + '\n',
  );
}

function meta(loaded: { file: { json: Record<string, unknown> } }): boolean {
  return Boolean((loaded.file.json['userDefinedMetadata'] as { surgeonCheckpoint?: unknown } | undefined)?.surgeonCheckpoint);
}
