/**
 * onnxruntime-backed GEMM: tiny ONNX models (MatMul, Gemm with fixed transposes, a fused
 * Gram product XᵀX, and the blocked Gram product of {@link buildSyrkModel} per width) are built
 * in memory once per (op, dtype), encoded with the shared ONNX schema (src/io/onnx/proto.ts),
 * and kept as sessions for the engine's lifetime. The dims are symbolic (the blocked Gram
 * product fixes only d), so one session serves every shape.
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
import type { GemmEngine, GemmOptions, GramSum, Matrix, SyrkOptions } from './engine.js';
import { checkShapes } from './gemm-ts.js';
import { BufferPool } from './pool.js';
import { mirrorLower } from './blocks.js';
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
export const SYRK_BLOCKED_MIN_D = 512;

/**
 * Block rows of the blocked Gram product of width d: 384 from d = 1536, else 256. Smaller
 * blocks waste fewer flops on the diagonal blocks ((1 + b/d)/2 of the full product), larger
 * ones run the GEMM kernel better; measured on the 2-core AMD EPYC (fp32): 2,730 × 3072 in
 * 181 ms with b = 384 against 192–227 ms with 256, 512 or 768; 10,922 × 768 in 62 ms with
 * b = 256 against 66–84 ms with 384 or 768.
 */
export function syrkBlock(d: number): number {
  return d >= 1536 ? 384 : 256;
}

/** The block rows [r0, r1) of the blocked Gram product of width d with blocks of b rows (block row k is the k-th). */
function blockRows(d: number, b: number): Array<{ r0: number; r1: number }> {
  const rows = [];
  for (let r0 = 0; r0 < d; r0 += b) rows.push({ r0, r1: Math.min(d, r0 + b) });
  return rows;
}

/** The tiny models {@link buildGemmModel} can build. */
export type OpKey = 'matmul' | 'gemm_tn' | 'gemm_nt' | 'gemm_tt' | 'gram';

