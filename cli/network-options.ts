/** Opening the command's model through the network registry, with the format-dependent flags checked. */
import { Option, type Command } from 'commander';
import { SurgeonInputError } from '../src/errors.js';
import { openNetwork } from '../src/network/open.js';
import type { Network, OpenNetworkOptions } from '../src/network/types.js';
import { DEVICES, executionProvidersOf } from '../src/runtime/session.js';
import { BACKEND_NAMES } from '../src/tfjs/names.js';

/** Adds `--backend` (TF.js models only). */
export function addBackendOption(command: Command): Command {
  return command.addOption(new Option('--backend <b>', 'TensorFlow.js backend (TF.js models only; default auto)').choices([...BACKEND_NAMES]));
}

/** Adds `--device cpu|cuda` and `--execution-provider NAMES` (ONNX models: where onnxruntime runs). */
export function addDeviceOptions(command: Command): Command {
  return command
    .option('--device <d>', `where onnxruntime runs ONNX models: ${Object.keys(DEVICES).join(' or ')} (default cpu; cuda needs onnxruntime-node's CUDA provider and a GPU)`)
    .option('--execution-provider <names>', "onnxruntime execution providers by name, in order of preference (e.g. cuda, tensorrt,cuda); instead of --device");
}

/** The model-opening options of the flags: `--backend` (TF.js), `--device`/`--execution-provider` (ONNX). */
export function openOptions(o: Record<string, unknown>): OpenNetworkOptions {
  const providers = executionProvidersOf({
    ...(o.device !== undefined ? { device: String(o.device) } : {}),
    ...(o.executionProvider !== undefined ? { executionProvider: String(o.executionProvider) } : {}),
  });
  return {
    ...(o.backend !== undefined ? { backend: String(o.backend) } : {}),
    ...(providers ? { executionProviders: providers, providerFlag: o.device !== undefined ? `--device ${String(o.device)}` : `--execution-provider ${String(o.executionProvider)}` } : {}),
  };
}

/**
 * Opens `path` with the `--backend` flag (refused for ONNX models by the registry) and the
 * `--device`/`--execution-provider` flags (refused for TF.js models; checked before anything runs).
 */
export async function openModel(path: string, o: Record<string, unknown>): Promise<Network> {
  return openNetwork(path, openOptions(o));
}

/**
 * Refuses flags that do not apply to `network`'s format: `flags` maps a flag (as typed) to the
 * commander option key and the formats it applies to.
 */
export function refuseFlags(network: Network, o: Record<string, unknown>, flags: Record<string, { key: string; formats: readonly string[]; why: string }>): void {
  for (const [flag, { key, formats, why }] of Object.entries(flags)) {
    if (!formats.includes(network.format)) refuseGiven(o, { [flag]: key }, `does not apply to ${network.format} models (${why})`);
  }
}

/**
 * Refuses any of `flags` (flag as typed → commander option key) that was given: one line,
 * `<flag> <why>; drop it`.
 */
export function refuseGiven(o: Record<string, unknown>, flags: Record<string, string>, why: string): void {
  for (const [flag, key] of Object.entries(flags)) if (o[key] !== undefined && o[key] !== false) throw new SurgeonInputError(`${flag} ${why}; drop it`);
}

/** The model's format in words, for tables. */
export function formatName(network: Network): string {
  return network.format === 'onnx' ? 'ONNX' : network.format === 'tfjs-layers' ? 'TensorFlow.js layers model' : 'TensorFlow.js graph model';
}

/** The fields every command's JSON starts with: the model's format, and the TF.js backend that ran. */
export function formatFields(network: Network): { format: string; backend?: string; executionProviders?: string } {
  const { backend, executionProviders } = network.summary().facts;
  return {
    format: network.format,
    ...(backend !== undefined ? { backend: String(backend) } : {}),
    ...(executionProviders !== undefined ? { executionProviders: String(executionProviders) } : {}),
  };
}

/** The closing line naming the TF.js backend (empty for ONNX models). */
export function backendLine(network: Network): string {
  const { backend } = formatFields(network);
  return backend ? `tfjs backend ${backend}\n` : '';
}
