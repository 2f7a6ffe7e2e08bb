/**
 * Model-level bookkeeping of prunable layers: which sample layout each weight view reads its
 * activation with, and in which order sequential pruning visits them.
 */
import type { OnnxModel } from '../io/onnx/model.js';
import type { WeightView } from '../io/onnx/operators.js';
import type { SampleLayout } from './samples.js';
import { resolvePads, type ConvGeometry } from '../network/conv.js';

/** The sample layout of `view`'s input activation (see ./samples.ts). */
export function sampleLayout(view: WeightView, inputDims?: readonly number[]): SampleLayout {
  if (view.op === 'Conv') {
    const conv = view.conv!;
    const spatial = conv.kernelShape.length;
    const k = conv.kernelShape;
    const two = <T>(values: T[], fill: T): [T, T] => (spatial === 1 ? [fill, values[0]!] : [values[0]!, values[1]!]);
    let pads: [number, number, number, number];
    if (conv.autoPad === 'NOTSET' || conv.autoPad === '' || conv.autoPad === 'VALID') {
      const p = conv.autoPad === 'VALID' ? new Array<number>(2 * spatial).fill(0) : conv.pads;
      pads = spatial === 1 ? [0, p[0] ?? 0, 0, p[1] ?? 0] : [p[0] ?? 0, p[1] ?? 0, p[2] ?? 0, p[3] ?? 0];
    } else {
      // SAME_UPPER / SAME_LOWER: total padding so that out = ceil(in / stride) (../network/conv.ts)
      const sizes = (inputDims ?? []).slice(2);
      const geometry: ConvGeometry = {
        kernel: two(k, 1),
        strides: two(conv.strides, 1),
        dilations: two(conv.dilations, 1),
        padding: conv.autoPad === 'SAME_UPPER' ? 'SAME' : 'SAME_LOWER',
        channelsPerGroup: conv.inChannelsPerGroup,
        group: 0,
      };
      pads = spatial === 1 ? resolvePads(geometry, 1, sizes[0] ?? 0) : resolvePads(geometry, sizes[0] ?? 0, sizes[1] ?? 0);
    }
    return {
      kind: 'conv2d',
      kernel: two(k, 1),
      strides: two(conv.strides, 1),
      pads,
      dilations: two(conv.dilations, 1),
      channelsPerGroup: conv.inChannelsPerGroup,
      group: view.groupIndex ?? 0,
    };
  }
  if (view.orientation === 'left' || view.activationTransposed) return { kind: 'columns' };
  return { kind: 'rows' };
}

/** Activation dims as the sample layout expects them (1-D convolutions get a unit height axis). */
export function layoutDims(view: WeightView, dims: readonly number[]): number[] {
  if (view.op === 'Conv' && dims.length === 3) return [dims[0]!, dims[1]!, 1, dims[2]!];
  return dims.slice();
}

/** A key shared by views that read the same activation with the same layout (they share H). */
export function sampleKey(view: WeightView): string {
  return `${view.inputName}|${JSON.stringify(sampleLayout(view))}`;
}

/**
 * Groups prunable items into stages for sequential pruning: an item's stage is the number of
 * prunable items on the longest path from the graph inputs to its activation (the deepest of
 * its nodes' outputs, `outputsOf`; a view by default), so every stage's inputs depend only on
 * items of earlier stages (items of the same depth share forward passes). Nodes are visited in
 * the graph's order (ONNX requires topological order); items keep their given order.
 */
export function pruningStages<T = WeightView>(model: OnnxModel, items: readonly T[], outputsOf: (item: T) => readonly string[] = (item) => [(item as WeightView).outputName]): T[][] {
  const byOutput = new Map<string, T[]>();
  for (const item of items) {
    for (const output of outputsOf(item)) {
      const list = byOutput.get(output) ?? [];
      list.push(item);
      byOutput.set(output, list);
    }
  }
  const depth = new Map<string, number>();
  const stageOf = new Map<T, number>();
  for (const node of model.graph.node) {
    let d = 0;
    for (const input of node.input) d = Math.max(d, depth.get(input) ?? 0);
    const prunable = node.output.flatMap((o) => byOutput.get(o) ?? []);
    for (const item of prunable) stageOf.set(item, Math.max(stageOf.get(item) ?? 0, d));
    const out = prunable.length ? d + 1 : d;
    for (const output of node.output) depth.set(output, out);
  }
  const stages: T[][] = [];
  for (const item of items) (stages[stageOf.get(item) ?? 0] ??= []).push(item);
  return stages.filter((s) => s && s.length > 0);
}
