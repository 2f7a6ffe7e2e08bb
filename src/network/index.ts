/** The network abstraction: one model interface over ONNX, TF.js layers and TF.js graph models. */
export type * from './types.js';
export { openNetwork, detectNetworkFormat, NETWORK_FORMATS } from './open.js';
export { OnnxNetwork, onnxNetwork } from './onnx.js';
export { im2col, im2colShape, convInput, convOutputSize, resolvePads } from './conv.js';
export type { ConvGeometry, ConvPadding, ConvLayout, ConvColumnOrder, Im2colOptions, ConvInput } from './conv.js';
