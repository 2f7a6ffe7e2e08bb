/**
 * Sparse storage of TensorFlow.js models (`--storage sparse`): a compact encoding that surgeon
 * reads back bit for bit. TF.js weight manifests have no sparse format, so a model written this
 * way loads in surgeon, not in `tf.loadLayersModel`/`tf.loadGraphModel` directly (open it with
 * surgeon and save it with the default `--storage dense` to get a plain TF.js model back).
 *
 * Layout: float32 weights whose bit mask is smaller than their dense bytes leave
 * `weightsManifest` (so tfjs's own loader fails with "weights not found" instead of misreading
 * them) and are listed under the model.json key {@link SPARSE_KEY}:
 *
 * ```json
 * "surgeonSparseWeights": { "version": 1, "encoding": "bitmask", "paths": ["sparse-weights.bin"],
 *   "weights": [{ "name": "dense/kernel", "shape": [784, 256], "dtype": "float32", "nonzeros": 100352 }] }
 * ```
 *
 * `sparse-weights.bin` holds, per weight in that order, ⌈n/8⌉ mask bytes (bit i of byte i>>3,
 * LSB first: element i in row-major order is nonzero) followed by the nonzero float32 values
 * (little-endian) in row-major order. An element is zero when all its bytes are (so −0.0 is kept).
 * The remaining weights go, in their manifest order, to one shard `group1-shard1of1.bin`.
 */
import { SurgeonInputError } from '../errors.js';

/** The model.json key of the sparse weights. */
export const SPARSE_KEY = 'surgeonSparseWeights';
/** The shard of the sparse weights. */
const SPARSE_SHARD = 'sparse-weights.bin';

interface ManifestEntry {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: unknown;
  [key: string]: unknown;
}
interface ManifestGroup {
  paths: string[];
  weights: ManifestEntry[];
}
interface SparseEntry {
  name: string;
  shape: number[];
  dtype: 'float32';
  nonzeros: number;
}
interface SparseSection {
  version: 1;
  encoding: 'bitmask';
  paths: string[];
  weights: SparseEntry[];
}

/** Storage options of surgeon's TF.js writers. */
export interface TfjsSaveOptions {
  /** 'dense' (default): shards as tfjs writes them; 'sparse': see the module comment. */
  storage?: 'dense' | 'sparse';
  /** Receives what was stored sparse. */
  sparse?: TfjsSparseReport[];
}

/** One weight stored sparse. */
export interface TfjsSparseReport {
  name: string;
  elements: number;
  nonzeros: number;
  denseBytes: number;
  storedBytes: number;
}

const BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2, int8: 1, int16: 2, complex64: 8 };

function entryBytes(w: ManifestEntry): number {
  const q = w.quantization as { dtype?: string } | undefined;
  return w.shape.reduce((a, b) => a * b, 1) * (BYTES[q?.dtype ?? w.dtype] ?? 0);
}

const isZero4 = (b: Uint8Array, i: number) => b[i] === 0 && b[i + 1] === 0 && b[i + 2] === 0 && b[i + 3] === 0;

/**
 * Rewrites the files of a TF.js model (model.json text and its shards, as written by surgeon's
 * TF.js writers) so that float32 weights with enough zeros are stored sparse (see the module
 * comment). Returns the new files and what was encoded.
 */
