/**
 * Writing a structured-pruned ONNX model: the removed units of every group leave every tensor
 * they own — producer weight rows and bias entries, BatchNormalization statistics and
 * per-channel constants, consumer weight columns — and the Reshape constants that name the
 * flattened size shrink with them; value_info shapes of the tensors whose channel count
 * changed are dropped (onnxruntime infers them again). Mode `zero` writes zeros instead of
 * removing (the masked dense model the tests compare against).
 */
import { attr } from '../io/onnx/attributes.js';
import type { OnnxModel } from '../io/onnx/model.js';
import type { TensorProto } from '../io/onnx/proto.js';
import { tensorDims } from '../io/onnx/tensor.js';
import { makeTensor } from '../io/onnx/graph-builder.js';
import type { GraphProto } from '../io/onnx/proto.js';
import type { UnitGroup } from './graph.js';
import { headShape } from './heads.js';
import { subgraphReads } from './nodes.js';

/** The units removed from one group (sorted, distinct, each in [0, group.units)). */
export interface GroupRemoval {
  group: UnitGroup;
  units: Int32Array;
}

/** Entries to remove (or zero) per axis of one initializer (a weight loses columns to one group and rows to another). */
type TensorEdit = Map<number, Set<number>>;

function addEdit(edits: Map<string, TensorEdit>, tensor: string, axis: number, indices: Iterable<number>): void {
  let edit = edits.get(tensor);
  if (!edit) edits.set(tensor, (edit = new Map()));
  let set = edit.get(axis);
  if (!set) edit.set(axis, (set = new Set()));
  for (const i of indices) set.add(i);
}

/** Indices (offset + u)·span + j for every removed u and j < span. */
function* spanIndices(units: Int32Array, offset: number, span: number): Generator<number> {
  for (const u of units) for (let j = 0; j < span; j++) yield (offset + u) * span + j;
}

/** The axis of a bias tensor holding `rows` entries (its only non-unit dim). */
function biasAxis(dims: readonly number[], rows: number): number {
  const axis = dims.findIndex((d) => d === rows);
  if (axis < 0) throw new Error(`internal: bias of shape [${dims.join(', ')}] has no axis of ${rows}`);
  return axis;
}

/** Every initializer edit implied by `removals` (producers, consumers, slices). */
export function removalEdits(model: OnnxModel, removals: readonly GroupRemoval[]): Map<string, TensorEdit> {
  const edits = new Map<string, TensorEdit>();
  for (const { group, units } of removals) {
    if (units.length === 0) continue;
    for (const p of group.producers) {
      const rows = [...spanIndices(units, p.offset ?? 0, p.span ?? 1)];
      addEdit(edits, p.weight, p.axis, rows);
      if (p.bias) addEdit(edits, p.bias, biasAxis(tensorDims(model.initializer(p.bias)!), p.rows), rows);
    }
    for (const c of group.consumers) addEdit(edits, c.tensor, c.axis, spanIndices(units, c.offset, c.span));
    for (const s of group.slices) addEdit(edits, s.tensor, s.axis, spanIndices(units, s.offset, s.span));
  }
  return edits;
}

/** Removes (or zeroes) `indices` along `axis` of a row-major array of `dims`; returns the data and the new dims. */
export function sliceAxis(data: Float32Array, dims: readonly number[], axis: number, indices: ReadonlySet<number>, mode: 'remove' | 'zero'): { data: Float32Array; dims: number[] } {
  const outer = dims.slice(0, axis).reduce((a, b) => a * b, 1);
  const size = dims[axis]!;
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const keep: number[] = [];
  for (let i = 0; i < size; i++) if (!indices.has(i)) keep.push(i);
  if (mode === 'zero') {
    const out = Float32Array.from(data);
    for (let o = 0; o < outer; o++) for (const i of indices) out.fill(0, (o * size + i) * inner, (o * size + i + 1) * inner);
    return { data: out, dims: [...dims] };
  }
  const out = new Float32Array(outer * keep.length * inner);
  let w = 0;
  for (let o = 0; o < outer; o++) {
    for (const i of keep) {
      const from = (o * size + i) * inner;
      out.set(data.subarray(from, from + inner), w);
      w += inner;
    }
  }
  const newDims = [...dims];
  newDims[axis] = keep.length;
  return { data: out, dims: newDims };
}

/** Rewrites an int64 shape tensor. */
function writeInt64(t: TensorProto, values: readonly number[]): void {
  t.rawData = new Uint8Array(BigInt64Array.from(values.map((v) => BigInt(v))).buffer);
  t.int64Data = [];
}

/**
 * Removes (mode `remove`, the default) or zeroes (mode `zero`) the units of `removals` in
 * `model`, in place. In `remove` mode the Reshape constants shrink and stale value_info
 * shapes are dropped, so the model runs in onnxruntime with smaller tensors.
 */
