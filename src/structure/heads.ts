/**
 * Attention heads as units (`--structure heads`), on multi-head attention as PyTorch exports it:
 *
 *   q, k, v = projections of x (one fused MatMul [D, 3D] + bias and a Split, or three separate
 *             MatMul(+Add bias)/Gemm), each Reshape [.., T, D] → [.., T, H, dh] and Transpose;
 *   scores  = MatMul(q, kᵀ), then scaling (Div/Mul by a scalar), masks (Add, Where) and Softmax;
 *   out     = MatMul(scores, v) → Transpose → Reshape [.., T, H, dh] → [.., T, H·dh] → the
 *             out-projection (MatMul(+Add bias) or Gemm).
 *
 * Head h owns rows h·dh … (h+1)·dh − 1 of the q, k and v projections (and of their biases) and
 * the same columns of the out-projection's input, so a group's units are the H heads; the
 * consumer whose H ranks them is the out-projection (group OBS over each head's dh columns).
 * Removing heads rewrites the Reshapes that split and merge heads (their shapes become constants
 * [0, …, 0, H′, dh] and [0, …, 0, −1], which copy the leading dims) and the Split sizes of a
 * fused projection.
 *
 * The analysis starts from every MatMul of two computed tensors whose first operand comes from a
 * Softmax, follows the pattern above exactly (the head axis is tracked through Transposes), and
 * blocks the attention, with the reason, wherever it deviates: a tensor read by another node,
 * a mask that differs per head, a projection weight that is shared or computed, …
 */
import type { OnnxModel } from '../io/onnx/model.js';
import type { NodeProto, TensorProto } from '../io/onnx/proto.js';
import { tensorDims } from '../io/onnx/tensor.js';
import type { BlockedGroup, UnitConsumer, UnitGroup, UnitProducer } from './graph.js';
import { attr, attrInt, attrInts } from '../io/onnx/attributes.js';
import { nodeLabel } from '../io/onnx/graphs.js';

/** A Reshape that splits (`[.., D]` → `[.., H, dh]`) or merges heads (`[.., H, dh]` → `[.., H·dh]`). */
export interface HeadReshape {
  /** The Reshape's output tensor (identifies the node). */
  output: string;
  kind: 'split' | 'merge';
  /** Dims before the head axis, copied from the input (shape entries 0). */
  leading: number;
  /** Entries per head (dh). */
  headDim: number;
}

/** A Split whose outputs `outputs` each shrink by `perUnit` entries per removed unit (a fused q/k/v projection). */
export interface SplitUpdate {
  /** The Split's first output tensor (identifies the node). */
  output: string;
  outputs: number[];
  perUnit: number;
}

/** What {@link analyzeHeads} takes from the dependency analysis (./graph.ts). */
export interface HeadsContext {
  /** The initializer `name` when it is read by exactly one node (a weight safe to reshape). */
  ownInitializer: (name: string | undefined) => TensorProto | undefined;
  /** Tensors read inside subgraphs. */
  innerReads: ReadonlySet<string>;
  /** The bias initializer of a MatMul (the constant of the one Add reading its output), if any. */
  matmulBias: (node: NodeProto) => string | undefined;
}

/** What {@link analyzeHeads} finds. */
export interface HeadsAnalysis {
  groups: UnitGroup[];
  blocked: BlockedGroup[];
}

class NotAttention extends Error {}

/**
 * The attention-head groups of `model` (see the module comment). `shapes` gives the dims of every
 * tensor of one measured run; `ownInitializer` says whether a weight is an initializer read by
 * one node only (see ./graph.ts).
 */