export function sparsifyTfjsFiles(files: Map<string, Uint8Array | string>): { files: Map<string, Uint8Array | string>; sparse: TfjsSparseReport[] } {
  const json = JSON.parse(String(files.get('model.json'))) as Record<string, unknown> & { weightsManifest: ManifestGroup[] };
  const kept: ManifestEntry[] = [];
  const keptChunks: Uint8Array[] = [];
  const sparse: SparseEntry[] = [];
  const sparseChunks: Uint8Array[] = [];
  const reports: TfjsSparseReport[] = [];
  for (const group of json.weightsManifest) {
    const shards = group.paths.map((p) => {
      const content = files.get(p);
      if (!(content instanceof Uint8Array)) throw new Error(`internal: shard ${p} missing from the written files`);
      return content;
    });
    const data = new Uint8Array(shards.reduce((a, s) => a + s.length, 0));
    let at = 0;
    for (const s of shards) {
      data.set(s, at);
      at += s.length;
    }
    let offset = 0;
    for (const w of group.weights) {
      const length = entryBytes(w);
      const bytes = data.subarray(offset, offset + length);
      offset += length;
      const n = length / 4;
      if (w.dtype === 'float32' && !w.quantization && n > 0) {
        let nnz = 0;
        for (let i = 0; i < length; i += 4) if (!isZero4(bytes, i)) nnz++;
        const stored = Math.ceil(n / 8) + 4 * nnz;
        if (stored < length) {
          const chunk = new Uint8Array(stored);
          for (let i = 0, k = Math.ceil(n / 8); i < n; i++) {
            if (isZero4(bytes, 4 * i)) continue;
            chunk[i >> 3]! |= 1 << (i & 7);
            chunk.set(bytes.subarray(4 * i, 4 * i + 4), k);
            k += 4;
          }
          sparse.push({ name: w.name, shape: w.shape.slice(), dtype: 'float32', nonzeros: nnz });
          sparseChunks.push(chunk);
          reports.push({ name: w.name, elements: n, nonzeros: nnz, denseBytes: length, storedBytes: stored });
          continue;
        }
      }
      kept.push(w);
      keptChunks.push(bytes);
    }
  }
  if (sparse.length === 0) return { files, sparse: [] };
  const out = new Map<string, Uint8Array | string>();
  const shard = 'group1-shard1of1.bin';
  json.weightsManifest = [{ paths: [shard], weights: kept }];
  const section: SparseSection = { version: 1, encoding: 'bitmask', paths: [SPARSE_SHARD], weights: sparse };
  json[SPARSE_KEY] = section;
  out.set('model.json', JSON.stringify(json));
  out.set(shard, concat(keptChunks));
  out.set(SPARSE_SHARD, concat(sparseChunks));
  return { files: out, sparse: reports };
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((a, c) => a + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/**
 * Decodes the sparse section of a model.json (if any) into an ordinary manifest group: returns
 * the new JSON (section removed, one more weightsManifest group) and the dense shard to add, or
 * undefined when the model has no sparse weights. `readShard` reads a file of the model's folder.
 * @throws SurgeonInputError naming the weight when the section or its data is malformed.
 */
export function densifyTfjsJson(json: Record<string, unknown>, file: string, readShard: (path: string) => Uint8Array): { json: Record<string, unknown>; shardName: string; shard: Uint8Array } | undefined {
  const section = json[SPARSE_KEY] as SparseSection | undefined;
  if (section === undefined) return undefined;
  const bad = (what: string) => new SurgeonInputError(`${file}: ${SPARSE_KEY} ${what}; the model is malformed, write it again with surgeon`);
  if (!section || section.version !== 1 || section.encoding !== 'bitmask' || !Array.isArray(section.paths) || !Array.isArray(section.weights)) throw bad('is not a version-1 bitmask section');
  const data = concat(section.paths.map((p) => readShard(p)));
  const decoded: Uint8Array[] = [];
  let at = 0;
  for (const w of section.weights) {
    if (!w || typeof w.name !== 'string' || !Array.isArray(w.shape) || !w.shape.every((d) => Number.isInteger(d) && d >= 0) || w.dtype !== 'float32' || !Number.isInteger(w.nonzeros)) {
      throw bad(`has a malformed entry ${JSON.stringify(w).slice(0, 80)}`);
    }
    const n = w.shape.reduce((a, b) => a * b, 1);
    const maskBytes = Math.ceil(n / 8);
    if (at + maskBytes + 4 * w.nonzeros > data.length) throw bad(`weight '${w.name}' needs ${maskBytes + 4 * w.nonzeros} bytes beyond byte ${at} of ${data.length}`);
    const mask = data.subarray(at, at + maskBytes);
    let ones = 0;
    for (let i = 0; i < n; i++) ones += (mask[i >> 3]! >> (i & 7)) & 1;
    if (ones !== w.nonzeros) throw bad(`weight '${w.name}' has ${ones} set mask bits for ${w.nonzeros} nonzeros`);
    const out = new Uint8Array(4 * n);
    let k = at + maskBytes;
    for (let i = 0; i < n; i++) {
      if (((mask[i >> 3]! >> (i & 7)) & 1) === 0) continue;
      out.set(data.subarray(k, k + 4), 4 * i);
      k += 4;
    }
    at = k;
    decoded.push(out);
  }
  const shardName = 'surgeon-densified.bin';
  const { [SPARSE_KEY]: _section, ...rest } = json;
  const manifest = (rest['weightsManifest'] as ManifestGroup[] | undefined) ?? [];
  return {
    json: { ...rest, weightsManifest: [...manifest, { paths: [shardName], weights: section.weights.map((w) => ({ name: w.name, shape: w.shape, dtype: 'float32' })) }] },
    shardName,
    shard: concat(decoded),
  };
}
