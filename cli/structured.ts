/**
 * `surgeon prune MODEL --structure neurons|channels --method magnitude|wanda|obs|iobs --sparsity S`:
 * structured pruning (src/structure) — removes whole units and writes a smaller ONNX model or
 * TF.js layers model folder; reports parameters, multiply-adds, file size and (ONNX only)
 * measured onnxruntime latency before and after.
 */
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { SurgeonInputError } from '../src/errors.js';
import { loadDataset } from '../src/io/dataset.js';
import type { Network } from '../src/network/types.js';
import { OnnxNetwork } from '../src/network/onnx.js';
import type { TfjsLayersNetwork } from '../src/network/tfjs-layers.js';
import { compareLatency, type Latency } from '../src/structure/latency.js';
import { pruneStructured, STRUCTURES, type StructuredPruneOptions, type StructuredPruneReport } from '../src/structure/prune.js';
import { STRUCTURED_METHODS, type StructuredMethod } from '../src/structure/select.js';
import { probeFeeds } from '../src/structure/shapes.js';
import type { StructureKind } from '../src/structure/graph.js';
import { dataSpec, hasData, parseNumber } from './data-options.js';
import { formatFields, refuseGiven } from './network-options.js';
import { FISHER_FLAGS, prunerOptions } from './prune-options.js';
import { progressBar } from './progress.js';
import { formatNumber, percent, table } from './format.js';

type Opts = Record<string, string | boolean | undefined>;

/** Flags of unstructured pruning that have no meaning with --structure. */
const UNSTRUCTURED_FLAGS = {
  '--global': 'global',
  '--layer-sparsity': 'layerSparsity',
  '--projection': 'projection',
  '--blocksize': 'blocksize',
  '--rounds': 'rounds',
  '--parallel': 'parallel',
  '--include-tied': 'includeTied',
  '--activation-memory': 'activationMemory',
  '--statistics': 'statistics',
  '--held-out': 'heldOut',
  '--quantize': 'quantize',
  '--group-size': 'groupSize',
  '--quantize-method': 'quantizeMethod',
  '--sparse-encoding': 'sparseEncoding',
  ...FISHER_FLAGS,
} as const;

/**
 * Validates the flags of a structured run (`prune --structure` and `curve --structure`), in one
 * line each: the structure, an ONNX model (or, with `tfjsLayers`, a TF.js layers model: `prune`
 * only; `curve` stays ONNX-only), structured methods only (`methodFlag` names the flag in the
 * errors), no flag of unstructured pruning. Returns the structure.
 */
export function validateStructureFlags(network: Network, o: Opts, methods: readonly string[], options: { methodFlag?: string; tfjsLayers?: boolean } = {}): StructureKind {
  const { methodFlag = '--method', tfjsLayers = false } = options;
  const structure = String(o.structure);
  if (!(STRUCTURES as readonly string[]).includes(structure)) throw new SurgeonInputError(`--structure ${structure}: expected one of ${STRUCTURES.join(', ')}`);
  if (tfjsLayers && network.format === 'tfjs-layers') {
    if (structure === 'heads') throw new SurgeonInputError('--structure heads applies to ONNX models only; for a TF.js layers model use --structure neurons or channels');
  } else if (network.format !== 'onnx' || !(network instanceof OnnxNetwork)) {
    const what = tfjsLayers ? 'ONNX and TF.js layers models' : 'ONNX models only';
    throw new SurgeonInputError(`--structure applies to ${what}; structured pruning of ${network.format} models is not implemented (drop --structure${network.format === 'tfjs-graph' ? ', or export a TF.js layers model' : ', or convert the model to ONNX'})`);
  }
  for (const method of methods) {
    if (!(STRUCTURED_METHODS as readonly string[]).includes(method)) throw new SurgeonInputError(`${methodFlag} ${method} has no structured form; with --structure use ${STRUCTURED_METHODS.join(', ')}`);
  }
  if (o.pattern !== undefined && o.pattern !== 'unstructured') throw new SurgeonInputError(`--pattern ${o.pattern} applies to unstructured pruning; --structure removes whole units, drop one of them`);
  refuseGiven(o, UNSTRUCTURED_FLAGS, 'applies to unstructured pruning, not to --structure');
  if (o.storage === 'sparse') throw new SurgeonInputError('--storage sparse applies to unstructured pruning: a --structure model is physically smaller and keeps no zeros to store; drop one of them');
  if (o.stageCache === false) throw new SurgeonInputError('--no-stage-cache applies to unstructured pruning, not to --structure; drop it');
  return structure as StructureKind;
}

/** The options of {@link pruneStructured} that the flags give (damping, iterations, step, skip, round-to, calibration samples, threads, batch). */
export function structuredFlagOptions(o: Opts): Pick<StructuredPruneOptions, 'calibSamples' | 'damp' | 'iterations' | 'step' | 'skip' | 'roundTo' | 'threads' | 'batchSize'> {
  return {
    calibSamples: parseNumber(String(o.calibSamples ?? '512'), '--calib-samples', true),
    damp: prunerOptions(o).damp!,
    ...(o.iterations !== undefined ? { iterations: parseNumber(String(o.iterations), '--iterations', true) } : {}),
    ...(o.step !== undefined ? { step: parseNumber(String(o.step), '--step') } : {}),
    ...(o.skip ? { skip: String(o.skip).split(',').map((s) => s.trim()).filter(Boolean) } : {}),
    ...(o.roundTo !== undefined ? { roundTo: parseNumber(String(o.roundTo), '--round-to', true) } : {}),
    threads: parseNumber(String(o.threads ?? '2'), '--threads', true),
    batchSize: parseNumber(String(o.batch ?? '64'), '--batch', true),
  };
}

