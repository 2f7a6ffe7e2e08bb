/**
 * Quantized weights in ONNX, as onnxruntime runs them (onnxruntime-node 1.30, checked by the
 * tests against its CPU provider):
 *
 * - a weight that is the right operand of a MatMul, or the B of a Gemm (transA = 0, alpha = 1,
 *   beta = 1), becomes `com.microsoft.MatMulNBits` (bits 4 or 8, block_size = the group size,
 *   asymmetric: packed uint4/uint8 zero points): B is stored N × ⌈K/G⌉ × G·bits/8 bytes, codes
 *   low nibble first, scales float32 [N·⌈K/G⌉]; a Gemm's bias becomes an Add after it;
 * - any other weight stored directly as an initializer of the main graph (a Conv kernel, a
 *   left MatMul operand) becomes a standard `DequantizeLinear` (opset ≥ 13, per-axis) over the
 *   codes reshaped to [rows·groups, G] with one scale and zero point per row and group, then
 *   Reshape/Slice (and Transpose where the tensor is stored inputs × outputs) back to the
 *   weight's shape, under the weight's own name. Codes are uint4 (2 per byte) from opset 21,
 *   uint8 below (int4 codes then take a byte each: opset < 21 has no 4-bit DequantizeLinear);
 * - a weight reached through a producer chain, inside a subgraph, shared by several nodes, or
 *   one group of a grouped convolution keeps its float32 storage (holding the dequantized
 *   values, so the model computes the same), and the report says why.
 *
 * Both dequantize as (code − zero)·scale in float32, which is how surgeon evaluates the
 * quantized model (../../pruners/quantize.ts).
 */
import { createMessage, DataType, AttributeType, type GraphProto, type ModelProto, type NodeProto, type TensorProto } from './proto.js';
import { makeTensor } from './graph-builder.js';
import { attrFloat, attrInt } from './attributes.js';
import type { OnnxModel } from './model.js';
import type { WeightView } from './operators.js';
import type { QuantizedWeight } from '../../pruners/quantize.js';

/** How one quantized layer was written. */
export interface QuantizedTensorReport {
  layer: string;
  weight: string;
  /** 'MatMulNBits', 'DequantizeLinear', or 'float32' (not encoded: see `reason`). */
  encoding: 'MatMulNBits' | 'DequantizeLinear' | 'float32';
  bits: number;
  groupSize: number;
  /** Why the weight stays float32 (holding its dequantized values), or a note on the storage. */
  reason?: string;
}

const COM_MICROSOFT = 'com.microsoft';

function attribute(name: string, value: number | string) {
  return typeof value === 'number'
    ? createMessage('AttributeProto', { name, type: AttributeType.INT, i: value } as never)
    : createMessage('AttributeProto', { name, type: AttributeType.STRING, s: new TextEncoder().encode(value) } as never);
}
function makeNode(opType: string, name: string, inputs: string[], outputs: string[], attrs: Record<string, number | string> = {}, domain?: string): NodeProto {
  return createMessage<NodeProto>('NodeProto', { opType, name, input: inputs, output: outputs, ...(domain ? { domain } : {}), attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)) as never });
}

/** Packs one code per byte into `bits`-wide fields, low bits first. */
function pack(codes: Uint8Array, bits: number): Uint8Array {
  if (bits === 8) return codes;
  const out = new Uint8Array(Math.ceil(codes.length / 2));
  for (let i = 0; i < codes.length; i++) out[i >> 1]! |= (codes[i]! & 0xf) << ((i & 1) * 4);
  return out;
}