/** The blocked Gram product of one width (see {@link buildSyrkModel}), keyed `syrk:d`, or its accumulating form `syrkacc:d`. */
type SyrkKey = `syrk:${number}` | `syrkacc:${number}`;

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
 * Builds the lower block triangle of XᵀX for X (N × d, N symbolic) as one model: Xᵀ is
 * formed once (Transpose), and block row k of the result, Y_k = Xᵀ[r0:r1] · (Xᵀ[0:r1])ᵀ
 * (b × r1, r1 = min(d, r0 + b)), is one Gemm on row slices of Xᵀ, so the transpose, the
 * slicing and every product run natively in one session run (about (1 + b/d)/2 of the full
 * product's flops). `accumulate`: the model also takes the running sums S_k (Float64, the
 * block rows' shapes) and returns T_k = S_k + Y_k in Float64 (a Float32 product is cast first),
 * so that a caller binding T_k to S_k's memory accumulates in place ({@link OnnxRuntimeEngine.gramSum}).
 */
export function buildSyrkModel(d: number, b: number, elemType: number, accumulate = false): Uint8Array {
  const tensor = (name: string, dims: Array<string | number>, type = elemType) => ({
    name,
    type: { tensorType: { elemType: type, shape: { dim: dims.map((x) => (typeof x === 'number' ? { dimValue: x } : { dimParam: x })) } } },
  });
  const index = (name: string, value: number) => ({ name, dataType: DataType.INT64, dims: [1], int64Data: [value] });
  const sums = [];
  const node: Array<Partial<NodeProto>> = [{ opType: 'Transpose', input: ['X'], output: ['Xt'], attribute: [{ name: 'perm', type: AttributeType.INTS, ints: [1, 0] }] as never }];
  const initializer = [index('zero', 0)];
  const output = [];
  for (const [k, { r0, r1 }] of blockRows(d, b).entries()) {
    initializer.push(index(`end${k}`, r1));
    if (r0 > 0) initializer.push(index(`start${k}`, r0));
    node.push({ opType: 'Slice', input: ['Xt', r0 > 0 ? `start${k}` : 'zero', `end${k}`, 'zero'], output: [`rows${k}`] });
    if (r0 > 0) node.push({ opType: 'Slice', input: ['Xt', 'zero', `end${k}`, 'zero'], output: [`upto${k}`] });
    const B = r0 > 0 ? `upto${k}` : `rows${k}`;
    const transB = [{ name: 'transB', type: AttributeType.INT, i: 1 }];
    if (!accumulate) {
      node.push({ opType: 'Gemm', input: [`rows${k}`, B], output: [`Y${k}`], attribute: transB as never });
      output.push(tensor(`Y${k}`, [r1 - r0, r1]));
    } else if (elemType === DataType.DOUBLE) {
      // T_k = Y_k + S_k in the Gemm itself (C input, beta 1).
      node.push({ opType: 'Gemm', input: [`rows${k}`, B, `S${k}`], output: [`T${k}`], attribute: [...transB, { name: 'beta', type: AttributeType.FLOAT, f: 1 }] as never });
      sums.push(tensor(`S${k}`, [r1 - r0, r1], DataType.DOUBLE));
      output.push(tensor(`T${k}`, [r1 - r0, r1], DataType.DOUBLE));
    } else {
      // T_k = S_k + Float64(Y_k): the Float32 product summed in Float64.
      node.push({ opType: 'Gemm', input: [`rows${k}`, B], output: [`Y${k}`], attribute: transB as never });
      node.push({ opType: 'Cast', input: [`Y${k}`], output: [`Y${k}d`], attribute: [{ name: 'to', type: AttributeType.INT, i: DataType.DOUBLE }] as never });
      node.push({ opType: 'Add', input: [`S${k}`, `Y${k}d`], output: [`T${k}`] });
      sums.push(tensor(`S${k}`, [r1 - r0, r1], DataType.DOUBLE));
      output.push(tensor(`T${k}`, [r1 - r0, r1], DataType.DOUBLE));
    }
  }
  const model = {
    irVersion: 8,
    producerName: 'surgeon.linalg',
    opsetImport: [{ domain: '', version: 17 }],
    graph: { name: `syrk_${d}`, node, input: [tensor('X', ['N', d]), ...sums], output, initializer },
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
  private readonly sessions = new Map<OpKey | AccKey | SyrkKey, Promise<Ort.InferenceSession>>();
  private disposed = false;

  constructor(options: OnnxRuntimeEngineOptions = {}) {
    this.threads = options.threads ?? 2;
    this.precision = options.precision ?? 'float64';
    this.spin = options.spin ?? false;
    this.name = `onnxruntime(${this.precision === 'float64' ? 'fp64' : 'fp32'}, ${this.threads} threads)`;
  }

  /** Creates (or returns the cached) session of `op`. */
  private session(op: OpKey | AccKey | SyrkKey): Promise<Ort.InferenceSession> {
    if (this.disposed) throw new Error('OnnxRuntimeEngine used after dispose()');
    let s = this.sessions.get(op);
    if (!s) {
      const elemType = this.precision === 'float64' ? DataType.DOUBLE : DataType.FLOAT;
      let bytes: Uint8Array;
      if (op.startsWith('syrk')) {
        const d = Number(op.slice(op.indexOf(':') + 1));
        bytes = buildSyrkModel(d, syrkBlock(d), elemType, op.startsWith('syrkacc:'));
      } else if (op.startsWith('acc:')) {
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
   * one run of the blocked model of {@link buildSyrkModel} (transpose, row slices and the lower
   * block triangle's products all native, about (1 + b/d)·n·d² flops for the block size
   * b = {@link syrkBlock}(d)); its block rows are added into the lower triangle of G.
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
    const session = await this.session(`syrk:${d}`);
    const result = await session.run({ X: await this.tensor(X, n * d, [n, d]) });
    const out = options.out;
    const beta = out ? (options.beta ?? 0) : 0;
    const G = out ?? new Float64Array(d * d);
    for (const [k, { r0, r1 }] of blockRows(d, syrkBlock(d)).entries()) addLowerRows(G, d, result[`Y${k}`]!.data as Float32Array | Float64Array, r0, r1, alpha, beta);
    if (!options.lowerOnly) mirrorLower(G, d);
    return G;
  }

  /**
   * See {@link GemmEngine.gramSum}: from d = {@link SYRK_BLOCKED_MIN_D}, the running sum lives in
   * the block rows of the blocked product (Float64) and each batch is added to it inside the
   * same onnxruntime run (the accumulating model of {@link buildSyrkModel}, its outputs bound
   * to the sums' memory).
   */
  async gramSum(d: number): Promise<GramSum | undefined> {
    if (d < SYRK_BLOCKED_MIN_D) return undefined;
    const ort = await loadOrt();
    const rows = blockRows(d, syrkBlock(d)).map(({ r0, r1 }) => {
      // Pooled (already mapped) memory: a fresh d = 3072 sum would map 38 MB of pages per layer.
      const S = this.pool.take((r1 - r0) * r1).fill(0);
      return { r0, r1, S, tensor: new ort.Tensor('float64', S, [r1 - r0, r1]) };
    });
    /** Whether a batch was added since the last drain (a drain of zeros is skipped). */
    let pending = false;
    return {
      add: async (X: Matrix, n: number) => {
        if (X.length < n * d) throw new RangeError(`gramSum: X has ${X.length} elements, needs ${n * d}`);
        if (n === 0) return;
        pending = true;
        const session = await this.session(`syrkacc:${d}`);
        const feeds: Record<string, Ort.Tensor> = { X: await this.tensor(X, n * d, [n, d]) };
        const fetches: Record<string, Ort.Tensor> = {};
        rows.forEach(({ tensor }, k) => {
          feeds[`S${k}`] = tensor;
          fetches[`T${k}`] = tensor;
        });
        await session.run(feeds, fetches);
      },
      drainLowerInto: (out: Float64Array, overwrite = false) => {
        if (out.length < d * d) throw new RangeError(`gramSum: out needs ${d * d} elements`);
        if (!pending) return;
        pending = false;
        for (const { r0, r1, S } of rows) {
          addLowerRows(out, d, S, r0, r1, 1, overwrite ? 0 : 1);
          S.fill(0);
        }
      },
      release: () => {
        this.pool.give(...rows.map((r) => r.S));
        rows.length = 0;
      },
    };
  }

  /** Releases all sessions. */
  async dispose(): Promise<void> {
    this.disposed = true;
    this.pool.clear();
    const all = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(all.map(async (s) => (await s.catch(() => undefined))?.release()));
  }
}

/**
 * G[i, 0..i] = beta·G[i, 0..i] + alpha·Y[i − r0, 0..i] for the rows i of [r0, r1), where Y is
 * the (r1 − r0) × r1 block row of a Gram product.
 */
function addLowerRows(G: Float64Array, d: number, Y: Float32Array | Float64Array, r0: number, r1: number, alpha: number, beta: number): void {
  for (let i = r0; i < r1; i++) {
    const y = (i - r0) * r1;
    const g = i * d;
    if (beta === 0 && alpha === 1) G.set(Y.subarray(y, y + i + 1), g);
    else if (beta === 1 && alpha === 1) for (let j = 0; j <= i; j++) G[g + j] += Y[y + j]!;
    else for (let j = 0; j <= i; j++) G[g + j] = beta * G[g + j]! + alpha * Y[y + j]!;
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
