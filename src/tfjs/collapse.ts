/**
 * Neural collapse of an in-memory TensorFlow.js layers model: the shared measurement
 * (`measureModelCollapse` over the model as a {@link Network}, ../collapse/model.ts) plus, on
 * request, the AGOP view (./agop.ts). Commands open models from files through the network
 * registry instead; this entry serves library users and benchmarks holding a live model.
 */
import type * as tf from '@tensorflow/tfjs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { measureModelCollapse, type ModelCollapse, type ModelCollapseOptions } from '../collapse/model.js';
import type { ClassificationDataset } from '../io/dataset.js';
import { TfjsLayersNetwork } from '../network/tfjs-layers.js';
import { agopCorrelations, type AgopLayer, type AgopSkipped } from './agop.js';
import type { TfjsData } from './data.js';
import { loadTfjsModel, saveNewModel } from './model.js';

/** Progress phases of {@link measureTfjsCollapse}. */
export type TfjsCollapsePhase = 'train' | 'means' | 'covariance' | 'agop';

/** Options of {@link measureTfjsCollapse}: those of the shared measurement, with tfjs data. */
export interface TfjsCollapseOptions extends Omit<ModelCollapseOptions, 'train' | 'threads' | 'onProgress'> {
  /** Split whose class means NC4's nearest-class-mean rule uses (default: the evaluated split). */
  train?: TfjsData;
  /** Also compute the AGOP view of every Dense layer (./agop.ts). */
  agop?: boolean;
  /** Widest Dense input the AGOP view measures (default 1024). */
  agopMaxDim?: number;
  /** Called after every batch: `done` of `total` samples of the current phase. */
  onProgress?: (done: number, total: number, phase: TfjsCollapsePhase) => void;
}

/** Result of {@link measureTfjsCollapse}: the shared result plus the AGOP view. */
export interface TfjsCollapse extends ModelCollapse {
  /** Per Dense layer: correlation of W_lᵀW_l with AGOP_l and AGOP_l^{1/2} (with `agop`). */
  agop?: AgopLayer[];
  /** Dense layers the AGOP view skipped, with the reason. */
  agopSkipped?: AgopSkipped[];
}

/** {@link TfjsData} as the shared loader's classification dataset (no copies). */
export function datasetOfTfjsData(data: TfjsData, inputName: string): ClassificationDataset {
  return { kind: 'classification', inputName, x: data.x, sampleShape: data.sampleShape.slice(), count: data.count, labels: data.labels, numClasses: data.numClasses };
}

/**
 * Measures neural collapse (NC1–NC4, CDNV, ETF distances, class-mean ranks) of `model` on
 * labelled `data` — the same measurement and result as for any network — and with `agop` the
 * AGOP view. The model is measured through a copy (its weights are not touched).
 */
export async function measureTfjsCollapse(model: tf.LayersModel, data: TfjsData, options: TfjsCollapseOptions = {}): Promise<TfjsCollapse> {
  const dir = mkdtempSync(join(tmpdir(), 'surgeon-collapse-'));
  let network: TfjsLayersNetwork | undefined;
  try {
    await saveNewModel(model, dir);
    network = new TfjsLayersNetwork(await loadTfjsModel(dir));
    const input = network.inputs[0]!.name;
    const { train, agop: withAgop, agopMaxDim, onProgress, ...shared } = options;
    const result: TfjsCollapse = await measureModelCollapse(network, datasetOfTfjsData(data, input), {
      ...shared,
      ...(train ? { train: datasetOfTfjsData(train, input) } : {}),
      ...(onProgress ? { onProgress: (done, total, phase) => onProgress(done, total, phase) } : {}),
    });
    if (withAgop) {
      const agop = await agopCorrelations(model, data, {
        ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}),
        limit: result.samples,
        ...(agopMaxDim !== undefined ? { maxDim: agopMaxDim } : {}),
        ...(onProgress ? { onProgress: (done: number) => onProgress(done, result.samples, 'agop') } : {}),
      });
      result.agop = agop.layers;
      if (agop.skipped.length > 0) result.agopSkipped = agop.skipped;
    }
    return result;
  } finally {
    network?.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}