/** The MatMulNBits initializers of a layer: B [N, blocks, G·bits/8], scales [N·blocks], zero points. */
export function matMulNBitsTensors(q: QuantizedWeight): { B: Uint8Array; scales: Float32Array; zeros: Uint8Array; blob: number } {
  const { rows: N, cols: K, groups, groupSize: G, bits } = q;
  const padded = new Uint8Array(N * groups * G);
  for (let r = 0; r < N; r++) {
    for (let g = 0; g < groups; g++) {
      const zero = q.zeros[r * groups + g]!;
      for (let t = 0; t < G; t++) {
        const k = g * G + t;
        padded[(r * groups + g) * G + t] = k < K ? q.codes[r * K + k]! : zero;
      }
    }
  }
  const zeroRows = bits === 8 ? q.zeros : new Uint8Array(N * Math.ceil(groups / 2));
  if (bits === 4) for (let r = 0; r < N; r++) zeroRows.set(pack(q.zeros.subarray(r * groups, (r + 1) * groups), 4), r * Math.ceil(groups / 2));
  return { B: pack(padded, bits), scales: q.scales, zeros: zeroRows, blob: (G * bits) / 8 };
}

/** Whether `node` writes `output`. */
const writes = (node: NodeProto, output: string) => node.output.includes(output);

/**
 * Rewrites `proto` (a copy the caller owns, decoded from `model`) so that every layer with codes
 * in `quantized` stores them (see the module comment). `views` are `model`'s weight views.
 */