/** Runs structured pruning for the prune command (refuses what cannot apply, in one line). */
export async function structuredPrune(network: Network, modelPath: string, o: Opts, defaultOutput: (suffix: string) => string): Promise<void> {
  if (o.method === undefined) throw new SurgeonInputError(`--structure needs --method: ${STRUCTURED_METHODS.join(', ')}`);
  const method = String(o.method);
  const structure = validateStructureFlags(network, o, [method], { tfjsLayers: true });
  if (o.sparsity === undefined) throw new SurgeonInputError('--structure needs --sparsity (the fraction of units to remove), e.g. --sparsity 0.3');
  const sparsity = Number(o.sparsity);
  if (String(o.sparsity).trim() === '' || Number.isNaN(sparsity)) throw new SurgeonInputError(`--sparsity ${o.sparsity} is not a number; pass a fraction such as 0.3`);
  const threads = parseNumber(String(o.threads ?? '2'), '--threads', true);
  const out = o.out ? resolve(String(o.out)) : defaultOutput(`${structure}-${method}-${sparsity}`);
  if (network.path && resolve(out) === network.path) throw new SurgeonInputError(`--out ${o.out} is the input model; choose another file (the input is never overwritten)`);
  const spec = dataSpec(o);
  const calib = hasData(spec) ? loadDataset(spec, { inputs: network.inputs }) : undefined;
  const bar = progressBar('prune', 1);
  const options: StructuredPruneOptions = {
    ...structuredFlagOptions(o),
    structure,
    method: method as StructuredMethod,
    sparsity,
    threads,
    onProgress: (done, total, group) => bar.update(total ? done / total : 1, group),
  };
  if (network.format === 'tfjs-layers') {
    // TF.js is loaded only for TF.js models
    const { pruneStructuredTfjs } = await import('../src/structure/tfjs.js');
    const { folderBytes } = await import('../src/network/tfjs-common.js');
    const { model, report } = await pruneStructuredTfjs(network as TfjsLayersNetwork, calib, options);
    bar.finish();
    try {
      const saved = await model.save(out, network.path ? { inputPath: network.path } : {});
      const bytesBefore = network.path ? folderBytes(network.path) : 0;
      const note = 'latency not measured: onnxruntime does not run TF.js models';
      if (o.json) {
        process.stdout.write(JSON.stringify({ ...formatFields(network), ...report, bytes: { before: bytesBefore, after: saved.bytes }, latency: null, note, output: saved.path }, null, 2) + '\n');
        return;
      }
      process.stdout.write(formatReport(report, bytesBefore, saved.bytes, undefined, saved.path) + `\n${note}\n`);
    } finally {
      model.dispose();
    }
    return;
  }
  if (!(network instanceof OnnxNetwork)) throw new Error('internal: validated as ONNX');
  const { model, report } = await pruneStructured(network, calib, options);
  bar.finish();
  try {
    const saved = await model.save(out, network.path ? { inputPath: network.path } : {});
    const probe = probeFeeds(network.model, calib);
    const [dense, pruned] = (await compareLatency([network.model, model.model], probe, [1, 64], { threads })) as [Latency[], Latency[]];
    const bytesBefore = network.path ? statSync(network.path).size : network.model.toBytes().length;
    const result = { ...formatFields(network), ...report, bytes: { before: bytesBefore, after: saved.bytes }, latency: { threads, dense, pruned }, output: saved.path };
    if (o.json) {
      process.stdout.write(JSON.stringify(result, null, 2) + '\n');
      return;
    }
    process.stdout.write(formatReport(report, bytesBefore, saved.bytes, { dense, pruned, threads }, saved.path) + '\n');
  } finally {
    model.dispose();
  }
}

function formatReport(report: StructuredPruneReport, before: number, after: number, latency: { dense: Latency[]; pruned: Latency[]; threads: number } | undefined, path: string): string {
  const rows = report.groups.map((g) => [g.name, g.kind, `${g.units - g.removed}/${g.units}`, g.consumers.join(', '), g.error === null ? '–' : formatNumber(g.error), `${g.seconds.toFixed(2)}s`]);
  const blocked = report.blocked.map((b) => [b.name, b.kind, b.reason]);
  const ratio = (a: number, b: number) => `${a.toLocaleString('en-US')} → ${b.toLocaleString('en-US')} (${percent(b / a)})`;
  const lat = latency?.dense.map((d, i) => `batch ${d.batch}: ${d.medianMs.toFixed(3)} → ${latency.pruned[i]!.medianMs.toFixed(3)} ms (${(d.medianMs / latency.pruned[i]!.medianMs).toFixed(2)}×)`);
  return [
    table(['group', 'kind', 'units kept', 'consumers', 'rel. error', 'time'], rows),
    ...(blocked.length ? ['', 'left alone:', table(['group', 'kind', 'reason'], blocked)] : []),
    ...(report.otherKind.length ? [`other structure (not selected): ${report.otherKind.join(', ')}`] : []),
    '',
    `${report.method} ${percent(report.sparsity)} of the ${report.structure}${report.roundTo > 1 ? `, kept counts rounded to multiples of ${report.roundTo}` : ''} (damp λ=${report.damp}, ${report.calibSamples} calibration samples) in ${report.seconds.toFixed(1)} s`,
    `parameters ${ratio(report.before.parameters, report.after.parameters)}; multiply-adds per sample ${ratio(report.before.macs, report.after.macs)}; file ${ratio(before, after)} bytes`,
    ...(latency && lat ? [`onnxruntime latency (median of 20 runs alternating with the dense model, ${latency.threads} threads) ${lat.join('; ')}`] : []),
    `wrote ${path}`,
  ].join('\n');
}
