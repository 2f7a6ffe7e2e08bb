/** The network abstraction: one model interface over ONNX, TF.js layers and TF.js graph models. */
export type * from './types.js';
export { openNetwork, detectNetworkFormat, NETWORK_FORMATS } from './open.js';
export { OnnxNetwork, onnxNetwork } from './onnx.js';
