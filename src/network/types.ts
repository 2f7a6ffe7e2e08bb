/**
 * The one model abstraction every command and library entry point goes through: a
 * {@link Network} is an ONNX model, a TensorFlow.js layers model or a TensorFlow.js graph model
 * (one implementation per file in this folder, chosen by {@link openNetwork}). Everything the
 * pruning pipeline, evaluation, collapse and curves need is here; nothing outside this folder
 * knows which format it holds, except where a capability is genuinely format-specific
 * (gradients: {@link Network.gradients}).
 *
 * Conventions shared by all formats:
 * - a prunable layer's weight is seen as a `rows × cols` row-major matrix, rows = outputs,
 *   cols = inputs in the order of the layer's sample rows (for a conv, the im2col columns of
 *   the format's kernel layout), whatever the storage layout;
 * - tensors are named in the format's own namespace (ONNX value names, tfjs node or symbolic
 *   tensor names); graph inputs are tensors too and can be fetched like any other;
 * - all numbers enter and leave as Float32 (fp16/bf16 storage is converted at the boundary).
 */
import type { ModelInputInfo } from '../io/dataset.js';
import type { SparseEncodingChoice, SparseTensorReport } from '../io/onnx/sparse.js';
import type { QuantizedTensorReport } from '../io/onnx/quantized.js';
import type { QuantizedWeight } from '../pruners/quantize.js';
import type { Feed } from '../io/feeds.js';
import type { NamedTensor } from '../runtime/session.js';
import type { LoadedTfjsModel } from '../tfjs/model.js';
import type { CollapseTensor, LayerSelection, ModelClassifier } from '../collapse/select.js';

/** Gradient access of a TF.js layers network: the live model and the files it came from. */
export interface TfjsGradientAccess {
  kind: 'tfjs-layers';
  loaded: LoadedTfjsModel;
}

/** The formats {@link openNetwork} reads. */
export type NetworkFormat = 'onnx' | 'tfjs-layers' | 'tfjs-graph';

/** A graph output. */
export interface NetworkOutput {
  name: string;
  elemType: string;
  dims: ReadonlyArray<number | string>;
}

/** The feeds of one batch: model input name → data, dims (batch axis first) and element type (see ../io/feeds.ts). */
export type Feeds = Record<string, Feed>;

/** Sample rows of a captured activation, ready for H = XᵀX/N. */
export interface LayerSamples {
  /** n × cols, row-major. */
  X: Float32Array;
  n: number;
}

/** One use of a prunable weight: the node that multiplies it with an activation. */
export interface LayerUse {
  /** The node (ONNX node, tfjs layer or graph node) that uses the weight. */
  node: string;
  /** The activation tensor the node multiplies the weight with (what `runner` fetches). */
  input: string;
  /**
   * Turns the captured `input` tensor of one batch into sample rows (im2col for convolutions,
   * tokens flattened, sequence-first tensors handled).
   */
  samples(tensor: NamedTensor): LayerSamples;
  /**
   * A tensor the network computes that holds exactly the product of `input` with the weight (no
   * scale, no activation, no bias other than {@link productBias}; any layout): an ONNX MatMul's
   * or ungrouped Conv's output. The pipeline then measures the layer's reconstruction error from
   * forward passes instead of extra products.
   */
  product?: string;
  /**
   * The per-channel bias that `product` also holds (a Conv's B input; channels on axis 1):
   * Ŷ − Y is unaffected (both models add the same bias), and the dense output's norm is taken
   * of Y − bias. Absent: `product` holds no bias.
   */
  productBias?: () => Float32Array;
}

/**
 * A prunable weight of a network, as a `rows × cols` matrix (see the module comment). A weight
 * multiplied by several nodes (shared weights) is ONE layer with several {@link uses}; its
 * statistics are the sum over its uses.
 */
