/**
 * A thin wrapper around an onnxruntime-node inference session: chosen thread count, named
 * outputs, plain typed arrays in and out.
 */
import * as ort from 'onnxruntime-node';
import { SurgeonInputError } from '../errors.js';

/** Options of {@link ModelSession.create}. */
export interface SessionOptions {
  /** Intra-op threads (default 2: the cores of the reference machine). */
  threads?: number;
  /** Graph optimisation level (default 'all'). Captures of intermediate tensors keep working at any level. */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
}

/** Element types this wrapper feeds and returns. */
export type TensorData = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | Int8Array;

/** A named tensor as plain data. */
export interface NamedTensor {
  data: TensorData;
  dims: number[];
  /** onnxruntime's type name, e.g. 'float32', 'int64'. */
  type: string;
}

function ortType(data: TensorData): ort.Tensor.Type {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof Int8Array) return 'int8';
  return 'uint8';
}

/** An onnxruntime session over one model (bytes or path). Call {@link release} when done. */
export class ModelSession {
  private constructor(private readonly session: ort.InferenceSession) {}

  /** Creates a session. A model that onnxruntime refuses becomes a {@link SurgeonInputError}. */
  static async create(model: Uint8Array | string, options: SessionOptions = {}, label = 'model'): Promise<ModelSession> {
    const sessionOptions: ort.InferenceSession.SessionOptions = {
      intraOpNumThreads: options.threads ?? 2,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: options.optimization ?? 'all',
      logSeverityLevel: 3,
    };
    try {
      const session =
        typeof model === 'string'
          ? await ort.InferenceSession.create(model, sessionOptions)
          : await ort.InferenceSession.create(model, sessionOptions);
      return new ModelSession(session);
    } catch (error) {
      const reason = firstLine(error);
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
      ortFeeds[name] = new ort.Tensor(type ?? ortType(data), data, dims);
    }
    const fetched = outputs ? await this.session.run(ortFeeds, outputs as string[]) : await this.session.run(ortFeeds);
    const result: Record<string, NamedTensor> = {};
    for (const [name, tensor] of Object.entries(fetched)) {
      result[name] = { data: tensor.data as TensorData, dims: tensor.dims.slice(), type: tensor.type };
      tensor.dispose?.();
    }
    return result;
  }

  /** Frees the native session. */
  async release(): Promise<void> {
    await this.session.release();
  }
}

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n')[0]!.trim().slice(0, 300);
}
