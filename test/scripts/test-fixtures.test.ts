/**
 * test/fixtures/ is exactly what scripts/make-test-fixtures.ts writes (so its README's recipe
 * is true), it stays small, and its models are what the README says they are.
 */
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { makeTestFixtures, tinyShapes, tinyTokens } from '../../scripts/test-fixtures.js';
import { readOnnxModel } from '../../src/io/onnx/model.js';
import { findPrunableLayers } from '../../src/io/onnx/operators.js';
import { TINY, tiny } from '../fixtures.js';

describe('test/fixtures', () => {
  const made = makeTestFixtures();

  it('every committed file is byte-identical to what scripts/make-test-fixtures.ts makes, and nothing else is there', () => {
    const committed = readdirSync(TINY).filter((f) => f !== 'README.md').sort();
    expect(committed).toEqual([...made.keys()].sort());
    const differing = [...made].filter(([name, bytes]) => Buffer.compare(readFileSync(tiny(name)), Buffer.from(bytes)) !== 0).map(([name]) => name);
    expect(differing, 'rerun npm run fixtures:make and commit test/fixtures/').toEqual([]);
  });

  it('a second run makes the same bytes (no hidden state between runs)', () => {
    const again = makeTestFixtures();
    for (const [name, bytes] of made) expect(Buffer.compare(Buffer.from(again.get(name)!), Buffer.from(bytes)), name).toBe(0);
  });

  it('stays well under 1 MB, and the README lists every file', () => {
    const total = readdirSync(TINY).reduce((a, f) => a + statSync(tiny(f)).size, 0);
    expect(total).toBeLessThan(256 * 1024);
    const readme = readFileSync(tiny('README.md'), 'utf8');
    for (const name of made.keys()) expect(readme.includes(name) || readme.includes(name.replace(/^tiny-(mlp|cnn|gpt)\./, 'NAME.')), name).toBe(true);
  });

  it('the dense models have no prunable weight that is exactly zero (sparsity 0 means untouched)', () => {
    for (const name of ['tiny-mlp', 'tiny-cnn', 'tiny-gpt']) {
      for (const view of findPrunableLayers(readOnnxModel(tiny(`${name}.onnx`)))) expect(view.read().includes(0), `${name} ${view.name}`).toBe(false);
    }
  });

  it('the data generators: balanced classes in file order, distinct splits, tokens in range following the cycle', () => {
    const a = tinyShapes(256, 1);
    expect(Array.from(a.y.subarray(0, 8))).toEqual([0, 1, 2, 3, 0, 1, 2, 3]);
    expect(Buffer.compare(Buffer.from(a.x), Buffer.from(tinyShapes(256, 2).x))).not.toBe(0);
    const t = tinyTokens(4000, 7);
    let follows = 0;
    for (let i = 0; i + 1 < t.length; i++) {
      expect(t[i]! >= 0n && t[i]! < 16n).toBe(true);
      if (t[i + 1] === (3n * t[i]! + 1n) % 16n) follows++;
    }
    // 0.75 by the rule plus 0.25/16 by chance
    expect(follows / (t.length - 1)).toBeGreaterThan(0.72);
    expect(follows / (t.length - 1)).toBeLessThan(0.80);
  });
});
