/**
 * A thin wrapper around an onnxruntime-node inference session: chosen thread count, named
 * outputs, plain typed arrays in and out.
 *
 * 16-bit float models: Float32Array feeds of a float16 input are converted to float16
 * (onnxruntime-node 1.30 takes float16 tensors as Uint16Array bit patterns), and every float16
 * output (graph outputs and captured intermediates) comes back as Float32Array with
 * `type: 'float32'` and `storedType: 'float16'`. onnxruntime-node 1.30 has no bfloat16 in its
 * JS API at all (a model with a bfloat16 input or output fails to load with "Unsupported data
 * type: 16") and its CPU provider has almost no bfloat16 kernels ("Could not find an
 * implementation for MatMul"); the same holds for the few float16 operators without a CPU
 * kernel. Such models are run from a float32 copy (see {@link upcastModel}: weights convert
 * exactly, arithmetic is float32), the bfloat16/float16 outputs again reported with `storedType`.
 *
 * External data: a model given as bytes reads its external data from `externalDataDir`
 * (an {@link OnnxModel} brings its own folder), never from the working directory.
 */
import { resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { SurgeonInputError } from '../errors.js';
import { float16ToFloat32, float32ToFloat16 } from '../io/floats.js';
import { OnnxModel, readOnnxModel } from '../io/onnx/model.js';
import { externalDataPath } from '../io/onnx/tensor.js';
import { upcastModel } from '../io/onnx/upcast.js';

/** Options of {@link ModelSession.create}. */
export interface SessionOptions {
  /** Intra-op threads (default 2: the cores of the reference machine). */
  threads?: number;
  /** Graph optimisation level (default 'all'). Captures of intermediate tensors keep working at any level. */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /**
   * Folder of the model's external data when the model is given as bytes (onnxruntime would
   * otherwise look in the working directory). Defaults to an {@link OnnxModel}'s `baseDir`;
   * a model given as a path uses its own folder.
   */
  externalDataDir?: string;
}

/** Element types this wrapper feeds and returns. */
export type TensorData = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | Int8Array;

/** A named tensor as plain data. */
export interface NamedTensor {
  data: TensorData;
  dims: number[];
  /** onnxruntime's type name of `data`, e.g. 'float32', 'int64' ('float32' for converted 16-bit floats). */
  type: string;
  /** The model's element type when it differs from `type`: 'float16' or 'bfloat16' (data converted to Float32Array). */
  storedType?: string;
}

/** onnxruntime's element type name of a typed array (a Uint8Array is uint8; bool needs an explicit type). */
export function ortType(data: TensorData): ort.Tensor.Type {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof Int8Array) return 'int8';
  return 'uint8';
}

/** An onnxruntime session over one model (bytes, path or {@link OnnxModel}). Call {@link release} when done. */
export class ModelSession {
  /** Element types of the session's inputs, by name ('float16' inputs get converted feeds). */
  private readonly inputTypes: Map<string, string>;

  private constructor(
    private readonly session: ort.InferenceSession,
    /** Outputs of a float32 copy whose type in the model is float16/bfloat16. */
    private readonly upcastOutputs: Map<string, string> = new Map(),
    /**
     * The element types run in float32 because onnxruntime could not run them as stored
     * (empty when the model runs as it is).
     */
    readonly upcast: readonly string[] = [],
  ) {
    this.inputTypes = new Map();
    for (const m of session.inputMetadata ?? []) if (m.isTensor) this.inputTypes.set(m.name, m.type);
  }

