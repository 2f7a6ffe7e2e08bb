/**
 * Where the tests find models and data, in one place.
 *
 * - `../shared/fixtures` beside the project (PyTorch-exported models, Fashion-MNIST arrays; see
 *   ../shared/README.md): present for developers and CI, absent in a user's plain clone. Tests
 *   that need it are declared with {@link describeShared}/{@link itShared} (or skip on
 *   {@link HAVE_FIXTURES} with {@link needsFixtures} in the title), so they skip visibly, and
 *   they must not touch a fixture at import or collection time.
 * - `test/fixtures/` in the repository: small models and data made by
 *   scripts/make-test-fixtures.ts (see test/fixtures/README.md); always present.
 * - `data/` in the repository: the demo's Fashion-MNIST subset and MLP; always present.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));

/**
 * Absolute path of ../shared/fixtures (may not exist). `SURGEON_SHARED_FIXTURES` points it
 * elsewhere, e.g. at a missing folder to run the suite as a plain clone would.
 */
export const FIXTURES = process.env['SURGEON_SHARED_FIXTURES'] ? resolve(process.env['SURGEON_SHARED_FIXTURES']) : resolve(here, '../../shared/fixtures');
/** The PyTorch models of ../shared/fixtures. */
export const FIXTURE_NAMES = ['fmnist-mlp', 'fmnist-cnn', 'fmnist-vit', 'lic-gpt'] as const;
/** Every file of ../shared/fixtures the tests read. */
const SHARED_FILES = [
  ...FIXTURE_NAMES.flatMap((n) => [`${n}.onnx`, `${n}.meta.json`, `${n}.expected.npy`]),
  'fmnist-test-images.npy',
  'fmnist-test-labels.npy',
  'fmnist-calib-images.npy',
  'fmnist-calib-labels.npy',
  'lic-gpt.train-tokens.npy',
  'lic-gpt.val-tokens.npy',
];
/** Whether ../shared/fixtures is present (all the files the tests read). */
export const HAVE_FIXTURES = SHARED_FILES.every((f) => existsSync(join(FIXTURES, f)));
/** A file of ../shared/fixtures. */
export const fixture = (name: string): string => join(FIXTURES, name);

/** The visible skip reason appended to test titles. */
export const NEEDS_FIXTURES = 'needs ../shared/fixtures';
/** `title`, with "(skipped: needs ../shared/fixtures)" appended when the fixtures are absent. */
export const needsFixtures = (title: string): string => (HAVE_FIXTURES ? title : `${title} (skipped: ${NEEDS_FIXTURES})`);

/** A describe block over ../shared/fixtures: skipped, with the reason in its title and on stderr, when they are absent. */
export function describeShared(title: string, body: () => void): void {
  if (!HAVE_FIXTURES) console.warn(`SKIPPED (${NEEDS_FIXTURES}): ${title}`);
  describe.skipIf(!HAVE_FIXTURES)(needsFixtures(title), body);
}

/** A test over ../shared/fixtures: skipped, with the reason in its title, when they are absent. */
export const itShared = (title: string, body: () => unknown | Promise<unknown>, timeout?: number): void =>
  it.skipIf(!HAVE_FIXTURES)(needsFixtures(title), body, timeout);

/** Absolute path of the repository's test/fixtures. */
export const TINY = resolve(here, 'fixtures');
/** A file of test/fixtures (always present). */
export const tiny = (name: string): string => join(TINY, name);
/** The small models of test/fixtures. */
export const TINY_NAMES = ['tiny-mlp', 'tiny-cnn', 'tiny-gpt'] as const;

/** Absolute path of the repository's data/ (the demo's data and model). */
export const DATA = resolve(here, '../data');
/** A file of data/. */
export const demoData = (name: string): string => join(DATA, name);