export function encodeQuantized(proto: ModelProto, model: OnnxModel, views: readonly WeightView[], quantized: ReadonlyMap<string, QuantizedWeight>): QuantizedTensorReport[] {
  const graph = proto.graph as GraphProto;
  const opset = model.opset;
  const reports: QuantizedTensorReport[] = [];
  const removed = new Set<string>();
  let usesMicrosoft = false;
  const viewsOfWeight = new Map<string, number>();
  for (const v of views) viewsOfWeight.set(v.weightName, (viewsOfWeight.get(v.weightName) ?? 0) + 1);
  const consumers = (name: string) => graph.node.filter((n) => n.input.includes(name)).length;
  for (const view of views) {
    const q = quantized.get(view.name);
    if (!q) continue;
    const base = { layer: view.name, weight: view.weightName, bits: q.bits, groupSize: q.groupSize };
    const keepFloat = (reason: string) => reports.push({ ...base, encoding: 'float32', reason });
    if (view.sourceKind !== 'initializer' || view.sourceSubgraph || view.subgraph) {
      keepFloat('the weight is a Constant or lives in a subgraph');
      continue;
    }
    if (view.via.length) {
      keepFloat(`the weight reaches its node through ${view.via.join(' → ')}`);
      continue;
    }
    if ((viewsOfWeight.get(view.weightName) ?? 0) > 1 || (view.groups ?? 1) > 1) {
      keepFloat('one tensor holds several layers (a grouped convolution)');
      continue;
    }
    const init = graph.initializer.find((t) => t.name === view.weightName);
    if (!init || init.dataType !== DataType.FLOAT) {
      keepFloat('the weight is not a float32 initializer');
      continue;
    }
    const node = graph.node.find((n) => writes(n, view.outputName));
    const single = view.uses.length <= 1 && !view.tied && consumers(view.weightName) === 1;
    const gemmOk =
      node?.opType === 'Gemm' &&
      attrInt(node, 'transA', 0) === 0 &&
      attrFloat(node, 'alpha', 1) === 1 &&
      (node.input.length < 3 || !node.input[2] || attrFloat(node, 'beta', 1) === 1);
    if (node && single && view.orientation === 'right' && node.input[1] === view.weightName && (node.opType === 'MatMul' || gemmOk)) {
      // MatMulNBits: y = A · dequant(B)ᵀ with B stored N × K (the view's rows × cols).
      const { B, scales, zeros, blob } = matMulNBitsTensors(q);
      const p = `${view.weightName}::q`;
      graph.initializer.push(
        makeTensor(`${p}.B`, [q.rows, q.groups, blob], B, 'uint8'),
        makeTensor(`${p}.scales`, [q.rows * q.groups], scales),
        makeTensor(`${p}.zero_points`, [zeros.length], zeros, 'uint8'),
      );
      const out = node.output[0]!;
      const bias = node.opType === 'Gemm' ? node.input[2] : undefined;
      const mmOut = bias ? `${out}::matmul` : out;
      const replacement = [
        makeNode('MatMulNBits', `${node.name || out}::MatMulNBits`, [node.input[0]!, `${p}.B`, `${p}.scales`, `${p}.zero_points`], [mmOut], { K: q.cols, N: q.rows, bits: q.bits, block_size: q.groupSize }, COM_MICROSOFT),
        ...(bias ? [makeNode('Add', `${node.name || out}::bias`, [mmOut, bias], [out])] : []),
      ];
      graph.node.splice(graph.node.indexOf(node), 1, ...replacement);
      removed.add(view.weightName);
      usesMicrosoft = true;
      reports.push({ ...base, encoding: 'MatMulNBits' });
      continue;
    }
    if (opset < 13) {
      keepFloat(`opset ${opset} has no per-axis DequantizeLinear (needs ≥ 13)`);
      continue;
    }
    // DequantizeLinear per (row, group), reshaped back to the stored tensor under its own name.
    const dims = init.dims.map(Number);
    const G = q.groupSize;
    const rowsGroups = q.rows * q.groups;
    const codes = new Uint8Array(rowsGroups * G);
    for (let r = 0; r < q.rows; r++) {
      for (let g = 0; g < q.groups; g++) {
        for (let t = 0; t < G; t++) {
          const k = g * G + t;
          codes[(r * q.groups + g) * G + t] = k < q.cols ? q.codes[r * q.cols + k]! : q.zeros[r * q.groups + g]!;
        }
      }
    }
    const four = q.bits === 4 && opset >= 21;
    const type = four ? DataType.UINT4 : DataType.UINT8;
    const p = `${view.weightName}::q`;
    const raw = (name: string, d: number[], data: Uint8Array): TensorProto => createMessage<TensorProto>('TensorProto', { name, dims: d, dataType: type, rawData: four ? pack(data, 4) : data });
    graph.initializer.push(
      raw(`${p}.codes`, [rowsGroups, G], codes),
      makeTensor(`${p}.scales`, [rowsGroups], q.scales),
      raw(`${p}.zero_points`, [rowsGroups], q.zeros),
      makeTensor(`${p}.padded`, [2], [q.rows, q.groups * G], 'int64'),
      makeTensor(`${p}.start`, [1], [0], 'int64'),
      makeTensor(`${p}.end`, [1], [q.cols], 'int64'),
      makeTensor(`${p}.axis`, [1], [1], 'int64'),
      makeTensor(`${p}.shape`, [dims.length], dims, 'int64'),
    );
    const n = (s: string) => `${view.weightName}::dequantize/${s}`;
    const nodes = [
      makeNode('DequantizeLinear', n('DequantizeLinear'), [`${p}.codes`, `${p}.scales`, `${p}.zero_points`], [n('values')], { axis: 0 }),
      makeNode('Reshape', n('Reshape'), [n('values'), `${p}.padded`], [n('padded')]),
      makeNode('Slice', n('Slice'), [n('padded'), `${p}.start`, `${p}.end`, `${p}.axis`], [n('rows_cols')]),
      ...(view.transposeWeight ? [makeNode('Transpose', n('Transpose'), [n('rows_cols')], [n('cols_rows')], {})] : []),
      makeNode('Reshape', n('Reshape_1'), [view.transposeWeight ? n('cols_rows') : n('rows_cols'), `${p}.shape`], [view.weightName]),
    ];
    graph.node.unshift(...nodes);
    removed.add(view.weightName);
    reports.push({ ...base, encoding: 'DequantizeLinear', ...(q.bits === 4 && !four ? { reason: `int4 codes stored one per byte: opset ${opset} has no 4-bit DequantizeLinear (opset 21 has)` } : {}) });
  }
  graph.initializer = graph.initializer.filter((t) => !removed.has(t.name ?? ''));
  // An initializer replaced by a node output must not stay a graph input either.
  graph.input = graph.input.filter((v) => !removed.has(v.name ?? ''));
  if (usesMicrosoft && !proto.opsetImport.some((o) => o.domain === COM_MICROSOFT)) {
    proto.opsetImport.push(createMessage('OperatorSetIdProto', { domain: COM_MICROSOFT, version: 1 }) as never);
  }
  return reports;
}
