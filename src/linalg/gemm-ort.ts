/**
 * onnxruntime-backed GEMM: tiny ONNX models (MatMul, Gemm with fixed transposes, and a fused
 * Gram product XᵀX) are built in memory once per (op, dtype), encoded with the shared ONNX
 * schema (src/io/onnx/proto.ts), and kept as sessions for the engine's lifetime. All dims are
 * symbolic, so one session serves every shape.
 *
 * onnxruntime-node is imported lazily (dynamic import), so a missing native binary only
 * matters when this engine is actually used; {@link createEngine} falls back to TypeScript.
 *
 * In fp64, results are written by onnxruntime into pre-allocated output tensors (the caller's
 * `out`, or a fresh array) and alpha/beta are attributes of a Gemm model keyed by their values,
 * so no result is copied or rescaled in JavaScript. In fp32 the result is converted and
 * alpha/beta/out are applied in JavaScript after the run.
 */
import type * as Ort from 'onnxruntime-node';
import type { GemmEngine, GemmOptions, Matrix, SyrkOptions } from './engine.js';
import { checkShapes } from './gemm-ts.js';
import { BufferPool } from './pool.js';
import { mirrorLower, transposeBlock } from './blocks.js';
import { AttributeType, DataType, encodeModelProto, type ModelProto, type NodeProto } from '../io/onnx/proto.js';

/** Arithmetic of the native product. */
export type Precision = 'float64' | 'float32';

/** Options of {@link OnnxRuntimeEngine}. */
export interface OnnxRuntimeEngineOptions {
  /** intraOpNumThreads (default 2). */
  threads?: number;
  /** Element type the product is computed in (default 'float64'); results are always Float64Array. */
  precision?: Precision;
  /**
   * Let onnxruntime's worker threads spin between runs (default false). Spinning shortens the
   * wake-up of back-to-back tiny products but steals a core from the JavaScript work between
   * them; measured 2× slower on the 2-core machine for the factorizations.
   */
  spin?: boolean;
}

/** Smallest d for which {@link OnnxRuntimeEngine.syrk} computes only the lower block triangle. */
export const SYRK_BLOCKED_MIN_D = 1024;
/** Block rows per call of the blocked Gram product. */
export const SYRK_BLOCK = 512;

/** The tiny models {@link buildGemmModel} can build. */
export type OpKey = 'matmul' | 'gemm_tn' | 'gemm_nt' | 'gemm_tt' | 'gram';

/**
 * An accumulating product Y = alpha·op(A)·op(B) + beta·C with alpha, beta and the transposes
 * baked into the model (see {@link buildAccumulateModel}); keyed `acc:transA:transB:alpha:beta`.
 */
type AccKey = `acc:${0 | 1}:${0 | 1}:${number}:${number}`;

let ortModule: Promise<typeof Ort> | undefined;

/** Loads onnxruntime-node once (rejects when the native binding is unavailable). */
export function loadOrt(): Promise<typeof Ort> {
  ortModule ??= import('onnxruntime-node');
  return ortModule;
}

/** Builds the serialized ONNX model for one op and element type. */
export function buildGemmModel(op: OpKey, elemType: number): Uint8Array {
  const dim = (name: string) => ({ dimParam: name });
  const tensor = (name: string, dims: string[]) => ({
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map(dim) } } },
  });
  const attrInt = (name: string, i: number) => ({ name, type: AttributeType.INT, i });
  let node: Partial<NodeProto>;
  let inputs;
  let outputDims: string[];
  switch (op) {
    case 'matmul':
      node = { opType: 'MatMul', input: ['A', 'B'], output: ['Y'] };
      inputs = [tensor('A', ['M', 'K']), tensor('B', ['K', 'N'])];
      outputDims = ['M', 'N'];
      break;
    case 'gemm_tn':
      node = { opType: 'Gemm', input: ['A', 'B'], output: ['Y'], attribute: [attrInt('transA', 1)] as never };
      inputs = [tensor('A', ['K', 'M']), tensor('B', ['K', 'N'])];
      outputDims = ['M', 'N'];
      break;
    case 'gemm_nt':
      node = { opType: 'Gemm', input: ['A', 'B'], output: ['Y'], attribute: [attrInt('transB', 1)] as never };
      inputs = [tensor('A', ['M', 'K']), tensor('B', ['N', 'K'])];
      outputDims = ['M', 'N'];
      break;
    case 'gemm_tt':
      node = {
        opType: 'Gemm',
        input: ['A', 'B'],
        output: ['Y'],
        attribute: [attrInt('transA', 1), attrInt('transB', 1)] as never,
      };
      inputs = [tensor('A', ['K', 'M']), tensor('B', ['N', 'K'])];
      outputDims = ['M', 'N'];
      break;
    case 'gram':
      node = { opType: 'Gemm', input: ['X', 'X'], output: ['Y'], attribute: [attrInt('transA', 1)] as never };
      inputs = [tensor('X', ['N', 'D'])];
      outputDims = ['D', 'D'];
      break;
  }
  const model = {
    irVersion: 8,
    producerName: 'surgeon.linalg',
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: op,
      node: [node],
      input: inputs,
      output: [tensor('Y', outputDims)],
    },
  };
  return encodeModelProto(model as unknown as ModelProto);
}

