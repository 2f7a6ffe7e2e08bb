/**
 * surgeon — curvature-aware pruning of ONNX and TensorFlow.js models, with neural-collapse
 * metrics. The public API:
 *
 * - one model abstraction for every format: {@link openNetwork} opens an ONNX file, a TF.js
 *   layers model or a TF.js graph model as a {@link Network} (layers, runners, clone, save);
 * - model I/O: {@link readOnnxModel}, {@link saveOnnxModel}, {@link findPrunableLayers}, data readers;
 * - whole-model operations: {@link pruneModel} (with GPTQ / round-to-nearest quantization), {@link evaluateModel}, {@link measureModelCollapse}, {@link inspectModel};
 * - smaller files: sparse storage (`save(out, { storage: 'sparse' })`, ONNX sparse_initializer or
 *   bit mask, TF.js bit mask) and quantized ONNX (MatMulNBits, DequantizeLinear);
 * - layer-wise pruners on typed arrays (W, H): `sparsegptPrune`, `iobsPrune`, … and their classes
 *   (`SparseGPT`, `IOBS`, …: `addBatch` → `prune` → `free`);
 * - neural-collapse accumulators and metric functions;
 * - structured pruning of ONNX graphs ({@link pruneStructured}: whole neurons, channels or attention heads removed, a smaller model written);
 * - dense linear algebra and the GEMM engine;
 * - sparsity curves ({@link runCurve}) and their spread over queue workers on Redis ({@link runCurveOnQueue}, {@link startCurveWorker}).
 */
export { SurgeonInputError } from './errors.js';
export { openNetwork, detectNetworkFormat, NETWORK_FORMATS, OnnxNetwork, onnxNetwork } from './network/index.js';
export type {
  Network,
  NetworkFormat,
  NetworkLayer,
  LayerUse,
  LayerSamples,
  NetworkRunner,
  RunnerOptions,
  NetworkOutput,
  NetworkSummary,
  SavedNetwork,
  SaveNetworkOptions,
  SkippedNode,
  CollapsePlan,
  Feeds,
  OpenNetworkOptions,
  NetworkFormatEntry,
  TfjsGradientAccess,
} from './network/index.js';
export * from './io/onnx/index.js';
export { readNpy, writeNpy, parseNpy, encodeNpy } from './io/npy.js';
export { readNpz, writeNpz, parseNpz } from './io/npz.js';
export { readIdx, parseIdx } from './io/idx.js';
export type { NdArray, DType } from './io/tensor.js';
export { loadDataset, batches } from './io/dataset.js';
export type { Dataset, DatasetSpec, ClassificationDataset, TokenDataset, OtherInputs } from './io/dataset.js';
export { conventionOf, generatedFeed } from './io/feeds.js';
export type { Convention, ExtraInput, Feed, FeedData, FeedType, GeneratedInput } from './io/feeds.js';
export { ModelSession } from './runtime/session.js';
export type { SessionOptions, NamedTensor } from './runtime/session.js';
export { evaluateModel } from './runtime/evaluate.js';
export type { EvaluateOptions, EvaluationResult } from './runtime/evaluate.js';
export { captureTensors, captureSession, forEachBatch, batchFeeds } from './runtime/capture.js';
export type { CapturedBatch, CaptureOptions, BatchFeed } from './runtime/capture.js';
export { BatchLayout, findBatchAxis, perSampleShape, toSampleMajor } from './runtime/batch-axis.js';
export type { BatchAxisOptions } from './runtime/batch-axis.js';
export { inspectModel } from './inspect.js';
export type { InspectReport, InspectedLayer } from './inspect.js';
export { pruneModel, validatePruneOptions } from './prune/model.js';
export type { PruneModelOptions, PruneModelReport, PrunedLayerReport, PruneProgress, PruneProfile, QuantizeOptions, ModelSelection } from './prune/model.js';
export { HeldOutModelLoss } from './prune/select.js';
export type { HeldOutLossKind } from './prune/select.js';
export { sparsifyTfjsFiles, densifyTfjsJson, SPARSE_KEY as TFJS_SPARSE_KEY } from './tfjs/sparse.js';
export type { TfjsSparseReport, TfjsSaveOptions } from './tfjs/sparse.js';
export * from './pruners/index.js';
export * from './collapse/index.js';
export { measureModelCollapse } from './collapse/model.js';
export type { ModelCollapse, ModelCollapseOptions, LayerCollapse } from './collapse/model.js';
export { featureAxes, findClassifier, selectCollapseTensors } from './collapse/select.js';
export type { LayerSelection } from './collapse/select.js';
export * from './linalg/index.js';
export { analyzeStructure, unitColumns } from './structure/graph.js';
export type { StructureKind, StructurePlan, UnitGroup, UnitProducer, UnitConsumer, UnitSlice, ReshapeUpdate, BlockedGroup, NonProducer } from './structure/graph.js';
export { pruneStructured, pruneGroups, structurePlan, modelCost, validateStructuredOptions, selectGroups, checkStructured, STRUCTURES } from './structure/prune.js';
export type { GroupPruneContext } from './structure/prune.js';

/**
 * Structured pruning (`neurons`/`channels`) of a TF.js layers network: the Keras-graph analysis,
 * the shared selection, a smaller model whose `save` writes a new folder (src/structure/tfjs.ts).
 * TF.js is loaded on the first call.
 */
export async function pruneStructuredTfjs(...args: Parameters<typeof import('./structure/tfjs.js').pruneStructuredTfjs>): ReturnType<typeof import('./structure/tfjs.js').pruneStructuredTfjs> {
  return (await import('./structure/tfjs.js')).pruneStructuredTfjs(...args);
}

/** The structure plan (groups, blocked groups with reasons, non-producers) of a TF.js layers network; TF.js is loaded on the first call. */
export async function analyzeTfjsStructure(...args: Parameters<typeof import('./structure/tfjs.js').analyzeTfjsStructure>): Promise<ReturnType<typeof import('./structure/tfjs.js').analyzeTfjsStructure>> {
  return (await import('./structure/tfjs.js')).analyzeTfjsStructure(...args);
}
export { analyzeHeads, headShape } from './structure/heads.js';
export type { HeadReshape, SplitUpdate, HeadsAnalysis, HeadsContext } from './structure/heads.js';
export { accumulateStatistics, runnerBatches, sampleKeyTargets, withOnesColumn } from './prune/statistics.js';
export type { KeyStatistics, StatisticsTarget, RunnerBatches } from './prune/statistics.js';
export type { StructuredPruneOptions, StructuredPruneReport, StructuredGroupReport, ModelCost } from './structure/prune.js';
export { selectUnits, STRUCTURED_METHODS } from './structure/select.js';
export type { ConsumerProblem, SelectOptions, Selection, StructuredMethod } from './structure/select.js';
export { shrinkModel, sliceAxis, removalEdits } from './structure/shrink.js';
export type { GroupRemoval } from './structure/shrink.js';
export { measureShapes, probeFeeds } from './structure/shapes.js';
export { compareLatency, measureLatency, repeatFeeds } from './structure/latency.js';
export type { Latency, LatencyOptions } from './structure/latency.js';
export * from './curve/index.js';
export * from './queue/index.js';
