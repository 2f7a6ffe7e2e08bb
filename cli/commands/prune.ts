/**
 * `surgeon prune MODEL --method M --sparsity S <calibration data> [--out OUT] [...]` on any
 * format: the layer-wise methods through the shared pipeline (ONNX, TF.js layers, TF.js graph),
 * the Fisher methods on TF.js layers models (they need per-sample gradients).
 */
import { Command, Option } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { SurgeonInputError } from '../../src/errors.js';
import { loadDataset } from '../../src/io/dataset.js';
import type { Network } from '../../src/network/types.js';
import { FISHER_METHODS, isFisherMethod } from '../../src/tfjs/names.js';
import { modelJsonPath, refuseTfjsQuantize } from '../../src/tfjs/path.js';
import { peakRssBytes, pruneModel, validatePruneOptions, type PruneModelOptions, type PruneModelReport, type PruneProfile } from '../../src/prune/model.js';
import { PRUNER_NAMES } from '../../src/pruners/registry.js';
import type { SparsityPattern } from '../../src/pruners/types.js';
import { action } from '../run.js';
import { addBackendOption, addDeviceOptions, formatFields, formatName, openModel, refuseGiven } from '../network-options.js';
import type { SparseEncodingChoice, SparseTensorReport } from '../../src/io/onnx/sparse.js';
import type { QuantizedTensorReport } from '../../src/io/onnx/quantized.js';
import { DEFAULT_GROUP_SIZE } from '../../src/pruners/quantize.js';
import { addDataOptions, dataSpec, hasData, parseNumber } from '../data-options.js';
import { addPrunerOptions, FISHER_FLAGS, prunerOptions, quantizeOptions } from '../prune-options.js';
import { progressBar } from '../progress.js';
import { formatNumber, percent, table } from '../format.js';
import { structuredPrune } from '../structured.js';

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

/**
 * A new path beside `input`, never the input itself: NAME.METHOD-S.onnx for ONNX files, a
 * folder NAME.METHOD-S beside a TF.js model's folder (then -2, -3 ...).
 */
