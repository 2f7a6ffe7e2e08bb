/**
 * TensorFlow.js layers models: loading from a folder (model.json + shards), prunable weight
 * views (rows × cols, rows = outputs, as for ONNX), and saving with every weight that was not
 * changed byte-identical.
 *
 * Views: a kernel whose trailing `outAxes` axes are outputs is read as W[r, c] = K[c·rows + r]:
 * Dense [in, out] → out × in; Conv2D [kh, kw, ci, co] → co × (kh·kw·ci) (column order kh, kw,
 * ci — tfjs' im2col order); Conv1D [k, ci, co] → co × (k·ci); DepthwiseConv2D [kh, kw, c, m] →
 * (c·m) × (kh·kw) (one row per output channel, as ONNX's Conv per group); attention kernels
 * [d, heads, dim] → (heads·dim) × d and output kernels [heads, dim, d] → d × (heads·dim).
 */
import * as tf from '@tensorflow/tfjs';
import { sparsifyTfjsFiles, type TfjsSaveOptions } from './sparse.js';
import { SurgeonInputError } from '../errors.js';
import { artifactFiles, artifactsOf, readModelFile, replacedFiles, type TfjsModelFile, writeFolderAtomic } from './io.js';

/** One prunable kernel of a tfjs model. */
export interface TfjsLayerView {
  /** Layer name. */
  layer: string;
  /** Keras class name (Dense, Conv2D, ...). */
  className: string;
  /** The weight's saved name (e.g. `dense_1/kernel`). */
  name: string;
  /** Kernel shape. */
  shape: number[];
  rows: number;
  cols: number;
  /** The layer variable holding the kernel. */
  variable: tf.LayerVariable;
  /** The layer owning the kernel (inside a nested model for nested models). */
  owner: tf.layers.Layer;
}

/** A loaded layers model and the files it came from. */
export interface LoadedTfjsModel {
  model: tf.LayersModel;
  file: TfjsModelFile;
}

const PRUNABLE: Record<string, number> = { Dense: 1, Conv2D: 1, Conv1D: 1, DepthwiseConv2D: 2 };

/** Layer class names whose kernels surgeon prunes. */
export const PRUNABLE_CLASSES = [...Object.keys(PRUNABLE), 'MultiHeadAttention'];

function layerClassOf(file: TfjsModelFile, className: string): string | undefined {
  const layers: Array<{ class_name?: string; config?: { name?: string; layers?: unknown } }> = [];
  const walk = (node: unknown) => {
    if (!node || typeof node !== 'object') return;
    const n = node as { class_name?: string; config?: { name?: string; layers?: unknown[] } };
    if (n.class_name) layers.push(n);
    for (const v of Object.values(n.config ?? {})) if (Array.isArray(v)) v.forEach(walk);
    if ((n as { model_config?: unknown }).model_config) walk((n as { model_config?: unknown }).model_config);
  };
  const topo = file.json.modelTopology as { model_config?: unknown } | undefined;
  walk(topo?.model_config ?? topo);
  return layers.find((l) => l.class_name === className)?.config?.name;
}

/**
 * Loads a tfjs layers model from a folder, a model.json path or a `file://` URL.
 * @throws SurgeonInputError for missing files or shards, graph models, unsupported layers.
 */
export async function loadTfjsModel(path: string): Promise<LoadedTfjsModel> {
  return loadTfjsModelFile(readModelFile(path));
}

/**
 * Loads a tfjs layers model from an already read model file (a fresh model with the file's weights).
 * @throws SurgeonInputError for graph models and unsupported layers.
 */
export async function loadTfjsModelFile(file: TfjsModelFile): Promise<LoadedTfjsModel> {
  if (file.format === 'graph-model') {
    throw new SurgeonInputError(`${file.path}: a tfjs graph model (frozen graph), which only surgeon prune handles (one-shot layer-wise methods); for this command export a layers model (tf.keras / model.save or tensorflowjs_converter --output_format tfjs_layers_model)`);
  }
  try {
    const model = await tf.loadLayersModel({ load: async () => artifactsOf(file) }, { strict: true });
    return { model, file };
  } catch (error) {
    const message = (error as Error).message ?? String(error);
    const unknown = /Unknown layer: ([A-Za-z0-9_]+)/.exec(message);
    if (unknown) {
      const name = layerClassOf(file, unknown[1]!);
      throw new SurgeonInputError(`${file.path}: layer ${name ? `'${name}' ` : ''}of class ${unknown[1]} is not supported by TensorFlow.js layers; replace it or register it before loading`);
    }
    throw new SurgeonInputError(`${file.path}: cannot load the model (${message.split('\n')[0]}); pass a model.json saved by tfjs layers`);
  }
}

