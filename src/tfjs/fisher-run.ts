/**
 * The Fisher-curvature pruning flow of TF.js layers networks, as `surgeon prune` runs it:
 * `woodfisher` (Singh & Alistarh 2020) and `fisher-iobs` (global I-OBS with empirical Fisher
 * blocks, Wu et al. 2024) one shot, or any of them — and `magnitude` — as gradual pruning with
 * fine-tuning (cubic schedule, masks held fixed, optional distillation). Calibration and
 * held-out splits, the Ctrl-C checkpoint and the held-out evaluation live here; the CLI only
 * validates and prints.
 */
import { SurgeonInputError } from '../errors.js';
import type { ClassificationDataset, Dataset } from '../io/dataset.js';
import { evaluateTfjs, subset, tfjsDataOf, type TfjsData } from './data.js';
import { gradualPrune } from './gradual.js';
import { loadTfjsModel, saveNewModel, saveTfjsModel, type LoadedTfjsModel } from './model.js';
import { pruneTfjsModel, type TfjsMethod } from './prune.js';

import { FISHER_METHODS, isFisherMethod } from './names.js';

export { FISHER_METHODS, isFisherMethod };

/** Options of {@link runFisherPrune}. */
export interface FisherRunOptions {
  /** woodfisher, fisher-iobs, or magnitude (with `finetuneEpochs`). */
  method: string;
  sparsity: number;
  /** Global (one ranking across layers, default) or uniform (per layer) sparsity. */
  allocation?: 'global' | 'uniform';
  /** Calibration samples (default 512) and held-out samples (default a quarter). */
  calibSamples?: number;
  heldOutSamples?: number;
  /** Per-sample gradients in the empirical Fisher (default 128). */
  fisherSamples?: number;
  /** Fisher block size (default 128). */
  block?: number;
  /** Relative Fisher dampening (default 1e-3). */
  damp?: number;
  /** fisher-iobs iterations (default 4) and step η (default 0.5). */
  iterations?: number;
  step?: number;
  skip?: string[];
  /** Gradual pruning with fine-tuning over this many epochs (0: one shot). */
  finetuneEpochs?: number;
  lr?: number;
  distill?: { temperature: number; weight: number };
  /** The model's path (the distillation teacher is loaded from it). */
  modelPath: string;
  /** Where a Ctrl-C checkpoint goes. */
  out: string;
  onProgress?: (done: number, total: number, detail: string) => void;
  shouldStop?: () => boolean;
}

/** What {@link runFisherPrune} did. */
export interface FisherRunResult {
  method: string;
  sparsity: number;
  allocation: 'global' | 'uniform';
  damp: number;
  layers: Array<{ layer: string; weight: string; className: string; rows: number; cols: number; sparsity: number }>;
  /** Zeros and parameters over the pruned kernels. */
  zeros: number;
  parameters: number;
  epochs?: unknown[];
  steps?: Array<{ sparsity: number; zeros: number; seconds: number }>;
  history?: unknown[];
  bestIteration?: number;
  heldOut?: { accuracy: number; loss: number; samples: number };
  /** Set when interrupted: the checkpoint written and the epoch reached. */
  checkpoint?: { path: string; epoch: number };
  seconds: number;
}

