/**
 * A summary of an ONNX model for `surgeon inspect`: prunable layers (from the operator table)
 * with their sparsity, the other initializers, parameter counts, opset, inputs and outputs.
 */
import type { OnnxModel, OnnxValueInfo } from './io/onnx/model.js';
import { scanLayers } from './io/onnx/operators.js';
import { elemTypeName, tensorDims, tensorSize } from './io/onnx/tensor.js';

/** One prunable weight view. */
export interface InspectedLayer {
  name: string;
  op: string;
  /** [rows, cols] of the weight view (outputs × inputs; Conv: out/group × in/group·kh·kw). */
  shape: [number, number];
  parameters: number;
  /** Fraction of exact zeros. */
  sparsity: number;
  /** The activation feeding the layer. */
  input: string;
  /** The ops between the stored tensor and the node, source first (only when there are any). */
  via?: string[];
  /** Element type of the stored weight when not float32. */
  dtype?: string;
  /** The subgraph holding the node (If/Loop/Scan body), when not the main graph. */
  subgraph?: string;
  /** Prunable nodes sharing this weight (only when more than one). */
  uses?: number;
  /** Other nodes reading the weight (e.g. an embedding Gather tied with the lm_head), when tied. */
  tiedWith?: string[];
  /** Why the layer's input cannot be captured from the main graph, when it cannot. */
  notCapturable?: string;
}

/** What `surgeon inspect --json` prints. */
export interface InspectReport {
  format: 'onnx';
  opset: number;
  producer: string;
  /** All initializer elements (prunable or not). */
  parameters: number;
  /** Elements of the prunable weights. */
  prunableParameters: number;
  /** Fraction of zeros over all prunable weights. */
  sparsity: number;
  layers: InspectedLayer[];
  /** Nodes with weights that are not prunable, and why. */
  skipped: Array<{ node: string; op: string; reason: string; subgraph?: string }>;
  /** Initializers that are not prunable weights. */
  otherInitializers: Array<{ name: string; dtype: string; shape: number[]; parameters: number }>;
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
}

/** Builds the {@link InspectReport} of `model`. */
export function inspectModel(model: OnnxModel): InspectReport {
  const { views, skipped } = scanLayers(model);
  const layers: InspectedLayer[] = [];
  let zeros = 0;
  let prunable = 0;
  for (const view of views) {
    const w = view.read();
    let z = 0;
    for (let i = 0; i < w.length; i++) if (w[i] === 0) z++;
    zeros += z;
    prunable += w.length;
    layers.push({
      name: view.name,
      op: view.op,
      shape: [view.rows, view.cols],
      parameters: w.length,
      sparsity: w.length ? z / w.length : 0,
      input: view.inputName,
      ...(view.via.length ? { via: view.via } : {}),
      ...(view.sourceDType !== 'float32' ? { dtype: view.sourceDType } : {}),
      ...(view.subgraph ? { subgraph: view.subgraph } : {}),
      ...(view.uses.length > 1 ? { uses: view.uses.length } : {}),
      ...(view.tied ? { tiedWith: view.tiedWith } : {}),
      ...(view.capturable ? {} : { notCapturable: view.captureNote ?? 'input computed inside a subgraph' }),
    });
  }
  const weightNames = new Set(views.map((v) => v.weightName));
  let parameters = 0;
  const otherInitializers: InspectReport['otherInitializers'] = [];
  for (const t of model.graph.initializer) {
    const n = tensorSize(t);
    parameters += n;
    if (!weightNames.has(t.name ?? '')) otherInitializers.push({ name: t.name ?? '', dtype: elemTypeName(t.dataType), shape: tensorDims(t), parameters: n });
  }
  return {
    format: 'onnx',
    opset: model.opset,
    producer: [model.proto.producerName, model.proto.producerVersion].filter(Boolean).join(' '),
    parameters,
    prunableParameters: prunable,
    sparsity: prunable ? zeros / prunable : 0,
    layers,
    skipped: skipped.map((s) => ({ node: s.nodeName, op: s.op, reason: s.reason, ...(s.subgraph ? { subgraph: s.subgraph } : {}) })),
    otherInitializers,
    inputs: model.inputs,
    outputs: model.outputs,
  };
}
