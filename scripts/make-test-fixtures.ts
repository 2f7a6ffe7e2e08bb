/**
 * Writes test/fixtures/ from ./test-fixtures.ts (deterministic: a rerun rewrites the same
 * bytes; test/scripts/test-fixtures.test.ts checks the committed files against it). No data
 * is downloaded and no Python runs.
 *
 *   npm run fixtures:make    (= tsc -p scripts/tsconfig.json && node dist/scripts/make-test-fixtures.js)
 */
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../src/io/fs.js';
import { makeTestFixtures } from './test-fixtures.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const OUT = join(ROOT, 'test', 'fixtures');
mkdirSync(OUT, { recursive: true });
let total = 0;
for (const [name, bytes] of makeTestFixtures()) {
  writeFileAtomic(join(OUT, name), bytes);
  total += bytes.byteLength;
  process.stdout.write(`${name.padEnd(28)} ${String(bytes.byteLength).padStart(7)} bytes\n`);
}
process.stdout.write(`wrote ${OUT.slice(ROOT.length + 1)}/: ${(total / 1024).toFixed(1)} KiB\n`);
