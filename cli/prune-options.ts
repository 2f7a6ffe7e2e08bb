/** The pruner flags shared by `prune` and `curve`/`demo` (damping, iht/iobs iterations, step, projection, SparseGPT block size). */
import { Option, type Command } from 'commander';
import { SurgeonInputError } from '../src/errors.js';
import type { PruneModelOptions, QuantizeOptions } from '../src/prune/model.js';
import { DEFAULT_GROUP_SIZE, validateGrid } from '../src/pruners/quantize.js';
import { parseNumber } from './data-options.js';

/** Adds --damp, --iterations, --step, --projection, --blocksize, --select and --cross-term. */
export function addPrunerOptions(command: Command): Command {
  return command
    .option('--damp <λ>', 'relative dampening λ·mean(diag H) (default 0.01; 1e-3 for the Fisher methods)')
    .option('--iterations <t>', 'iterations of iht / iobs')
    .option('--step <η>', 'step size of iht / iobs')
    .addOption(new Option('--projection <p>', 'iobs projection (auto: exact OBS for d ≤ 256, else the SparseGPT sweep)').choices(['auto', 'obc', 'sparsegpt', 'topk']))
    .option('--blocksize <B>', 'columns per adaptive-mask block of the SparseGPT sweep (default 128)')
    .addOption(new Option('--select <how>', "iobs: also prune the one-shot model and keep whichever has the lower held-out model loss (model, default), or keep the iterated model (layer)").choices(['model', 'layer']))
    .addOption(new Option('--cross-term <on|off>', 'iht / iobs: fit the dense outputs from the pruned inputs with C = XᵀX̂ (on, default) or prune W against H alone as SparseGPT does (off)').choices(['on', 'off']));
}

/**
 * Reads the flags of {@link addPrunerOptions} out of commander's parsed options (`damp` always,
 * default 0.01; the others when given).
 * @throws SurgeonInputError for a malformed number or a negative damping.
 */
export function prunerOptions(o: Record<string, unknown>): Pick<PruneModelOptions, 'damp' | 'iterations' | 'step' | 'projection' | 'blocksize' | 'select' | 'crossTerm'> {
  const damp = parseNumber(String(o.damp ?? '0.01'), '--damp');
  if (damp < 0) throw new SurgeonInputError(`--damp ${damp} is negative; pass λ ≥ 0 (default 0.01)`);
  return {
    damp,
    ...(o.iterations !== undefined ? { iterations: parseNumber(String(o.iterations), '--iterations', true) } : {}),
    ...(o.step !== undefined ? { step: parseNumber(String(o.step), '--step') } : {}),
    ...(o.projection !== undefined ? { projection: String(o.projection) } : {}),
    ...(o.blocksize !== undefined ? { blocksize: parseNumber(String(o.blocksize), '--blocksize', true) } : {}),
    ...(o.select !== undefined ? { select: o.select as 'model' | 'layer' } : {}),
    ...(o.crossTerm !== undefined ? { crossTerm: o.crossTerm === 'on' } : {}),
  };
}

/** Flags of the Fisher flow (refused for the layer-wise methods). */
export const FISHER_FLAGS = {
  '--fisher-samples': 'fisherSamples',
  '--block': 'block',
  '--finetune-epochs': 'finetuneEpochs',
  '--lr': 'lr',
  '--distill': 'distill',
  '--allocation': 'allocation',
} as const;

/**
 * `--quantize int4|int8 [--group-size G] [--quantize-method gptq|rtn]` as a validated
 * {@link QuantizeOptions} (undefined without `--quantize`; `--group-size` or `--quantize-method`
 * alone are refused in one line).
 */
export function quantizeOptions(o: Record<string, unknown>): QuantizeOptions | undefined {
  if (o.quantize === undefined) {
    if (o.groupSize !== undefined) throw new SurgeonInputError('--group-size applies to --quantize; drop it or pass --quantize int4|int8');
    if (o.quantizeMethod !== undefined) throw new SurgeonInputError('--quantize-method applies to --quantize; drop it or pass --quantize int4|int8');
    return undefined;
  }
  const quantize: QuantizeOptions = {
    bits: o.quantize === 'int4' ? 4 : 8,
    groupSize: o.groupSize !== undefined ? parseNumber(String(o.groupSize), '--group-size', true) : DEFAULT_GROUP_SIZE,
    method: (o.quantizeMethod ?? 'gptq') as 'gptq' | 'rtn',
  };
  validateGrid(quantize);
  return quantize;
}
