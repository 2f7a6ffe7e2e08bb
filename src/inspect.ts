/**
 * A summary of a model of any format for `surgeon inspect`: prunable layers with their
 * sparsity, the weight-carrying nodes that are not prunable (and why), the other stored
 * tensors, parameter counts, inputs and outputs. One schema for every format.
 */
import type { ModelInputInfo } from './io/dataset.js';
import type { OnnxModel } from './io/onnx/model.js';
import { asNetwork } from './network/onnx.js';
import { countPruned } from './pruners/masks.js';
import type { Network, NetworkFormat, NetworkOutput } from './network/types.js';

/** One prunable layer. */
export interface InspectedLayer {
  name: string;
  op: string;
  /** [rows, cols] of the weight view (outputs × inputs; Conv: out/group × in/group·kh·kw). */
  shape: [number, number];
  parameters: number;
  /** Fraction of exact zeros. */
  sparsity: number;
  /** The activation feeding the layer (the first use's). */
  input: string;
  /** Every node using the weight, when it is shared by several. */
  uses?: string[];
  /** Nodes that read the same stored tensor without being prunable uses (tied embedding): left dense unless --include-tied. */
  tiedWith?: string[];
  /** Why calibration statistics cannot be captured (then only magnitude prunes it). */
  uncapturable?: string;
  /** Format facts: transform chain (`via`), subgraph, group, kernel shape, storage dtype. */
  detail?: Record<string, unknown>;
}

/** What `surgeon inspect --json` prints. */
export interface InspectReport {
  format: NetworkFormat;
  path?: string;
  /** ONNX only: the default-domain opset and the producer. */
  opset?: number;
  producer?: string;
  /** Other format facts (tfjs: backend). */
  facts: Record<string, string | number>;
  /** All stored parameters (prunable or not). */
  parameters: number;
  /** Elements of the prunable weights. */
  prunableParameters: number;
  /** Fraction of zeros over all prunable weights. */
  sparsity: number;
  layers: InspectedLayer[];
  /** Nodes with weights that are not prunable, and why. */
  skipped: Array<{ node: string; op: string; reason: string }>;
  /** Stored tensors that are not prunable weights. */
  otherInitializers: Array<{ name: string; dtype: string; shape: number[]; parameters: number }>;
  inputs: ModelInputInfo[];
  outputs: NetworkOutput[];
}

/** Builds the {@link InspectReport} of a network (or of a decoded ONNX model). */
export function inspectModel(model: Network | OnnxModel): InspectReport {
  const network = asNetwork(model);
  const summary = network.summary();
  const layers: InspectedLayer[] = [];
  let zeros = 0;
  let prunable = 0;
  for (const layer of network.layers()) {
    const w = layer.read();
    const z = countPruned(w);
    zeros += z;
    prunable += w.length;
    layers.push({
      name: layer.name,
      op: layer.op,
      shape: [layer.rows, layer.cols],
      parameters: w.length,
      sparsity: w.length ? z / w.length : 0,
      input: layer.uses[0]?.input ?? '',
      ...(layer.uses.length > 1 ? { uses: layer.uses.map((u) => u.node) } : {}),
      ...(layer.tiedWith?.length ? { tiedWith: [...layer.tiedWith] } : {}),
      ...(layer.uncapturable ? { uncapturable: layer.uncapturable } : {}),
      ...(layer.detail ? { detail: { ...layer.detail } } : {}),
    });
  }
  const { opset, producer, ...facts } = summary.facts;
  return {
    format: summary.format,
    ...(summary.path ? { path: summary.path } : {}),
    ...(opset !== undefined ? { opset: Number(opset) } : {}),
    ...(summary.format === 'onnx' ? { producer: String(producer ?? '') } : {}),
    facts,
    parameters: summary.parameters,
    prunableParameters: prunable,
    sparsity: prunable ? zeros / prunable : 0,
    layers,
    skipped: network.skipped(),
    otherInitializers: summary.others,
    inputs: [...summary.inputs],
    outputs: [...summary.outputs],
  };
}