export function defaultOutput(input: string, suffix: string, folder = false): string {
  const base = folder ? dirname(modelJsonPath(input)) : resolve(input);
  const dir = dirname(base);
  const stem = folder ? basename(base) : basename(base, extname(base));
  const ext = folder ? '' : '.onnx';
  let candidate = join(dir, `${stem}.${suffix}${ext}`);
  for (let i = 2; existsSync(candidate); i++) candidate = join(dir, `${stem}.${suffix}-${i}${ext}`);
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


/** Flags of the layer-wise pipeline (refused for the Fisher flow). */
const LAYERWISE_FLAGS = {
  '--rounds': 'rounds',
  '--parallel': 'parallel',
  '--layer-sparsity': 'layerSparsity',
  '--projection': 'projection',
  '--blocksize': 'blocksize',
  '--select': 'select',
  '--cross-term': 'crossTerm',
  '--global': 'global',
  '--include-tied': 'includeTied',
  '--batch': 'batch',
  '--activation-memory': 'activationMemory',
  '--statistics': 'statistics',
  '--profile': 'profile',
} as const;

function skipList(o: Opts): string[] | undefined {
  return o.skip ? String(o.skip).split(',').map((s) => s.trim()).filter(Boolean) : undefined;
}

export function pruneCommand(): Command {
  const command = new Command('prune')
    .description('prune an ONNX or TensorFlow.js model layer by layer (or a TF.js layers model with Fisher curvature) and save the sparse model')
    .argument('<model>', 'ONNX model (.onnx) or TensorFlow.js model (folder or model.json)')
    .addOption(new Option('--method <name>', 'pruning method (woodfisher, fisher-iobs: TensorFlow.js layers models); obs: with --structure; optional with --quantize alone').choices([...PRUNER_NAMES, ...FISHER_METHODS, 'obs']))
    .addOption(new Option('--structure <unit>', 'remove whole units and write a smaller ONNX or TF.js layers model: neurons (Gemm/MatMul/Dense outputs), channels (Conv/Conv2D outputs) or heads (ONNX); methods magnitude, wanda, obs, iobs').choices(['neurons', 'channels', 'heads']))
    .option('--round-to <n>', 'with --structure: keep a multiple of n units per group (16 suits onnxruntime convolutions on AVX-512 CPUs; default 1)')
    .option('--sparsity <s>', 'fraction of weights to zero per layer, in [0, 1) (not needed with --pattern N:M, or with --quantize alone)')
    .addOption(new Option('--quantize <q>', 'quantize the kept weights (ONNX: MatMulNBits where the weight is a MatMul/Gemm operand, DequantizeLinear elsewhere)').choices(['int8', 'int4']))
    .option('--group-size <G>', `--quantize: inputs per scale and zero point, a power of two ≥ 16 (default ${DEFAULT_GROUP_SIZE})`)
    .addOption(new Option('--quantize-method <m>', '--quantize: gptq (OBS sweep with rounding; with --method sparsegpt in the same sweep as the mask) or rtn (round to nearest)').choices(['gptq', 'rtn']))
    .option('--pattern <p>', "'unstructured' or N:M (N kept of every M consecutive inputs), e.g. 2:4", 'unstructured');
  addDataOptions(command, '', 'calibration')
    .option('--calib-samples <n>', 'calibration samples (images or token windows) for the statistics (default 512)')
    .option('--held-out <n>', 'further samples for the per-layer reconstruction error (default: calib-samples/16, at least 1; calib-samples/4 for iht, iobs and the Fisher methods, which also pick on them)');
  addPrunerOptions(command)
    .option('--rounds <r>', 'whole-network passes; later rounds recapture inputs from the pruned model (default 1)')
    .option('--parallel', 'use the dense model inputs for every layer (default: sequential)')
    .option('--global', 'magnitude: one threshold across all layers')
    .option('--skip <names>', 'comma-separated layers to leave dense')
    .option('--include-tied', 'also prune tied weights (an embedding shared with the lm_head; default: left dense)')
    .option('--layer-sparsity <file>', 'JSON file of per-layer sparsity overrides')
    .option('--batch <b>', 'samples per forward batch (default 64)')
    .option('--no-stage-cache', 'sequential mode: run both models from their inputs for every stage instead of advancing cached stage activations (same result, slower)')
    .option('--activation-memory <MiB>', 'cached stage activations held in memory; beyond it they go to a temporary file (default 2048)')
    .option('--threads <t>', 'onnxruntime threads for forward passes and the GEMM engine', '2')
    .addOption(new Option('--storage <s>', 'dense, or sparse: pruned ONNX initializers stored without their zeros (sparse_initializer, or a bit mask where smaller; read back bit-identically)').choices(['dense', 'sparse']).default('dense'))
    .addOption(new Option('--sparse-encoding <e>', "--storage sparse, ONNX: auto (the smaller per tensor), coo (sparse_initializer only) or bitmask").choices(['auto', 'coo', 'bitmask']))
    .option('--out <path>', 'output model: a .onnx file, or a folder for TensorFlow.js models (default: beside the input; never the input)')
    .addOption(new Option('--statistics <p>', "precision of the statistics' products: fp32 (default; Float32 products summed into Float64, as PyTorch) or fp64 (slower, exact to 1e-15)").choices(['fp64', 'fp32']))
    .option('--profile', 'print seconds per phase (read, capture, statistics, prune, error, save) and peak memory after the layer table')
    .option('--json', 'print the report as JSON (always with the per-phase profile)')
    .option('--fisher-samples <m>', 'Fisher methods: per-sample gradients in the empirical Fisher (default 128)')
    .option('--block <B>', 'Fisher methods: Fisher block size (default 128)')
    .option('--finetune-epochs <E>', 'TF.js layers models: gradual pruning with fine-tuning over E epochs (cubic schedule; woodfisher, fisher-iobs or magnitude)')
    .option('--lr <η>', 'fine-tuning Adam learning rate (default 5e-4)')
    .option('--distill [T:w]', 'distil from the dense model while fine-tuning (default 2:0.5)')
    .option('--allocation <a>', 'Fisher methods: global or uniform (per-layer) sparsity (default global)');
  addBackendOption(command);
  addDeviceOptions(command);
  return command.action(
    action(async (modelPath: string, o: Opts) => {
      if (o.structure !== undefined) {
        const network = await openModel(modelPath, o);
        try {
          return await structuredPrune(network, modelPath, o, (suffix) => defaultOutput(modelPath, suffix, network.format !== 'onnx'));
        } finally {
          network.dispose();
        }
      }
      refuseGiven(o, { '--round-to': 'roundTo' }, 'applies to --structure only');
      const pattern = parsePattern(o.pattern as string | undefined);
      const quantize = quantizeOptions(o);
      if (!quantize) {
        if (o.method === undefined) throw new SurgeonInputError('--method is required (or --quantize int4|int8 to quantize without pruning); pass e.g. --method sparsegpt');
      } else if (o.method === undefined) {
        if (o.sparsity !== undefined || pattern.kind !== 'unstructured') throw new SurgeonInputError('--sparsity/--pattern need a pruning method; pass --method (e.g. sparsegpt) or drop them to quantize alone');
        o.method = 'magnitude';
        o.sparsity = '0';
      }
      if (o.sparsity === undefined && pattern.kind === 'unstructured') throw new SurgeonInputError('--sparsity is required for unstructured pruning; pass e.g. --sparsity 0.5');
      const sparsity = o.sparsity !== undefined ? parseSparsity(String(o.sparsity)) : 1 - (pattern as { n: number; m: number }).n / (pattern as { n: number; m: number }).m;
      const method = String(o.method);
      const readStarted = performance.now();
      const network = await openModel(modelPath, o);
      try {
        if (o.sparseEncoding !== undefined && o.storage !== 'sparse') throw new SurgeonInputError('--sparse-encoding applies to --storage sparse; drop it or pass --storage sparse');
        if (network.format !== 'onnx') refuseTfjsQuantize(o.quantize !== undefined, o.sparseEncoding as string | undefined);
        const fisher = isFisherMethod(method) || (method === 'magnitude' && o.finetuneEpochs !== undefined);
        if (fisher && o.quantize !== undefined) throw new SurgeonInputError(`--quantize applies to the layer-wise methods, not to --method ${method}${o.finetuneEpochs !== undefined ? ' --finetune-epochs' : ''}`);
        if (fisher) return await fisherPrune(network, modelPath, method, sparsity, pattern.kind, o);
        refuseGiven(o, FISHER_FLAGS, `applies to the Fisher methods (${FISHER_METHODS.join(', ')}) and fine-tuning, not to --method ${method}`);
        await layerwisePrune(network, modelPath, method, sparsity, pattern, o, readStarted);
      } finally {
        network.dispose();
      }
    }),
  );
}

/** The layer-wise methods on any format, through the shared pipeline. */
async function layerwisePrune(network: Network, modelPath: string, method: string, sparsity: number, pattern: SparsityPattern, o: Opts, readStarted = performance.now()): Promise<void> {
  const options: PruneModelOptions = {
    method,
    sparsity,
    pattern,
    calibSamples: parseNumber(String(o.calibSamples ?? '512'), '--calib-samples', true),
    ...prunerOptions(o),
    rounds: parseNumber(String(o.rounds ?? '1'), '--rounds', true),
    parallel: Boolean(o.parallel),
    global: Boolean(o.global),
    includeTied: Boolean(o.includeTied),
    threads: parseNumber(String(o.threads), '--threads', true),
    batchSize: parseNumber(String(o.batch ?? '64'), '--batch', true),
    stageCache: o.stageCache !== false,
  };
  if (o.activationMemory !== undefined) {
    const mib = parseNumber(String(o.activationMemory), '--activation-memory');
    if (mib < 0) throw new SurgeonInputError(`--activation-memory ${o.activationMemory}: expected MiB ≥ 0, e.g. --activation-memory 512`);
    options.activationMemory = mib * 1024 ** 2;
  }
  if (o.heldOut !== undefined) options.heldOutSamples = parseNumber(String(o.heldOut), '--held-out', true);
  const skip = skipList(o);
  if (skip) options.skip = skip;
  if (o.layerSparsity) options.layerSparsity = readOverrides(String(o.layerSparsity));
  if (o.statistics !== undefined) options.statistics = String(o.statistics) as 'fp64' | 'fp32';
  const quantize = quantizeOptions(o);
  if (quantize) options.quantize = quantize;
  validatePruneOptions(options);

  const folder = network.format !== 'onnx';
  const quantSuffix = options.quantize ? `${sparsity > 0 || pattern.kind === 'nm' ? '-' : ''}${o.quantize}` : '';
  const pruneSuffix = options.quantize && sparsity === 0 && pattern.kind === 'unstructured' ? '' : `${method}-${pattern.kind === 'nm' ? `${pattern.n}of${pattern.m}` : sparsity}`;
  const out = o.out ? resolve(String(o.out)) : defaultOutput(modelPath, `${pruneSuffix}${quantSuffix}`, folder);
  if (network.path && (resolve(out) === network.path || (folder && resolve(out) === dirname(network.path)))) {
    throw new SurgeonInputError(`--out ${o.out} is the input model; choose another ${folder ? 'folder' : 'file'} (the input is never overwritten)`);
  }
  const spec = dataSpec(o);
  const calib = hasData(spec) ? loadDataset(spec, { inputs: network.inputs }) : undefined;
  const readSeconds = (performance.now() - readStarted) / 1000;

  const bar = progressBar('prune', 1);
  const { model: pruned, report, quantized } = await pruneModel(network, calib, {
    ...options,
    onProgress: (e) => bar.update(e.layersDone, `${e.phase} ${e.layer ?? `stage ${e.stage}/${e.stages}`}`),
  });
  bar.finish();
  try {
    const saveStarted = performance.now();
    const storage = String(o.storage ?? 'dense') as 'dense' | 'sparse';
    const saved = await pruned.save(out, { ...(network.path ? { inputPath: network.path } : {}), storage, ...(o.sparseEncoding ? { sparseEncoding: o.sparseEncoding as SparseEncodingChoice } : {}), ...(quantized ? { quantized } : {}) });
    report.profile.read = readSeconds;
    report.profile.save = (performance.now() - saveStarted) / 1000;
    report.peakRssBytes = peakRssBytes();
    const totalSeconds = (performance.now() - readStarted) / 1000;
    const result = { ...formatFields(network), ...report, totalSeconds, output: saved.path, storage, bytes: saved.bytes, ...(saved.sparse ? { sparseTensors: saved.sparse } : {}), ...(saved.quantized ? { quantizedTensors: saved.quantized } : {}) };
    if (o.json) {
      process.stdout.write(JSON.stringify(result, null, 2) + '\n');
      return;
    }
    const rows = report.layers.map((l) => [l.name, l.op, `${l.rows}×${l.cols}`, l.skipped ? `dense (${l.reason ?? 'skip'})` : percent(l.sparsity), l.error === null ? '–' : formatNumber(l.error), `${l.seconds.toFixed(2)}s`]);
    process.stdout.write(
      [
        table(['layer', 'op', 'shape', 'sparsity', 'rel. error', 'time'], rows),
        '',
        `${report.method} ${report.pattern === 'unstructured' ? percent(report.sparsity) : report.pattern} on a ${formatName(network)} (${report.mode}, ${report.rounds} round${report.rounds > 1 ? 's' : ''}, damp λ=${report.damp}): ` +
          `${report.totals.zeros.toLocaleString('en-US')} of ${report.totals.parameters.toLocaleString('en-US')} weights zero (${percent(report.totals.sparsity)})` +
          `${report.totals.meanError !== null ? `, mean held-out error ${formatNumber(report.totals.meanError)}` : ''}, ${report.seconds.toFixed(1)} s`,
        `calibration: ${report.calibSamples} samples + ${report.heldOutSamples} held out; engine ${report.engine}`,
        ...(report.selection ? [selectionLine(report.selection)] : []),
        ...(report.quantize && saved.quantized ? [quantizeLine(report.quantize, saved.quantized)] : []),
        `wrote ${saved.path} (${saved.bytes.toLocaleString('en-US')} bytes${saved.sparse ? `; ${storageLine(saved.sparse)}` : ''})`,
        ...(o.profile ? ['', profileTable(report.profile, totalSeconds, report.peakRssBytes)] : []),
      ].join('\n') + '\n',
    );
  } finally {
    pruned.dispose();
  }
}

/** One line on model-level selection: both models' held-out loss and which was kept. */
function selectionLine(selection: NonNullable<PruneModelReport['selection']>): string {
  const loss = selection.loss === 'nll' ? 'held-out loss' : 'held-out KL divergence from the dense model';
  const { iterated, first } = selection.losses;
  return `model-level check on the ${loss}: iterated ${formatNumber(iterated)}, first step (one-shot) ${formatNumber(first)} — kept the ${selection.chosen === 'first' ? 'first step' : 'iterated model'} (+${selection.seconds.toFixed(1)} s)`;
}

/** One line on the quantized layers: grid, method, and how each was stored (float32 ones with their reason). */
function quantizeLine(q: { bits: number; groupSize: number; method: string }, tensors: readonly QuantizedTensorReport[]): string {
  const by = (e: string) => tensors.filter((t) => t.encoding === e).length;
  const kept = tensors.filter((t) => t.encoding === 'float32').map((t) => `${t.layer} (${t.reason})`);
  const notes = [...new Set(tensors.filter((t) => t.encoding === 'DequantizeLinear' && t.reason).map((t) => t.reason!))];
  return (
    `quantized int${q.bits}, groups of ${q.groupSize}, ${q.method}: ${by('MatMulNBits')} MatMulNBits, ${by('DequantizeLinear')} DequantizeLinear` +
    (kept.length ? `; stored as float32 (dequantized values): ${kept.join(', ')}` : '') +
    (notes.length ? `; ${notes.join('; ')}` : '')
  );
}

/** One line on the tensors stored sparse: how many per encoding, and the bytes saved. */
function storageLine(sparse: readonly SparseTensorReport[]): string {
  if (sparse.length === 0) return 'no tensor has enough zeros to store sparse';
  const coo = sparse.filter((s) => s.encoding === 'coo').length;
  const saved = sparse.reduce((n, s) => n + s.denseBytes - s.storedBytes, 0);
  return `${sparse.length} tensors stored sparse (${coo} sparse_initializer, ${sparse.length - coo} bit mask), ${saved.toLocaleString('en-US')} data bytes saved`;
}

/** The per-phase profile as a table: seconds and share of the command's wall time, then peak RSS. */
export function profileTable(profile: PruneProfile, totalSeconds: number, peakRss: number): string {
  const phases = ['read', 'capture', 'statistics', 'prune', 'error', 'select', 'save', 'other'] as const;
  const rows = phases.map((p) => [p, profile[p].toFixed(3), totalSeconds > 0 ? percent(profile[p] / totalSeconds) : '–']);
  rows.push(['total', totalSeconds.toFixed(3), '100%']);
  return [table(['phase', 'seconds', 'share'], rows), `peak RSS ${(peakRss / 2 ** 20).toFixed(0)} MiB`].join('\n');
}

/** The Fisher methods (and gradual pruning) on TF.js layers models. */
async function fisherPrune(network: Network, modelPath: string, method: string, sparsity: number, pattern: string, o: Opts): Promise<void> {
  if (!network.gradients) {
    throw new SurgeonInputError(
      `--method ${method}${o.finetuneEpochs !== undefined ? ' with --finetune-epochs' : ''} needs per-sample gradients, which only TensorFlow.js layers models give; for ${formatName(network)} models use obc, sparsegpt or iobs (the same OBS step with H from activations)`,
    );
  }
  if (pattern !== 'unstructured') throw new SurgeonInputError(`--pattern N:M applies to the layer-wise methods; the Fisher methods prune unstructured — use sparsegpt/obc/iobs for N:M`);
  refuseGiven(o, LAYERWISE_FLAGS, `applies to the layer-wise methods, not to the Fisher flow (--method ${method}${o.finetuneEpochs !== undefined ? ' --finetune-epochs' : ''})`);
  if (o.stageCache === false) throw new SurgeonInputError(`--no-stage-cache applies to the layer-wise methods, not to the Fisher flow (--method ${method}); drop it`);
  const allocation = String(o.allocation ?? 'global');
  if (allocation !== 'global' && allocation !== 'uniform') throw new SurgeonInputError(`--allocation ${allocation}: expected global or uniform`);
  const out = o.out ? resolve(String(o.out)) : defaultOutput(modelPath, `${method}-${sparsity}`, true);
  const { loaded } = network.gradients;
  if (resolve(out) === loaded.file.dir) throw new SurgeonInputError(`--out ${o.out} is the input model's folder; choose another folder (the input is never overwritten)`);
  const spec = dataSpec(o);
  const finetune = o.finetuneEpochs !== undefined ? parseNumber(String(o.finetuneEpochs), '--finetune-epochs', true) : 0;
  const calibSamples = parseNumber(String(o.calibSamples ?? '512'), '--calib-samples', true);
  const heldOutSamples = o.heldOut !== undefined ? parseNumber(String(o.heldOut), '--held-out', true) : Math.max(1, Math.floor(calibSamples / 4));
  if (finetune === 0) spec.limit = calibSamples + heldOutSamples;
  const data = hasData(spec) ? loadDataset(spec, { inputs: network.inputs }) : undefined;
  const { runFisherPrune, saveFisherResult } = await import('../../src/tfjs/fisher-run.js');
  let stop = false;
  const onSigint = () => (stop = true);
  process.once('SIGINT', onSigint);
  const bar = progressBar(finetune ? 'finetune' : 'prune', 1);
  const result = await runFisherPrune(loaded, data, {
    method,
    sparsity,
    allocation,
    calibSamples,
    heldOutSamples,
    modelPath,
    out,
    ...(o.fisherSamples !== undefined ? { fisherSamples: parseNumber(String(o.fisherSamples), '--fisher-samples', true) } : {}),
    ...(o.block !== undefined ? { block: parseNumber(String(o.block), '--block', true) } : {}),
    ...(o.damp !== undefined ? { damp: prunerOptions(o).damp! } : {}),
    ...(o.iterations !== undefined ? { iterations: parseNumber(String(o.iterations), '--iterations', true) } : {}),
    ...(o.step !== undefined ? { step: parseNumber(String(o.step), '--step') } : {}),
    ...(skipList(o) ? { skip: skipList(o)! } : {}),
    finetuneEpochs: finetune,
    ...(o.lr !== undefined ? { lr: parseNumber(String(o.lr), '--lr') } : {}),
    ...(parseDistill(o.distill) ? { distill: parseDistill(o.distill)! } : {}),
    onProgress: (done, total, detail) => bar.update(total ? done / total : 0, detail),
    shouldStop: () => stop,
  });
  bar.finish();
  process.removeListener('SIGINT', onSigint);
  if (result.checkpoint) {
    process.stderr.write(`surgeon: interrupted after ${result.checkpoint.epoch} of ${finetune} epochs; checkpoint ${result.checkpoint.path} — rerun the same command on it to resume\n`);
    process.exitCode = 130;
    return;
  }
  const path = await saveFisherResult(loaded, out);
  const full = { ...formatFields(network), ...result, output: path };
  if (o.json) {
    process.stdout.write(JSON.stringify(full, null, 2) + '\n');
    return;
  }
  process.stdout.write(
    [
      table(['weight', 'layer', 'shape', 'sparsity'], result.layers.map((l) => [l.weight, l.className, `${l.rows}×${l.cols}`, percent(l.sparsity)])),
      '',
      `${method} ${percent(sparsity)} (${result.allocation}${finetune ? `, ${finetune} epochs of gradual pruning with fine-tuning` : ', one shot'}, damp λ=${result.damp}) in ${result.seconds.toFixed(1)} s` +
        (result.heldOut ? `; held-out accuracy ${percent(result.heldOut.accuracy)}, loss ${result.heldOut.loss.toFixed(4)} on ${result.heldOut.samples} samples` : ''),
      `wrote ${path}`,
    ].join('\n') + '\n',
  );
}