/**
 * Builds Y = alpha·op(A)·op(B) + beta·C (one Gemm node with its C input; without C when
 * beta = 0), so scaling and the update of an existing matrix (`out` with beta ≠ 0, e.g. the lazy
 * updates of the SparseGPT sweep) run in the native kernel instead of a JavaScript loop.
 */
export function buildAccumulateModel(transA: boolean, transB: boolean, alpha: number, beta: number, elemType: number): Uint8Array {
  const tensor = (name: string, dims: string[]) => ({
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => ({ dimParam: d })) } } },
  });
  const node = {
    opType: 'Gemm',
    input: beta === 0 ? ['A', 'B'] : ['A', 'B', 'C'],
    output: ['Y'],
    attribute: [
      { name: 'transA', type: AttributeType.INT, i: transA ? 1 : 0 },
      { name: 'transB', type: AttributeType.INT, i: transB ? 1 : 0 },
      { name: 'alpha', type: AttributeType.FLOAT, f: alpha },
      { name: 'beta', type: AttributeType.FLOAT, f: beta },
    ],
  };
  const model = {
    irVersion: 8,
    producerName: 'surgeon.linalg',
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'gemm_acc',
      node: [node],
      input: [
        tensor('A', transA ? ['K', 'M'] : ['M', 'K']),
        tensor('B', transB ? ['N', 'K'] : ['K', 'N']),
        ...(beta === 0 ? [] : [tensor('C', ['M', 'N'])]),
      ],
      output: [tensor('Y', ['M', 'N'])],
    },
  };
  return encodeModelProto(model as unknown as ModelProto);
}

/**
 * {@link GemmEngine} running every product in onnxruntime (MLAS kernels, `threads` intra-op
 * threads). Inputs are converted to the engine precision (no copy when they already match);
 * results come back as Float64Array.
 */
export class OnnxRuntimeEngine implements GemmEngine {
  readonly name: string;
  readonly precision: Precision;
  readonly threads: number;
  readonly spin: boolean;
  /** See {@link GemmEngine.pool}. */
  readonly pool = new BufferPool();
  private readonly sessions = new Map<OpKey | AccKey, Promise<Ort.InferenceSession>>();
  private disposed = false;
  /** See {@link syrk}: the transposed batch of the Float32 path. */
  private float32Scratch: Float32Array | undefined;

  constructor(options: OnnxRuntimeEngineOptions = {}) {
    this.threads = options.threads ?? 2;
    this.precision = options.precision ?? 'float64';
    this.spin = options.spin ?? false;
    this.name = `onnxruntime(${this.precision === 'float64' ? 'fp64' : 'fp32'}, ${this.threads} threads)`;
  }

