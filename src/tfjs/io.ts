/**
 * File IO for TensorFlow.js models on node:fs (tfjs' own `file://` handler lives in tfjs-node,
 * which surgeon does not require): reading a `model.json` and its weight shards, rewriting the
 * shards with some weights replaced (everything else byte-identical), and atomic folder writes.
 */
import * as tf from '@tensorflow/tfjs';
import { existsSync, mkdirSync, readFileSync, readdirSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SurgeonInputError } from '../errors.js';
import { modelJsonFormat, modelJsonPath } from './path.js';
import { densifyTfjsJson, SPARSE_KEY } from './sparse.js';

/** One weight of the manifest with its place in the concatenated weight data. */
export interface WeightEntry {
  name: string;
  shape: number[];
  dtype: string;
  /** Byte offset in the concatenation of all shards (manifest order). */
  offset: number;
  byteLength: number;
  quantized: boolean;
}

/** A `model.json` and its shards as read from disk. */
export interface TfjsModelFile {
  /** Absolute path of model.json. */
  path: string;
  dir: string;
  /** The text of model.json, written back unchanged. */
  text: string;
  json: {
    format?: string;
    modelTopology?: unknown;
    weightsManifest?: Array<{ paths: string[]; weights: tf.io.WeightsManifestEntry[] }>;
    [key: string]: unknown;
  };
  /** 'layers-model' or 'graph-model'. */
  format: 'layers-model' | 'graph-model';
  weights: WeightEntry[];
  /** Every shard, in manifest order, with its file name. */
  shards: Array<{ path: string; bytes: Uint8Array }>;
  /** All shards concatenated (what tfjs expects as weightData). */
  data: Uint8Array;
}

const BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2, int8: 1, int16: 2, complex64: 8 };

export { isTfjsModelPath, modelJsonPath } from './path.js';

/** Reads model.json and every shard. @throws SurgeonInputError for missing files or shards. */
export function readModelFile(path: string): TfjsModelFile {
  const file = modelJsonPath(path);
  if (!existsSync(file)) throw new SurgeonInputError(`${path}: no such file; pass a folder holding model.json or the model.json itself`);
  let text = readFileSync(file, 'utf8');
  let json: TfjsModelFile['json'];
  try {
    json = JSON.parse(text) as TfjsModelFile['json'];
  } catch (error) {
    throw new SurgeonInputError(`${file}: not valid JSON (${(error as Error).message.split('\n')[0]}); pass a TensorFlow.js model.json`);
  }
  if (!json || typeof json !== 'object' || !json.modelTopology || !Array.isArray(json.weightsManifest)) {
    throw new SurgeonInputError(`${file}: not a TensorFlow.js model (no modelTopology/weightsManifest); pass a model.json saved by tfjs or tensorflowjs_converter`);
  }
  const isGraph = modelJsonFormat(json) === 'graph-model';
  const dir = dirname(file);
  // Sparse weights written by surgeon (./sparse.ts) become one more dense shard, in memory.
  const densified = densifyTfjsJson(json, file, (p) => {
    const shardPath = join(dir, p);
    if (!existsSync(shardPath)) throw new SurgeonInputError(`${file}: weight shard ${p} listed in ${SPARSE_KEY} is missing; copy every shard file next to model.json`);
    return new Uint8Array(readFileSync(shardPath));
  });
  if (densified) {
    json = densified.json as TfjsModelFile['json'];
    text = JSON.stringify(json);
  }
  const weights: WeightEntry[] = [];
  const shards: TfjsModelFile['shards'] = [];
  let offset = 0;
  for (const group of json.weightsManifest ?? []) {
    for (const p of group.paths) {
      if (densified && p === densified.shardName) {
        shards.push({ path: p, bytes: densified.shard });
        continue;
      }
      const shardPath = join(dir, p);
      if (!existsSync(shardPath)) {
        throw new SurgeonInputError(`${file}: weight shard ${p} listed in weightsManifest is missing; copy every shard file next to model.json`);
      }
      shards.push({ path: p, bytes: new Uint8Array(readFileSync(shardPath)) });
    }
    for (const w of group.weights) {
      const q = w.quantization;
      const per = BYTES[q ? q.dtype : w.dtype];
      if (per === undefined) throw new SurgeonInputError(`${file}: weight ${w.name} has dtype ${q ? q.dtype : w.dtype}, which surgeon cannot read; re-export with float32 weights`);
      const byteLength = w.shape.reduce((a, b) => a * b, 1) * per;
      weights.push({ name: w.name, shape: w.shape.slice(), dtype: w.dtype, offset, byteLength, quantized: Boolean(q) });
      offset += byteLength;
    }
  }
  const total = shards.reduce((a, s) => a + s.bytes.length, 0);
  if (total < offset) {
    throw new SurgeonInputError(`${file}: the weight shards hold ${total} bytes but the manifest needs ${offset}; a shard is truncated — copy it again`);
  }
  const data = new Uint8Array(total);
  let at = 0;
  for (const s of shards) {
    data.set(s.bytes, at);
    at += s.bytes.length;
  }
  return { path: file, dir, text, json, format: isGraph ? 'graph-model' : 'layers-model', weights, shards, data };
}

