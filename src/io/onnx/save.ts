/**
 * Atomic saving of ONNX models, with external data carried along.
 */
import { existsSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { SurgeonInputError } from '../../errors.js';
import { writeFileAtomic } from '../fs.js';
import { decodeModelProto, encodeModelProto, onnxType, type StringStringEntryProto, type TensorProto } from './proto.js';
import { allTensors } from './graphs.js';
import { externalDataPath, isExternal, readExternalBytes } from './tensor.js';
import { OnnxModel } from './model.js';
import { encodeSparseStorage, type SparseEncodingChoice, type SparseTensorReport } from './sparse.js';

/** Options for {@link saveOnnxModel}. */
export interface SaveOnnxOptions {
  /** The path the model was read from, when not recorded in the model itself; never overwritten. */
  inputPath?: string;
  /**
   * 'dense' (default): initializers as they are; 'sparse': float initializers with enough zeros
   * stored without them (see ./sparse.ts; `sparseEncoding` picks coo, bitmask or the smaller).
   */
  storage?: 'dense' | 'sparse';
  /** Encoding under `storage: 'sparse'` (default 'auto'). */
  sparseEncoding?: SparseEncodingChoice;
}

/** What {@link saveOnnxModel} wrote. */
export interface SaveOnnxResult {
  /** Absolute path of the .onnx file. */
  path: string;
  /** Absolute path of the external data file written beside it, if any. */
  externalDataPath?: string;
  /** Bytes written to the .onnx file. */
  bytes: number;
  /** The initializers stored sparse (storage 'sparse'). */
  sparse?: SparseTensorReport[];
}

function canonical(p: string): string {
  const abs = resolve(p);
  return existsSync(abs) ? realpathSync(abs) : abs;
}

/**
 * Saves `model` to `outPath` atomically, refusing to overwrite the file it was read from.
 *
 * External data: tensors still marked EXTERNAL (initializers of the main graph and of every
 * subgraph, Constant values) keep their references when the
 * output goes to the model's own folder (the input's data file is shared, never modified).
 * Their locations must lie inside the model's folder (a SurgeonInputError otherwise).
 * When saving elsewhere, their bytes are copied into `<out file name>.data` beside the
 * output and the saved model points there; the in-memory model is not changed.
 * Initializers changed with `setInitializer` are inline (raw_data) in the saved file.
 */
export function saveOnnxModel(model: OnnxModel, outPath: string, options: SaveOnnxOptions = {}): SaveOnnxResult {
  if (options.storage === 'sparse') {
    // Encode a copy; the in-memory model stays dense.
    const copy = decodeModelProto(model.toBytes());
    const sparse = encodeSparseStorage(copy, model.opset, { baseDir: model.baseDir, encoding: options.sparseEncoding ?? 'auto' });
    const encoded = new OnnxModel(copy, { ...(model.path ? { path: model.path } : {}), ...(model.baseDir ? { baseDir: model.baseDir } : {}) });
    return { ...saveOnnxModel(encoded, outPath, { ...options, storage: 'dense' }), sparse };
  }
  const out = canonical(outPath);
  const outDir = dirname(out);
  if (!existsSync(outDir) || !statSync(outDir).isDirectory()) {
    throw new SurgeonInputError(`${outPath}: output folder ${outDir} does not exist; create it first`);
  }
  for (const src of [model.path, options.inputPath]) {
    if (src && canonical(src) === out) {
      throw new SurgeonInputError(`${outPath}: refusing to overwrite the input model; choose another output path`);
    }
  }
  // every tensor with external data (initializers of all graphs, Constant values), by position
  const tensors = allTensors(model.graph);
  const externals = tensors.map((t, i) => [t, i] as const).filter(([t]) => isExternal(t));
  // validates every location (inside the model's folder) before anything is written
  const sources = externals.map(([t]) => externalDataPath(t, model.baseDir));
  const sameDir = model.baseDir !== undefined && canonical(model.baseDir) === canonical(outDir);
  if (externals.length === 0 || sameDir) {
    const bytes = model.toBytes();
    writeFileAtomic(out, bytes);
    return { path: out, bytes: bytes.byteLength };
  }

  const dataName = `${basename(out)}.data`;
  const dataPath = join(outDir, dataName);
  for (const file of sources) {
    if (canonical(file) === canonical(dataPath)) {
      throw new SurgeonInputError(`${dataPath}: would overwrite the input's external data; choose another output path`);
    }
  }
  const chunks: Uint8Array[] = [];
  const locations = new Map<number, { offset: number; length: number }>();
  let offset = 0;
  for (const [t, index] of externals) {
    const bytes = readExternalBytes(t, model.baseDir);
    const pad = (64 - (offset % 64)) % 64;
    if (pad) chunks.push(new Uint8Array(pad));
    offset += pad;
    locations.set(index, { offset, length: bytes.byteLength });
    chunks.push(bytes);
    offset += bytes.byteLength;
  }
  const copy = decodeModelProto(model.toBytes());
  allTensors(copy.graph!).forEach((t, index) => {
    const where = locations.get(index);
    if (!where || !isExternal(t)) return;
    (t as TensorProto).externalData = [
      entry('location', dataName),
      entry('offset', String(where.offset)),
      entry('length', String(where.length)),
    ];
  });
  const data = new Uint8Array(offset);
  let at = 0;
  for (const c of chunks) {
    data.set(c, at);
    at += c.byteLength;
  }
  writeFileAtomic(dataPath, data);
  const bytes = encodeModelProto(copy);
  writeFileAtomic(out, bytes);
  return { path: out, externalDataPath: dataPath, bytes: bytes.byteLength };
}

function entry(key: string, value: string): StringStringEntryProto {
  return onnxType('StringStringEntryProto').create({ key, value }) as unknown as StringStringEntryProto;
}