  /** Creates (or returns the cached) session of `op`. */
  private session(op: OpKey | AccKey): Promise<Ort.InferenceSession> {
    if (this.disposed) throw new Error('OnnxRuntimeEngine used after dispose()');
    let s = this.sessions.get(op);
    if (!s) {
      const elemType = this.precision === 'float64' ? DataType.DOUBLE : DataType.FLOAT;
      let bytes: Uint8Array;
      if (op.startsWith('acc:')) {
        const [, tA, tB, alpha, beta] = op.split(':');
        bytes = buildAccumulateModel(tA === '1', tB === '1', Number(alpha), Number(beta), elemType);
      } else {
        bytes = buildGemmModel(op as OpKey, elemType);
      }
      s = loadOrt().then((ort) =>
        ort.InferenceSession.create(bytes, {
          graphOptimizationLevel: 'all',
          intraOpNumThreads: this.threads,
          interOpNumThreads: 1,
          executionMode: 'sequential',
          // Worker threads sleep between runs instead of spinning: the JavaScript work between
          // products (copies, TypeScript kernels) then has both cores (≈ 2× faster factorizations).
          ...(this.spin ? {} : { extra: { session: { intra_op: { allow_spinning: '0' } } } }),
        }),
      );
      // A failed creation is not cached, so a later call can retry.
      s.catch(() => this.sessions.delete(op));
      this.sessions.set(op, s);
    }
    return s;
  }

  /** Loads onnxruntime and creates the MatMul session; rejects when onnxruntime is unusable. */
  async warmup(): Promise<void> {
    await this.session('matmul');
  }

  /** Wraps `data` (first `count` elements) as an input tensor of the engine precision. */
  private async tensor(data: Matrix, count: number, dims: number[]): Promise<Ort.Tensor> {
    const ort = await loadOrt();
    if (this.precision === 'float64') {
      const v = data instanceof Float64Array ? exact(data, count) : Float64Array.from(data.subarray(0, count));
      return new ort.Tensor('float64', v, dims);
    }
    const v = data instanceof Float32Array ? exact(data, count) : Float32Array.from(data.subarray(0, count));
    return new ort.Tensor('float32', v, dims);
  }

  /** See {@link GemmEngine.gemm}. */
  async gemm(A: Matrix, B: Matrix, m: number, k: number, n: number, options: GemmOptions = {}): Promise<Float64Array> {
    checkShapes(A, B, m, k, n, options);
    const transA = options.transA ?? false;
    const transB = options.transB ?? false;
    if (m === 0 || n === 0 || k === 0) return finish(new Float64Array(m * n), m * n, 0, options);
    const alpha = options.alpha ?? 1;
    const beta = options.beta ?? 0;
    if (this.precision === 'float64' && Math.fround(alpha) === alpha && Math.fround(beta) === beta) {
      // onnxruntime writes the result straight into `out` (or a fresh array): a pre-allocated
      // output tensor, no copy. With beta ≠ 0 that tensor is also the Gemm's C input, so
      // out = beta·out + alpha·op(A)·op(B) runs in place in the native kernel.
      const out = options.out ? options.out.subarray(0, m * n) : new Float64Array(m * n);
      const ort = await loadOrt();
      const tY = new ort.Tensor('float64', out, [m, n]);
      const tA = await this.tensor(A, m * k, transA ? [k, m] : [m, k]);
      const tB = await this.tensor(B, k * n, transB ? [n, k] : [k, n]);
      const accumulate = options.out !== undefined && beta !== 0;
      if (accumulate || alpha !== 1) {
        const session = await this.session(`acc:${transA ? 1 : 0}:${transB ? 1 : 0}:${alpha}:${accumulate ? beta : 0}`);
        await session.run(accumulate ? { A: tA, B: tB, C: tY } : { A: tA, B: tB }, { Y: tY });
      } else {
        const session = await this.session(transA ? (transB ? 'gemm_tt' : 'gemm_tn') : transB ? 'gemm_nt' : 'matmul');
        await session.run({ A: tA, B: tB }, { Y: tY });
      }
      return options.out ?? out;
    }
    const op: OpKey = transA ? (transB ? 'gemm_tt' : 'gemm_tn') : transB ? 'gemm_nt' : 'matmul';
    const session = await this.session(op);
    const tA = await this.tensor(A, m * k, transA ? [k, m] : [m, k]);
    const tB = await this.tensor(B, k * n, transB ? [n, k] : [k, n]);
    const result = await session.run({ A: tA, B: tB });
    return finish(result.Y!.data as Float64Array | Float32Array, m * n, options.alpha ?? 1, options);
  }

