/**
 * `surgeon curve MODEL --methods a,b --sparsities 0.5,0.7 <calibration data> <evaluation data>
 * [--collapse penultimate|all|none] [--out DIR] [--fresh] [--json]`: the dense model and every
 * method × sparsity, pruned, evaluated and measured for collapse, saved after every point
 * (rerunning resumes), then plotted into results.json/.csv, accuracy.svg, collapse.svg and
 * report.html.
 */
import { Command, Option } from 'commander';
import { statSync } from 'node:fs';
import { basename, dirname, extname, isAbsolute, join, relative, resolve } from 'node:path';
import { SurgeonInputError } from '../../src/errors.js';
import { loadDataset, type DatasetSpec } from '../../src/io/dataset.js';
import type { PruneModelOptions } from '../../src/prune/model.js';
import { PRUNER_NAMES } from '../../src/pruners/registry.js';
import { curveGrid, runCurve, type CurveProgress, type CurveRunResult, type StructuredCurveOptions } from '../../src/curve/runner.js';
import { STRUCTURED_METHODS } from '../../src/structure/select.js';
import { structuredFlagOptions, validateStructureFlags } from '../structured.js';
import { checkStructured } from '../../src/structure/prune.js';
import { hashOptions, modelFingerprint, prepareOutputDir, readResults, writeResults } from '../../src/curve/store.js';
import { curveEnvironment } from '../../src/curve/environment.js';
import { writeCurveArtifacts } from '../../src/curve/artifacts.js';
import { bytesOnDisk, type PointStorage } from '../../src/curve/bytes.js';
import { curveTable } from '../../src/curve/table.js';
import type { CurveCollapseMode, CurvePoint, CurveQueueJob, CurveResults } from '../../src/curve/types.js';
import { checkQueueReachable, parseQueueUrl, type QueueAddress } from '../../src/queue/connection.js';
import type { QueueCurveEvent, QueueCurveResult } from '../../src/queue/curve.js';
import { action } from '../run.js';
import { addDataOptions, dataSpec, hasData, parseNumber } from '../data-options.js';
import { addPrunerOptions, prunerOptions, quantizeOptions } from '../prune-options.js';
import { addDeviceOptions, openModel, openOptions, refuseGiven } from '../network-options.js';
import { openNetwork, refuseProviders } from '../../src/network/open.js';
import { BACKEND_NAMES } from '../../src/tfjs/names.js';
import { refuseTfjsQuantize } from '../../src/tfjs/path.js';
import { DEFAULT_GROUP_SIZE } from '../../src/pruners/quantize.js';
import type { SparseEncodingChoice } from '../../src/io/onnx/sparse.js';
import { progressBar, type Progress } from '../progress.js';
import { table } from '../format.js';
import { parsePattern, parseSparsity } from './prune.js';

type Options = Record<string, string | boolean | undefined>;