  /**
   * Creates a session. A model that onnxruntime refuses becomes a {@link SurgeonInputError}.
   * Models with bfloat16 inputs/outputs or 16-bit float operators onnxruntime's CPU provider
   * cannot run are retried as a float32 copy (see the module comment).
   */
  static async create(model: Uint8Array | string | OnnxModel, options: SessionOptions = {}, label = 'model'): Promise<ModelSession> {
    let source: Uint8Array | string;
    let dir = options.externalDataDir;
    if (model instanceof OnnxModel) {
      // refuse external locations outside the model's folder with surgeon's own message
      for (const t of model.externalInitializers()) externalDataPath(t, model.baseDir);
      dir ??= model.baseDir;
      if (label === 'model' && model.path) label = model.path;
      source = model.toBytes();
    } else {
      source = model;
    }
    try {
      return new ModelSession(await openSession(source, options, dir));
    } catch (error) {
      const reason = firstLine(error);
      if (/Unsupported data type: 16|Could not find an implementation/.test(reason)) {
        const decoded = model instanceof OnnxModel ? model : readOnnxModel(model, dir !== undefined ? { baseDir: dir } : {});
        const up = upcastModel(decoded);
        if (up.changed) {
          try {
            const session = await openSession(up.bytes, options, decoded.baseDir);
            return new ModelSession(session, up.outputTypes, up.types);
          } catch {
            // report the original failure below
          }
        }
      }
      throw new SurgeonInputError(`${label}: onnxruntime cannot load the model (${reason}); check that it is a valid ONNX model for opset ≤ 21`, { cause: error });
    }
  }

  /** The graph's input names. */
  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }

  /** The graph's output names. */
  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  /**
   * Runs one batch. `feeds` maps input names to data, dims and optionally the element type
   * (needed for `bool`, fed as a Uint8Array; otherwise it follows from the array class);
   * `outputs` picks the outputs to fetch (default all). Returned arrays belong to the caller.
   */
  async run(
    feeds: Record<string, { data: TensorData; dims: readonly number[]; type?: ort.Tensor.Type }>,
    outputs?: readonly string[],
  ): Promise<Record<string, NamedTensor>> {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [name, { data, dims, type }] of Object.entries(feeds)) {
      const want = this.inputTypes.get(name);
      if (data instanceof Float32Array && want === 'float16') ortFeeds[name] = new ort.Tensor('float16', float32ToFloat16(data), dims);
      else if (data instanceof Float32Array && want === 'float64') ortFeeds[name] = new ort.Tensor('float64', Float64Array.from(data), dims);
      else ortFeeds[name] = new ort.Tensor(type ?? ortType(data), data, dims);
    }
    const fetched = outputs ? await this.session.run(ortFeeds, outputs as string[]) : await this.session.run(ortFeeds);
    const result: Record<string, NamedTensor> = {};
    for (const [name, tensor] of Object.entries(fetched)) {
      if (tensor.type === 'float16') {
        const bits = tensor.data;
        // Uint16Array bit patterns (Node 20); a Float16Array where the platform has one
        const data = bits instanceof Uint16Array ? float16ToFloat32(bits) : Float32Array.from(bits as ArrayLike<number>);
        result[name] = { data, dims: tensor.dims.slice(), type: 'float32', storedType: 'float16' };
      } else {
        const stored = this.upcastOutputs.get(name);
        result[name] = { data: tensor.data as TensorData, dims: tensor.dims.slice(), type: tensor.type, ...(stored ? { storedType: stored } : {}) };
      }
      tensor.dispose?.();
    }
    return result;
  }

  /** Frees the native session. */
  async release(): Promise<void> {
    await this.session.release();
  }
}

/** An onnxruntime session over bytes (external data read from `dir`) or a path. */
async function openSession(model: Uint8Array | string, options: SessionOptions, dir: string | undefined): Promise<ort.InferenceSession> {
  const sessionOptions: ort.InferenceSession.SessionOptions = {
    intraOpNumThreads: options.threads ?? 2,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: options.optimization ?? 'all',
    logSeverityLevel: 3,
  };
  if (typeof model === 'string') return ort.InferenceSession.create(model, sessionOptions);
  if (dir !== undefined) {
    // onnxruntime's config key for models loaded from memory: where their external data lives
    sessionOptions.extra = { session: { model_external_initializers_file_folder_path: resolve(dir) } };
  }
  return ort.InferenceSession.create(model, sessionOptions);
}

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n')[0]!.trim().slice(0, 300);
}