  /**
   * G (d × d) = alpha·XᵀX + beta·out for X (n × d); exactly symmetric.
   *
   * Small d: one fused `Gemm(X, X, transA=1)` (2·n·d² flops). d ≥ {@link SYRK_BLOCKED_MIN_D}:
   * X is transposed once in JavaScript (Xᵀ rows are contiguous), then only the lower block
   * triangle is computed, block row by block row, as Xᵀ[r0:r1] · (Xᵀ[0:r1])ᵀ — about
   * (1 + b/d)·n·d² flops for block size b, i.e. ~40 % fewer than the full product.
   */
  async syrk(X: Matrix, n: number, d: number, options: SyrkOptions = {}): Promise<Float64Array> {
    if (X.length < n * d) throw new RangeError(`syrk: X has ${X.length} elements, needs ${n * d}`);
    if (options.out && options.out.length < d * d) throw new RangeError(`syrk: out needs ${d * d} elements`);
    const alpha = options.alpha ?? 1;
    if (n === 0 || d === 0) return finish(new Float64Array(d * d), d * d, 0, options);
    if (d < SYRK_BLOCKED_MIN_D) {
      const session = await this.session('gram');
      const tX = await this.tensor(X, n * d, [n, d]);
      const result = await session.run({ X: tX });
      const Y = result.Y!.data as Float64Array | Float32Array;
      mirrorLower(Y, d);
      return finish(Y, d * d, alpha, options);
    }
    const fp64 = this.precision === 'float64';
    // Xᵀ (rows contiguous) in the engine precision; the transpose also converts the element type.
    // Float32 scratch reused across calls (a fresh 30–40 MB array per merge cost its page faults and
    // zeroing each time); a call made while another holds it allocates its own.
    const scratch = fp64 ? undefined : this.float32Scratch;
    this.float32Scratch = undefined;
    const Xt = fp64 ? this.pool.take(n * d) : scratch && scratch.length >= n * d ? scratch.subarray(0, n * d) : new Float32Array(n * d);
    transposeBlock(X, d, 0, 0, n, d, Xt);
    const out = options.out;
    const beta = out ? (options.beta ?? 0) : 0;
    const G = out ?? new Float64Array(d * d);
    const b = SYRK_BLOCK;
    const Y = this.pool.take(b * d);
    for (let r0 = 0; r0 < d; r0 += b) {
      const r1 = Math.min(d, r0 + b);
      const rows = r1 - r0;
      const P = Y.subarray(0, rows * r1);
      await this.gemm(Xt.subarray(r0 * n, r1 * n), Xt.subarray(0, r1 * n), rows, n, r1, { transB: true, alpha, out: P });
      for (let i = r0; i < r1; i++) {
        const y = (i - r0) * r1;
        const g = i * d;
        if (beta === 0) G.set(P.subarray(y, y + i + 1), g);
        else if (beta === 1) for (let j = 0; j <= i; j++) G[g + j] += P[y + j]!;
        else for (let j = 0; j <= i; j++) G[g + j] = beta * G[g + j]! + P[y + j]!;
      }
    }
    this.pool.give(Y);
    if (fp64) this.pool.give(Xt as Float64Array);
    else this.float32Scratch = new Float32Array(Xt.buffer);
    if (!options.lowerOnly) mirrorLower(G, d);
    return G;
  }

  /** Releases all sessions. */
  async dispose(): Promise<void> {
    this.disposed = true;
    this.pool.clear();
    this.float32Scratch = undefined;
    const all = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(all.map(async (s) => (await s.catch(() => undefined))?.release()));
  }
}

/** `data` restricted to its first `count` elements (no copy). */
function exact<T extends Float64Array | Float32Array>(data: T, count: number): T {
  return (data.length === count ? data : data.subarray(0, count)) as T;
}

/** Applies alpha/beta/out to a raw product Y (count elements) and returns the Float64 result. */
function finish(Y: Float64Array | Float32Array, count: number, alpha: number, options: GemmOptions | SyrkOptions): Float64Array {
  const out = options.out;
  if (!out) {
    if (alpha === 1 && Y instanceof Float64Array) return Y;
    const C = new Float64Array(count);
    for (let t = 0; t < count; t++) C[t] = alpha * Y[t]!;
    return C;
  }
  const beta = options.beta ?? 0;
  if (beta === 0) for (let t = 0; t < count; t++) out[t] = alpha * Y[t]!;
  else if (beta === 1) for (let t = 0; t < count; t++) out[t] += alpha * Y[t]!;
  else for (let t = 0; t < count; t++) out[t] = beta * out[t]! + alpha * Y[t]!;
  return out;
}