/** The command line as a shell would need it retyped. */
export function quoteCommand(args: readonly string[]): string {
  return args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** A path as the user would write it from the current folder. */
function display(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}

function parseMethods(text: string, structured: boolean): string[] {
  const methods = text.split(',').map((m) => m.trim()).filter(Boolean);
  if (methods.length === 0) throw new SurgeonInputError('--methods is empty; pass e.g. --methods magnitude,sparsegpt');
  for (const m of methods) {
    if (m === 'dense') continue;
    // with --structure the structured methods are checked against the model (validateStructureFlags)
    if (structured && (STRUCTURED_METHODS as readonly string[]).includes(m)) continue;
    if (!(PRUNER_NAMES as readonly string[]).includes(m)) throw new SurgeonInputError(`--methods: unknown method '${m}'; use ${PRUNER_NAMES.join(', ')}`);
  }
  return [...new Set(methods)];
}

function parseSparsities(text: string | undefined): number[] {
  if (text === undefined) return [];
  const list = text.split(',').map((s) => parseSparsity(s.trim(), '--sparsities'));
  return [...new Set(list)].sort((a, b) => a - b);
}

/** Paths of a dataset spec made absolute (for hashing: the same data from another folder matches). */
function absoluteSpec(spec: DatasetSpec): DatasetSpec {
  const out: DatasetSpec = { ...spec };
  for (const key of ['inputs', 'labels', 'tokens'] as const) if (out[key]) out[key] = resolve(out[key]!);
  return out;
}

function pct(s: number): string {
  return `${(s * 100).toFixed(1).replace(/\.0$/, "")}%`;
}

/** One line about a finished point, for stderr. */
function pointLine(p: CurvePoint, index: number, total: number, reused: boolean): string {
  const head = `[${index + 1}/${total}] ${p.method}${p.method === 'dense' ? '' : ` ${p.pattern === 'unstructured' ? pct(p.sparsity) : p.pattern}`}`;
  if (reused) return `${head}: finished earlier, reused (--fresh to redo)`;
  const metric = p.accuracy !== undefined ? `accuracy ${(p.accuracy * 100).toFixed(1)}%` : `perplexity ${p.perplexity?.toFixed(3)}`;
  const nc1 = p.collapse ? `, NC1 ${p.collapse.nc1.toPrecision(4)}` : '';
  return `${head}: ${metric}${nc1} (${p.seconds.total.toFixed(1)} s), saved`;
}

/** A point in words: `dense`, `sparsegpt 50%`, `iobs 2:4`. */
function pointName(p: { method: string; sparsity: number; pattern: string }): string {
  return p.method === 'dense' ? 'dense' : `${p.method} ${p.pattern === 'unstructured' ? pct(p.sparsity) : p.pattern}`;
}

/** One stderr line for a queue event (all but `status`). */
function queueLine(e: Exclude<QueueCurveEvent, { kind: 'status' }>, address: QueueAddress, total: number): string {
  if (e.kind === 'error') return `queue ${address.display}: ${e.error}`;
  if (e.kind === 'connection') {
    return e.state === 'lost' ? `queue ${address.display}: connection lost; reconnecting (the curve goes on when Redis is back)` : `queue ${address.display}: connected again`;
  }
  if (e.kind === 'queued') {
    const attached = e.attached ? ` (${e.attached} already on the queue)` : '';
    const workers = e.workers === 0 ? `no worker connected yet: start some with surgeon worker --queue ${address.display}` : `${e.workers} worker${e.workers === 1 ? '' : 's'} connected`;
    return `queue ${address.display}: ${e.queued + e.attached} point${e.queued + e.attached === 1 ? '' : 's'} queued${attached}; ${workers}`;
  }
  const head = `[${e.index + 1}/${total}] ${pointName(e.point)}`;
  if (e.kind === 'started') return `${head}: started${e.worker ? ` on ${e.worker}` : ''}${e.attempt > 1 ? ` (attempt ${e.attempt})` : ''}`;
  if (e.kind === 'retrying') return `${head}: attempt ${e.attempt} of ${e.attempts} failed: ${e.error}; retrying`;
  return `${head}: failed after ${e.attempts} attempt${e.attempts === 1 ? '' : 's'}: ${e.error}`;
}

/** The detail of the queue progress bar: what runs where. */
function queueStatus(e: Extract<QueueCurveEvent, { kind: 'status' }>): string {
  const running = e.running.map((r) => `${pointName(r.point)}${r.progress ? ` ${r.progress.phase} ${Math.round(r.progress.fraction * 100)}%` : ''}${r.worker ? ` on ${r.worker}` : ''}`);
  return [`${e.workers} worker${e.workers === 1 ? '' : 's'}`, ...(running.length ? [`running ${running.join(', ')}`] : []), ...(e.waiting ? [`${e.waiting} waiting`] : [])].join(' · ');
}

/** The one-line error of a queue curve whose jobs failed for good (exit 2 when every error is one of input). */
function failedJobsError(failed: readonly CurveQueueJob[], finished: number, out: string): Error {
  const first = failed[0]!;
  const error = first.errors.at(-1) ?? 'unknown error';
  const message =
    `${failed.length} point${failed.length === 1 ? '' : 's'} failed on the workers after every attempt (${failed.map(pointName).join(', ')}; errors in ${display(join(out, 'results.json'))} under "queue"): ` +
    `${pointName(first)}: ${error.replace(/^SurgeonInputError: /, '')}; ` +
    `give every worker the model and data at the same paths (or a shared folder) and rerun the same command: the ${finished} finished point${finished === 1 ? ' is' : 's are'} kept`;
  const allInput = failed.every((f) => (f.errors.at(-1) ?? '').startsWith('SurgeonInputError'));
  return allInput ? new SurgeonInputError(message) : new Error(message);
}

/** Runs a curve from parsed commander options; shared by `surgeon curve` and `surgeon demo`. */
export async function runCurveCommand(modelPath: string, o: Options, commandLine: string): Promise<void> {
  const structured = o.structure !== undefined;
  const methods = parseMethods(String(o.methods ?? ''), structured);
  if (!structured) refuseGiven(o, { '--round-to': 'roundTo' }, 'applies to --structure only');
  const pattern = parsePattern(o.pattern as string | undefined);
  const sparsities = parseSparsities(o.sparsities as string | undefined);
  if (pattern.kind === 'unstructured' && sparsities.length === 0) throw new SurgeonInputError('--sparsities is required for unstructured pruning; pass e.g. --sparsities 0.5,0.7,0.9');
  const collapseMode = String(o.collapse ?? 'penultimate') as CurveCollapseMode;
  const prune: Omit<PruneModelOptions, 'method' | 'sparsity' | 'pattern' | 'onProgress'> = {
    calibSamples: parseNumber(String(o.calibSamples ?? '512'), '--calib-samples', true),
    ...prunerOptions(o),
    rounds: parseNumber(String(o.rounds ?? '1'), '--rounds', true),
    parallel: Boolean(o.parallel),
    threads: parseNumber(String(o.threads ?? '2'), '--threads', true),
    batchSize: parseNumber(String(o.batch ?? '64'), '--batch', true),
  };
  if (o.heldOut !== undefined) prune.heldOutSamples = parseNumber(String(o.heldOut), '--held-out', true);
  const storage = String(o.storage ?? 'dense') as 'dense' | 'sparse';
  if (o.sparseEncoding !== undefined && storage !== 'sparse') throw new SurgeonInputError('--sparse-encoding applies to --storage sparse; drop it or pass --storage sparse');
  const sparseEncoding = o.sparseEncoding as SparseEncodingChoice | undefined;
  const quantize = quantizeOptions(o);
  if (quantize) prune.quantize = quantize;
  if (o.skip) prune.skip = String(o.skip).split(',').map((s) => s.trim()).filter(Boolean);

  // The queue first: an unreachable Redis is reported before any model or data is read.
  let address: QueueAddress | undefined;
  if (o.queue !== undefined) {
    address = parseQueueUrl(String(o.queue));
    await checkQueueReachable(address);
  } else if (o.attempts !== undefined) {
    throw new SurgeonInputError('--attempts applies to curves run on a queue (--queue redis://HOST:PORT); drop it');
  }
  const attempts = o.attempts !== undefined ? parseNumber(String(o.attempts), '--attempts', true) : 3;

  const modelFile = resolve(modelPath);
  const base = /model\.json$/i.test(modelFile) ? dirname(modelFile) : modelFile;
  const out = o.out ? resolve(String(o.out)) : join(dirname(base), `${basename(base, extname(base))}.curve`);
  let outIsFile = false;
  try {
    outIsFile = !statSync(out).isDirectory();
  } catch {
    // missing: created below
  }
  if (outIsFile) throw new SurgeonInputError(`${o.out ? '--out ' : 'the output folder '}${display(out)} is a file, not a folder; pass a folder with --out (it is created when missing)`);

  // On a queue the workers run the model on --device; this machine only checks it (on the CPU).
  const open = openOptions(o);
  const { executionProviders, providerFlag, ...here } = open;
  const model = address ? await openNetwork(modelPath, here) : await openModel(modelPath, o);
  if (address && executionProviders) refuseProviders(model.format, modelPath, providerFlag);
  try {
  let structure: StructuredCurveOptions | undefined;
  if (structured) {
    if (address) throw new SurgeonInputError('--structure curves run locally for now; drop --queue (or --structure)');
    // --rounds has a default of 1: only another value is a flag of unstructured pruning
    const kind = validateStructureFlags(model, { ...o, rounds: o.rounds === '1' ? undefined : o.rounds }, methods.filter((m) => m !== 'dense'), { methodFlag: '--methods' });
    const flags = structuredFlagOptions(o);
    structure = { structure: kind, ...(flags.roundTo !== undefined ? { roundTo: flags.roundTo } : {}), ...(flags.skip ? { skip: flags.skip } : {}) };
  }
  if (model.format !== 'onnx') refuseTfjsQuantize(prune.quantize !== undefined, sparseEncoding);
  const evalSpec = dataSpec(o);
  if (o.limit !== undefined) evalSpec.limit = parseNumber(String(o.limit), '--limit', true);
  const evaluation = loadDataset(evalSpec, { inputs: model.inputs });
  if (evaluation.kind === 'classification' && !evaluation.labels) {
    throw new SurgeonInputError('the evaluation set has no labels; a classifier is scored against them: pass --labels FILE (or --dataset fashion-mnist)');
  }
  const calibSpec = dataSpec(o, 'calib');
  const gptq = prune.quantize !== undefined && prune.quantize.method !== 'rtn';
  const needsCalibration = methods.some((m) => m !== 'dense' && (m !== 'magnitude' || gptq));
  if (needsCalibration && !hasData(calibSpec)) {
    throw new SurgeonInputError(`${methods.filter((m) => m !== 'dense' && (m !== 'magnitude' || gptq)).join(', ')}${gptq ? ' with GPTQ quantization' : ''} need calibration data; pass --calib-inputs FILE, --calib-dataset NAME or --calib-tokens FILE`);
  }
  const calibration = hasData(calibSpec) ? loadDataset(calibSpec, { inputs: model.inputs }) : undefined;
  // a structure the model lacks, or a sparsity that empties a group, is refused before any point runs
  if (structure) await checkStructured(model, calibration ?? evaluation, { ...structure, method: 'magnitude', threads: prune.threads! }, sparsities);
  // A model whose collapse tensors cannot be measured (no final linear classifier, tensors
  // inside subgraphs, no batch axis) still gets its curve: the runner warns once and goes on.

  prepareOutputDir(out);
  const previous = o.fresh ? undefined : readResults(out);
  const fingerprint = modelFingerprint(model);
  const modelSha = fingerprint.sha256;
  // Where onnxruntime ran is part of a point's identity (GPU kernels round differently); absent for the CPU, so older curves still match.
  const denseOptions = { model: modelSha, evaluation: absoluteSpec(evalSpec), collapse: collapseMode, executionProviders, ...(storage !== 'dense' ? { storage } : {}), ...(sparseEncoding ? { sparseEncoding } : {}) };
  const pruneOptions = { ...denseOptions, calibration: absoluteSpec(calibSpec), pattern, ...prune, ...(structure ? { structure } : {}), threads: undefined, batchSize: undefined };
  const hashes = { dense: hashOptions(denseOptions), prune: hashOptions(pruneOptions) };
  const grid = curveGrid(methods, sparsities, pattern, structure?.structure);
  const env = await curveEnvironment();
  const started = previous?.started ?? new Date().toISOString();
  const header: Omit<CurveResults, 'points' | 'updated'> = {
    format: 'surgeon-curve',
    version: 1,
    command: commandLine,
    model: { path: display(modelFile), format: model.format, sha256: modelSha, bytes: fingerprint.bytes },
    metric: evaluation.kind === 'tokens' ? 'perplexity' : 'accuracy',
    options: {
      methods,
      sparsities: pattern.kind === 'nm' ? [1 - pattern.n / pattern.m] : sparsities,
      pattern: pattern.kind === 'nm' ? `${pattern.n}:${pattern.m}` : 'unstructured',
      ...(structure ? { structure } : {}),
      collapse: collapseMode,
      evaluation: { ...evalSpec, samples: evaluation.count },
      calibration: hasData(calibSpec) ? { ...calibSpec, samples: calibration!.count } : null,
      prune,
      storage,
    },
    hashes,
    ...env,
    started,
  };
  // Warnings of this run, plus those of the earlier run whose points are reused.
  const warnings: string[] = [];
  const addWarnings = (list: readonly string[]) => {
    for (const w of list) if (!warnings.includes(w)) warnings.push(w);
  };
  // Queue runs record each point's job (worker, errors of failed attempts) over the earlier runs' records.
  let queueRecord = previous?.queue;
  const recordJobs = (jobs: readonly CurveQueueJob[]) => {
    const key = (j: CurveQueueJob) => `${j.method}|${j.sparsity}|${j.pattern}`;
    const latest = new Set(jobs.map(key));
    queueRecord = { url: address!.display, jobs: [...jobs.map((j) => ({ ...j, errors: j.errors.slice() })), ...(queueRecord?.jobs ?? []).filter((j) => !latest.has(key(j)))] };
  };
  const results = (points: CurvePoint[]): CurveResults => ({
    ...header,
    updated: new Date().toISOString(),
    points,
    warnings: warnings.slice(),
    ...(queueRecord ? { queue: queueRecord } : {}),
  });

  let bar: Progress | undefined;
  let barIndex = -1;
  const timings: number[] = [];
  const weights = (method: string) => (method === 'dense' ? { prune: 0, eval: 0.4, collapse: 0.6 } : { prune: 0.7, eval: 0.1, collapse: 0.2 });
  const onProgress = (e: CurveProgress) => {
    if (e.index !== barIndex) {
      bar?.finish();
      barIndex = e.index;
      bar = progressBar(`[${e.index + 1}/${e.total}] ${e.method}${e.method === 'dense' ? '' : ` ${pct(e.sparsity)}`}`, 100);
    }
    const w = weights(e.method);
    const before = e.phase === 'prune' ? 0 : e.phase === 'eval' ? w.prune : w.prune + w.eval;
    const fraction = before + w[e.phase] * Math.min(1, Math.max(0, e.fraction));
    const mean = timings.length ? timings.reduce((a, b) => a + b, 0) / timings.length : undefined;
    const eta = mean === undefined ? '' : `all: eta ${Math.round(mean * (e.total - e.index - fraction))} s · `;
    bar!.update(Math.round(fraction * 100), `${eta}${e.phase}${e.detail ? ` ${e.detail}` : ''}`);
  };

  const onWarning = (message: string) => {
    bar?.finish();
    barIndex = -1;
    addWarnings([message]);
    process.stderr.write(`warning: ${message}\n`);
  };
  const savePoint = (points: CurvePoint[], point: CurvePoint, reused: boolean, index: number, worker?: string) => {
    bar?.finish();
    barIndex = -1;
    if (reused && Array.isArray(previous?.warnings)) addWarnings(previous.warnings);
    if (!reused && point.method !== 'dense') timings.push(point.seconds.total);
    writeResults(out, results(points));
    process.stderr.write(pointLine(point, index, grid.length, reused) + (worker ? ` (by ${worker})` : '') + '\n');
  };
  const evalBatch = o.evalBatch !== undefined ? parseNumber(String(o.evalBatch), '--eval-batch', true) : undefined;
  const pointStorage: PointStorage = { storage, ...(sparseEncoding ? { sparseEncoding } : {}) };
  const collapseAdvice = { batchFlag: '--eval-batch', tensorAdvice: 'the curve goes on without it (--collapse none skips collapse)' };

  const run: CurveRunResult & Partial<Pick<QueueCurveResult, 'jobs' | 'failed'>> = address
    ? await (await import('../../src/queue/curve.js')).runCurveOnQueue({
        address,
        grid,
        hashes,
        ...(previous ? { previous: previous.points } : {}),
        job: {
          out,
          model: { path: modelFile, sha256: modelSha, open },
          evaluation: absoluteSpec(evalSpec),
          ...(calibration ? { calibration: absoluteSpec(calibSpec) } : {}),
          pattern,
          collapse: collapseMode,
          prune,
          hashes,
          threads: prune.threads!,
          ...(evalBatch !== undefined ? { batchSize: evalBatch } : {}),
          collapseAdvice,
          storage: pointStorage,
        },
        attempts,
        onWarning,
        onEvent: (e) => {
          if (e.kind === 'status') {
            bar ??= progressBar('queue', e.total);
            bar.update(e.done, queueStatus(e));
            return;
          }
          bar?.finish();
          process.stderr.write(queueLine(e, address!, grid.length) + '\n');
        },
        onPoint: (points, point, reused, index, jobs, worker) => {
          if (!reused) recordJobs(jobs);
          savePoint(points, point, reused, index, worker);
        },
      })
    : await runCurve({
        model,
        evaluation,
        ...(calibration ? { calibration } : {}),
        grid,
        pattern,
        collapse: collapseMode,
        prune,
        ...(structure ? { structure } : {}),
        hashes,
        ...(previous ? { previous: previous.points } : {}),
        threads: prune.threads!,
        ...(evalBatch !== undefined ? { batchSize: evalBatch } : {}),
        collapseAdvice,
        measureBytes: bytesOnDisk(out, pointStorage),
        onProgress,
        onWarning,
        onPoint: (points, point, reused, index) => savePoint(points, point, reused, index),
      });
  if (run.jobs) {
    recordJobs(run.jobs);
    if (run.failed?.length) {
      bar?.finish();
      const final = results(run.points);
      writeResults(out, final);
      await writeCurveArtifacts(out, final);
      throw failedJobsError(run.failed, run.points.length, out);
    }
  }
  bar?.finish();
  const final = results(run.points);
  const files = await writeCurveArtifacts(out, final);
  if (o.json) {
    process.stdout.write(JSON.stringify({ ...final, files, reused: run.reused, computed: run.computed }, null, 2) + '\n');
    return;
  }
  const t = curveTable(final.points);
  process.stdout.write(
    [
      table(t.header, t.rows),
      '',
      `${run.computed} point${run.computed === 1 ? '' : 's'} measured, ${run.reused} reused; ` +
        (final.points.some((p) => p.collapse) ? 'NC1/CDNV/ETF/NC4/effective rank of the penultimate features' : (final.points.find((p) => p.note)?.note ?? 'collapse not measured (--collapse none)')),
      `wrote ${display(files.report)} (with results.json, results.csv, accuracy.svg, collapse.svg, bytes.svg in ${display(out)})`,
    ].join('\n') + '\n',
  );
  } finally {
    model.dispose();
  }
}

/** Adds the flags shared by `curve` and `demo` (pruner pass-through, output, threads). */
export function addRunOptions(command: Command): Command {
  addPrunerOptions(command)
    .option('--rounds <r>', 'whole-network passes', '1')
    .option('--parallel', 'prune every layer from the dense model inputs (default: sequential)')
    .option('--skip <names>', 'comma-separated layers to leave dense')
    .option('--held-out <n>', 'further samples for the per-layer reconstruction error (default as in prune: calib-samples/16, calib-samples/4 for iht and iobs)')
    .option('--batch <b>', 'samples per forward batch while pruning', '64')
    .option('--eval-batch <b>', 'samples per batch while evaluating and measuring collapse')
    .option('--threads <t>', 'onnxruntime threads (forward passes and the GEMM engine)', '2')
    .option('--fresh', 'recompute every point instead of reusing the finished ones in the output folder')
    .option('--json', 'print results.json (plus the file paths) instead of the table')
    .addOption(new Option('--backend <b>', 'TensorFlow.js backend (TF.js models only; default auto)').choices([...BACKEND_NAMES]));
  return addDeviceOptions(command);
}

/** The `surgeon curve` command. */
export function curveCommand(): Command {
  const command = new Command('curve')
    .description('accuracy (or perplexity) and neural collapse against sparsity for several pruning methods, with plots and an HTML report')
    .argument('<model>', 'ONNX model (.onnx) or TensorFlow.js model (folder or model.json)')
    .requiredOption('--methods <list>', `comma-separated methods: ${PRUNER_NAMES.join(', ')}`)
    .option('--sparsities <list>', 'comma-separated sparsities in [0, 1), e.g. 0.5,0.7,0.9 (not needed with --pattern N:M)')
    .option('--pattern <p>', "'unstructured' or N:M (one point per method at 1 − N/M)", 'unstructured')
    .addOption(new Option('--structure <unit>', 'remove whole units at every sparsity (ONNX; methods magnitude, wanda, obs, iobs) and record parameters, multiply-adds and latency: neurons, channels or heads').choices(['neurons', 'channels', 'heads']))
    .option('--round-to <n>', 'with --structure: keep a multiple of n units per group');
  addDataOptions(command, 'calib', 'calibration');
  command.option('--calib-samples <n>', 'calibration samples for the pruners', '512');
  addDataOptions(command, '', 'evaluation')
    .option('--limit <n>', 'evaluate only the first n samples (windows)')
    .addOption(new Option('--collapse <layers>', 'collapse metrics of the penultimate features (plus a per-layer profile of the dense and sparsest models), of all layers, or none').choices(['penultimate', 'all', 'none']).default('penultimate'))
    .option('--out <dir>', 'output folder (default: MODEL.curve beside the model); rerunning into it resumes')
    .addOption(new Option('--storage <s>', 'storage whose bytes each point records (bytes.svg): dense, or sparse (see prune --storage)').choices(['dense', 'sparse']).default('dense'))
    .addOption(new Option('--sparse-encoding <e>', '--storage sparse, ONNX: auto, coo or bitmask (see prune --sparse-encoding)').choices(['auto', 'coo', 'bitmask']))
    .addOption(new Option('--quantize <q>', 'quantize every pruned point as prune --quantize does').choices(['int8', 'int4']))
    .option('--group-size <G>', `--quantize: inputs per scale and zero point (default ${DEFAULT_GROUP_SIZE})`)
    .addOption(new Option('--quantize-method <m>', '--quantize: gptq or rtn').choices(['gptq', 'rtn']))
    .option('--queue <url>', 'spread the points over `surgeon worker` processes through BullMQ on Redis: redis://HOST:PORT[/DB]')
    .option('--attempts <n>', 'tries per point on the queue before it counts as failed (default 3)');
  addRunOptions(command);
  return command.action(
    action(async (modelPath: string, o: Options) => {
      await runCurveCommand(modelPath, o, `surgeon ${quoteCommand(process.argv.slice(2))}`);
    }),
  );
}