export interface NetworkLayer {
  /** Unique name (the weight's name; `#g<i>` per group of a grouped conv, `#c<i>` per channel of a depthwise conv). */
  readonly name: string;
  /** Operator or layer class: Gemm, MatMul, Conv, Dense, Conv2D, DepthwiseConv2D, _FusedMatMul, ... */
  readonly op: string;
  /** The first node using it. */
  readonly node: string;
  /** The stored weight (initializer, variable or graph constant). */
  readonly weight: string;
  /** Outputs. */
  readonly rows: number;
  /** Inputs (columns of the sample rows). */
  readonly cols: number;
  /** Every node multiplying this weight with an activation (at least one). */
  readonly uses: readonly LayerUse[];
  /**
   * Layers with equal keys read identical sample rows (q/k/v projections of one input): the
   * pipeline accumulates their statistics once.
   */
  readonly sampleKey: string;
  /**
   * Why calibration statistics cannot be captured for this layer (e.g. its input is computed
   * inside an If/Loop body, or inside a composite tfjs layer); undefined when they can.
   * Data-free methods (magnitude) still prune it.
   */
  readonly uncapturable?: string;
  /** Other nodes that read the same stored tensor without being prunable uses (a tied embedding's Gather). Left dense unless asked. */
  readonly tiedWith?: readonly string[];
  /** Format-specific facts for `inspect` (storage dtype, transform chain, subgraph, kernel shape, ...). */
  readonly detail?: Readonly<Record<string, string | number | boolean | number[] | string[]>>;
  /** The current weights, rows × cols (a fresh copy). */
  read(): Float32Array;
  /** Writes rows × cols weights back into the network, in the stored dtype and layout. */
  write(W: Float32Array): void;
}

/** A weight-carrying node that is not a prunable layer, and why. */
export interface SkippedNode {
  node: string;
  op: string;
  reason: string;
}

/** Runs batches and returns named tensors (graph outputs, intermediates, or graph inputs). */
export interface NetworkRunner {
  /**
   * Runs one batch. `fetch` must be a subset of the names the runner was created for. Graph
   * inputs among them are returned from `feeds` (as Float32 where the input is float).
   * Returned arrays belong to the caller.
   */
  run(feeds: Feeds, fetch?: readonly string[]): Promise<Record<string, NamedTensor>>;
  /** Frees native resources. */
  release(): Promise<void>;
}

/** Options of {@link Network.runner}. */
export interface RunnerOptions {
  /** Intra-op threads (onnxruntime; default 2). */
  threads?: number;
}

/** What {@link Network.save} wrote. */
export interface SavedNetwork {
  /** The written model file (ONNX file or model.json). */
  path: string;
  /** Bytes written, all files together. */
  bytes: number;
  /** Tensors stored sparse (`storage: 'sparse'`), with their encoding and sizes. */
  sparse?: SparseTensorReport[];
  /** How each quantized layer was stored (`quantized` given). */
  quantized?: QuantizedTensorReport[];
}

/** Options of {@link Network.save}. */
export interface SaveNetworkOptions {
  /** The input model's path: saving over it (or into its folder, for tfjs) is refused. */
  inputPath?: string;
  /**
   * 'dense' (default) or 'sparse': weights stored without their zeros (ONNX: sparse_initializer
   * or surgeon's bitmask encoding, see ../io/onnx/sparse.ts), read back bit-identically.
   */
  storage?: 'dense' | 'sparse';
  /**
   * ONNX encoding under `storage: 'sparse'`: 'auto' (default, the smaller per tensor), 'coo'
   * (sparse_initializer only) or 'bitmask'. TF.js stores bit masks only ('coo' is refused).
   */
  sparseEncoding?: SparseEncodingChoice;
  /**
   * Quantization codes by layer name (what {@link pruneModel} returns with `quantize`): ONNX
   * stores them as MatMulNBits / DequantizeLinear (see ../io/onnx/quantized.ts); TF.js refuses.
   */
  quantized?: ReadonlyMap<string, QuantizedWeight>;
}

/** Everything `surgeon inspect` prints, the same for every format. */
export interface NetworkSummary {
  format: NetworkFormat;
  path?: string;
  /** Format facts: ONNX opset and producer, tfjs backend or converter version. */
  facts: Record<string, string | number>;
  inputs: ModelInputInfo[];
  outputs: NetworkOutput[];
  /** All stored parameters (prunable or not). */
  parameters: number;
  /** Other stored tensors (not prunable weights). */
  others: Array<{ name: string; dtype: string; shape: number[]; parameters: number }>;
}