/** Runs the Fisher flow on `loaded` in place (see the module comment). */
export async function runFisherPrune(loaded: LoadedTfjsModel, data: Dataset | undefined, options: FisherRunOptions): Promise<FisherRunResult> {
  const t0 = performance.now();
  const { model } = loaded;
  const method = options.method;
  const finetune = options.finetuneEpochs ?? 0;
  if (!isFisherMethod(method) && !(method === 'magnitude' && finetune > 0)) {
    throw new SurgeonInputError(`--method ${method} is not a Fisher method; use ${FISHER_METHODS.join(' or ')} (or magnitude with --finetune-epochs)`);
  }
  const internal: TfjsMethod = method === 'fisher-iobs' ? 'iobs' : (method as TfjsMethod);
  if (!data) throw new SurgeonInputError(`--method ${method}${finetune ? ' with --finetune-epochs' : ''} needs labelled data; pass --dataset fashion-mnist:train or --inputs FILE --labels FILE`);
  const all: TfjsData = tfjsDataOf(data as ClassificationDataset);
  const calibN = options.calibSamples ?? 512;
  const heldN = options.heldOutSamples ?? Math.max(1, Math.floor(calibN / 4));
  const calib = finetune > 0 ? all : subset(all, 0, Math.min(calibN, all.count));
  const heldOut = all.count > calibN ? subset(all, calibN, heldN) : undefined;
  const allocation = options.allocation ?? 'global';
  const damp = options.damp ?? 1e-3;
  const common = {
    method: internal,
    sparsity: options.sparsity,
    allocation,
    samples: options.fisherSamples ?? 128,
    block: options.block ?? 128,
    damp,
    iterations: options.iterations ?? 4,
    step: options.step ?? 0.5,
    skip: options.skip,
  };
  const result: FisherRunResult = { method, sparsity: options.sparsity, allocation, damp, layers: [], zeros: 0, parameters: 0, seconds: 0 };
  if (finetune > 0) {
    const meta = (loaded.file.json.userDefinedMetadata as { surgeonCheckpoint?: { epoch: number } } | undefined)?.surgeonCheckpoint;
    const teacher = options.distill ? (await loadTfjsModel(options.modelPath)).model : undefined;
    try {
      const report = await gradualPrune(model, calib, heldOut, {
        ...common,
        epochs: finetune,
        startEpoch: meta?.epoch ?? 0,
        batchSize: 64,
        lr: options.lr ?? 5e-4,
        distill: teacher && options.distill ? { teacher, ...options.distill } : undefined,
        onBatch: (b) => options.onProgress?.(b.epoch * calib.count + b.done, calib.count * finetune, `s=${(b.sparsity * 100).toFixed(1)}% loss ${b.loss.toFixed(4)} acc ${(b.accuracy * 100).toFixed(1)}%`),
        shouldStop: options.shouldStop,
      });
      for (const m of report.masks.values()) m.dispose();
      if (!report.completed) {
        const epoch = (meta?.epoch ?? 0) + report.epochs.length;
        const path = await saveNewModel(model, options.out, { surgeonCheckpoint: { epoch, finetuneEpochs: finetune, method, sparsity: options.sparsity } });
        return { ...result, checkpoint: { path, epoch }, seconds: (performance.now() - t0) / 1000 };
      }
      result.epochs = report.epochs;
      result.steps = report.steps.map((s) => ({ sparsity: s.sparsity, zeros: s.zeros, seconds: s.seconds }));
      const last = report.steps.at(-1);
      result.layers = last?.layers ?? [];
      result.zeros = last?.zeros ?? 0;
      result.parameters = last?.parameters ?? 0;
    } finally {
      teacher?.dispose();
    }
  } else {
    const { report, masks } = await pruneTfjsModel(model, calib, heldOut, {
      ...common,
      onIteration: (e) => options.onProgress?.(e.iteration, common.iterations, `held-out loss ${e.heldOutLoss?.toFixed(4) ?? '–'}`),
    });
    for (const m of masks.values()) m.dispose();
    result.layers = report.layers;
    result.zeros = report.zeros;
    result.parameters = report.parameters;
    result.history = report.history;
    result.bestIteration = report.bestIteration;
  }
  if (heldOut) result.heldOut = await evaluateTfjs(model, heldOut);
  result.seconds = (performance.now() - t0) / 1000;
  return result;
}

/** Saves a Fisher-pruned model: a resumed checkpoint is written fresh, otherwise model.json stays and only changed weights are rewritten. */
export async function saveFisherResult(loaded: LoadedTfjsModel, out: string): Promise<string> {
  const checkpoint = Boolean((loaded.file.json.userDefinedMetadata as { surgeonCheckpoint?: unknown } | undefined)?.surgeonCheckpoint);
  return checkpoint ? saveNewModel(loaded.model, out) : saveTfjsModel(loaded, out);
}
