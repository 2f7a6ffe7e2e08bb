/** Tiny tfjs models and data for the tfjs tests. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selectBackend, tf, type BackendRequest } from '../../src/tfjs/backend.js';
import type { TfjsData } from '../../src/tfjs/data.js';

/** The backend the tfjs tests run on: $SURGEON_TFJS_BACKEND (wasm or cpu), default wasm. */
export const TEST_BACKEND = (process.env.SURGEON_TFJS_BACKEND ?? 'wasm') as BackendRequest;

export async function useTestBackend(): Promise<void> {
  await selectBackend(TEST_BACKEND);
}

export function tempDir(prefix = 'surgeon-tfjs-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** conv(3 filters 3×3) → maxpool → flatten → dense(8, relu) → dense(3): a few hundred weights on 8×8×1. */
export function tinyCnn(seed = 1): tf.LayersModel {
  const init = (s: number) => tf.initializers.glorotUniform({ seed: seed * 10 + s });
  return tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 3, kernelSize: 3, activation: 'relu', name: 'conv', kernelInitializer: init(1) }),
      tf.layers.maxPooling2d({ poolSize: 2, name: 'pool' }),
      tf.layers.flatten({ name: 'flat' }),
      tf.layers.dense({ units: 8, activation: 'relu', name: 'fc1', kernelInitializer: init(2) }),
      tf.layers.dense({ units: 3, name: 'fc2', kernelInitializer: init(3) }),
    ],
  });
}

/** n samples 8×8×1 whose class is the brightest third of the image. */
export function tinyData(n: number, seed = 1): TfjsData {
  let s = seed >>> 0;
  const r = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0), s / 4294967296);
  const x = new Float32Array(n * 64);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % 3;
    labels[i] = c;
    for (let p = 0; p < 64; p++) x[i * 64 + p] = r() * 0.5 + (Math.floor((p % 8) / 3) === c ? 0.6 : 0);
  }
  return { x, labels, sampleShape: [8, 8, 1], count: n, numClasses: 3 };
}
