/** Recognising TensorFlow.js model paths, and refusing what TF.js outputs cannot hold, without loading tfjs (the CLI's dispatch uses it). */
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SurgeonInputError } from '../errors.js';

/** Whether `path` names a tfjs model: a `file://` URL, a `.json` file, or a folder holding model.json. */
export function isTfjsModelPath(path: string): boolean {
  if (path.startsWith('file://')) return true;
  if (path.toLowerCase().endsWith('.json')) return true;
  try {
    return statSync(path).isDirectory() && existsSync(join(path, 'model.json'));
  } catch {
    return false;
  }
}

/** Turns `file://…`, a folder or a model.json path into the absolute path of model.json. */
export function modelJsonPath(path: string): string {
  let p = path.startsWith('file://') ? fileURLToPath(path) : path;
  p = resolve(p);
  if (existsSync(p) && statSync(p).isDirectory()) p = join(p, 'model.json');
  return p;
}

/** The format of a parsed model.json: its `format`, else a GraphDef topology (`node`) means a graph model. */
export function modelJsonFormat(json: { format?: unknown; modelTopology?: unknown }): 'layers-model' | 'graph-model' {
  if (json.format === 'graph-model') return 'graph-model';
  if (json.format === 'layers-model') return 'layers-model';
  const topology = json.modelTopology;
  return typeof topology === 'object' && topology !== null && 'node' in topology ? 'graph-model' : 'layers-model';
}

/** Refuses quantization and the sparse_initializer encoding for a TF.js model (bit-mask sparse storage is written, see ./sparse.ts). */
export function refuseTfjsQuantize(quantized: boolean, sparseEncoding?: string): void {
  if (sparseEncoding === 'coo') {
    throw new SurgeonInputError('--sparse-encoding coo writes ONNX sparse_initializers; TensorFlow.js outputs store sparse weights as bit masks — drop --sparse-encoding or use bitmask');
  }
  if (quantized) {
    throw new SurgeonInputError('--quantize writes ONNX MatMulNBits/DequantizeLinear; TensorFlow.js weight shards have no int4 or per-group int8 encoding that tf.loadLayersModel reads, so TF.js models are not quantized — drop --quantize or convert the model to ONNX');
  }
}
