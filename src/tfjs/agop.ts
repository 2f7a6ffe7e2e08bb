/**
 * The average gradient outer product (AGOP) view of feature learning, per Dense layer of a
 * TensorFlow.js layers model.
 *
 * Papers: Radhakrishnan, Beaglehole, Pandit, Belkin, "Mechanism for feature learning in neural
 * networks and backpropagation-free machine learning models", Science 2024 (the Neural Feature
 * Ansatz: W_lᵀW_l ∝ AGOP_l^α, α = 1/2 or 1); Beaglehole, Súkeník, Mondelli, Belkin, "Average
 * gradient outer product as a mechanism for deep neural collapse", NeurIPS 2024.
 *
 * For the Dense layer l with input h_l ∈ R^{d_l} and the network outputs f ∈ R^K (as the model
 * returns them: logits for surgeon's reference models),
 *   AGOP_l = (1/n) Σ_i J_l(x_i)ᵀ J_l(x_i),  J_l(x) = ∂f/∂h_l (K × d_l),
 * and we report the Pearson correlations of the d_l² entries of W_lᵀW_l (W_l = kernelᵀ, outputs ×
 * inputs) with those of AGOP_l and of AGOP_l^{1/2}.
 *
 * Jacobians: row k of J_l(x_i) for every sample of a batch at once is the gradient of
 * Σ_i f_k(x_i) with respect to the batch of h_l — exact, since samples do not interact in
 * inference — so each batch costs K backward passes of the sub-network above layer l. The
 * model must be a chain (each layer fed by the previous one: Sequential models and linear
 * functional graphs), so that the sub-network above h_l is the list of remaining layers.
 * AGOP^{1/2} comes from the symmetric eigendecomposition (cyclic Jacobi, ../linalg/symeig.ts),
 * O(d³) per sweep: layers wider than `maxDim` are skipped with a note.
 */
import * as tf from '@tensorflow/tfjs';
import { gram } from '../collapse/measure.js';
import { symeig } from '../linalg/symeig.js';
import { singleInput } from './collapse-plan.js';
import { batchOf, range, type TfjsData } from './data.js';

/** AGOP correlations of one Dense layer. */
export interface AgopLayer {
  /** Dense layer name. */
  layer: string;
  /** Input width d_l. */
  d: number;
  /** Pearson correlation of W_lᵀW_l with AGOP_l (entries flattened). */
  corrAgop: number;
  /** Pearson correlation of W_lᵀW_l with AGOP_l^{1/2}. */
  corrSqrtAgop: number;
}

/** A Dense layer the AGOP view skipped, and why. */
export interface AgopSkipped {
  layer: string;
  d: number;
  reason: string;
}

/** Options of {@link computeAgop} and {@link agopCorrelations}. */
export interface AgopOptions {
  /** Samples per batch (default 128). */
  batchSize?: number;
  /** Use only the first `limit` samples. */
  limit?: number;
  /** Widest layer input measured (default 1024: AGOP^{1/2} costs O(d³) per Jacobi sweep). */
  maxDim?: number;
  /** Called after every batch with the samples done. */
  onProgress?: (done: number) => void;
}

/** AGOP matrices of the measured layers (d × d row-major, Float64) and the layers skipped. */
export interface AgopMatrices {
  samples: number;
  layers: Array<{ layer: string; d: number; agop: Float64Array; gram: Float64Array }>;
  skipped: AgopSkipped[];
}

/** The model's layers as a chain (InputLayer dropped), or why it is not one. */
export function layerChain(model: tf.LayersModel): tf.layers.Layer[] | string {
  const layers = model.layers.filter((l) => l.getClassName() !== 'InputLayer');
  if (model.inputs.length !== 1 || model.outputs.length !== 1) return 'the model has several inputs or outputs';
  let previous: tf.layers.Layer = model.inputs[0]!.sourceLayer as tf.layers.Layer;
  for (const layer of layers) {
    const nodes = layer.inboundNodes;
    if (nodes.length !== 1 || nodes[0]!.inboundLayers.length !== 1 || nodes[0]!.inboundLayers[0] !== previous) {
      return `layer ${layer.name} is not fed by the previous layer alone (the AGOP view needs a chain of layers, e.g. a Sequential model)`;
    }
    previous = layer;
  }
  if (previous !== model.outputs[0]!.sourceLayer) return 'the last layer is not the model output';
  return layers;
}

function applyFrom(layers: tf.layers.Layer[], start: number, h: tf.Tensor): tf.Tensor {
  let out = h;
  for (let j = start; j < layers.length; j++) out = layers[j]!.apply(out) as tf.Tensor;
  return out;
}

/**
 * AGOP_l of every Dense layer of the chain model `model` on `data` (see the module comment),
 * with W_lᵀW_l beside it. Batch sums are float32 (tfjs), accumulated across batches in Float64.
 */