export function shrinkModel(model: OnnxModel, removals: readonly GroupRemoval[], mode: 'remove' | 'zero' = 'remove'): void {
  const edits = removalEdits(model, removals);
  for (const [name, edit] of edits) {
    const t = model.initializer(name);
    if (!t) throw new Error(`internal: initializer '${name}' not found`);
    let dims = tensorDims(t);
    let data = model.readTensor(t);
    for (const [axis, indices] of edit) ({ data, dims } = sliceAxis(data, dims, axis, indices, mode));
    t.dims = dims;
    model.writeTensor(t, data);
  }
  if (mode === 'zero') return;
  const shapeDeltas = new Map<string, Map<number, number>>();
  for (const { group, units } of removals) {
    for (const r of group.reshapes) {
      let m = shapeDeltas.get(r.tensor);
      if (!m) shapeDeltas.set(r.tensor, (m = new Map()));
      m.set(r.index, (m.get(r.index) ?? 0) + r.perUnit * units.length);
    }
  }
  for (const [name, deltas] of shapeDeltas) {
    const t = model.initializer(name)!;
    const values = Array.from(model.tensorToArray(t) as ArrayLike<number | bigint>, (v) => Number(v));
    for (const [i, d] of deltas) values[i] = values[i]! - d;
    writeInt64(t, values);
  }
  rewriteHeads(model, removals);
  const changed = new Set(removals.filter((r) => r.units.length > 0).flatMap((r) => r.group.tensors));
  const g = model.graph;
  g.valueInfo = g.valueInfo.filter((v) => !changed.has(v.name ?? ''));
  // Initializers listed as graph inputs (IR < 4) carry their old shape: drop it.
  for (const v of g.input) {
    if (edits.has(v.name ?? '') && v.type?.tensorType) delete (v.type.tensorType as { shape?: unknown }).shape;
  }
}

/** A fresh initializer name derived from `base`. */
function freshName(model: OnnxModel, base: string): string {
  const taken = new Set([...model.graph.initializer.map((t) => t.name ?? ''), ...model.graph.node.flatMap((n) => n.output)]);
  let name = base;
  for (let i = 1; taken.has(name); i++) name = `${base}_${i}`;
  return name;
}

/**
 * Attention heads: every Reshape that splits or merges heads gets a constant shape for the kept
 * heads (leading dims copied: 0), every Split of a fused q/k/v projection its reduced sizes;
 * the nodes that computed the old shapes and sizes are removed when nothing else reads them.
 */
function rewriteHeads(model: OnnxModel, removals: readonly GroupRemoval[]): void {
  const g = model.graph;
  let rewritten = false;
  for (const { group, units } of removals) {
    if (units.length === 0 || (!group.headReshapes?.length && !group.splits?.length)) continue;
    const kept = group.units - units.length;
    for (const r of group.headReshapes ?? []) {
      const node = g.node.find((n) => n.opType === 'Reshape' && n.output[0] === r.output);
      if (!node) throw new Error(`internal: head Reshape of '${r.output}' not found`);
      const values = headShape(r, kept);
      const name = freshName(model, `${r.output}::shape`);
      g.initializer.push(makeTensor(name, [values.length], values, 'int64'));
      node.input[1] = name;
      rewritten = true;
    }
    for (const sp of group.splits ?? []) {
      const node = g.node.find((n) => n.opType === 'Split' && n.output[0] === sp.output);
      if (!node) throw new Error(`internal: Split of '${sp.output}' not found`);
      const splitAttr = attr(node, 'split');
      const current = node.input[1] ? Array.from(model.tensorToArray(constantTensor(model, node.input[1])) as ArrayLike<number | bigint>, Number) : splitAttr ? splitAttr.ints.map(Number) : undefined;
      if (!current) continue; // equal split: the outputs shrink alike
      const sizes = current.map((v, i) => (sp.outputs.includes(i) ? v - sp.perUnit * units.length : v));
      if (splitAttr) {
        splitAttr.ints = sizes as never;
      } else {
        const name = freshName(model, `${sp.output}::split`);
        g.initializer.push(makeTensor(name, [sizes.length], sizes, 'int64'));
        node.input[1] = name;
      }
      rewritten = true;
    }
  }
  if (rewritten) removeDeadNodes(g);
}

/** The tensor of an initializer or a Constant node's value. */
function constantTensor(model: OnnxModel, name: string): TensorProto {
  const init = model.initializer(name);
  if (init) return init;
  const c = model.graph.node.find((n) => n.opType === 'Constant' && n.output[0] === name);
  const t = c ? attr(c, 'value')?.t : undefined;
  if (!t) throw new Error(`internal: '${name}' is no constant`);
  return t;
}

/** Removes nodes none of whose outputs is read (by a node, a subgraph or as a graph output), repeatedly (initializers stay). */
function removeDeadNodes(g: GraphProto): void {
  const outputs = new Set(g.output.map((o) => o.name ?? ''));
  for (;;) {
    const read = new Set<string>(outputs);
    for (const n of g.node) for (const i of n.input) if (i) read.add(i);
    subgraphReads(g, read);
    const keep = g.node.filter((n) => n.output.some((o) => o && read.has(o)));
    if (keep.length === g.node.length) break;
    g.node = keep;
  }
}