function allLayers(model: tf.LayersModel): tf.layers.Layer[] {
  const out: tf.layers.Layer[] = [];
  const walk = (layers: tf.layers.Layer[]) => {
    for (const l of layers) {
      const inner = (l as unknown as { layers?: tf.layers.Layer[] }).layers;
      if (Array.isArray(inner)) walk(inner);
      else out.push(l);
    }
  };
  walk(model.layers);
  return out;
}

/** The prunable kernels of `model`, in layer order. */
export function prunableViews(model: tf.LayersModel): TfjsLayerView[] {
  const views: TfjsLayerView[] = [];
  for (const layer of allLayers(model)) {
    const className = layer.getClassName();
    for (const w of layer.weights) {
      const short = w.originalName.split('/').pop() ?? '';
      let outAxes = 0;
      if (PRUNABLE[className] !== undefined && (short === 'kernel' || short === 'depthwise_kernel')) outAxes = PRUNABLE[className]!;
      else if (/Attention/.test(className) && /kernel$/.test(short) && w.shape.length === 3) outAxes = /output|attention_output/.test(w.originalName) ? 1 : 2;
      if (!outAxes) continue;
      const shape = w.shape as number[];
      const rows = shape.slice(shape.length - outAxes).reduce((a, b) => a * b, 1);
      const cols = shape.slice(0, shape.length - outAxes).reduce((a, b) => a * b, 1);
      views.push({ layer: layer.name, className, name: w.originalName, shape, rows, cols, variable: w, owner: layer });
    }
  }
  return views;
}

/** Kernel layout [cols, rows] (flat) → view rows × cols. */
export function kernelToView(kernel: ArrayLike<number>, rows: number, cols: number): Float32Array {
  const W = new Float32Array(rows * cols);
  for (let c = 0; c < cols; c++) for (let r = 0; r < rows; r++) W[r * cols + c] = kernel[c * rows + r]!;
  return W;
}

/** View rows × cols → kernel layout (flat). */
export function viewToKernel(W: ArrayLike<number>, rows: number, cols: number): Float32Array {
  const K = new Float32Array(rows * cols);
  for (let c = 0; c < cols; c++) for (let r = 0; r < rows; r++) K[c * rows + r] = W[r * cols + c]!;
  return K;
}

/** The view's current weights (rows × cols). */
export function readView(view: TfjsLayerView): Float32Array {
  return kernelToView(view.variable.read().dataSync() as Float32Array, view.rows, view.cols);
}

/** Writes `W` (rows × cols) into the view's variable. */
export function writeView(view: TfjsLayerView, W: ArrayLike<number>): void {
  const t = tf.tensor(viewToKernel(W, view.rows, view.cols), view.shape, 'float32');
  view.variable.write(t);
  t.dispose();
}

/** Current values of every float32 weight of the model, by saved name. */
export function namedWeights(model: tf.LayersModel): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const w of model.weights) if (w.dtype === 'float32') out.set(w.originalName, w.read().dataSync() as Float32Array);
  return out;
}

/**
 * Saves `loaded` (its current weights) to `outDir`: model.json unchanged, shards with the same
 * layout, every weight whose values did not change byte-identical. Atomic; never the input folder.
 * Returns the path of the written model.json.
 */
export function saveTfjsModel(loaded: LoadedTfjsModel, outDir: string, options: TfjsSaveOptions = {}): string {
  const current = namedWeights(loaded.model);
  const changed = new Map<string, Float32Array>();
  for (const w of loaded.file.weights) {
    const v = current.get(w.name);
    if (!v || w.dtype !== 'float32') continue;
    const old = new Float32Array(loaded.file.data.slice(w.offset, w.offset + w.byteLength).buffer);
    let same = old.length === v.length;
    for (let i = 0; same && i < v.length; i++) if (!Object.is(old[i], v[i])) same = false;
    if (!same) changed.set(w.name, v);
  }
  const files = replacedFiles(loaded.file, changed);
  if (options.storage !== 'sparse') return writeFolderAtomic(outDir, files, loaded.file.dir);
  const encoded = sparsifyTfjsFiles(files);
  options.sparse?.push(...encoded.sparse);
  return writeFolderAtomic(outDir, encoded.files, loaded.file.dir);
}

/** Saves a freshly built model (e.g. from `surgeon train`) to `outDir` (atomic). */
export async function saveNewModel(model: tf.LayersModel, outDir: string, metadata: Record<string, unknown> = {}): Promise<string> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return writeFolderAtomic(outDir, artifactFiles(artifacts!, Object.keys(metadata).length ? { userDefinedMetadata: metadata } : {}));
}
