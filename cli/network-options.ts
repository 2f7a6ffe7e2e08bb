/** Opening the command's model through the network registry, with the format-dependent flags checked. */
import { Option, type Command } from 'commander';
import { SurgeonInputError } from '../src/errors.js';
import { openNetwork } from '../src/network/open.js';
import type { Network } from '../src/network/types.js';
import { BACKEND_NAMES } from '../src/tfjs/names.js';

/** Adds `--backend` (TF.js models only). */
export function addBackendOption(command: Command): Command {
  return command.addOption(new Option('--backend <b>', 'TensorFlow.js backend (TF.js models only; default auto)').choices([...BACKEND_NAMES]));
}

/** Opens `path` with the `--backend` flag (refused for ONNX models by the registry). */
export async function openModel(path: string, o: Record<string, unknown>): Promise<Network> {
  return openNetwork(path, o.backend !== undefined ? { backend: String(o.backend) } : {});
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
export function formatFields(network: Network): { format: string; backend?: string } {
  const backend = network.summary().facts.backend;
  return { format: network.format, ...(backend !== undefined ? { backend: String(backend) } : {}) };
}

/** The closing line naming the TF.js backend (empty for ONNX models). */
export function backendLine(network: Network): string {
  const { backend } = formatFields(network);
  return backend ? `tfjs backend ${backend}\n` : '';
}