/** The collapse plan of a network (what `measureModelCollapse` measures). */
export interface CollapsePlan {
  tensors: CollapseTensor[];
  /** The final linear classifier (NC3), when found. */
  classifier?: ModelClassifier;
  /** Balancedness of directly chained linear layers. */
  balancedness(): Array<{ lower: string; upper: string; value: number }>;
  /**
   * Axes of a tensor fixed by layer weights (never the batch axis, even when their size equals
   * the batch's), by tensor name; see ../runtime/batch-axis.ts.
   */
  featureAxes?: Map<string, number[]>;
  /** Every tensor of the format has the batch on axis 0 (TF.js). */
  batchFirst?: boolean;
}

/**
 * A model of any supported format. Obtain one with {@link openNetwork}; call
 * {@link dispose} when done (tfjs models hold tensors).
 */
export interface Network {
  readonly format: NetworkFormat;
  /** The file it was read from (ONNX file or model.json), when read from a file. */
  readonly path: string | undefined;
  /** Inputs fed at run time, in the dataset loader's terms. */
  readonly inputs: readonly ModelInputInfo[];
  readonly outputs: readonly NetworkOutput[];
  /** Prunable layers in graph order (views over THIS network's weights). */
  layers(): NetworkLayer[];
  /** Weight-carrying nodes that are not prunable, with the reason. */
  skipped(): SkippedNode[];
  /**
   * Groups layers into stages for sequential pruning: a layer's stage is the number of prunable
   * layers on the longest path from the inputs to its activation, so every stage depends only
   * on earlier stages.
   */
  stages(layers: readonly NetworkLayer[]): NetworkLayer[][];
  /** A runner that can return `fetch` (any tensor names: outputs, intermediates, inputs). */
  runner(fetch: readonly string[], options?: RunnerOptions): Promise<NetworkRunner>;
  /**
   * Optional (ONNX): the tensors entering each stage of `stages` (see {@link stages}) that
   * stage-by-stage execution must keep: every tensor computed before the stage that it or a
   * later stage still reads (its layers' inputs and tensors carried past it, such as residual
   * streams), graph inputs excepted (they are fed). Undefined when the stages cannot be cut
   * cleanly (a weight used by a node that runs before its stage is pruned). See
   * {@link segmentRunner}.
   */
  stageBoundaries?(stages: readonly NetworkLayer[][]): string[][] | undefined;
  /**
   * Optional (ONNX): a runner over the sub-graph computing tensors `to` from the tensors
   * `from` (fed like graph inputs, next to the graph inputs the sub-graph still needs). Names
   * of `to` that are in `from` or are graph inputs come back from the feeds. The runner holds
   * the weights as they are when it is created: create it after the layers it contains are
   * final, and again after they change.
   */
  segmentRunner?(from: readonly string[], to: readonly string[], options?: RunnerOptions): Promise<NetworkRunner>;
  /** An independent copy (its weights can change without touching this one). */
  clone(): Promise<Network>;
  /** Writes the network (atomic; never over the input). */
  save(out: string, options?: SaveNetworkOptions): Promise<SavedNetwork>;
  /** Format facts, parameters and other tensors for `inspect`. */
  summary(): NetworkSummary;
  /** Which tensors collapse measures under `selection`, and the classifier. */
  collapsePlan(selection: LayerSelection): CollapsePlan;
  /**
   * Gradient access where the format has it (TF.js layers models: the Fisher pruners
   * `woodfisher` and `fisher-iobs`, fine-tuning, AGOP); undefined elsewhere.
   */
  readonly gradients?: TfjsGradientAccess;
  /** Frees resources (tfjs tensors); the network is unusable afterwards. */
  dispose(): void;
}

/** Options of {@link openNetwork}. */
export interface OpenNetworkOptions {
  /** TF.js backend request (auto, node-gpu, node, wasm, cpu); refused for ONNX models. */
  backend?: string;
  /**
   * onnxruntime execution providers for every session of an ONNX model (e.g. `['cuda']`; default
   * the CPU); checked when the model is opened, refused for TF.js models (see SessionOptions).
   */
  executionProviders?: readonly string[];
  /** The flag that chose `executionProviders`, for messages (default: the providers' names). */
  providerFlag?: string;
}

/** A format of the registry used by {@link openNetwork}. */
export interface NetworkFormatEntry {
  format: NetworkFormat;
  /** Whether `path` is a model of this format (cheap: file name, magic bytes, model.json's `format`). */
  detect(path: string): boolean;
  open(path: string, options: OpenNetworkOptions): Promise<Network>;
}