export async function computeAgop(model: tf.LayersModel, data: TfjsData, options: AgopOptions = {}): Promise<AgopMatrices> {
  const n = Math.min(data.count, options.limit ?? data.count);
  const batchSize = options.batchSize ?? 128;
  const maxDim = options.maxDim ?? 1024;
  const chain = layerChain(model);
  const skipped: AgopSkipped[] = [];
  const targets: Array<{ index: number; layer: string; d: number; units: number; sum: Float64Array }> = [];
  const dense = model.layers.filter((l) => l.getClassName() === 'Dense');
  for (const layer of dense) {
    const kernel = layer.getWeights()[0]!;
    const [d, units] = kernel.shape as [number, number];
    const index = typeof chain === 'string' ? -1 : chain.indexOf(layer);
    const rank = singleInput(layer)?.shape.length ?? 0;
    if (typeof chain === 'string') skipped.push({ layer: layer.name, d, reason: chain });
    else if (d > maxDim) skipped.push({ layer: layer.name, d, reason: `input width ${d} > ${maxDim} (AGOP^1/2 by Jacobi costs O(d³); raise --agop-max-dim)` });
    else if (rank !== 2) skipped.push({ layer: layer.name, d, reason: 'applied to rank > 2 inputs' });
    else targets.push({ index, layer: layer.name, d, units, sum: new Float64Array(d * d) });
  }
  const layers = typeof chain === 'string' ? [] : chain;
  const K = model.outputs[0]!.shape[1] as number;
  for (let start = 0; start < n && targets.length > 0; start += batchSize) {
    const count = Math.min(batchSize, n - start);
    let h = tf.tidy(() => batchOf(data, range(start, count)).x);
    let at = 0;
    for (const target of targets) {
      const next = tf.tidy(() => applyFrom(layers.slice(0, target.index), at, h));
      if (next !== h) h.dispose();
      h = next;
      at = target.index;
      const outer = tf.tidy(() => {
        const rows: tf.Tensor[] = [];
        for (let k = 0; k < K; k++) {
          const gk = tf.grad((x: tf.Tensor) => tf.sum(tf.slice(applyFrom(layers, target.index, x) as tf.Tensor2D, [0, k], [-1, 1])))(h);
          rows.push(tf.reshape(gk, [count, target.d]));
        }
        const J = tf.concat(rows, 0);
        return tf.matMul(J, J, true, false);
      });
      const values = (await outer.data()) as Float32Array;
      outer.dispose();
      for (let i = 0; i < values.length; i++) target.sum[i] += values[i]!;
    }
    h.dispose();
    options.onProgress?.(start + count);
  }
  const out: AgopMatrices['layers'] = targets.map((t) => {
    for (let i = 0; i < t.sum.length; i++) t.sum[i] /= n;
    const kernel = model.getLayer(t.layer).getWeights()[0]!.dataSync();
    // W_lᵀW_l = kernel·kernelᵀ (d × d): the Gram of the kernel's d rows of length units.
    return { layer: t.layer, d: t.d, agop: t.sum, gram: gram(kernel, t.d, t.units) };
  });
  return { samples: n, layers: out, skipped };
}

/** Pearson correlation of two equally long arrays (NaN when either is constant). */
export function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i]!;
    mb += b[i]!;
  }
  ma /= n;
  mb /= n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    const x = a[i]! - ma;
    const y = b[i]! - mb;
    sab += x * y;
    saa += x * x;
    sbb += y * y;
  }
  if (saa === 0 || sbb === 0) return NaN;
  return Math.max(-1, Math.min(1, sab / Math.sqrt(saa * sbb)));
}

/** The PSD square root V diag(√max(λ, 0)) Vᵀ of a symmetric d × d matrix. */
export function sqrtPsd(A: Float64Array, d: number): Float64Array {
  const { values, vectors } = symeig(A, d, { vectors: true });
  const V = vectors!;
  const s = values.map((v) => Math.sqrt(Math.max(v, 0)));
  const out = new Float64Array(d * d);
  const row = new Float64Array(d);
  for (let i = 0; i < d; i++) {
    for (let k = 0; k < d; k++) row[k] = V[i * d + k]! * s[k]!;
    for (let j = i; j < d; j++) {
      let acc = 0;
      for (let k = 0; k < d; k++) acc += row[k]! * V[j * d + k]!;
      out[i * d + j] = acc;
      out[j * d + i] = acc;
    }
  }
  return out;
}

/**
 * Correlations of W_lᵀW_l with AGOP_l and AGOP_l^{1/2} for every Dense layer of `model` (see the
 * module comment); layers that cannot be measured are listed in `skipped` with the reason.
 */
export async function agopCorrelations(model: tf.LayersModel, data: TfjsData, options: AgopOptions = {}): Promise<{ samples: number; layers: AgopLayer[]; skipped: AgopSkipped[] }> {
  const m = await computeAgop(model, data, options);
  const layers = m.layers.map((l) => ({
    layer: l.layer,
    d: l.d,
    corrAgop: pearson(l.gram, l.agop),
    corrSqrtAgop: pearson(l.gram, sqrtPsd(l.agop, l.d)),
  }));
  return { samples: m.samples, layers, skipped: m.skipped };
}
