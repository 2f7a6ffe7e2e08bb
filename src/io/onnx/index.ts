/**
 * ONNX model I/O: schema, decoding/encoding, tensors, saving, and the operator table.
 */
export * from './proto.js';
export * from './tensor.js';
export * from './model.js';
export * from './save.js';
export * from './operators.js';
export { inferElemTypes } from './types.js';
export {
  float16BitsToNumber,
  numberToFloat16Bits,
  float16ToFloat32,
  float32ToFloat16,
  bfloat16ToFloat32,
  float32ToBfloat16,
} from '../floats.js';
export { ONNX_PROTO_SCHEMA } from './schema.js';
export { graphScopes, allTensors, nodeLabel, nodeSubgraphs, type GraphScope } from './graphs.js';
export { upcastModel, type UpcastResult } from './upcast.js';
export { encodeSparseStorage, densifyStorage, indexTypeFor, BITMASK_METADATA_KEY } from './sparse.js';
export type { SparseEncoding, SparseEncodingChoice, SparseTensorReport, DensifiedStorage, EncodeSparseOptions } from './sparse.js';
export { encodeQuantized, matMulNBitsTensors } from './quantized.js';
export type { QuantizedTensorReport } from './quantized.js';
