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
 *
 * Execution providers: every session of surgeon is created here, on onnxruntime's CPU provider
 * unless `executionProviders` names others (`--device cuda`, `--execution-provider`). A provider
 * that cannot run here is refused in one line naming what is missing — the provider's shared
 * libraries (onnxruntime-node's npm package does not bundle the CUDA ones; this project's .npmrc
 * skips their download) or a GPU — never replaced by the CPU in silence.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
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
  /**
   * onnxruntime execution providers in order of preference, e.g. `['cuda']` (default: the CPU
   * provider alone). onnxruntime runs the operators a provider lacks on the CPU. Checked with
   * {@link checkExecutionProviders}.
   */
  executionProviders?: readonly string[];
}

/** The devices of `--device`, and the execution providers each stands for. */
export const DEVICES = { cpu: ['cpu'], cuda: ['cuda'] } as const satisfies Record<string, readonly string[]>;

/**
 * The execution providers of the `--device` and `--execution-provider` flags (undefined when
 * neither is given: the CPU provider). `--execution-provider` takes onnxruntime's names,
 * comma-separated in order of preference (`tensorrt,cuda`).
 * @throws SurgeonInputError for an unknown device, an empty list, or both flags.
 */
export function executionProvidersOf(flags: { device?: string; executionProvider?: string }): string[] | undefined {
  if (flags.device !== undefined && flags.executionProvider !== undefined) {
    throw new SurgeonInputError('--device and --execution-provider both pick where onnxruntime runs; pass one of them');
  }
  if (flags.device !== undefined) {
    const providers = (DEVICES as Record<string, readonly string[]>)[flags.device];
    if (!providers) throw new SurgeonInputError(`--device ${flags.device} is not a device; pass --device ${Object.keys(DEVICES).join(' or --device ')}`);
    return [...providers];
  }
  if (flags.executionProvider !== undefined) {
    const list = flags.executionProvider.split(',').map((p) => p.trim().toLowerCase()).filter(Boolean);
    if (list.length === 0) throw new SurgeonInputError('--execution-provider is empty; pass e.g. --execution-provider cuda');
    return [...new Set(list)];
  }
  return undefined;
}

/** The folder of onnxruntime-node's native binding, where its provider libraries must be. */
export function ortBinaryDir(): string {
  const index = createRequire(import.meta.url).resolve('onnxruntime-node');
  return join(dirname(index), '..', 'bin', 'napi-v6', process.platform, process.arch);
}

/** The shared libraries (in {@link ortBinaryDir}) that onnxruntime-node needs for a GPU provider. */
const PROVIDER_LIBRARIES: Record<string, readonly string[]> = {
  cuda: ['libonnxruntime_providers_shared.so', 'libonnxruntime_providers_cuda.so'],
  tensorrt: ['libonnxruntime_providers_shared.so', 'libonnxruntime_providers_cuda.so', 'libonnxruntime_providers_tensorrt.so'],
};

/** What a machine offers onnxruntime's providers (see {@link missingForProviders}). */
export interface ProviderHost {
  /** Provider names the onnxruntime-node build knows (onnxruntime's `listSupportedBackends`). */
  supported: readonly string[];
  /** The folder of the native binding. */
  binaryDir: string;
  /** Whether an NVIDIA GPU is visible (Linux: /dev/nvidiactl). */
  nvidiaGpu: boolean;
}

/** This machine, as {@link ProviderHost}. */
export function providerHost(): ProviderHost {
  return {
    supported: ort.listSupportedBackends().map((b) => b.name),
    binaryDir: ortBinaryDir(),
    nvidiaGpu: process.platform !== 'linux' || existsSync('/dev/nvidiactl'),
  };
}

/**
 * Why `providers` cannot run on `host`, as the one line the CLI prints (undefined when they can,
 * as far as can be seen without creating a session). `flag` is the flag the user gave.
 */
export function missingForProviders(providers: readonly string[], host: ProviderHost, flag: string): string | undefined {
  for (const provider of providers) {
    if (!host.supported.includes(provider)) {
      return `${flag}: onnxruntime-node has no '${provider}' execution provider on ${process.platform}/${process.arch} (it knows ${host.supported.join(', ')}); pass one of those`;
    }
    const libraries = PROVIDER_LIBRARIES[provider];
    if (!libraries) continue;
    const absent = libraries.filter((l) => !existsSync(join(host.binaryDir, l)));
    const missing = [
      ...(absent.length ? [`onnxruntime-node's CUDA execution provider binaries (${absent.join(', ')} in ${host.binaryDir}; its npm package does not bundle them and this project's .npmrc skips their download)`] : []),
      ...(!host.nvidiaGpu ? ['an NVIDIA GPU (no /dev/nvidiactl: no GPU or no driver on this machine)'] : []),
    ];
    if (missing.length) {
      const install = absent.length ? `ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install (downloads them; needs CUDA 12 and cuDNN 9)` : '';
      const how = [host.nvidiaGpu ? '' : 'run on a machine with an NVIDIA GPU and its driver', install].filter(Boolean).join(' and ');
      return `${flag} needs ${missing.join(' and ')}; ${how}, or drop ${flag} to run on the CPU`;
    }
  }
  return undefined;
}

/**
 * Refuses execution providers this machine cannot run (see {@link missingForProviders}).
 * @throws SurgeonInputError naming what is missing and how to get it.
 */
export function checkExecutionProviders(providers: readonly string[] | undefined, flag = `execution providers ${providers?.join(', ')}`): void {
  if (!providers || providers.every((p) => p === 'cpu')) return;
  const problem = missingForProviders(providers, providerHost(), flag);
  if (problem) throw new SurgeonInputError(problem);
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
    checkExecutionProviders(options.executionProviders);
    try {
      return new ModelSession(await openSession(source, options, dir));
    } catch (error) {
      const reason = firstLine(error);
      const gpu = options.executionProviders?.find((p) => p !== 'cpu');
      if (gpu && /cuda|cudnn|tensorrt|provider|GPU|device/i.test(reason)) {
        const check = gpu === 'cuda' || gpu === 'tensorrt' ? 'check the GPU, its driver (nvidia-smi), CUDA 12 and cuDNN 9' : `check that this machine has a device the ${gpu} provider can use`;
        throw new SurgeonInputError(`${label}: onnxruntime could not start its ${gpu} execution provider (${reason}); ${check}, or drop the flag to run on the CPU`, { cause: error });
      }
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
    ...(options.executionProviders ? { executionProviders: [...options.executionProviders] } : {}),
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
