/** The Fashion-MNIST data the benchmarks share: ../shared/fixtures' arrays, else Debian's dataset. */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DatasetSpec } from '../src/io/dataset.js';

const here = dirname(fileURLToPath(import.meta.url));
/** ../shared/fixtures beside the repository. */
export const FIXTURES = resolve(here, '../..', '../shared/fixtures');

/**
 * Calibration (2,048 training images, the first `calibLimit` of them when given) and test
 * (10,000 images) specs: the fixture arrays when present, else Debian's Fashion-MNIST.
 */
export function fmnistSpecs(calibLimit?: number): { calib: DatasetSpec; test: DatasetSpec } {
  const f = (n: string) => join(FIXTURES, n);
  const limit = calibLimit !== undefined ? { limit: calibLimit } : {};
  if (existsSync(f('fmnist-calib-images.npy')) && existsSync(f('fmnist-test-images.npy'))) {
    return {
      calib: { inputs: f('fmnist-calib-images.npy'), labels: f('fmnist-calib-labels.npy'), scale: 1 / 255, ...limit },
      test: { inputs: f('fmnist-test-images.npy'), labels: f('fmnist-test-labels.npy'), scale: 1 / 255 },
    };
  }
  return { calib: { dataset: 'fashion-mnist:train', limit: calibLimit ?? 2048 }, test: { dataset: 'fashion-mnist:test' } };
}