/** tfjs ModelArtifacts of a read model (for tf.loadLayersModel / tf.loadGraphModel). */
export function artifactsOf(file: TfjsModelFile): tf.io.ModelArtifacts {
  const specs = file.json.weightsManifest!.flatMap((g) => g.weights);
  const { modelTopology, format, generatedBy, convertedBy, trainingConfig, signature, userDefinedMetadata, modelInitializer } = file.json as Record<string, unknown>;
  const data = file.data.buffer.slice(file.data.byteOffset, file.data.byteOffset + file.data.byteLength) as ArrayBuffer;
  return {
    modelTopology: modelTopology as tf.io.ModelArtifacts['modelTopology'],
    weightSpecs: specs,
    weightData: data,
    format: format as string | undefined,
    generatedBy: generatedBy as string | undefined,
    convertedBy: convertedBy as string | null | undefined,
    trainingConfig: trainingConfig as tf.io.TrainingConfig | undefined,
    signature: signature as object | undefined,
    userDefinedMetadata: userDefinedMetadata as tf.io.ModelArtifacts["userDefinedMetadata"],
    modelInitializer: modelInitializer as object | undefined,
  };
}

/**
 * The files of `file` with the float32 weights named in `replace` overwritten (same shard layout;
 * model.json and all other bytes unchanged). @throws SurgeonInputError for quantized targets.
 */
export function replacedFiles(file: TfjsModelFile, replace: Map<string, Float32Array>): Map<string, Uint8Array | string> {
  const data = file.data.slice();
  for (const w of file.weights) {
    const values = replace.get(w.name);
    if (!values) continue;
    if (w.quantized || w.dtype !== 'float32') throw new SurgeonInputError(`${file.path}: weight ${w.name} is ${w.quantized ? 'quantized' : w.dtype}; surgeon writes float32 weights only — re-export without quantization`);
    if (values.length * 4 !== w.byteLength) throw new Error(`replacedFiles: ${w.name} has ${values.length} values, expected ${w.byteLength / 4}`);
    data.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), w.offset);
  }
  const files = new Map<string, Uint8Array | string>();
  files.set('model.json', file.text);
  let at = 0;
  for (const s of file.shards) {
    files.set(s.path, data.subarray(at, at + s.bytes.length));
    at += s.bytes.length;
  }
  return files;
}

/** The files of fresh artifacts (from `model.save`): model.json and one shard. */
export function artifactFiles(artifacts: tf.io.ModelArtifacts, extra: Record<string, unknown> = {}): Map<string, Uint8Array | string> {
  const wd = artifacts.weightData;
  const buffer = wd === undefined ? new ArrayBuffer(0) : Array.isArray(wd) ? tf.io.concatenateArrayBuffers(wd) : wd;
  const shard = 'group1-shard1of1.bin';
  const json = {
    format: artifacts.format ?? 'layers-model',
    generatedBy: artifacts.generatedBy,
    convertedBy: artifacts.convertedBy ?? null,
    modelTopology: artifacts.modelTopology,
    weightsManifest: [{ paths: [shard], weights: artifacts.weightSpecs ?? [] }],
    ...extra,
  };
  return new Map<string, Uint8Array | string>([
    ['model.json', JSON.stringify(json)],
    [shard, new Uint8Array(buffer)],
  ]);
}

function real(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return resolve(p);
  }
}

/**
 * Writes `files` into the folder `outDir` atomically: into a sibling temporary folder first,
 * then renamed into place. Never writes into `inputDir`; refuses to replace a folder that holds
 * files other than a tfjs model.
 */
export function writeFolderAtomic(outDir: string, files: Map<string, Uint8Array | string>, inputDir?: string): string {
  const out = resolve(outDir.startsWith('file://') ? fileURLToPath(outDir) : outDir);
  if (inputDir && real(out) === real(inputDir)) {
    throw new SurgeonInputError(`--out ${outDir} is the input model's folder; choose another folder (the input is never overwritten)`);
  }
  if (existsSync(out)) {
    if (!statSync(out).isDirectory()) throw new SurgeonInputError(`--out ${outDir} exists and is not a folder; pass a folder for model.json and its shards`);
    const entries = readdirSync(out);
    if (entries.length > 0 && !entries.includes('model.json')) {
      throw new SurgeonInputError(`--out ${outDir} is a non-empty folder without model.json; pass a new or empty folder`);
    }
  }
  mkdirSync(dirname(out), { recursive: true });
  const tmp = join(dirname(out), `.${basename(out)}.tmp-${process.pid}-${Date.now()}`);
  mkdirSync(tmp);
  try {
    for (const [name, content] of files) writeFileSync(join(tmp, name), content);
    if (existsSync(out)) {
      const old = join(dirname(out), `.${basename(out)}.old-${process.pid}-${Date.now()}`);
      renameSync(out, old);
      renameSync(tmp, out);
      rmSync(old, { recursive: true, force: true });
    } else {
      renameSync(tmp, out);
    }
  } catch (error) {
    rmSync(tmp, { recursive: true, force: true });
    throw error;
  }
  return join(out, 'model.json');
}