export function analyzeHeads(model: OnnxModel, shapes: ReadonlyMap<string, readonly number[]>, context: HeadsContext): HeadsAnalysis {
  const { ownInitializer, innerReads, matmulBias } = context;
  const graph = model.graph;
  const producer = new Map<string, NodeProto>();
  const readers = new Map<string, NodeProto[]>();
  graph.node.forEach((n) => {
    for (const o of n.output) if (o) producer.set(o, n);
    for (const i of n.input) if (i) readers.set(i, [...(readers.get(i) ?? []), n]);
  });
  const order = new Map(graph.node.map((n, i) => [n, i]));
  const outputs = new Set(graph.output.map((o) => o.name ?? ''));
  const inits = new Set(graph.initializer.map((t) => t.name ?? ''));
  const isConst = (t: string) => inits.has(t) || producer.get(t)?.opType === 'Constant';
  const sizeOf = (t: string) => (shapes.get(t) ?? (inits.has(t) ? tensorDims(graph.initializer.find((x) => x.name === t)!) : undefined))?.reduce((a, b) => a * b, 1);
  const perm = (n: NodeProto): number[] => attrInts(n, 'perm') ?? [];
  const label = (n: NodeProto) => nodeLabel(n, order.get(n)!);
  const fail = (why: string): never => {
    throw new NotAttention(why);
  };

  /** Shape nodes reading the tensors of the attention being analysed (checked by {@link checkShapeReaders}). */
  let shapeReaders: NodeProto[] = [];
  /** The one node reading `t` besides Shape nodes (which must be no graph output nor read in a subgraph). */
  const soleReader = (t: string, what: string): NodeProto => {
    const all = readers.get(t) ?? [];
    const r = all.filter((n) => n.opType !== 'Shape');
    shapeReaders.push(...all.filter((n) => n.opType === 'Shape'));
    if (outputs.has(t)) fail(`${what} '${t}' is a graph output`);
    if (innerReads.has(t)) fail(`${what} '${t}' is read inside a subgraph`);
    if (r.length !== 1) fail(`${what} '${t}' is read by ${r.length} nodes`);
    return r[0]!;
  };
  const SHAPE_ARITH = new Set(['Shape', 'Gather', 'Unsqueeze', 'Squeeze', 'Concat', 'Slice', 'Cast', 'Div', 'Mul', 'Add', 'Sub', 'Floor', 'Ceil', 'Identity']);
  /**
   * The shapes read from the attention's tensors (which shrink) may only compute the shape inputs
   * of the head Reshapes, which are replaced by constants.
   */
  const checkShapeReaders = (ours: ReadonlySet<NodeProto>): void => {
    const seen = new Set<NodeProto>();
    const stack = [...shapeReaders];
    while (stack.length) {
      const n = stack.pop()!;
      if (seen.has(n)) continue;
      seen.add(n);
      for (const o of n.output) {
        if (!o) continue;
        if (outputs.has(o) || innerReads.has(o)) fail(`the shape of an attention tensor reaches '${o}' (a graph output or a subgraph)`);
        for (const m of readers.get(o) ?? []) {
          if (m.opType === 'Reshape' && m.input[1] === o && ours.has(m)) continue;
          if (!SHAPE_ARITH.has(m.opType ?? '')) fail(`the shape of an attention tensor is used by ${m.opType} ${label(m)}, which the rewrite of the head Reshapes would not update`);
          stack.push(m);
        }
      }
    }
  };
  const dims = (t: string): readonly number[] => {
    const init = inits.has(t) ? graph.initializer.find((x) => x.name === t) : undefined;
    if (init) return tensorDims(init);
    const c = producer.get(t);
    const value = c?.opType === 'Constant' ? attr(c, 'value')?.t : undefined;
    return value ? tensorDims(value) : (shapes.get(t) ?? fail(`the shape of '${t}' is unknown`));
  };
  /** A scalar constant operand (scaling). */
  const scalarOperand = (n: NodeProto, path: string): boolean => {
    const other = n.input.find((i) => i !== path);
    return other !== undefined && n.input.length === 2 && isConst(other) && sizeOf(other) === 1;
  };

  /** One of q, k, v traced back from its use to the Reshape that split heads. */
  interface Operand {
    reshape: NodeProto;
    /** The head and dh axes in the coordinates of the traced tensor. */
    headAxis: number;
    dhAxis: number;
    heads: number;
    headDim: number;
    leading: number;
    tensors: string[];
  }
  const traceOperand = (start: string, tensors: string[]): Operand => {
    const perms: number[][] = [];
    let cur = start;
    soleReader(cur, 'tensor');
    for (;;) {
      const n = producer.get(cur) ?? fail(`'${cur}' is not computed by a node`);
      tensors.push(cur);
      let next: string;
      if (n.opType === 'Transpose') {
        perms.push(perm(n));
        next = n.input[0]!;
      } else if ((n.opType === 'Mul' || n.opType === 'Div') && n.input.length === 2 && !isConst(n.input[0]!) && scalarOperand(n, n.input[0]!)) {
        next = n.input[0]!;
      } else if (n.opType === 'Reshape') {
        const inDims = dims(n.input[0]!);
        const outDims = dims(cur);
        const r = outDims.length;
        const [heads, headDim] = [outDims[r - 2]!, outDims[r - 1]!];
        if (r !== inDims.length + 1 || heads * headDim !== inDims[inDims.length - 1] || outDims.slice(0, r - 2).some((d, i) => d !== inDims[i])) {
          fail(`Reshape ${label(n)} maps [${inDims.join(', ')}] to [${outDims.join(', ')}], not [.., D] to [.., H, dh]`);
        }
        soleReader(n.input[0]!, 'tensor');
        let headAxis = r - 2;
        let dhAxis = r - 1;
        for (const p of perms.reverse()) {
          headAxis = p.indexOf(headAxis);
          dhAxis = p.indexOf(dhAxis);
        }
        return { reshape: n, headAxis, dhAxis, heads, headDim, leading: r - 2, tensors };
      } else {
        return fail(`${n.opType} ${label(n)} between a head split and the attention (only Transpose and scalar Mul/Div are followed)`);
      }
      soleReader(next, 'tensor');
      cur = next;
    }
  };

  const SCORE_OPS = ['Softmax', 'Add', 'Sub', 'Mul', 'Div', 'Where', 'Cast'];
  /** Whether `t` comes from MatMul(q, kᵀ) through score ops only. */
  const reachesScores = (t: string, depth = 0): boolean => {
    const n = producer.get(t);
    if (!n || depth > 12) return false;
    if (n.opType === 'MatMul') return !n.input.some(isConst);
    if (!SCORE_OPS.includes(n.opType ?? '')) return false;
    return n.input.some((i) => i && !isConst(i) && reachesScores(i, depth + 1));
  };

  /** The projection computing `source` ([.., D]): a fused one through a Split, or its own. */
  const projection = (source: string, operand: Operand, tensors: string[], splits: SplitUpdate[]): UnitProducer => {
    let t = source;
    let unitOffset = 0;
    const p = producer.get(t);
    if (p?.opType === 'Split') {
      const inDims = dims(p.input[0]!);
      const axis = attrInt(p, 'axis', 0);
      if ((axis < 0 ? axis + inDims.length : axis) !== inDims.length - 1) fail(`Split ${label(p)} is not along the last axis`);
      const index = p.output.indexOf(t);
      let offset = 0;
      for (let i = 0; i < index; i++) offset += dims(p.output[i]!)[inDims.length - 1]!;
      if (offset % operand.headDim !== 0) fail(`Split ${label(p)}: output ${index} starts at ${offset}, not a multiple of the head size ${operand.headDim}`);
      unitOffset = offset / operand.headDim;
      if (!splits.some((s) => s.output === p.output[0])) splits.push({ output: p.output[0]!, outputs: [], perUnit: operand.headDim });
      splits.find((s) => s.output === p.output[0])!.outputs.push(index);
      t = p.input[0]!;
      soleReader(t, 'projection output');
      tensors.push(t, ...p.output.filter(Boolean));
    } else {
      tensors.push(t);
    }
    let n = producer.get(t) ?? fail(`'${t}' is not computed by a node`);
    let bias: string | undefined;
    if (n.opType === 'Add') {
      const other = n.input.find((i) => isConst(i));
      const mm = n.input.find((i) => !isConst(i));
      if (!other || !mm || n.input.length !== 2) fail(`Add ${label(n)} before the heads is no bias Add`);
      bias = other;
      soleReader(mm!, 'projection output');
      tensors.push(mm!);
      n = producer.get(mm!) ?? fail(`'${mm}' is not computed by a node`);
      if (n.opType !== 'MatMul') fail(`the q/k/v projection before Add ${label(producer.get(t)!)} is ${n.opType}, not MatMul`);
    }
    if (n.opType !== 'MatMul' && n.opType !== 'Gemm') fail(`the q/k/v projection is ${n.opType} ${label(n)}, not MatMul or Gemm`);
    const w = ownInitializer(n.input[1]) ?? fail(`the weight of projection ${label(n)} is not a constant initializer of its own`);
    const wd = tensorDims(w);
    if (wd.length !== 2) fail(`projection ${label(n)} has a weight of rank ${wd.length}`);
    let axis = 1;
    if (n.opType === 'Gemm') {
      if (attrInt(n, 'transA', 0) === 1) fail(`Gemm ${label(n)} with transA=1`);
      axis = attrInt(n, 'transB', 0) === 1 ? 0 : 1;
      if (bias) fail(`Gemm ${label(n)} is followed by another bias Add`);
      bias = n.input[2] || undefined;
    }
    const rows = wd[axis]!;
    if (bias) {
      const b = ownInitializer(bias) ?? fail(`the bias '${bias}' of projection ${label(n)} is not an initializer of its own`);
      const bd = tensorDims(b);
      if (bd.reduce((a, x) => a * x, 1) !== rows || bd.filter((d) => d !== 1).length > 1) fail(`the bias '${bias}' of projection ${label(n)} has shape [${bd.join(', ')}]`);
    }
    return { node: label(n), op: n.opType as 'MatMul' | 'Gemm', weight: n.input[1]!, axis, rows, ...(bias ? { bias } : {}), offset: unitOffset, span: operand.headDim };
  };

  const analyse = (av: NodeProto): UnitGroup => {
    const tensors: string[] = [];
    shapeReaders = [];
    // scores: back from av's first operand through the Softmax to MatMul(q, kᵀ)
    let cur = av.input[0]!;
    let softmax = 0;
    let qk: NodeProto | undefined;
    const maskChecks: Array<{ operand: string; node: NodeProto }> = [];
    while (!qk) {
      const n = producer.get(cur) ?? fail(`'${cur}' is not computed by a node`);
      tensors.push(cur);
      if (n.opType === 'MatMul' && !n.input.some(isConst)) {
        qk = n;
        break;
      }
      if (n.opType === 'Softmax') {
        const r = dims(cur).length;
        const axis = attrInt(n, 'axis', -1);
        if ((axis < 0 ? axis + r : axis) !== r - 1) fail(`Softmax ${label(n)} is not over the last axis`);
        softmax++;
        cur = n.input[0]!;
      } else if (SCORE_OPS.includes(n.opType ?? '')) {
        // the operand that continues to the scores (for Where: a value operand, not the condition)
        const candidates = n.opType === 'Where' ? [n.input[1]!, n.input[2]!] : n.input.filter(Boolean);
        const path = candidates.find((i) => !isConst(i) && reachesScores(i));
        if (!path || candidates.filter((i) => !isConst(i) && reachesScores(i)).length > 1) fail(`${n.opType} ${label(n)} on the attention scores: not one operand continues to MatMul(q, kᵀ)`);
        for (const i of n.input) if (i && i !== path) maskChecks.push({ operand: i, node: n });
        cur = path!;
      } else fail(`${n.opType} ${label(n)} on the attention scores (only scaling, masks and Softmax are followed)`);
      soleReader(cur, 'attention scores');
    }
    if (softmax !== 1) fail(`${softmax} Softmax between MatMul(q, kᵀ) ${label(qk)} and the attention MatMul`);
    const q = traceOperand(qk.input[0]!, tensors);
    const k = traceOperand(qk.input[1]!, tensors);
    const v = traceOperand(av.input[1]!, tensors);
    const r = dims(qk.input[0]!).length;
    const heads = q.heads;
    const headDim = q.headDim;
    if (k.heads !== heads || v.heads !== heads || k.headDim !== headDim || v.headDim !== headDim) fail(`q, k and v have different head shapes (${heads}×${headDim}, ${k.heads}×${k.headDim}, ${v.heads}×${v.headDim})`);
    if (q.dhAxis !== r - 1 || k.dhAxis !== r - 2 || v.dhAxis !== r - 1) fail(`MatMul ${label(qk)} does not contract q and k over the head size, or v is transposed`);
    if (q.headAxis !== k.headAxis || q.headAxis !== v.headAxis || q.headAxis >= r - 2) fail(`q, k and v do not keep their heads on one batch axis`);
    const headAxis = q.headAxis;
    for (const { operand, node } of maskChecks) {
      const od = dims(operand);
      const at = headAxis - (r - od.length);
      if (at >= 0 && od[at] !== 1) fail(`${node.opType} ${label(node)}: '${operand}' differs per head (a per-head mask or scale)`);
    }
    // out: forward from av through the Transpose and the merging Reshape to the out-projection
    let t = av.output[0]!;
    let h = headAxis;
    let d = r - 1;
    let merge: NodeProto | undefined;
    while (!merge) {
      const n = soleReader(t, 'attention output');
      tensors.push(t);
      if (n.opType === 'Transpose') {
        const p = perm(n);
        h = p.indexOf(h);
        d = p.indexOf(d);
      } else if (n.opType === 'Reshape') {
        merge = n;
      } else if (!((n.opType === 'Mul' || n.opType === 'Div') && scalarOperand(n, t))) fail(`${n.opType} ${label(n)} on the attention output (only Transpose and a merging Reshape are followed)`);
      t = n.output[0]!;
    }
    const inDims = dims(merge.input[0]!);
    const outDims = dims(t);
    if (h !== inDims.length - 2 || d !== inDims.length - 1 || outDims.length !== inDims.length - 1 || outDims[outDims.length - 1] !== heads * headDim || outDims.slice(0, -1).some((x, i) => x !== inDims[i])) {
      fail(`Reshape ${label(merge)} maps [${inDims.join(', ')}] to [${outDims.join(', ')}], which does not merge the heads`);
    }
    tensors.push(t);
    const out = soleReader(t, 'merged heads');
    if (!((out.opType === 'MatMul' || out.opType === 'Gemm') && out.input[0] === t)) fail(`the merged heads feed ${out.opType} ${label(out)}, not an out-projection MatMul/Gemm`);
    const w = ownInitializer(out.input[1]) ?? fail(`the out-projection ${label(out)} has a weight that is not a constant initializer of its own`);
    const wd = tensorDims(w);
    if (wd.length !== 2) fail(`the out-projection ${label(out)} has a weight of rank ${wd.length}`);
    let axis = 0;
    let outBias: string | undefined;
    if (out.opType === 'Gemm') {
      if (attrInt(out, 'transA', 0) === 1) fail(`Gemm ${label(out)} with transA=1`);
      axis = attrInt(out, 'transB', 0) === 1 ? 1 : 0;
      outBias = out.input[2] || undefined;
    } else {
      outBias = matmulBias(out);
    }
    if (wd[axis] !== heads * headDim) fail(`the out-projection ${label(out)} has ${wd[axis]} inputs, the heads ${heads * headDim}`);
    const outRows = wd[1 - axis]!;
    const biasOk = outBias !== undefined && ownInitializer(outBias) !== undefined && tensorDims(ownInitializer(outBias)!).reduce((a, x) => a * x, 1) === outRows;
    // the projections and the Split sizes
    const splits: SplitUpdate[] = [];
    const producers = [q, k, v].map((o) => projection(o.reshape.input[0]!, o, tensors, splits));
    for (const s of splits) {
      const split = producer.get(s.output)!;
      const used = split.output.filter((o) => o && readers.has(o)).length;
      if (used !== s.outputs.length) fail(`Split ${label(split)} has outputs that are not q, k or v of this attention`);
    }
    const consumer: UnitConsumer = { node: label(out), op: out.opType as 'MatMul' | 'Gemm', tensor: out.input[1]!, axis, offset: 0, span: headDim, viewSpan: headDim, ...(biasOk ? { bias: outBias! } : {}) };
    checkShapeReaders(new Set([q.reshape, k.reshape, v.reshape, merge]));
    const reshapes: HeadReshape[] = [
      ...[q, k, v].map((o) => ({ output: o.reshape.output[0]!, kind: 'split' as const, leading: o.leading, headDim })),
      { output: merge.output[0]!, kind: 'merge', leading: inDims.length - 2, headDim },
    ];
    return {
      name: label(out),
      kind: 'heads',
      units: heads,
      producers,
      consumers: [consumer],
      slices: [],
      reshapes: [],
      headReshapes: reshapes,
      splits,
      tensors: [...new Set(tensors)],
      order: Math.min(...producers.map((p) => order.get(graph.node.find((n) => label(n) === p.node)!)!)),
    };
  };

  const groups: UnitGroup[] = [];
  const blocked: BlockedGroup[] = [];
  for (const n of graph.node) {
    if (n.opType !== 'MatMul' || n.input.length !== 2 || n.input.some(isConst)) continue;
    // an attention MatMul: its first operand comes from a Softmax (possibly through Cast/Dropout-free ops)
    let src = producer.get(n.input[0]!);
    while (src && (src.opType === 'Cast' || src.opType === 'Identity')) src = producer.get(src.input[0]!);
    if (src?.opType !== 'Softmax') continue;
    try {
      groups.push(analyse(n));
    } catch (e) {
      if (!(e instanceof NotAttention)) throw e;
      blocked.push({ name: label(n), kind: 'heads', producers: [], reason: e.message });
    }
  }
  return { groups, blocked };
}

/** The shape constant of a head Reshape for `kept` heads. */
export function headShape(r: HeadReshape, kept: number): number[] {
  const zeros = new Array<number>(r.leading).fill(0);
  return r.kind === 'split' ? [...zeros, kept, r.headDim] : [...zeros, -1];
}
