/**
 * The format registry: {@link openNetwork} picks the format of a path (ONNX file, TF.js layers
 * model, TF.js graph model) and opens it as a {@link Network}. TF.js is imported only when a
 * TF.js model is opened.
 */
import { existsSync, readFileSync } from 'node:fs';
import { SurgeonInputError } from '../errors.js';
import { isTfjsModelPath, modelJsonFormat, modelJsonPath } from '../tfjs/path.js';
import { onnxFormat } from './onnx.js';
import type { Network, NetworkFormat, NetworkFormatEntry, OpenNetworkOptions } from './types.js';

/**
 * The format of the tfjs model at `path` (see {@link modelJsonFormat}); undefined when its
 * model.json is missing or not JSON — the loader then reports that in one line.
 */
function tfjsFormatOf(path: string): string | undefined {
  const file = modelJsonPath(path);
  if (!existsSync(file)) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
  return json && typeof json === 'object' ? modelJsonFormat(json) : undefined;
}

const tfjsLayersFormat: NetworkFormatEntry = {
  format: 'tfjs-layers',
  detect: (path) => isTfjsModelPath(path) && tfjsFormatOf(path) !== 'graph-model',
  open: async (path, options) => (await import('./tfjs-layers.js')).openTfjsLayersNetwork(path, options),
};

const tfjsGraphFormat: NetworkFormatEntry = {
  format: 'tfjs-graph',
  detect: (path) => isTfjsModelPath(path) && tfjsFormatOf(path) === 'graph-model',
  open: async (path, options) => (await import('./tfjs-graph.js')).openTfjsGraphNetwork(path, options),
};

/** The registered formats, in detection order. */
export const NETWORK_FORMATS: readonly NetworkFormatEntry[] = [tfjsGraphFormat, tfjsLayersFormat, onnxFormat];

/** The format `path` would be opened as (without opening it). */
export function detectNetworkFormat(path: string): NetworkFormat {
  const entry = NETWORK_FORMATS.find((f) => f.detect(path));
  return entry?.format ?? 'onnx';
}

/**
 * Refuses execution providers for a TF.js model (its device is the TF.js backend).
 * @throws SurgeonInputError unless `format` is 'onnx'.
 */
export function refuseProviders(format: NetworkFormat, path: string, flag = 'execution providers'): void {
  if (format === 'onnx') return;
  throw new SurgeonInputError(`${flag} applies to ONNX models (onnxruntime); ${path} is a TensorFlow.js model: pick its device with --backend (node-gpu for CUDA), drop ${flag}`);
}

/**
 * Opens a model of any supported format: an `.onnx` file, or a TF.js model (a folder holding
 * model.json, the model.json itself, or a `file://` URL) of the layers or graph format.
 *
 * @throws SurgeonInputError for a missing or unreadable model, or an option that does not apply to its format.
 */
export async function openNetwork(path: string, options: OpenNetworkOptions = {}): Promise<Network> {
  if (!path.startsWith('file://') && !existsSync(path)) throw new SurgeonInputError(`${path}: no such file; pass an .onnx file or a TensorFlow.js model folder (model.json)`);
  const entry = NETWORK_FORMATS.find((f) => f.detect(path)) ?? onnxFormat;
  if (options.executionProviders !== undefined) refuseProviders(entry.format, path, options.providerFlag);
  return entry.open(path, options);
}
