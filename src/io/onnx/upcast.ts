/**
 * A float32 copy of a model whose 16-bit float tensors (float16, bfloat16) become float32:
 * for running models onnxruntime cannot run as stored (the CPU provider has almost no
 * bfloat16 kernels and onnxruntime-node cannot even describe bfloat16 inputs/outputs; some
 * float16 operators have no CPU kernel). Weights convert exactly; activations are then
 * computed in float32 arithmetic.
 */
import { allTensors, graphScopes } from './graphs.js';
import { OnnxModel } from './model.js';
import { DataType, decodeModelProto, encodeModelProto, int64ToNumber, type ValueInfoProto } from './proto.js';
import { elemTypeName, isExternal } from './tensor.js';

/** What {@link upcastModel} produced. */
export interface UpcastResult {
  /** The float32 model. */
  bytes: Uint8Array;
  /** Whether anything was converted (false: the model has no tensor of the given types). */
  changed: boolean;
  /** The element type names found and converted ('float16', 'bfloat16'). */
  types: string[];
  /** Main-graph outputs that were of a converted type, with that type's name ('float16', 'bfloat16'). */
  outputTypes: Map<string, string>;
  /** Main-graph inputs that were of a converted type, with that type's name. */
  inputTypes: Map<string, string>;
}

/** Attributes holding an element type code (Cast's `to`, the `dtype` of EyeLike/Random*, ...). */
const TYPE_ATTRIBUTES = new Set(['to', 'dtype', 'output_dtype']);

/**
 * Copies `model` with every tensor, value type and type attribute of element type in `from`
 * (default float16 and bfloat16) turned into float32. External tensors of those types are
 * inlined (read from the model's folder); other external tensors keep their references.
 */
export function upcastModel(model: OnnxModel, from: ReadonlySet<number> = new Set([DataType.FLOAT16, DataType.BFLOAT16])): UpcastResult {
  const proto = decodeModelProto(model.toBytes());
  const copy = new OnnxModel(proto, { baseDir: model.baseDir });
  let changed = false;
  const types = new Set<string>();
  const saw = (code: number | undefined): void => {
    types.add(elemTypeName(code));
    changed = true;
  };
  for (const t of allTensors(copy.graph)) {
    if (!from.has(t.dataType ?? 0)) continue;
    saw(t.dataType);
    const data = copy.readTensor(t);
    t.dataType = DataType.FLOAT;
    t.rawData = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    t.floatData = [];
    t.int32Data = [];
    if (isExternal(t)) {
      t.externalData = [];
      delete t.dataLocation;
    }
  }
  const outputTypes = new Map<string, string>();
  const inputTypes = new Map<string, string>();
  const retype = (v: ValueInfoProto, record?: Map<string, string>): void => {
    const tt = v.type?.tensorType;
    if (!tt || !from.has(tt.elemType ?? 0)) return;
    record?.set(v.name ?? '', elemTypeName(tt.elemType));
    saw(tt.elemType);
    tt.elemType = DataType.FLOAT;
  };
  for (const scope of graphScopes(copy.graph)) {
    const main = scope.path === '';
    for (const v of scope.graph.input) retype(v, main ? inputTypes : undefined);
    for (const v of scope.graph.output) retype(v, main ? outputTypes : undefined);
    for (const v of scope.graph.valueInfo) retype(v);
    for (const node of scope.graph.node) {
      for (const a of node.attribute) {
        if (a.name && TYPE_ATTRIBUTES.has(a.name) && a.i != null && from.has(int64ToNumber(a.i))) {
          saw(int64ToNumber(a.i));
          a.i = DataType.FLOAT;
        }
      }
    }
  }
  return { bytes: encodeModelProto(proto), changed, types: [...types].sort(), outputTypes, inputTypes };
}
